"""Sandbox functions against the REAL python sandbox under the REAL bubblewrap: host
functions bridged out of the sandbox over the worker's private channel (results, errors
as ToolError, per-call timeouts, JSON crossing), setup code with read-only bound files,
the record wrapper, and each step's call records (`ExecutionResult["calls"]`)."""

from __future__ import annotations

import asyncio
import shutil
import threading

import pytest

from trirole.calls import call_string, call_strings
from trirole.environments.base import EnvironmentFailure
from trirole.environments.functions import HostFunction, check_host_functions
from trirole.environments.python_sandbox import PythonSandbox

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None,
                                reason="bubblewrap is not installed (`make setup` installs it)")


def lookup(city: str, units: str = "metric") -> dict:
    """The weather in `city`."""
    return {"city": city, "units": units, "temperature": 21}


async def shout(text: str, *, times: int = 1) -> str:
    """`text` in capitals, `times` times."""
    await asyncio.sleep(0)
    return text.upper() * times


def explode(reason: str) -> str:
    raise ValueError(f"cannot do {reason}")


released = threading.Event()


def hang_sync() -> str:
    """Blocks until the test releases it."""
    released.wait(30)
    return "late"


async def hang_async() -> str:
    await asyncio.sleep(3600)
    return "never"


def not_json() -> object:
    return object()


def total(*numbers: float, **labels: str) -> dict:
    return {"sum": sum(numbers), "labels": labels}


FUNCTIONS = [HostFunction.from_callable(f) for f in (lookup, shout, explode, not_json, total)] + [
    HostFunction.from_callable(hang_sync, timeout_s=0.5), HostFunction.from_callable(hang_async, timeout_s=0.5)]

SETUP = '''
class Counter:
    def __init__(self):
        self.n = 0

    def add(self, k=1):
        self.n += k
        return self.n

    def add_twice(self, k):
        self.add(k)           # a recorded method calling another: one record, not three
        return self.add(k)

counter = Counter()
add = __trirole_record__(counter.add)
add_twice = __trirole_record__(counter.add_twice)
source = open(__trirole_files__["/data/lib/notes.txt"]).read()
'''


@pytest.fixture
async def box(tmp_path):
    released.clear()
    (tmp_path / "notes.txt").write_text("bound note\n")
    (tmp_path / "notes.txt").chmod(0o644)
    async with PythonSandbox(step_timeout_s=5, memory_limit_mb=512, host_functions=FUNCTIONS, setup_code=SETUP,
                             bind_files={"/data/lib/notes.txt": tmp_path / "notes.txt"}) as sandbox:
        info = await sandbox.reset({"instruction": "use the functions"})
        assert info.isolation == "bwrap"
        yield sandbox
    released.set()  # the abandoned thread of hang_sync ends


async def test_host_functions_return_results_and_every_call_is_recorded_in_keyword_form(box):
    result = await box.execute("print(lookup('Paris')['temperature'], shout('hi', times=2))\n"
                               "print(lookup('Oslo', 'imperial')['units'])")
    assert result["output"] == "21 HIHI\nimperial\n" and not result["error"]
    assert [(c["name"], c["arguments"], c["result"], c["error"]) for c in result["calls"]] == [
        ("lookup", {"city": "Paris"}, {"city": "Paris", "units": "metric", "temperature": 21}, None),
        ("shout", {"text": "hi", "times": 2}, "HIHI", None),
        ("lookup", {"city": "Oslo", "units": "imperial"}, {"city": "Oslo", "units": "imperial", "temperature": 21},
         None)]
    assert all(c["latency_ms"] > 0 for c in result["calls"])
    assert call_strings(result["calls"]) == ["lookup(city='Paris')", "shout(text='hi', times=2)",
                                             "lookup(city='Oslo', units='imperial')"]
    # The next step's records are its own.
    assert (await box.execute("x = 1"))["calls"] == []


async def test_stubs_have_the_real_signature_and_docstring(box):
    result = await box.execute("import inspect\nprint(inspect.signature(lookup))\nprint(lookup.__doc__)")
    assert result["output"] == "(city, units='metric')\nThe weather in `city`.\n"
    wrong = await box.execute("lookup(town='Paris')")
    assert wrong["error_type"] == "TypeError" and "lookup()" in wrong["error_message"]
    assert wrong["calls"] == []  # it never crossed


async def test_var_positional_and_var_keyword_cross(box):
    result = await box.execute("total(1, 2, 3.5, unit='kg')")
    assert result["output"] == "{'sum': 6.5, 'labels': {'unit': 'kg'}}\n"
    assert result["calls"][0]["arguments"] == {"numbers": [1, 2, 3.5], "unit": "kg"}


async def test_a_failing_function_raises_tool_error_in_the_agents_code(box):
    result = await box.execute("explode('magic')")
    assert result["error_type"] == "ToolError"
    assert result["error_message"] == "ValueError: cannot do magic"
    assert "/sandbox/worker.py" not in result["output"] and "<cell-1>" in result["output"]
    caught = await box.execute("try:\n    explode('x')\nexcept ToolError as e:\n    print('caught:', e)")
    assert caught["output"] == "caught: ValueError: cannot do x\n" and not caught["error"]
    assert caught["calls"][0]["error"] == "ToolError: ValueError: cannot do x" and caught["calls"][0]["result"] is None


@pytest.mark.parametrize("name", ["hang_sync", "hang_async"])
async def test_a_hanging_function_ends_at_its_timeout_and_the_sandbox_goes_on(box, name):
    await box.execute("kept = 'yes'")
    result = await box.execute(f"{name}()")
    assert result["error_type"] == "ToolError" and "0.5 s" in result["error_message"]
    assert 400 < result["calls"][0]["latency_ms"] < 4000
    assert (await box.execute("kept"))["output"] == "'yes'\n"  # no restart: variables kept


async def test_time_in_functions_does_not_count_against_the_step_limit(tmp_path):
    async def slow() -> str:
        await asyncio.sleep(1.0)
        return "done"

    async with PythonSandbox(step_timeout_s=1.5, host_functions=[HostFunction.from_callable(slow)]) as sandbox:
        await sandbox.reset({"instruction": "x"})
        result = await sandbox.execute("print([slow() for _ in range(3)])")
        assert result["output"] == "['done', 'done', 'done']\n", result["output"]
        spin = await sandbox.execute("while True:\n    pass")  # the worker's own time still counts
        assert spin["error_type"] == "TimeoutError"


async def test_values_that_are_not_json_get_a_clear_error(box):
    result = await box.execute("not_json()")
    assert result["error_type"] == "ToolError" and "cannot cross as JSON" in result["error_message"]
    argument = await box.execute("lookup({1, 2})")
    assert argument["error_type"] == "TypeError" and "must be JSON values" in argument["error_message"]
    huge = await box.execute("lookup('x' * (9 * 1024 * 1024))")
    assert huge["error_type"] == "ValueError" and "at most" in huge["error_message"]
    assert (await box.execute("lookup('Rome')['city']"))["output"] == "'Rome'\n"


async def test_code_that_writes_garbage_into_the_channel_costs_a_restart_not_the_run(box):
    await box.execute("kept = 1")
    result = await box.execute("import os\nfor fd in range(3, 64):\n    try:\n        os.write(fd, b'[1, 2]\\ngarbage\\n')\n"
                               "    except OSError:\n        pass\nlookup('x')")
    assert result["error_type"] == "WorkerCrashed" and "channel broke" in result["error_message"]
    assert (await box.execute("lookup('Rome')['city']"))["output"] == "'Rome'\n"


async def test_setup_code_records_in_sandbox_functions_once_per_agent_call(box):
    result = await box.execute("print(add(), add(k=5), add_twice(2))\nprint(source.strip())")
    assert result["output"] == "1 6 10\nbound note\n"
    assert call_strings(result["calls"]) == ["add()", "add(k=5)", "add_twice(k=2)"]
    assert [c["result"] for c in result["calls"]] == [1, 6, 10]


async def test_bound_files_are_read_only_and_setup_runs_again_after_a_restart(box):
    write = await box.execute("open('/data/lib/notes.txt', 'a').write('x')")
    assert write["error_type"] in ("PermissionError", "OSError")
    await box.execute("add(k=3)")
    assert (await box.execute("import os\nos._exit(1)"))["error_type"] == "WorkerCrashed"
    after = await box.execute("print(counter.n, source.strip(), lookup('Rome')['city'])")
    assert after["output"] == "0 bound note Rome\n"


async def test_a_thread_left_running_cannot_call_after_its_step(box):
    await box.execute("import threading, time\nerrors = []\n"
                      "def later():\n    time.sleep(0.3)\n    try:\n        lookup('x')\n"
                      "    except RuntimeError as e:\n        errors.append(str(e))\n"
                      "threading.Thread(target=later).start()")
    await asyncio.sleep(0.6)
    result = await box.execute("print(errors)")
    assert "while a step runs" in result["output"]


async def test_a_bound_file_that_does_not_exist_fails_the_reset(tmp_path):
    async with PythonSandbox(bind_files={"/data/x": tmp_path / "missing"}) as sandbox:
        with pytest.raises(ValueError, match="does not exist"):
            await sandbox.reset({"instruction": "x"})


async def test_setup_code_that_fails_fails_the_reset_with_its_traceback():
    async with PythonSandbox(setup_code="import json\nraise RuntimeError('broken setup')") as sandbox:
        with pytest.raises(EnvironmentFailure, match="(?s)setup code failed.*<setup>.*broken setup"):
            await sandbox.reset({"instruction": "x"})


def test_bad_options_are_refused_with_the_fix(tmp_path):
    with pytest.raises(ValueError, match="reserved"):
        PythonSandbox(bind_files={"/usr/x": tmp_path})
    with pytest.raises(ValueError, match="absolute"):
        PythonSandbox(bind_files={"data/x": tmp_path})
    with pytest.raises(ValueError, match="defined by the sandbox"):
        HostFunction.from_callable(lookup, name="complete_task")
    with pytest.raises(ValueError, match="unique"):
        check_host_functions([HostFunction.from_callable(lookup), HostFunction.from_callable(lookup)])


async def test_the_reference_lists_the_functions_with_signatures_and_docstrings(box):
    reference = box._reference({})
    assert "def lookup(city: str, units: str = 'metric') -> dict:\n    \"\"\"The weather in `city`.\"\"\"" in reference
    assert "def shout(text: str, *, times: int = 1) -> str:" in reference
    assert "ToolError" in reference


def test_call_string_renders_bfcl_form():
    assert call_string({"name": "cd", "arguments": {"folder": "document"}}) == "cd(folder='document')"
    assert call_string({"name": "f", "arguments": {"a": 1, "b": [1, "x"], "c": None}}) == "f(a=1, b=[1, 'x'], c=None)"
    assert call_string({"name": "ls", "arguments": {}}) == "ls()"


async def test_a_runs_calls_are_trace_and_transcript_events_counted_and_read_for_artifacts(tmp_path):
    """The graph over the real sandbox; the agent is LangChain's fake chat model (scripted code)."""
    from fakes import code, replies

    from trirole import build_scaffold_graph
    from trirole.trace import JsonlTrace, read_trace
    from trirole.transcript import TranscriptPrinter, print_run

    def login(user: str) -> dict:
        """Log in; returns an access token."""
        return {"access_token": "tok-9f8e7d6c5b4a", "user": user}

    agent = replies(code("session = login('ada')\nprint('logged in')"),
                    code("try:\n    explode('twice')\nexcept ToolError:\n    pass\ncomplete_task(session['user'])"))
    graph = build_scaffold_graph(
        models={"agent": agent, "corrector": replies(), "summarizer": replies()},
        settings={"use_corrector": False, "use_summarizer": False},
        environment=lambda settings: PythonSandbox(host_functions=[HostFunction.from_callable(login),
                                                                   HostFunction.from_callable(explode)]))
    trace, printed = tmp_path / "trace.jsonl", tmp_path / "transcript.txt"
    with printed.open("w") as out:
        final = await print_run(graph, {"task": {"instruction": "Log in as ada."}},
                                config={"callbacks": [JsonlTrace(trace)]}, printer=TranscriptPrinter(out))
    assert final["status"] == "completed" and final["answer"] == "ada"
    assert final["counters"]["tool_calls"] == 2 and final["counters"]["tool_errors"] == 1
    kinds = [(r["type"], r.get("name")) for r in read_trace(trace) if r["type"] in ("tool_call", "execution")]
    assert kinds == [("tool_call", "login"), ("execution", None), ("tool_call", "explode"), ("execution", None)]
    call = next(r for r in read_trace(trace) if r["type"] == "tool_call")
    assert call["arguments"] == {"user": "ada"} and call["result"]["access_token"] == "tok-9f8e7d6c5b4a"
    text = printed.read_text()
    assert "· called login(user='ada') -> {\"access_token\": \"tok-9f8e7d6c5b4a\"" in text
    assert "· called explode(reason='twice') raised ToolError: ValueError: cannot do twice" in text


async def test_the_artifact_store_reads_a_tools_result_the_code_never_printed(box):
    from trirole.nodes.executor import execute_action
    from trirole.prompts import load_prompts

    def issue() -> dict:
        return {"api_key": "sk-live-7Qx2Lm9Pz4"}

    async with PythonSandbox(host_functions=[HostFunction.from_callable(issue)]) as sandbox:
        await sandbox.reset({"instruction": "x"})
        update = await execute_action(sandbox, "key = issue()['api_key']\nprint('got it')", step=1, revised=False,
                                      proposed="", max_observation_chars=3000, prompts=load_prompts(None))
    kept = [a for a in update["artifacts"].values() if a["value"] == "sk-live-7Qx2Lm9Pz4"]
    assert kept and kept[0]["kind"] == "api_key" and kept[0]["source"].startswith("step 1 issue() result")
    assert update["counters"] == {"tool_calls": 1, "tool_errors": 0}
