"""trirole graphs inside users' LangGraph apps: subgraphs, checkpointers, interrupts and
resume by thread id, human review, swapped nodes and models, streaming, and the
`create_agent` middleware.

FAKES: LangChain's fake chat models and the scripted in-memory environment (fakes.py),
and the scripted OpenAI-compatible HTTP server (scripted_openai.py) for the per-role
endpoint swap. The real model and sandbox are exercised in test_local_model_e2e.py,
test_studio.py and test_notebooks.py.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path
from typing import Any, NotRequired, TypedDict

import pytest
from fakes import PromptLog, ScriptedEnvironment, code, fail, ok, replies
from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command
from scripted_openai import ScriptedOpenAIServer

from trirole import build_scaffold_graph
from trirole.middleware import TriroleCorrectorMiddleware, TriroleSummarizerMiddleware, tool_result
from trirole.episode import Episode

TASK = {"task": {"instruction": "Find the playlist and report its id."}}
ROOT = Path(__file__).resolve().parents[1]


def thread(name: str) -> dict:
    return {"configurable": {"thread_id": name}, "recursion_limit": 200}


def failing_then_fixed_graph(checkpointer=None, **options):
    """Step 1 fails, step 2 repeats it (so the corrector revises it), step 3 completes."""
    env = ScriptedEnvironment(lambda c, i: fail() if "bad" in c else ok())
    models = {"agent": replies(code("bad()"), code("bad()"), code("complete_task()")),
              "corrector": replies(code("fixed()")), "summarizer": replies()}
    graph = build_scaffold_graph(models=models, environment=env, checkpointer=checkpointer,
                                 settings={"correction_policy": "never", "repeated_error_k": 5}, **options)
    return graph, env


# -- subgraphs ----------------------------------------------------------------------------

class Ticket(TypedDict):
    """A user's parent state: its own fields, plus the scaffold's `task` and results."""

    question: str
    task: NotRequired[dict]
    status: NotRequired[str]
    answer: NotRequired[Any]
    report: NotRequired[str]


async def test_the_compiled_scaffold_is_a_node_of_a_parent_graph_with_shared_keys():
    scaffold = build_scaffold_graph(model=replies(code("complete_task(42)")), environment=ScriptedEnvironment())
    parent = StateGraph(Ticket)
    parent.add_node("prepare", lambda s: {"task": {"instruction": s["question"]}})
    parent.add_node("solve", scaffold)  # reads `task`, writes TriroleOutput keys the parent declares
    parent.add_node("report", lambda s: {"report": f"{s['status']}"})
    parent.add_edge(START, "prepare")
    parent.add_edge("prepare", "solve")
    parent.add_edge("solve", "report")
    parent.add_edge("report", END)
    out = await parent.compile(checkpointer=InMemorySaver()).ainvoke({"question": "What is 6 * 7?"}, thread("shared"))
    assert out["report"] == "completed"
    assert out["task"]["instruction"] == "What is 6 * 7?"
    assert "messages" not in out  # subgraph output keys the parent lacks are dropped, not errors


class Quiz(TypedDict):
    question: str
    solved: NotRequired[bool]
    steps: NotRequired[int]


async def test_the_scaffold_runs_inside_a_node_that_maps_state_in_and_out():
    env = ScriptedEnvironment()
    scaffold = build_scaffold_graph(model=replies(code("x = 1"), code("complete_task(x)")), environment=env)

    async def solve(state: Quiz) -> dict:
        out = await scaffold.ainvoke({"task": {"instruction": state["question"]}})
        return {"solved": out["status"] == "completed", "steps": out["counters"]["steps"]}

    parent = StateGraph(Quiz)
    parent.add_node("solve", solve)
    parent.add_edge(START, "solve")
    parent.add_edge("solve", END)
    out = await parent.compile().ainvoke({"question": "Set x and finish."})
    assert out == {"question": "Set x and finish.", "solved": True, "steps": 2}
    assert env.executed == ["x = 1", "complete_task(x)"]


# -- checkpointers: interrupt and resume by thread id ---------------------------------------

async def test_interrupt_before_the_executor_and_resume_in_memory():
    env = ScriptedEnvironment()
    graph = build_scaffold_graph(model=replies(code("x = 1"), code("complete_task(x)")), environment=env,
                                 checkpointer=InMemorySaver())
    config = thread("paused")
    await graph.ainvoke(TASK, config, interrupt_before=["executor"])
    state = await graph.aget_state(config)
    assert state.next == ("executor",) and state.values["code_to_run"] == "x = 1"
    assert env.executed == []  # nothing ran yet: a person can inspect or edit code_to_run
    await graph.aupdate_state(config, {"code_to_run": "x = 2"})
    out = await graph.ainvoke(None, config)  # None: resume where the thread stopped
    assert out["status"] == "completed"
    assert env.executed == ["x = 2", "complete_task(x)"]


async def test_interrupt_and_resume_with_the_sqlite_saver_in_a_new_graph(tmp_path):
    path = str(tmp_path / "checkpoints.sqlite")
    async with AsyncSqliteSaver.from_conn_string(path) as saver:
        first = build_scaffold_graph(model=replies(code("x = 1")), environment=ScriptedEnvironment(),
                                     checkpointer=saver)
        await first.ainvoke(TASK, thread("sqlite"), interrupt_before=["executor"])
    # Another graph instance (as after a restart), the same file and thread id.
    env = ScriptedEnvironment()
    async with AsyncSqliteSaver.from_conn_string(path) as saver:
        second = build_scaffold_graph(model=replies(code("complete_task(x)")), environment=env, checkpointer=saver)
        assert (await second.aget_state(thread("sqlite"))).next == ("executor",)
        out = await second.ainvoke(None, thread("sqlite"))
    assert out["status"] == "completed" and out["counters"]["steps"] == 2
    # The first process's episode is gone: the executor started a fresh one of the same task.
    assert env.executed == ["x = 1", "complete_task(x)"]


# -- human review -----------------------------------------------------------------------------

@pytest.mark.parametrize("decision,ran", [
    ("accept", "fixed()"),
    ({"code": "edited()"}, "edited()"),
    ("reject", "bad()"),
])
async def test_human_review_pauses_before_revised_code_runs(decision, ran):
    graph, env = failing_then_fixed_graph(InMemorySaver(), human_review=True)
    async with Episode() as episode:  # the caller keeps the paused thread's sandbox between the two calls
        config = episode.bind(thread(f"review-{ran}"))
        out = await graph.ainvoke(TASK, config)
        (pause,) = out["__interrupt__"]
        assert pause.value["proposed_code"] == "bad()" and pause.value["revised_code"] == "fixed()"
        assert env.executed == ["bad()"] and not env.closed
        out = await graph.ainvoke(Command(resume=decision), config)
        assert env.executed == ["bad()", ran, "complete_task()"]  # the same episode, reattached
        assert out["status"] == "completed"
    assert env.closed  # by its owner


async def test_a_paused_run_closes_its_episode_and_a_resume_without_it_restarts_the_task():
    graph, env = failing_then_fixed_graph(InMemorySaver(), human_review=True)
    config = thread("review-restart")
    out = await graph.ainvoke(TASK, config)  # the graph owns this call's episode ...
    assert out["__interrupt__"] and env.executed == ["bad()"]
    assert env.closed  # ... and closed it when the call returned at the pause
    out = await graph.ainvoke(Command(resume=True), config)
    # A fresh episode of the same task (ScriptedEnvironment.reset forgets what ran before).
    assert env.executed == ["fixed()", "complete_task()"] and out["status"] == "completed"
    assert env.closed


async def test_human_review_without_a_checkpointer_says_how_to_fix_it():
    graph, _ = failing_then_fixed_graph(None, human_review=True)
    with pytest.raises(RuntimeError, match="needs a checkpointer"):
        await graph.ainvoke(TASK)


async def test_human_review_inside_a_parent_graph_resumes_through_the_parent():
    scaffold, env = failing_then_fixed_graph(None, human_review=True)  # the parent's checkpointer serves it
    parent = StateGraph(Ticket)
    parent.add_node("prepare", lambda s: {"task": {"instruction": s["question"]}})
    parent.add_node("solve", scaffold)
    parent.add_edge(START, "prepare")
    parent.add_edge("prepare", "solve")
    parent.add_edge("solve", END)
    app = parent.compile(checkpointer=InMemorySaver())
    async with Episode() as episode:  # reaches the nested scaffold through the parent's config
        config = episode.bind(thread("nested-review"))
        out = await app.ainvoke({"question": "q"}, config)
        assert out["__interrupt__"][0].value["revised_code"] == "fixed()"
        out = await app.ainvoke(Command(resume=True), config)
    assert out["status"] == "completed" and env.executed == ["bad()", "fixed()", "complete_task()"]


# -- swapping nodes and models ----------------------------------------------------------------

def load_example(name: str):
    return importlib.import_module(f"trirole.examples.{name}")  # installed with trirole: importable anywhere


async def test_a_custom_corrector_swapped_in_by_name_checks_syntax_first():
    example = load_example("custom_corrector")
    broken = "for i in range(3)\n    print(i)"
    env = ScriptedEnvironment(lambda c, i: fail("SyntaxError", "expected ':'") if c == broken else ok())
    log = PromptLog()
    corrector_model = replies(code("for i in range(3):\n    print(i)"))
    graph = build_scaffold_graph(
        model=replies(code("print(1)"), code(broken), code(broken), code("complete_task()")), environment=env,
        nodes={"corrector": example.make_static_check_corrector(model=corrector_model)},
        settings={"correction_policy": "always", "repetition_similarity": 1.0})
    out = await graph.ainvoke(TASK, {"callbacks": [log]})
    # Step 2 follows a success: no review. Step 3 repeats step 2's failure: reviewed, and
    # since it does not compile, the model fixes it.
    assert env.executed == ["print(1)", broken, "for i in range(3):\n    print(i)", "complete_task()"]
    assert out["counters"]["static_checks"] == 1 and out["counters"]["corrections"] == 1
    assert "expected ':'" in PromptLog.text(log.prompts("corrector")[0])


async def test_the_custom_corrector_lets_compiling_code_through_without_a_model_call():
    example = load_example("custom_corrector")
    env = ScriptedEnvironment(lambda c, i: fail() if "bad" in c else ok())
    graph = build_scaffold_graph(model=replies(code("bad()"), code("bad()"), code("complete_task()")), environment=env,
                                 nodes={"corrector": example.make_static_check_corrector(model=replies())})
    out = await graph.ainvoke(TASK)  # replies() fails if called: the model is never asked
    # Steps 2 (a repetition) and 3 (after a failure) were reviewed; both compile, so both ran as written.
    assert env.executed == ["bad()", "bad()", "complete_task()"]
    assert out["counters"]["static_checks"] == 2 and "corrections" not in out["counters"]


def test_the_example_script_runs_from_any_directory(tmp_path):
    # A scripted endpoint (FAKE model) named by TRIROLE_BASE_URL/TRIROLE_MODEL; the script is
    # started from a folder that is not the repository, as a user would after installing.
    answer = "```python\nresult = 17 * 23\nprint(result)\ncomplete_task(result)\n```"
    with ScriptedOpenAIServer(lambda m: answer, model="m") as server:
        env = {"PATH": "/usr/bin:/bin", "TRIROLE_BASE_URL": server.base_url, "TRIROLE_MODEL": "m",
               "TRIROLE_HOME": str(tmp_path / "home")}
        for argv in ([sys.executable, str(ROOT / "examples" / "custom_corrector.py"), "Compute 17 * 23."],
                     [sys.executable, "-m", "trirole.examples.custom_corrector", "Compute 17 * 23."]):
            done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, done.stderr[-2000:]
            assert "status: completed" in done.stdout and "answer: 391" in done.stdout


async def test_one_roles_model_is_swapped_with_models():
    shared = replies(code("bad()"), code("bad()"), code("complete_task()"))
    other = replies(code("fixed()"))
    log = PromptLog()
    env = ScriptedEnvironment(lambda c, i: fail() if "bad" in c else ok())
    graph = build_scaffold_graph(model=shared, models={"corrector": other}, environment=env)
    await graph.ainvoke(TASK, {"callbacks": [log]})
    assert env.executed == ["bad()", "fixed()", "complete_task()"]  # "fixed()" only `other` can say
    assert [role for role, _ in log.calls].count("corrector") == 1


async def test_one_roles_endpoint_is_swapped_in_the_settings():
    def agent_says(messages):
        said = sum(1 for m in messages if m["role"] == "assistant")
        return code("bad()") if said < 2 else code("complete_task()")

    env = ScriptedEnvironment(lambda c, i: fail() if "bad" in c else ok())
    with ScriptedOpenAIServer(agent_says, model="agent-model") as main, \
            ScriptedOpenAIServer(lambda m: code("fixed()"), model="fixer") as fixer:
        graph = build_scaffold_graph(environment=env, settings={
            "base_url": main.base_url, "model": "agent-model",
            "roles": {"corrector": {"base_url": fixer.base_url, "model": "fixer"}}})
        out = await graph.ainvoke(TASK)
    assert env.executed == ["bad()", "fixed()", "complete_task()"]
    assert len(fixer.requests) == 1 and fixer.requests[0]["model"] == "fixer"
    assert all(r["model"] == "agent-model" for r in main.requests)
    assert out["usage"]["corrector"]["calls"] == 1


# -- streaming --------------------------------------------------------------------------------

async def test_a_nested_scaffold_streams_node_updates_and_model_tokens():
    scaffold = build_scaffold_graph(model=replies(code("complete_task(42)")), environment=ScriptedEnvironment())
    parent = StateGraph(Ticket)
    parent.add_node("prepare", lambda s: {"task": {"instruction": s["question"]}})
    parent.add_node("solve", scaffold)
    parent.add_edge(START, "prepare")
    parent.add_edge("prepare", "solve")
    parent.add_edge("solve", END)
    updates, tokens = [], []
    async for namespace, mode, data in parent.compile().astream(
            {"question": "q"}, stream_mode=["updates", "messages"], subgraphs=True):
        if mode == "updates":
            updates.extend((namespace[:1] and namespace[0].split(":")[0], node) for node in data)
        else:
            chunk, metadata = data
            if "trirole:agent" in (metadata.get("tags") or []):
                tokens.append(chunk.content)
    assert updates == [((), "prepare"), ("solve", "setup"), ("solve", "agent"), ("solve", "executor"),
                       ("solve", "finish"), ((), "solve")]
    assert len(tokens) > 1 and "complete_task(42)" in "".join(tokens)  # chunks, not one message


# -- create_agent middleware ------------------------------------------------------------------

class ToolCallingFake(GenericFakeChatModel):
    """A fake chat model that accepts tools (its replies are scripted tool calls)."""

    def bind_tools(self, tools, **kwargs):
        return self


def python_call(source: str, call_id: str) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": "run_python", "args": {"code": source}, "id": call_id}])


async def test_the_corrector_middleware_rewrites_a_repeated_failing_call():
    ran: list[str] = []

    @tool
    def run_python(code: str) -> str:
        """Run Python code and return what it printed."""
        ran.append(code)
        return "Traceback (most recent call last):\nNameError: name 'bad' is not defined" if "bad" in code else "ok"

    model = ToolCallingFake(messages=iter([
        AIMessage(content="EARLIER_TURN_MARKER", tool_calls=python_call("print(bad)", "1").tool_calls),
        python_call("print(bad)", "2"), AIMessage(content="done")]))
    log = PromptLog()
    middleware = TriroleCorrectorMiddleware(replies(code("print('fixed')")), tools=["run_python"],
                                            settings={"correction_policy": "never"})
    agent = create_agent(model, tools=[run_python], middleware=[middleware])
    out = await agent.ainvoke({"messages": [HumanMessage("Print something.")]}, {"callbacks": [log]})
    assert ran == ["print(bad)", "print('fixed')"]
    revised = [m for m in out["messages"] if isinstance(m, ToolMessage)][1]
    assert "print('fixed')" in revised.content and revised.response_metadata["trirole_correction"]["reason"]
    (prompt,) = log.prompts("corrector")
    text = PromptLog.text(prompt)
    assert "Print something." in text and "NameError" in text and "Run Python code" in text
    assert "EARLIER_TURN_MARKER" not in text  # isolated: none of the conversation


def test_tool_results_are_read_as_failures_by_status_or_last_line():
    assert tool_result("x", ToolMessage("Traceback...\nKeyError: 'a'", tool_call_id="1"))["error_type"] == "KeyError"
    assert tool_result("x", ToolMessage("boom", tool_call_id="1", status="error"))["error"]
    assert not tool_result("x", ToolMessage("ValueError was handled\n42", tool_call_id="1"))["error"]


TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2lnbmF0dXJlLXZhbHVl"


async def test_the_summarizer_middleware_compresses_over_budget_and_keeps_tokens_verbatim():
    filler = "filler line of a long listing\n" * 40
    history = [
        HumanMessage("Log in and list my playlists."),
        python_call("token = login()", "a"),
        ToolMessage('{"access_token": "%s"}\n%s' % (TOKEN, filler), tool_call_id="a"),
        python_call("playlists = show_playlists(token)", "b"),
        ToolMessage(filler, tool_call_id="b"),
        AIMessage("Now the last step."),
        HumanMessage("continue"),
    ]
    log = PromptLog()
    middleware = TriroleSummarizerMiddleware(replies("A summary that forgot the token."), max_tokens=400,
                                             keep_messages=2, summary_budget=4000)
    agent = create_agent(ToolCallingFake(messages=iter([AIMessage("done")])), tools=[], middleware=[middleware])
    out = await agent.ainvoke({"messages": history}, {"callbacks": [log]})
    assert [role for role, _ in log.calls] == ["summarizer", "model"]
    (agent_prompt,) = log.prompts("model")
    text = PromptLog.text(agent_prompt)
    assert TOKEN in text and "filler line" not in text  # compressed, and the token survived verbatim
    assert "Log in and list my playlists." in text and "Now the last step." in text
    summary = out["messages"][1]
    assert summary.additional_kwargs["lc_source"] == "summarization"
    assert "show_playlists(token)" in PromptLog.text(log.prompts("summarizer")[0])  # tool calls summarized


async def test_the_summarizer_middleware_leaves_short_conversations_alone():
    middleware = TriroleSummarizerMiddleware(replies(), max_tokens=10_000)
    agent = create_agent(ToolCallingFake(messages=iter([AIMessage("done")])), tools=[], middleware=[middleware])
    out = await agent.ainvoke({"messages": [HumanMessage("hi")]})
    assert [m.content for m in out["messages"]] == ["hi", "done"]
