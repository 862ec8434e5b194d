"""Your own tools in the agent's code (`tools=[...]`): real LangChain tools and plain
callables, and a REAL MCP server (tests/mcp_demo_server.py, the `mcp` package's FastMCP)
over stdio (started and stopped by trirole for each run) and streamable HTTP (started by
the test on loopback, on a free port, stopped afterwards). The agent's code runs in the
REAL python sandbox under the REAL bubblewrap; the agent itself is LangChain's fake chat
model emitting scripted code (a FAKE model: these tests are about the bridge, not the model).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import psutil
import pytest
from fakes import PromptLog, code, replies
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import InjectedToolArg, InjectedToolCallId, tool
from langgraph.prebuilt import InjectedState, ToolRuntime

from trirole import build_scaffold_graph
from trirole.graphs import build_base_graph, build_multi_agent_graph, build_react_graph
from trirole.trace import JsonlTrace, read_trace
from trirole.environments.user_tools import Toolbox

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None,
                                reason="bubblewrap is not installed (`make setup` installs it)")

SERVER = Path(__file__).with_name("mcp_demo_server.py")
STDIO = {"transport": "stdio", "command": sys.executable, "args": [str(SERVER), "stdio"]}
NO_ROLES = {"use_corrector": False, "use_summarizer": False}


@tool
def search_notes(query: str, limit: int = 2) -> list[str]:
    """Search the user's notes; the titles of the best matches."""
    return [f"{query} note {i}" for i in range(1, limit + 1)]


async def convert(amount: float, currency: str = "EUR") -> dict:
    """Convert `amount` US dollars to `currency` (an async plain callable)."""
    await asyncio.sleep(0)
    return {"amount": round(amount * 0.5, 2), "currency": currency}


def refuse(reason: str) -> str:
    """Always fails, saying why."""
    raise PermissionError(f"not allowed: {reason}")


def slow(seconds: float) -> str:
    """Sleeps `seconds`, then returns."""
    time.sleep(seconds)
    return "finished"


def graph_with(agent_steps: list[str], tools: list, **settings) -> object:
    return build_scaffold_graph(models={"agent": replies(*agent_steps), "corrector": replies(),
                                        "summarizer": replies()},
                                settings={**NO_ROLES, **settings}, tools=tools)


async def run(graph, *, log: PromptLog | None = None, trace: Path | None = None, config: dict | None = None,
              **kwargs) -> dict:
    callbacks = [c for c in (log, JsonlTrace(trace) if trace else None) if c is not None]
    return await graph.ainvoke({"task": {"instruction": "Use the tools."}},
                               {**(config or {}), "callbacks": callbacks}, **kwargs)


def observations(out: dict) -> str:
    """What the steps' code printed (each a ToolMessage answering its reply's call)."""
    return "\n".join(str(m.content) for m in out["messages"] if m.type == "tool")


def mcp_children() -> list[psutil.Process]:
    """The demo MCP servers over stdio this process started (not the HTTP fixture's)."""
    return [p for p in psutil.Process().children(recursive=True)
            if _cmdline(p)[-2:] == [str(SERVER), "stdio"]]


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return []


@pytest.fixture(scope="module")
def http_server():
    """The demo MCP server over streamable HTTP on a free loopback port; its URL."""
    from trirole.serving import free_port

    port = free_port()
    process = subprocess.Popen([sys.executable, str(SERVER), "http", str(port)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"the MCP server exited: {process.stderr.read().decode()[-2000:]}")
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if time.monotonic() > deadline:
                pytest.fail("the MCP server did not listen within 60 s")
            time.sleep(0.2)
        yield port, f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def home_secret():
    path = Path.home() / f".trirole-tools-test-{secrets.token_hex(4)}"
    path.write_text("secret-in-home")
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


# -- LangChain tools and plain callables -------------------------------------------------------

async def test_langchain_tools_and_callables_are_python_functions_in_the_agents_code(tmp_path):
    steps = [code("print(search_notes('tax'))\nprint(search_notes(query='rent', limit=1))\n"
                  "print(convert(10))\ncomplete_task(convert(amount=4, currency='GBP'))")]
    trace = tmp_path / "trace.jsonl"
    out = await run(graph_with(steps, [search_notes, convert]), trace=trace)
    assert out["status"] == "completed" and out["answer"] == {"amount": 2.0, "currency": "GBP"}
    seen = observations(out)
    assert "['tax note 1', 'tax note 2']" in seen and "['rent note 1']" in seen
    assert "{'amount': 5.0, 'currency': 'EUR'}" in seen
    calls = [(r["name"], r["arguments"]) for r in read_trace(trace) if r["type"] == "tool_call"]
    assert calls == [("search_notes", {"query": "tax"}), ("search_notes", {"query": "rent", "limit": 1}),
                     ("convert", {"amount": 10}), ("convert", {"amount": 4, "currency": "GBP"})]
    assert out["counters"]["tool_calls"] == 4


async def test_the_agent_and_the_isolated_corrector_read_the_signatures_and_docstrings():
    log = PromptLog()
    agent = replies(code("search_notes()"), code("search_notes()"), code("complete_task(1)"))
    graph = build_scaffold_graph(models={"agent": agent, "corrector": replies(code("print(search_notes('x'))")),
                                         "summarizer": replies()},
                                 settings={"use_summarizer": False}, tools=[search_notes, convert])
    out = await run(graph, log=log)
    assert out["status"] == "completed" and out["counters"]["corrections"] >= 1
    signatures = ['def search_notes(query: str, limit: int = 2) -> list[str]:\n'
                  '    """Search the user\'s notes; the titles of the best matches."""',
                  "def convert(amount: float, currency: str = 'EUR') -> dict:"]
    for role in ("agent", "corrector"):
        text = PromptLog.text(log.prompts(role)[0])
        assert all(s in text for s in signatures), role
    corrector = PromptLog.text(log.prompts("corrector")[0])
    assert "I will run this." not in corrector  # the corrector sees signatures, not the conversation


async def test_a_tool_error_is_an_exception_the_agent_sees_and_can_catch():
    steps = [code("refuse('payroll')"),
             code("try:\n    refuse('again')\nexcept ToolError as e:\n    print('caught', e)\ncomplete_task(0)")]
    out = await run(graph_with(steps, [refuse]))
    seen = observations(out)
    assert "ToolError: PermissionError: not allowed: payroll" in seen and "(failed: ToolError)" in seen
    assert "caught PermissionError: not allowed: again" in seen and out["status"] == "completed"
    assert out["counters"]["tool_errors"] == 2


async def test_a_hanging_tool_ends_at_its_timeout_and_the_run_goes_on():
    started = time.monotonic()
    steps = [code("kept = 1\nslow(60)"), code("complete_task(kept)")]
    out = await run(graph_with(steps, [slow], tool_timeout_s=1.0))
    assert time.monotonic() - started < 30
    assert "did not return within its 1 s limit" in observations(out)
    assert out["status"] == "completed" and out["answer"] == 1  # the sandbox kept its variables


async def test_injected_state_config_and_arguments_are_supplied_by_trirole_not_the_agent():
    @tool
    def whoami(greeting: str, task: Annotated[dict, InjectedState("task")],
               state: Annotated[dict, InjectedState], user_id: Annotated[str, InjectedToolArg],
               call_id: Annotated[str, InjectedToolCallId], config: RunnableConfig) -> str:
        """Greets the run's user."""
        return (f"{greeting} {user_id}: {task['instruction']} | steps={state['counters']['steps']} | "
                f"thread={config['configurable']['thread_id']} | id={call_id[:8]}")

    @tool
    def with_runtime(n: int, runtime: ToolRuntime) -> int:
        """The step count plus n."""
        return runtime.state["counters"]["steps"] + n

    log = PromptLog()
    out = await run(graph_with([code("print(whoami('hi'))\nprint(with_runtime(10))\ncomplete_task(0)")],
                               [whoami, with_runtime]),
                    log=log, config={"configurable": {"thread_id": "t-7", "user_id": "ada"}})
    seen = observations(out)
    assert "hi ada: Use the tools. | steps=1 | thread=t-7 | id=trirole-" in seen and "\n11\n" in seen
    reference = PromptLog.text(log.prompts("agent")[0])
    assert "def whoami(greeting: str) -> str:" in reference and "def with_runtime(n: int) -> int:" in reference


# -- MCP servers ---------------------------------------------------------------------------------

async def test_an_mcp_server_over_stdio_is_started_for_the_run_and_stopped_after_it():
    from langchain_mcp_adapters.client import MultiServerMCPClient

    client = MultiServerMCPClient({"demo": STDIO})
    seen_running: list[int] = []

    def count_servers() -> int:
        """How many demo MCP servers run now."""
        seen_running.append(len(mcp_children()))
        return seen_running[-1]

    steps = [code("print(add(2, 40), add(b=1, a=2))\nprint(count_servers())\n"
                  "try:\n    fail_always('x')\nexcept ToolError as e:\n    print('caught', e)\n"
                  "complete_task(add(20, 22))")]
    out = await run(graph_with(steps, [client, count_servers]))
    assert out["status"] == "completed" and out["answer"] == 42
    seen = observations(out)
    assert "42 3" in seen and "caught ToolException: Error executing tool fail-always: refused: x" in seen
    assert seen_running == [1]  # the run's own server, while it ran
    await asyncio.sleep(0.5)
    assert mcp_children() == []  # and stopped when the run ended


# What each call gives the agent's code: (the call, its value, its type), one per JSON type.
DECLARED = [
    ("lookup_user('ada')", {"name": "ada", "access_token": "mcp-tok-ada-5f1c9a"}, "dict"),  # -> dict: no schema
    ("origin()", {"x": 0, "y": 0}, "dict"),                       # object (a TypedDict)
    ("scores()", {"result": 3}, "dict"),                          # object with a `result` key: stays the object
    ("countdown(2)", [2, 1, 0], "list"),                          # array
    ("countdown(-1)", [], "list"),                                # empty array
    ("grid()", [[1, 2], [3]], "list"),                            # nested arrays
    ("greet('42')", "42", "str"),                                 # string (not parsed as a number)
    ("half(5)", 2.5, "float"),                                    # number
    ("add(2, 3)", 5, "int"),                                      # integer
    ("is_even(4)", True, "bool"),                                 # boolean
    ("forget('ada')", None, "NoneType"),                          # null
]


@pytest.mark.parametrize("loaded_by", ["trirole", "your own session"])
async def test_mcp_results_reach_the_agents_code_as_the_tool_declares_them(loaded_by):
    from langchain_mcp_adapters.client import MultiServerMCPClient
    from langchain_mcp_adapters.tools import load_mcp_tools

    body = "".join(f"print(repr({call}), type({call}).__name__)\n" for call, _, _ in DECLARED) + "complete_task(0)"
    log = PromptLog()
    client = MultiServerMCPClient({"demo": STDIO})
    if loaded_by == "trirole":  # its servers started for the run: their output schemas are read too
        out = await run(graph_with([code(body)], [client]), log=log)
    else:
        async with client.session("demo") as session:
            out = await run(graph_with([code(body)], await load_mcp_tools(session)), log=log)
    assert out["status"] == "completed", out["status_reason"]
    printed = out["last_result"]["output"].splitlines()
    assert printed == [f"{value!r} {kind}" for _, value, kind in DECLARED]
    if loaded_by == "trirole":  # the reference says what each returns
        reference = PromptLog.text(log.prompts("agent")[0])
        for signature in ("def countdown(n: int) -> list[int]:", "def greet(name: str) -> str:",
                          "def forget(name: str) -> None:", "def origin() -> dict:", "def grid() -> list[list[int]]:"):
            assert signature in reference


async def test_an_mcp_server_over_http_while_the_sandbox_still_has_no_network_or_home(http_server, home_secret):
    from langchain_mcp_adapters.client import MultiServerMCPClient

    port, url = http_server
    client = MultiServerMCPClient({"demo": {"transport": "streamable_http", "url": url}})
    steps = [code(f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=3)"),
             code(f"open({str(home_secret)!r}).read()"),
             code("user = lookup_user('ada')\nprint(user)\nprint(add(1, 2))\ncomplete_task(add(1, 2))")]
    out = await run(graph_with(steps, [client]))
    assert out["status"] == "completed" and out["answer"] == 3
    messages = [str(m.content) for m in out["messages"] if m.type == "tool"]
    assert "(failed: ConnectionRefusedError)" in messages[0] or "(failed: OSError)" in messages[0]
    assert "(failed: FileNotFoundError)" in messages[1] or "(failed: PermissionError)" in messages[1]
    assert "mcp-tok-ada-5f1c9a" in messages[2] and "secret-in-home" not in "".join(messages)


async def test_an_mcp_server_over_stdio_starts_where_stderr_has_no_file_descriptor(monkeypatch):
    """As in a Jupyter kernel whose sys.stderr cannot give a file descriptor: the MCP SDK's
    stdio client would fail to start the server with its default error log."""
    import io

    from langchain_mcp_adapters.client import MultiServerMCPClient
    from mcp.client import stdio

    monkeypatch.setattr(stdio.stdio_client.__wrapped__, "__defaults__", (io.StringIO(),))
    out = await run(graph_with([code("complete_task(add(2, 2))")], [MultiServerMCPClient({"demo": STDIO})]))
    assert out["status"] == "completed" and out["answer"] == 4
    await asyncio.sleep(0.5)
    assert mcp_children() == []


async def test_an_mcp_server_that_does_not_start_ends_the_run_as_an_environment_error():
    from langchain_mcp_adapters.client import MultiServerMCPClient

    client = MultiServerMCPClient({"broken": {"transport": "stdio", "command": "/nonexistent/mcp-server", "args": []}})
    out = await run(graph_with([code("complete_task(1)")], [client]))
    assert out["status"] == "env_error" and "could not start the MCP servers" in out["status_reason"]


async def test_mcp_tools_loaded_by_the_users_own_session_are_plain_langchain_tools():
    from langchain_mcp_adapters.client import MultiServerMCPClient
    from langchain_mcp_adapters.tools import load_mcp_tools

    client = MultiServerMCPClient({"demo": STDIO})
    async with client.session("demo") as session:  # the user's code starts and stops it
        tools = await load_mcp_tools(session)
        out = await run(graph_with([code("complete_task(add(5, 6))")], tools))
    assert out["status"] == "completed" and out["answer"] == 11


async def test_credentials_a_tool_returns_survive_a_summary():
    token = "tk_" + secrets.token_hex(12)

    def issue_token(user: str) -> dict:
        """Log `user` in; returns their access token."""
        return {"access_token": token, "user": user}

    log = PromptLog()
    # The code never prints the token; later steps print long listings until the summarizer runs.
    steps = [code("session = issue_token('ada')\nprint('logged in')")] + \
        [code(f"print('listing line {i}\\n' * 60)") for i in range(6)] + [code("complete_task(1)")]
    graph = build_scaffold_graph(
        models={"agent": replies(*steps), "corrector": replies(), "summarizer": replies(*["Did some work."] * 10)},
        settings={"max_context_tokens": 1800, "max_completion_tokens": 256, "keep_recent_turns": 1,
                  "use_corrector": False}, tools=[issue_token])
    out = await run(graph, log=log)
    assert out["counters"].get("summarizations", 0) >= 1
    last = PromptLog.text(log.prompts("agent")[-1])
    assert "Summary of the earlier steps" in last and token in last
    assert all(token not in str(m.content) for m in out["messages"])  # no turn ever showed it


# -- every builder, the settings, bad input --------------------------------------------------------

@pytest.mark.parametrize("builder", ["react", "base"])
async def test_every_builder_takes_tools(builder):
    build = {"react": build_react_graph, "base": build_base_graph}[builder]
    graph = build(model=replies(code("complete_task(search_notes('q', limit=1))")), tools=[search_notes])
    out = await run(graph)
    assert out["status"] == "completed" and out["answer"] == ["q note 1"]


async def test_the_multi_agent_builder_takes_tools():
    model = replies("no plan lines here", code("x = convert(2)"), "RESULT: converted", code("complete_task(x)"))
    out = await run(build_multi_agent_graph(model=model, tools=[convert]))
    assert out["status"] == "completed" and out["answer"] == {"amount": 1.0, "currency": "EUR"}
    assert out["counters"]["tool_calls"] == 1


async def test_tools_named_in_the_settings_are_loaded_at_build_time_and_a_run_cannot_change_them():
    graph = build_react_graph(model=replies(code("complete_task(search_notes('s'))")),
                              settings={"tools": ["test_user_tools:search_notes"]})
    out = await run(graph)
    assert out["status"] == "completed" and out["answer"] == ["s note 1", "s note 2"]
    changed = await run(build_react_graph(model=replies(code("system('true')"), code("complete_task(1)"))),
                        context={"tools": ["os:system"], "max_steps": 2})
    assert "NameError: name 'system' is not defined" in observations(changed)


def test_langgraph_dev_graphs_take_tools_from_the_environment():
    from trirole.studio import build_studio_graph, studio_settings

    settings = studio_settings({"TRIROLE_BASE_URL": "http://h:1/v1", "TRIROLE_MODEL": "m",
                                "TRIROLE_TOOLS": "test_user_tools:search_notes, test_user_tools:convert"})
    assert settings.tools == ("test_user_tools:search_notes", "test_user_tools:convert")
    build_studio_graph("scaffold", settings)  # loads them at build time


async def test_appworld_says_tools_need_the_python_sandbox():
    out = await run(build_react_graph(model=replies(), settings={"env": "appworld"}, tools=[search_notes]))
    assert out["status"] == "env_error" and "env='python'" in out["status_reason"]


def test_bad_tools_fail_at_build_time_with_the_fix():
    def undocumented(x: int) -> int:
        return x

    def complete_task(answer: str) -> str:
        """Shadows the sandbox's own."""
        return answer

    with pytest.raises(ValueError, match="docstring"):
        build_scaffold_graph(model=replies(), tools=[undocumented])
    with pytest.raises(ValueError, match="defined by the sandbox"):
        build_scaffold_graph(model=replies(), tools=[complete_task])
    with pytest.raises(ValueError, match="two tools are called 'convert'"):
        Toolbox([convert, convert])
    with pytest.raises(ValueError, match="environment= of your own"):
        build_scaffold_graph(model=replies(), tools=[convert], environment=lambda s: None)
    with pytest.raises(TypeError, match="a tool must be"):
        Toolbox([42])


def test_the_command_line_takes_tools_as_module_attribute(tmp_path, monkeypatch, capsys):
    from scripted_openai import ScriptedOpenAIServer

    from trirole.cli import main

    (tmp_path / "my_tools.py").write_text(
        "def double(x: int) -> int:\n    \"\"\"Twice x.\"\"\"\n    return 2 * x\n\nTOOLS = [double]\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    with ScriptedOpenAIServer(lambda m: code("complete_task(double(21))"), model="m") as server:
        rc = main(["run", "--instruction", "Double 21.", "--base-url", server.base_url, "--model", "m",
                   "--tools", "my_tools:TOOLS", "--max-steps", "2"])
    out = capsys.readouterr().out
    assert rc == 0 and "answer: 42" in out and "· called double(x=21) -> 42" in out
    assert main(["run", "--instruction", "x", "--tools", "my_tools:MISSING"]) == 2
    assert "--tools: 'my_tools' has no attribute 'MISSING'" in capsys.readouterr().err


async def test_tools_make_no_blocking_calls_in_the_event_loop():
    blockbuster = pytest.importorskip("blockbuster")  # what `langgraph dev` uses to catch them
    from langchain_mcp_adapters.client import MultiServerMCPClient

    graph = graph_with([code("complete_task([search_notes('b', 1), convert(2)['amount'], add(1, 1)])")],
                       [search_notes, convert, MultiServerMCPClient({"demo": STDIO})])
    with blockbuster.blockbuster_ctx():
        out = await run(graph)
    assert out["status"] == "completed" and out["answer"] == [["b note 1"], 1.0, 2]


def test_an_evaluation_record_counts_the_tool_calls():
    from trirole.evals.datasets import EvalTask
    from trirole.evals.results import make_record

    task = EvalTask(id="t1", env="python")
    record = make_record("scaffold", task, {"status": "completed", "counters": {"steps": 2, "tool_calls": 3,
                                                                               "tool_errors": 1}},
                         status=None, reason="", wall_s=1.0, trace="t.jsonl")
    assert (record["tool_calls"], record["tool_errors"], record["model_calls"]) == (3, 1, 0)
    assert "tool_calls" not in make_record("scaffold", task, {"status": "completed", "counters": {"steps": 1}},
                                           status=None, reason="", wall_s=1.0, trace="t.jsonl")


def test_an_evaluation_takes_tools_from_the_command_line(tmp_path, monkeypatch, capsys):
    import json

    from scripted_openai import ScriptedOpenAIServer

    from trirole.cli import main

    (tmp_path / "eval_tools.py").write_text(
        "def double(x: int) -> int:\n    \"\"\"Twice x.\"\"\"\n    return 2 * x\n\nTOOLS = [double]\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    with ScriptedOpenAIServer(lambda m: code("print(double(21))\ncomplete_task(double(21))"), model="m") as server:
        rc = main(["eval", "--paradigms", "react", "--dataset", "python", "--limit", "1", "--out",
                   str(tmp_path / "out"), "--base-url", server.base_url, "--model", "m", "--max-steps", "1",
                   "--tools", "eval_tools:TOOLS"])
    assert rc == 0, capsys.readouterr()
    record = json.loads((tmp_path / "out" / "results.jsonl").read_text().splitlines()[0])
    assert record["answer"] == "42" and record["tool_calls"] == 2 and record["tool_errors"] == 0
