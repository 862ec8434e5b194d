"""The python sandbox against real worker subprocesses, and the python task files."""

from __future__ import annotations

import asyncio
import json
import os
import time

import pytest

from trirole.environments import Environment, make_environment
from trirole.environments.base import EnvironmentFailure
from trirole.environments.python_sandbox import PythonSandbox
from trirole.environments.python_tasks import BUNDLED_TASKS, TaskFileError, load_python_tasks

CHECK_42 = "def check(answer):\n    return answer == 42, f'expected 42, got {answer!r}'\n"
TASKS = [
    {"id": "answer", "instruction": "Complete with 42.", "checker": CHECK_42},
    {"id": "uses-globals", "instruction": "Set total to the sum of context['xs'].", "context": {"xs": [1, 2, 3]},
     "checker": "def check(answer):\n    return total == 6, 'total is wrong'\n"},
    {"id": "broken-checker", "instruction": "Anything.", "checker": "def check(answer):\n    return 1 / 0\n"},
    {"id": "no-checker", "instruction": "Anything."},
]


@pytest.fixture
async def sandbox():
    async with PythonSandbox(tasks=TASKS, step_timeout_s=1.0, memory_limit_mb=256,
                             max_observation_chars=200) as box:
        await box.reset({"instruction": "play", "context": {"a": 2}})
        yield box


async def test_variables_persist_and_last_expression_is_echoed(sandbox):
    first = await sandbox.execute("x = context['a'] * 10\nprint('set x')")
    assert first["output"] == "set x\n" and first["error"] is False
    second = await sandbox.execute("y = x + 1\ny")
    assert second["output"] == "21\n"
    assert (await sandbox.execute("y = None\ny"))["output"] == ""


async def test_exception_is_an_error_result_and_the_sandbox_keeps_working(sandbox):
    await sandbox.execute("keep = 'me'")
    result = await sandbox.execute("def f(d):\n    return d['missing']\nf({})")
    assert result["error"] is True
    assert result["error_type"] == "KeyError" and result["error_message"] == "'missing'"
    # The traceback points into the agent's cell, not into the worker.
    assert '<cell-2>", line 2, in f' in result["output"] and "_sandbox_worker" not in result["output"]
    assert (await sandbox.execute("keep"))["output"] == "'me'\n"


async def test_syntax_error_is_a_result(sandbox):
    result = await sandbox.execute("x = (1,")
    assert result["error"] and result["error_type"] == "SyntaxError"
    assert "SyntaxError" in result["output"]
    assert (await sandbox.execute("1 + 1"))["output"] == "2\n"


async def test_timeout_kills_restarts_and_resets_variables(sandbox):
    await sandbox.execute("before = 1")
    result = await sandbox.execute("while True:\n    pass")
    assert result["error"] and result["error_type"] == "TimeoutError"
    assert "1 s" in result["error_message"] and "reset" in result["error_message"]
    after = await sandbox.execute("'before' in globals(), context['a']")
    assert after["output"] == "(False, 2)\n"  # fresh namespace, task context injected again


async def test_memory_limit_is_a_result_and_the_sandbox_keeps_working(sandbox):
    result = await sandbox.execute("block = bytearray(2 * 1024 ** 3)")
    assert result["error"] and result["error_type"] in ("MemoryError", "WorkerCrashed")
    assert (await sandbox.execute("2 * 21"))["output"] == "42\n"


async def test_worker_death_is_reported_and_the_sandbox_restarts(sandbox):
    result = await sandbox.execute("import os\nos._exit(3)")
    assert result["error_type"] == "WorkerCrashed" and "exit code 3" in result["error_message"]
    assert (await sandbox.execute("'alive'"))["output"] == "'alive'\n"


async def test_output_is_clipped_keeping_head_and_tail(sandbox):
    result = await sandbox.execute("print('HEAD' + 'x' * 5000 + 'TAIL')")
    output = result["output"]
    assert output.startswith("HEAD") and output.rstrip().endswith("TAIL")
    assert "characters cut" in output and len(output) < 300


async def test_stderr_and_child_process_output_are_captured(sandbox):
    result = await sandbox.execute("import os, sys\nprint('out')\nsys.stderr.write('err\\n')\nos.system('echo child')")
    assert result["output"] == "out\nerr\nchild\n0\n"


async def test_agent_code_cannot_see_trirole(sandbox):
    result = await sandbox.execute("import os\nos.getpid(), sorted(os.environ), os.getcwd()")
    pid, env_keys, cwd = eval(result["output"])
    assert pid != os.getpid()
    # PWD: bubblewrap's, after it changed into the scratch folder
    assert env_keys == ["HOME", "LANG", "PATH", "PWD", "PYTHONHASHSEED", "TMPDIR"]
    assert cwd == "/scratch" and not os.path.exists(cwd)  # a private tmpfs, not a host folder
    blocked = await sandbox.execute("import trirole")
    assert blocked["error_type"] == "ModuleNotFoundError"


async def test_process_isolation_works_in_a_host_folder_that_goes_with_it():
    async with PythonSandbox(step_timeout_s=5, isolation="process") as box:
        info = await box.reset({"instruction": "play"})
        assert info.isolation == "process"
        result = await box.execute("import os\nsorted(os.environ), os.getcwd()")
        env_keys, cwd = eval(result["output"])
        assert env_keys == ["HOME", "LANG", "PATH", "PYTHONHASHSEED", "TMPDIR"]
        assert cwd != os.getcwd() and os.path.isdir(cwd)
    assert not os.path.exists(cwd)  # the working directory goes with the sandbox


async def test_reset_gives_a_fresh_namespace(sandbox):
    await sandbox.execute("leftover = 1\ncomplete_task('old')")
    await sandbox.reset({"instruction": "again"})
    result = await sandbox.execute("'leftover' in globals(), context")
    assert result["output"] == "(False, {})\n" and result["task_completed"] is False


async def test_complete_task_records_the_answer(sandbox):
    assert (await sandbox.execute("1"))["task_completed"] is False
    result = await sandbox.execute("complete_task({'n': (1, 2)})")
    assert result["task_completed"] is True and result["answer"] == {"n": [1, 2]}
    odd = await sandbox.execute("complete_task({1, 2})")  # not JSON: its repr is kept
    assert odd["answer"] == "{1, 2}"


async def test_evaluate_passing_failing_and_without_completion(sandbox):
    info = await sandbox.reset({"instruction": "", "task_id": "answer"})
    assert info.instruction == "Complete with 42." and "complete_task(answer)" in info.reference
    not_done = await sandbox.evaluate()
    assert not not_done.success and not_done.failed[0]["check"] == "completed"
    await sandbox.execute("complete_task(41)")
    failing = await sandbox.evaluate()
    assert not failing.success and failing.failed[0]["message"] == "expected 42, got 41"
    await sandbox.execute("complete_task(42)")
    assert (await sandbox.evaluate()).success


async def test_checker_reads_the_agent_variables_and_reports_its_errors(sandbox):
    info = await sandbox.reset({"instruction": "", "task_id": "uses-globals", "context": {"extra": 1}})
    assert info.context == {"xs": [1, 2, 3], "extra": 1}
    await sandbox.execute("total = sum(context['xs'])\ncomplete_task(total)")
    assert (await sandbox.evaluate()).success
    await sandbox.reset({"instruction": "", "task_id": "broken-checker"})
    await sandbox.execute("complete_task(1)")
    broken = await sandbox.evaluate()
    assert not broken.success and "ZeroDivisionError" in broken.failed[0]["message"]
    await sandbox.reset({"instruction": "", "task_id": "no-checker"})
    assert await sandbox.evaluate() is None


async def test_sandboxes_run_concurrently_and_calls_on_one_are_serialised():
    boxes = [PythonSandbox(step_timeout_s=5) for _ in range(3)]
    try:
        await asyncio.gather(*(box.reset({"instruction": "x", "context": {"i": i}}) for i, box in enumerate(boxes)))
        started = time.perf_counter()
        results = await asyncio.gather(*(box.execute("import time\ntime.sleep(0.5)\ncontext['i']") for box in boxes))
        assert [r["output"] for r in results] == ["0\n", "1\n", "2\n"]
        assert time.perf_counter() - started < 1.4  # in parallel, not one after another
        _, second = await asyncio.gather(boxes[0].execute("n = 7"), boxes[0].execute("n"))
        assert second["output"] == "7\n"
    finally:
        await asyncio.gather(*(box.close() for box in boxes))


async def test_unknown_task_id_names_the_known_ids(sandbox):
    with pytest.raises(ValueError, match="'nope'.*answer, uses-globals"):
        await sandbox.reset({"instruction": "", "task_id": "nope"})


async def test_registry_builds_a_sandbox_and_bad_interpreters_fail_clearly(tmp_path):
    box = make_environment("python", step_timeout_s=5)
    assert isinstance(box, PythonSandbox) and isinstance(box, Environment)
    with pytest.raises(TypeError):
        make_environment("python", no_such_option=1)
    with pytest.raises(EnvironmentFailure, match="cannot start"):
        await PythonSandbox(python=str(tmp_path / "missing-python")).reset({"instruction": "x"})
    with pytest.raises(EnvironmentFailure, match="call reset"):
        await box.execute("1")


# -- task files -------------------------------------------------------------------------


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("lines, expected", [
    (['{"id": "a", "instruction": "x"}', '{"id": "b"}'], r"tasks.jsonl line 2: missing 'instruction'"),
    (['{"instruction": "x"}'], r"line 1: missing 'id'"),
    (['{"id": "a", "instruction": "x"}', '{"id": "a", "instruction": "y"}'], r"line 2: duplicate id 'a' \(first at .*line 1\)"),
    (['{"id": "a", "instruction": "x",}'], r"line 1 column \d+: invalid JSON"),
    (['{"id": "a", "instruction": "x", "checker": "def check(a):\\n  return ("}'], r"'checker' does not compile"),
    (['{"id": "a", "instruction": "x", "checker": "def verify(a): return True"}'], r"does not define check"),
    (['{"id": "a", "instruction": "x", "difficulty": 5}'], r"'difficulty' must be 1, 2 or 3"),
    (['{"id": "a", "instruction": "x", "context": [1]}'], r"'context' must be an object"),
    (['{"id": "a", "instruction": "x", "checkr": ""}'], r"unknown keys \['checkr'\]"),
    (['', '  '], r"contains no tasks"),
])
def test_malformed_jsonl_task_files(tmp_path, lines, expected):
    path = _write(tmp_path, "tasks.jsonl", "\n".join(lines) + "\n")
    with pytest.raises(TaskFileError, match=expected):
        load_python_tasks(path)


def test_malformed_json_task_files(tmp_path):
    with pytest.raises(TaskFileError, match=r"tasks.json line 3 column \d+: invalid JSON"):
        load_python_tasks(_write(tmp_path, "tasks.json", '[\n{"id": "a",\n "instruction" "x"}]'))
    with pytest.raises(TaskFileError, match=r"expected a JSON list"):
        load_python_tasks(_write(tmp_path, "tasks.json", '{"id": "a", "instruction": "x"}'))
    with pytest.raises(TaskFileError, match=r"tasks.json index 1: 'instruction' must be a non-empty string"):
        load_python_tasks(_write(tmp_path, "tasks.json", json.dumps([{"id": "a", "instruction": "x"},
                                                                     {"id": "b", "instruction": " "}])))
    with pytest.raises(TaskFileError, match=r"unsupported file type '.yaml'"):
        load_python_tasks(_write(tmp_path, "tasks.yaml", "[]"))
    with pytest.raises(TaskFileError, match="cannot read"):
        load_python_tasks(tmp_path / "absent.jsonl")
    with pytest.raises(TaskFileError, match="the tasks option index 0"):
        PythonSandbox(tasks=[{"id": "a"}])


def test_bundled_tasks_load_and_their_checkers_compile():
    tasks = load_python_tasks(BUNDLED_TASKS)
    assert 8 <= len(tasks) <= 10
    for task in tasks:
        namespace: dict = {}
        exec(compile(task["checker"], task["id"], "exec"), namespace)
        assert callable(namespace["check"]) and task["difficulty"] in (1, 2, 3)


async def test_a_bundled_two_step_task_runs_end_to_end():
    async with PythonSandbox(tasks=BUNDLED_TASKS) as box:
        info = await box.reset({"instruction": "", "task_id": "orders-by-customer"})
        assert "orders_csv" in info.context
        step1 = await box.execute(
            "import csv, io\n"
            "orders = [dict(r, order_id=int(r['order_id']), quantity=int(r['quantity']),\n"
            "               unit_price=float(r['unit_price'])) for r in csv.DictReader(io.StringIO(context['orders_csv']))]\n"
            "len(orders)")
        assert step1["output"] == "5\n"
        await box.execute("totals = {}\nfor o in orders:\n"
                          "    totals[o['customer']] = round(totals.get(o['customer'], 0) + o['quantity'] * o['unit_price'], 2)\n"
                          "complete_task(totals)")
        assert (await box.evaluate()).success
