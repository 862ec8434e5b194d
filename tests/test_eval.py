"""The evaluation harness: resume after a kill, metrics, failure classes, report files.

The model is FAKE: tests/scripted_openai.py's HTTP server (counting requests) or
LangChain's fake chat model. The resume test runs the real `trirole eval` command in a
subprocess with the real python sandbox, and kills it mid-run.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from statistics import NormalDist

import httpx
import pytest
from fakes import ScriptedEnvironment, code
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from scripted_openai import ScriptedOpenAIServer

from trirole.evals import (
    Dataset,
    DatasetError,
    EvalTask,
    classify_failure,
    compute_metrics,
    evaluate,
    load_dataset,
    read_results,
    resolve_paradigms,
    write_report,
)
from trirole.evals.published import MARK
from trirole.settings import TriroleSettings

ROOT = Path(__file__).resolve().parent.parent
N_TASKS = 6
PARADIGMS = ("base", "react")


def forever(text: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=(AIMessage(content=text) for _ in itertools.count()))


# -- resume after a kill ---------------------------------------------------------------------------
def _task_file(path: Path) -> Path:
    lines = [json.dumps({"id": f"t{i}", "instruction": f"Return the number {i} (task t{i}).",
                         "checker": f"def check(answer):\n    return answer == {i}", "difficulty": 1 + i % 3})
             for i in range(N_TASKS)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _request_key(body: dict) -> tuple[str, str]:
    """(paradigm, task) of a chat request: the base paradigm's system prompt differs."""
    text = " ".join(str(m.get("content", "")) for m in body["messages"])
    paradigm = "base" if "Write ONE complete Python program" in text else "react"
    return paradigm, "t" + re.search(r"\(task t(\d+)\)", text).group(1)


def _eval_command(tasks: Path, out: Path, base_url: str) -> list[str]:
    return [sys.executable, "-m", "trirole.cli", "eval", "--paradigms", ",".join(PARADIGMS), "--dataset", str(tasks),
            "--out", str(out), "--base-url", base_url, "--model", "scripted-model", "--concurrency", "2",
            "--task-timeout", "120"]


def test_a_killed_evaluation_resumes_without_losing_or_repeating_pairs(tmp_path):
    tasks, out = _task_file(tmp_path / "tasks.jsonl"), tmp_path / "out"
    gate = threading.Event()  # tasks t2.. hang in the first run until it is killed

    def responder(messages):
        number = int(re.search(r"\(task t(\d+)\)", " ".join(str(m.get("content")) for m in messages)).group(1))
        if number >= 2:
            gate.wait()
        return f"Done.\n```python\ncomplete_task({number})\n```"

    with ScriptedOpenAIServer(responder) as server:
        try:
            first = subprocess.Popen(_eval_command(tasks, out, server.base_url), cwd=ROOT,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            results = out / "results.jsonl"
            deadline = time.monotonic() + 120  # a guard against a hang, not an assertion on speed
            while time.monotonic() < deadline and first.poll() is None:
                if results.is_file() and results.read_text().count("\n") >= 2 * len(PARADIGMS):
                    break
                time.sleep(0.05)
            first.kill()
            first.wait()
            finished_first = {(r["paradigm"], r["task_id"]) for r in read_results(out)}
            # t0 and t1 finished with both paradigms; t2 pairs were in flight when killed.
            assert finished_first == {(p, f"t{i}") for p in PARADIGMS for i in (0, 1)}
            calls_first = Counter(_request_key(b) for b in server.requests)
            with results.open("a") as handle:  # as if killed in the middle of writing a line
                handle.write('{"paradigm": "react", "task_id": "t')
        finally:
            gate.set()

        second = subprocess.run(_eval_command(tasks, out, server.base_url), cwd=ROOT, capture_output=True,
                                text=True, timeout=300)
        assert second.returncode == 0, second.stderr[-2000:]
        calls_all = Counter(_request_key(b) for b in server.requests)

    lines = results.read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line is whole again
    pairs = Counter((r["paradigm"], r["task_id"]) for r in records)
    assert pairs == Counter({(p, f"t{i}"): 1 for p in PARADIGMS for i in range(N_TASKS)})
    assert all(r["success"] is True for r in records)
    for pair in finished_first:  # finished pairs were not run again
        assert calls_all[pair] == calls_first[pair] == 1
    for record in records:  # the in-flight pairs' partial traces were replaced
        trace = [json.loads(line) for line in (out / record["trace"]).read_text().splitlines()]
        assert [t["type"] for t in trace].count("final") == 1
    assert (out / "report.md").is_file()


# -- the runner in-process ---------------------------------------------------------------------------
class SlowEnvironment(ScriptedEnvironment):
    async def execute(self, code):
        await asyncio.sleep(60)
        return await super().execute(code)


def _dataset(n: int) -> Dataset:
    return Dataset(name="fake", env="python", tasks=tuple(EvalTask(id=f"x{i}", env="python", difficulty=1,
                                                                   scenario=f"x{i}") for i in range(n)))


async def test_a_task_past_its_wall_clock_limit_is_recorded_as_timeout_and_its_environment_closed(tmp_path):
    made: list[SlowEnvironment] = []

    def factory(settings):
        made.append(SlowEnvironment())
        return made[-1]

    summary = await evaluate(["react"], _dataset(1), tmp_path, settings=TriroleSettings(), task_timeout_s=0.3,
                             graph_options={"model": forever(code("work()"))}, environment=factory, progress=False)
    (record,) = summary.records()
    assert record["status"] == "timeout" and record["success"] is False and "wall-clock" in record["status_reason"]
    assert record["steps"] == 1  # the last streamed state before the cut
    assert made and all(env.closed for env in made)


async def test_a_rerun_skips_recorded_pairs_and_ignores_a_half_written_line(tmp_path):
    options = {"graph_options": {"model": forever(code("complete_task(1)"))},
               "environment": lambda settings: ScriptedEnvironment(), "progress": False}
    first = await evaluate(["react", "base"], _dataset(2), tmp_path, settings=TriroleSettings(), limit=1, **options)
    assert {(r["paradigm"], r["task_id"]) for r in first.records()} == {("react", "x0"), ("base", "x0")}
    with (tmp_path / "results.jsonl").open("a") as handle:
        handle.write('{"paradigm": "base", "task_')
    assert len(read_results(tmp_path)) == 2
    both = await evaluate(["react", "base"], _dataset(2), tmp_path, settings=TriroleSettings(), extend=True, **options)
    assert (both.pairs, both.skipped, both.ran) == (4, 2, 2) and len(both.records()) == 4
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    assert len(lines) == 4 and all(json.loads(line) for line in lines)
    record = next(r for r in both.records() if r["paradigm"] == "react")
    assert record["usage"]["agent"]["calls"] == 1 and record["model_calls"] == 1 and record["success"] is True


async def test_infrastructure_errors_are_marked_and_retry_errors_reruns_only_them(tmp_path):
    # A model endpoint that fails (model_error) is the infrastructure's failure, a wrong
    # answer the agent's: only the former is marked and rerun by retry_errors.
    class Broken(GenericFakeChatModel):
        async def _agenerate(self, *args, **kwargs):
            raise httpx.ConnectError("the endpoint is down")  # what a dead endpoint raises

    env = {"environment": lambda settings: ScriptedEnvironment(), "progress": False}
    broken = Broken(messages=iter(()))
    await evaluate(["react"], _dataset(1), tmp_path, settings=TriroleSettings(), graph_options={"model": broken}, **env)
    await evaluate(["base"], _dataset(1), tmp_path, settings=TriroleSettings(),
                   graph_options={"model": forever("no code at all")}, extend=True, **env)
    down, wrong = read_results(tmp_path)
    assert down["status"] == "model_error" and down["infra_error"] is True and "down" in down["infra_reason"]
    assert wrong["infra_error"] is False and wrong["success"] is not True
    good = {"model": forever(code("complete_task(1)"))}
    again = await evaluate(["react", "base"], _dataset(1), tmp_path, settings=TriroleSettings(), graph_options=good,
                           extend=True, **env)
    assert again.ran == 0  # without retry_errors every recorded pair is done
    retried = await evaluate(["react", "base"], _dataset(1), tmp_path, settings=TriroleSettings(),
                             graph_options=good, retry_errors=True, **env)
    assert retried.ran == 1
    assert len(read_results(tmp_path, every=True)) == 3
    latest = {r["paradigm"]: r for r in read_results(tmp_path)}  # the last record of a pair wins
    assert latest["react"]["success"] is True and latest["react"]["infra_error"] is False
    assert latest["base"] is not None and latest["base"]["infra_error"] is False and latest["base"]["success"] is not True


async def test_repeats_run_each_pair_k_times_and_resume_by_repeat(tmp_path):
    options = {"graph_options": {"model": forever(code("complete_task(1)"))},
               "environment": lambda settings: ScriptedEnvironment(), "progress": False}
    # A folder written before repeats existed: its record has no "repeat" and counts as repeat 0.
    old = await evaluate(["react"], _dataset(2), tmp_path, settings=TriroleSettings(temperature=0.7), limit=1,
                         **options)
    lines = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    (tmp_path / "results.jsonl").write_text("".join(json.dumps({k: v for k, v in r.items() if k != "repeat"}) + "\n"
                                                    for r in lines))
    assert old.ran == 1
    two = await evaluate(["react"], _dataset(2), tmp_path, settings=TriroleSettings(temperature=0.7), repeats=2,
                         extend=True, **options)
    assert (two.pairs, two.skipped, two.ran) == (4, 1, 3)
    three = await evaluate(["react"], _dataset(2), tmp_path, settings=TriroleSettings(temperature=0.7), repeats=3,
                           extend=True, **options)
    assert (three.pairs, three.skipped, three.ran) == (6, 4, 2)
    runs = Counter((r["task_id"], r.get("repeat", 0)) for r in read_results(tmp_path))
    assert runs == Counter({(t, k): 1 for t in ("x0", "x1") for k in range(3)})
    assert len(three.records()) == 6 and len(two.records()) == 4  # each summary sees its own repeats
    traces = {r["trace"] for r in read_results(tmp_path)}
    assert len(traces) == 6 and "traces/react/x0.jsonl" in traces and "traces/react/x1.r2.jsonl" in traces
    m = compute_metrics(read_results(tmp_path))["react"]
    assert (m["repeats"], m["tasks"], m["runs"], m["tgc"]) == (3, 2, 6, 1.0)
    assert m["tgc_spread"] == {"n": 3, "mean": 1.0, "sd": 0.0, "min": 1.0, "max": 1.0}


async def test_repeats_at_temperature_zero_warn_and_bad_values_are_refused(tmp_path, capsys):
    options = {"graph_options": {"model": forever(code("complete_task(1)"))},
               "environment": lambda settings: ScriptedEnvironment()}
    await evaluate(["react"], _dataset(1), tmp_path, settings=TriroleSettings(), repeats=2, **options)
    assert "2 repeats at temperature 0" in capsys.readouterr().err
    with pytest.raises(ValueError, match="repeats must be >= 1"):
        await evaluate(["react"], _dataset(1), tmp_path, settings=TriroleSettings(), repeats=0, **options)


def test_the_eval_command_samples_when_repeating(tmp_path):
    # --repeats 2 without --temperature: every request samples at the documented default.
    from trirole.evals.cli import REPEAT_TEMPERATURE

    tasks, out = _task_file(tmp_path / "tasks.jsonl"), tmp_path / "out"
    with ScriptedOpenAIServer(lambda messages: "```python\ncomplete_task(0)\n```") as server:
        done = subprocess.run([*_eval_command(tasks, out, server.base_url), "--paradigms", "base", "--limit", "2",
                               "--repeats", "2"], cwd=ROOT, capture_output=True, text=True, timeout=300)
        temperatures = {body.get("temperature") for body in server.requests}
    assert done.returncode == 0, done.stderr[-2000:]
    assert temperatures == {REPEAT_TEMPERATURE} and REPEAT_TEMPERATURE > 0
    assert sorted((r["task_id"], r["repeat"]) for r in read_results(out)) == [
        ("t0", 0), ("t0", 1), ("t1", 0), ("t1", 1)]
    assert "## Across repeats (measured)" in (out / "report.md").read_text()


async def test_evaluations_leave_the_garbage_collector_as_they_found_it(tmp_path):
    # evaluate() freezes the objects that existed before it (so that its collection after
    # each pair is cheap) and must unfreeze them, also when two run at once in one process.
    options = {"graph_options": {"model": forever(code("complete_task(1)"))},
               "environment": lambda settings: ScriptedEnvironment(), "progress": False}
    assert gc.get_freeze_count() == 0
    first, second = await asyncio.gather(
        evaluate(["react"], _dataset(3), tmp_path / "a", settings=TriroleSettings(), concurrency=2, **options),
        evaluate(["base"], _dataset(1), tmp_path / "b", settings=TriroleSettings(), **options))
    assert (first.ran, second.ran) == (3, 1)
    assert gc.get_freeze_count() == 0 and gc.isenabled()


class InFlight(GenericFakeChatModel):
    """A FAKE model that notes how many calls were in flight when each call began."""

    seen: list = []
    running: list = []

    async def _agenerate(self, messages, stop=None, run_manager=None, **kwargs):
        self.seen.append(len(self.running))
        self.running.append(1)
        try:
            await asyncio.sleep(0.05)
            return await super()._agenerate(messages, stop=stop, run_manager=run_manager, **kwargs)
        finally:
            self.running.pop()


async def test_the_first_model_call_runs_alone_so_the_servers_prefix_cache_serves_the_others(tmp_path):
    # N cold requests at once would each compute the prefix every prompt shares; after one
    # reply the server's cache holds it. The rest then run N at a time.
    model = InFlight(messages=itertools.repeat(AIMessage(content=code("complete_task(1)"))), seen=[], running=[])
    summary = await evaluate(["react"], _dataset(8), tmp_path, settings=TriroleSettings(), concurrency=4,
                             graph_options={"model": model}, environment=lambda settings: ScriptedEnvironment(),
                             progress=False)
    assert summary.ran == 8 and len(model.seen) == 8
    assert model.seen[:2] == [0, 0]  # the first alone: the second began after it
    assert max(model.seen) >= 2  # then concurrently


async def test_a_second_evaluation_of_a_folder_in_use_is_refused_and_the_folder_free_again_after(tmp_path):
    # Two `trirole eval` runs of one --out each ran every pending pair and wrote it twice.
    from trirole.evals.planning import FolderError

    slow = {**FAKE_RUN, "environment": lambda settings: SlowStep()}
    first = asyncio.create_task(evaluate(["react"], _dataset(2), tmp_path, settings=TriroleSettings(), **slow))
    await asyncio.sleep(0.5)  # the first holds the folder
    with pytest.raises(FolderError, match="being evaluated by another trirole process"):
        await evaluate(["react"], _dataset(2), tmp_path, settings=TriroleSettings(), **FAKE_RUN)
    assert (await first).ran == 2
    again = await evaluate(["react"], _dataset(2), tmp_path, settings=TriroleSettings(), **FAKE_RUN)
    assert again.ran == 0 and len(again.records()) == 2  # resumed: nothing twice


class SlowStep(ScriptedEnvironment):
    async def execute(self, code):
        await asyncio.sleep(1.5)
        return await super().execute(code)


# -- one experiment per folder ------------------------------------------------------------------------
FAKE_RUN = {"graph_options": {"model": forever(code("complete_task(1)"))},
            "environment": lambda settings: ScriptedEnvironment(), "progress": False}


def test_a_rerun_with_another_configuration_is_refused_saying_what_differs(tmp_path, capsys):
    from trirole.cli import main
    from trirole.evals.planning import FolderError

    tasks, out = _task_file(tmp_path / "tasks.jsonl"), tmp_path / "out"
    first = asyncio.run(evaluate(["react"], str(tasks), out, settings=TriroleSettings(max_steps=3), limit=2, **FAKE_RUN))
    assert first.ran == 2
    with pytest.raises(FolderError, match=r"max_steps \(3 in the folder, 5 now\).*new --out"):
        asyncio.run(evaluate(["react"], str(tasks), out, settings=TriroleSettings(max_steps=5), limit=2, **FAKE_RUN))
    with pytest.raises(FolderError, match=r"dataset \(.*tasks.jsonl\" in the folder, \"fake\" now\)"):
        asyncio.run(evaluate(["react"], _dataset(2), out, settings=TriroleSettings(max_steps=3), **FAKE_RUN))
    with pytest.raises(FolderError, match=r"model \(.*in the folder, \"other\" now\)"):
        asyncio.run(evaluate(["react"], str(tasks), out, settings=TriroleSettings(max_steps=3, model="other"), limit=2,
                       **FAKE_RUN))
    with pytest.raises(FolderError, match=r"task_timeout_s \(900\.0 in the folder, 60\.0 now\)"):
        asyncio.run(evaluate(["react"], str(tasks), out, settings=TriroleSettings(max_steps=3), limit=2,
                       task_timeout_s=60, **FAKE_RUN))
    assert len(read_results(out, every=True)) == 2  # nothing ran, nothing was mixed in
    # The same configuration resumes (a subset of its pairs too).
    again = asyncio.run(evaluate(["react"], str(tasks), out, settings=TriroleSettings(max_steps=3), limit=1, **FAKE_RUN))
    assert (again.ran, again.skipped) == (0, 1)
    # The command line: one line, exit 2, before any endpoint is checked (this one does not exist).
    argv = ["eval", "--dataset", str(tasks), "--out", str(out), "--paradigms", "react", "--limit", "2",
            "--max-steps", "4", "--base-url", "http://127.0.0.1:9/v1", "--model", "m"]
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("trirole eval: error:") and err.count("\n") == 1, err
    assert "max_steps (3 in the folder, 4 now)" in err and "new --out" in err


def test_adding_pairs_to_a_folder_needs_extend(tmp_path, capsys):
    from trirole.cli import main
    from trirole.evals.planning import FolderError

    tasks, out = _task_file(tmp_path / "tasks.jsonl"), tmp_path / "out"
    asyncio.run(evaluate(["react"], str(tasks), out, settings=TriroleSettings(), limit=1, **FAKE_RUN))
    with pytest.raises(FolderError, match=r"extend with paradigm\(s\) base.*--extend"):
        asyncio.run(evaluate(["react", "base"], str(tasks), out, settings=TriroleSettings(), limit=1, **FAKE_RUN))
    with pytest.raises(FolderError, match=r"extend with 1 task\(s\) \(t1\).*--extend"):
        asyncio.run(evaluate(["react"], str(tasks), out, settings=TriroleSettings(), limit=2, **FAKE_RUN))
    more = asyncio.run(evaluate(["react", "base"], str(tasks), out, settings=TriroleSettings(), limit=2, extend=True,
                          **FAKE_RUN))
    assert (more.pairs, more.skipped, more.ran) == (4, 1, 3)
    manifest = json.loads((out / "run.json").read_text())
    assert sorted(manifest["paradigms"]) == ["base", "react"] and manifest["tasks"] == ["t0", "t1"]
    # Extended, the folder's experiment is the larger one: its subsets resume without --extend.
    assert asyncio.run(evaluate(["base"], str(tasks), out, settings=TriroleSettings(), limit=2, **FAKE_RUN)).ran == 0
    capsys.readouterr()
    assert main(["eval", "--dataset", str(tasks), "--out", str(out), "--paradigms", "react", "--limit", "3",
                 "--base-url", "http://127.0.0.1:9/v1", "--model", TriroleSettings().model]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pass --extend" in err, err


def test_an_out_that_is_a_file_is_one_line_exit_2(tmp_path, capsys):
    from trirole.cli import main

    file = tmp_path / "results.txt"
    file.write_text("not a folder")
    assert main(["eval", "--dataset", "python", "--out", str(file), "--base-url", "http://127.0.0.1:9/v1",
                 "--model", "m"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("trirole eval: error: --out") and "is a file" in err and err.count("\n") == 1, err
    assert file.read_text() == "not a folder"


async def test_the_preflight_names_the_unreachable_endpoint(tmp_path):
    from trirole.backend import BackendError

    settings = TriroleSettings(base_url="http://127.0.0.1:9/v1", model="m")
    with pytest.raises(BackendError, match="127.0.0.1:9"):
        await evaluate(["react"], _dataset(1), tmp_path, settings=settings, progress=False)


def test_datasets_and_paradigm_names():
    python = load_dataset("python")
    assert python.env == "python" and python.tasks and all(t.scenario == t.id for t in python.tasks)
    with pytest.raises(DatasetError, match="known: python, dev, test, train, test_normal, test_challenge"):
        load_dataset("no-such-split")
    assert resolve_paradigms("base, scaffold-no-corrector,base") == ["base", "scaffold-no-corrector"]
    with pytest.raises(ValueError, match="choose from"):
        resolve_paradigms("base,nope")


def test_the_eval_command_fails_on_bad_input_with_one_line(tmp_path, capsys):
    from trirole.cli import main

    for argv, exit_code in ((["eval", "--dataset", "nope", "--out", str(tmp_path)], 2),
                            (["eval", "--dataset", "python", "--out", str(tmp_path), "--paradigms", "nope"], 2),
                            (["eval", "--dataset", "python", "--out", str(tmp_path), "--concurrency", "0"], 2),
                            (["eval", "--dataset", "python", "--out", str(tmp_path), "--repeats", "0"], 2),
                            (["eval", "--dataset", "python", "--out", str(tmp_path), "--check-appworld"], 2),
                            (["eval", "--dataset", "python"], 2)):
        assert main(argv) == exit_code, argv
        err = capsys.readouterr().err
        assert err.startswith("trirole eval: error:") and err.count("\n") == 1, err


# -- metrics ----------------------------------------------------------------------------------------
def _record(paradigm, task_id, scenario, difficulty, success, prompt=100, completion=10, **extra):
    return {"paradigm": paradigm, "task_id": task_id, "scenario": scenario, "difficulty": difficulty,
            "success": success, "status": "completed", "prompt_tokens": prompt, "completion_tokens": completion,
            "model_calls": 2, "steps": 2, "wall_s": 1.5, "usage": {"agent": {"calls": 2, "prompt_tokens": prompt,
                                                                             "completion_tokens": completion}},
            **extra}


def test_goal_completion_by_task_scenario_and_difficulty():
    records = [
        _record("a", "s1_1", "s1", 1, True, summarizations=1),
        _record("a", "s1_2", "s1", 1, False),
        _record("a", "s2_1", "s2", 2, True, corrections=2),
        _record("a", "s2_2", "s2", 2, True),
        _record("a", "s3_1", "s3", None, None),  # no verdict counts as not solved
        _record("b", "s1_1", "s1", 1, False, prompt=50, completion=0),
    ]
    m = compute_metrics(records)
    a, b = m["a"], m["b"]
    assert (a["tasks"], a["solved"], a["tgc"]) == (5, 3, 0.6)
    assert (a["scenarios"], a["scenarios_solved"], a["sgc"]) == (3, 1, pytest.approx(1 / 3))
    one = a["by_difficulty"]["1"]
    assert {k: one[k] for k in ("tasks", "solved", "tgc", "scenarios", "scenarios_solved", "sgc")} == {
        "tasks": 2, "solved": 1, "tgc": 0.5, "scenarios": 1, "scenarios_solved": 0, "sgc": 0.0}
    assert one["tgc_ci"]["low"] < 0.5 < one["tgc_ci"]["high"] and one["sgc_ci"]["low"] == 0.0 < one["sgc_ci"]["high"]
    assert a["by_difficulty"]["2"]["tgc"] == 1.0 and a["by_difficulty"]["2"]["sgc"] == 1.0
    assert list(a["by_difficulty"]) == ["1", "2", "unknown"]
    assert a["tokens"] == 550 and a["tokens_per_task"] == 110 and a["tokens_per_solved"] == pytest.approx(550 / 3)
    assert a["tokens_by_role"]["agent"] == {"calls": 10, "prompt_tokens": 500, "completion_tokens": 50}
    assert (a["summarizations"], a["corrections"], a["tasks_with_correction"]) == (1, 2, 1)
    assert (a["model_calls"], a["calls_per_task"], a["wall_s_per_task"]) == (10, 2, 1.5)
    assert b["tgc"] == 0.0 and b["sgc"] == 0.0 and b["tokens_per_solved"] is None


def test_infrastructure_errors_are_left_out_of_the_rates_and_counted_apart(tmp_path):
    records = [
        _record("a", "s1_1", "s1", 1, True),
        _record("a", "s1_2", "s1", 1, False, status="env_error"),  # no infra_error field: from the status
        _record("a", "s2_1", "s2", 1, False, status="step_budget"),  # the agent's own failure
        _record("a", "s3_1", "s3", 1, False, status="timeout", infra_error=True),
        _record("a", "s4_1", "s4", 1, True),
        _record("a", "s5_1", "s5", 1, False, status="error", infra_error=False),  # the flag wins
    ]
    m = compute_metrics(records)["a"]
    assert (m["tasks"], m["runs"], m["solved"], m["infra_errors"]) == (4, 4, 2, 2)
    assert m["tgc"] == 0.5
    # s1 (an infra error in it) and s3 are unknown; s2 and s5 failed, s4 solved.
    assert (m["scenarios"], m["scenarios_solved"], m["sgc"]) == (3, 1, pytest.approx(1 / 3))
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    markdown = write_report(tmp_path)["markdown"].read_text()
    assert "2 run(s) ended in an infrastructure error" in markdown and "trirole eval --retry-errors" in markdown
    assert "| a | 4 | 2/4 | 50.0% [" in markdown
    assert "infra_error" in (tmp_path / "results.csv").read_text().splitlines()[0]


def test_paired_comparisons_use_the_tasks_both_paradigms_have_a_verdict_for():
    from trirole.evals.metrics import paired_comparisons

    records = [_record("a", f"s{i}_1", f"s{i}", 1, i < 2) for i in range(6)]
    records += [_record("b", f"s{i}_1", f"s{i}", 1, True) for i in range(5)]
    records.append(_record("b", "s5_1", "s5", 1, False, status="model_error"))  # not compared
    (comparison,) = paired_comparisons(records, ["a", "b"])
    # 5 common tasks: both solved s0, s1; only b solved s2, s3, s4 -> p = 2 * (1/2)^3.
    assert (comparison["tasks"], comparison["a_better"], comparison["b_better"]) == (5, 0, 3)
    assert comparison["p_value"] == pytest.approx(0.25) and comparison["difference"]["estimate"] == 0.6
    assert comparison["distinguishable"] is False and "Not distinguishable" in comparison["verdict"]


# -- failure classes --------------------------------------------------------------------------------
def _exec(code_text, output="", error_type=None):
    return {"type": "execution", "code": code_text, "output": output, "error": error_type is not None,
            "error_type": error_type}


def _call(role, *user_texts):
    return {"type": "model_call", "role": role, "messages": [{"role": "user", "content": t} for t in user_texts]}


TOKEN = "tok_8f3a9c2b7e1d4f60"
CASES = {
    "timeout": ({"status": "timeout"}, []),
    "context_overflow": ({"status": "context_overflow"}, []),
    "model_error": ({"status": "model_error"}, []),
    "environment_error": ({"status": "env_error"}, []),
    "harness_error": ({"status": "error"}, []),
    "premature_completion": ({"status": "completed"}, [_exec("complete_task(1)")]),
    "unevaluated": ({"status": "completed", "success": None}, [_exec("complete_task(1)")]),
    "lost_credential": ({"status": "step_budget"}, [
        _exec("login()", '{"access_token": "%s"}' % TOKEN), _call("summarizer", "compress"),
        _exec("show_playlists(token=tok)", "Exception: 401 Unauthorized: invalid access token", "Exception")]),
    "repetition_loop": ({"status": "step_budget"}, [
        _exec("fetch(page=1)", "KeyError: 'items'", "KeyError")] * 3),
    "api_misuse:TypeError": ({"status": "step_budget"}, [
        _exec("a()", "KeyError: 'x'", "KeyError"), _exec("b(1)", "TypeError: b() takes 0 arguments", "TypeError"),
        _exec("c(2, 3)", "TypeError: c() missing 1 argument", "TypeError")]),
    "step_budget": ({"status": "step_budget"}, [_exec("a()", "1"), _exec("b()", "2")]),
}


@pytest.mark.parametrize("expected", sorted(CASES))
def test_each_failure_class_from_a_hand_made_trace(expected):
    record, trace = CASES[expected]
    assert classify_failure({"paradigm": "p", "task_id": "t", "success": False, **record}, trace) == expected
    assert classify_failure({"paradigm": "p", "task_id": "t", **record, "success": True}, trace) is None


def test_a_mangled_credential_without_summarization_is_a_lost_credential():
    mangled = TOKEN[:-1] + "X"
    trace = [_call("agent", "task"), _exec("login()", '{"access_token": "%s"}' % TOKEN),
             _exec(f'pay(access_token="{mangled}")', "ValueError: bad request", "ValueError")]
    assert classify_failure({"status": "step_budget", "success": False}, trace) == "lost_credential"
    trace[-1] = _exec(f'pay(access_token="{TOKEN}")', "ValueError: bad request", "ValueError")  # the exact copy
    assert classify_failure({"status": "step_budget", "success": False}, trace) == "api_misuse:ValueError"
    assert classify_failure({"status": "completed", "success": True}, trace) is None


# -- report -----------------------------------------------------------------------------------------
def test_the_report_writes_markdown_csv_and_two_plots_with_the_published_rows(tmp_path):
    records = [_record("react", "s1_1", "s1", 1, False, status="step_budget", trace="traces/react/s1_1.jsonl"),
               _record("scaffold", "s1_1", "s1", 1, True, trace="traces/scaffold/s1_1.jsonl")]
    (tmp_path / "traces" / "react").mkdir(parents=True)
    (tmp_path / "traces" / "react" / "s1_1.jsonl").write_text(
        "\n".join(json.dumps(_exec("f()", "KeyError: 'x'", "KeyError")) for _ in range(3)) + "\n")
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    paths = write_report(tmp_path)
    markdown = paths["markdown"].read_text()
    # One task each: Wilson bounds 0 of 1 -> [0, z^2 / (1 + z^2)], 1 of 1 -> [1 / (1 + z^2), 1].
    z2 = NormalDist().inv_cdf(0.975) ** 2
    assert f"| react | 1 | 0/1 | 0.0% [0.0-{100 * z2 / (1 + z2):.1f}%] |" in markdown
    assert f"| scaffold | 1 | 1/1 | 100.0% [{100 / (1 + z2):.1f}-100.0%] |" in markdown
    assert "| scaffold | react | 1 | 1 | 0 | -100.0 pts [-100.0, " in markdown  # the paired comparison
    assert "Not distinguishable from no difference at this sample size" in markdown
    assert "repetition_loop: 1" in markdown
    for value in ("5.4", "8.9", "3.0", "5.9", "15.8", "26.3", "5.3", "14.0", "7.1"):
        assert f"| {MARK} | Three Roles, One Model |" in markdown and f"| {value} |" in markdown
    assert "Rethinking Scale" in markdown and "qualitative" in markdown
    rows = paths["csv"].read_text().splitlines()
    assert rows[0].startswith("paradigm,task_id") and "agent_calls" in rows[0] and len(rows) == 3
    for name in ("success_vs_tokens", "success_by_difficulty"):
        assert paths[name].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- agreement with AppWorld (the real comparison: tests/test_appworld_agreement.py) ------------------
def test_agreement_rounds_as_appworld_and_needs_the_runs_experiment(tmp_path):
    from trirole.evals.agreement import appworld_percent, check_agreement

    # AppWorld: round(100 * round(mean, 4), 1); 2/3 -> 0.6667 -> 66.67 -> 66.7.
    assert appworld_percent(2 / 3) == 66.7 and appworld_percent(1 / 8) == 12.5 and appworld_percent(None) is None
    root = tmp_path / "data-root"
    (root / "data" / "tasks").mkdir(parents=True)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ValueError, match="no scored AppWorld runs"):
        check_agreement(out, root=root)
    (out / "results.jsonl").write_text(json.dumps({**_record("react", "a_1", "a", 1, True), "env": "appworld"}) + "\n")
    with pytest.raises(ValueError, match="do not name one AppWorld experiment"):
        check_agreement(out, root=root)


# -- what the mechanisms did (hand-made traces) -------------------------------------------------------
def _correction(code_text, reason, error=""):
    from trirole.prompts import load_prompts

    text = load_prompts().render("corrector_user", instruction="do it", reason=reason,
                                 error=error or "(none)", code=code_text)
    return {"type": "model_call", "role": "corrector", "response": "Fixed.\n```python\nfixed()\n```",
            "messages": [{"role": "system", "content": "You are a code reviewer."}, {"role": "user", "content": text}]}


def test_a_loop_counts_as_broken_only_when_the_next_attempt_differs_in_code_and_error():
    from trirole.evals.mechanisms import mechanism_counts

    failing = _exec("fetch(page=1)", "KeyError: 'items'", "KeyError")
    loop = "repetition: the same error 2 times in a row: KeyError: <str>"
    broken = [failing, failing, _correction("fetch(page=1)", loop), _exec("fetch_all()", "[1, 2]")]
    still = [failing, failing, _correction("fetch(page=1)", loop), _exec("fetch(page=2)", "KeyError: 'x'", "KeyError")]
    after_failure = [failing, _correction("fetch(page=1)", "previous execution failed (1 in a row): KeyError"),
                     _exec("fetch_all()", "[1, 2]")]
    assert {k: mechanism_counts(broken)[k] for k in ("corrections", "loop_corrections", "loops_broken")} == {
        "corrections": 1, "loop_corrections": 1, "loops_broken": 1}
    assert mechanism_counts(still)["loops_broken"] == 0  # other code, but the same error signature
    counts = mechanism_counts(after_failure)  # a correction after a failed step is not a loop
    assert (counts["corrections"], counts["loop_corrections"], counts["loops_broken"]) == (1, 0, 0)


def test_credentials_carried_through_a_summary_are_those_in_the_next_agent_prompt():
    from trirole.evals.mechanisms import mechanism_counts

    other = "pw_Zq81LmNc04Rt"
    trace = [_call("agent", "task"), _exec("login()", '{"access_token": "%s"}' % TOKEN),
             _exec("show_password()", "{'password': '%s'}" % other),
             {**_call("summarizer", "compress"), "response": "Logged in."},
             _call("agent", f"Artifacts:\naccess_token: {TOKEN}")]  # the password did not make it
    counts = mechanism_counts(trace)
    assert (counts["summarizations"], counts["secrets_before_summary"], counts["secrets_carried"]) == (1, 2, 1)


def test_state_and_requests_carried_through_a_summary_are_those_in_the_next_agent_prompt():
    """BFCL multi-turn's form: a function's result (not the code's output) returns a token
    and an order's id, a later request arrives in a step's output, then a summary."""
    from trirole.evals.mechanisms import mechanism_counts

    request = "Now cancel that order, please."
    trace = [_call("agent", "task"), _exec("authenticate()\nplace_order()", ""),
             {"type": "tool_call", "name": "authenticate", "result": {"access_token": TOKEN}},
             {"type": "tool_call", "name": "place_order", "result": {"order_id": 10357, "status": "Pending"}},
             {**_exec("complete_task()", f"--- The user's next request ---\n{request}"), "next_request": request},
             {**_call("summarizer", "compress"), "response": "An order was placed."},
             _call("agent", f"Artifacts:\norder_id: 10357\n(The request being worked on:\n{request})")]
    counts = mechanism_counts(trace)  # the token did not make it; the order and the request did
    assert (counts["secrets_before_summary"], counts["secrets_carried"]) == (1, 0)
    assert (counts["records_before_summary"], counts["records_carried"]) == (1, 1)
    assert (counts["requests_before_summary"], counts["requests_carried"]) == (1, 1)


def test_requests_right_before_the_first_wrong_one_are_summed_and_compared_per_entry():
    """BFCL multi-turn is all or nothing per entry; the progress below it is compared
    entry by entry (with repeats, an entry's share is its mean)."""
    from trirole.evals.metrics import request_progress

    def record(paradigm, task, right, repeat=0):
        return {"paradigm": paradigm, "task_id": task, "repeat": repeat, "requests": 4, "requests_correct": right,
                "success": right == 4, "status": "completed"}

    records = [record("react", "e1", 0), record("react", "e2", 1), record("react", "e3", 4),
               record("scaffold", "e1", 2), record("scaffold", "e2", 1), record("scaffold", "e3", 4),
               record("scaffold", "e1", 0, repeat=1), {**record("scaffold", "e4", 3), "status": "env_error"}]
    progress = request_progress(records, ["react", "scaffold"])
    react, scaffold = progress["paradigms"]["react"], progress["paradigms"]["scaffold"]
    assert (react["entries"], react["requests"], react["right"], react["some"], react["all"]) == (3, 12, 5, 2, 1)
    assert scaffold["entries"] == 3 and scaffold["right"] == 7  # the infrastructure error is left out
    assert abs(react["share"] - (0 + 0.25 + 1) / 3) < 1e-9 and abs(scaffold["share"] - (0.25 + 0.25 + 1) / 3) < 1e-9
    (comparison,) = progress["comparisons"]  # e1: (2 + 0) / 2 / 4 = 0.25 against 0
    assert (comparison["a_better"], comparison["b_better"], comparison["tasks"]) == (0, 1, 3)
    assert request_progress([{**r, "requests": None} for r in records], ["react"]) == {}


# -- the report a newcomer reads: the oracle row, intervals, the server's counters ---------------------
async def test_the_report_holds_the_oracle_row_the_intervals_and_the_servers_counters(tmp_path):
    """The reference folder OUT/oracle is filled by a ground-truth policy (a scripted endpoint
    that answers each task's right number: the python tasks ship checkers, not solutions, so
    the oracle model itself cannot), the model under test answers wrongly; the model's
    server serves vLLM's /metrics, the reference's does not (its counters stay absent)."""
    tasks, out = _task_file(tmp_path / "tasks.jsonl"), tmp_path / "out"

    def number(messages):
        return int(re.search(r"\(task t(\d+)\)", " ".join(str(m.get("content")) for m in messages)).group(1))

    with ScriptedOpenAIServer(lambda m: f"```python\ncomplete_task({number(m)})\n```") as truth:
        await evaluate(PARADIGMS, str(tasks), out / "oracle", progress=False, concurrency=2,
                       settings=TriroleSettings(base_url=truth.base_url, model="scripted-model"))
    assert not (out / "oracle" / "server_counters.json").exists()  # no /metrics: silently absent

    with ScriptedOpenAIServer(lambda m: f"```python\ncomplete_task({number(m) + 100})\n```", metrics=True) as model:
        settings = TriroleSettings(base_url=model.base_url, model="scripted-model")
        await evaluate(PARADIGMS, str(tasks), out, progress=False, concurrency=2, limit=4, settings=settings)
        await evaluate(PARADIGMS, str(tasks), out, progress=False, concurrency=2, settings=settings,
                       extend=True)  # resumed, with the tasks left
        served = dict(model.counters)
    recorded = json.loads((out / "server_counters.json").read_text())
    assert recorded == {**served, "runs": 2}  # both runs' differences, added up
    assert served["prompt_tokens"] == sum(r["prompt_tokens"] for r in read_results(out)) > 0

    markdown = write_report(out)["markdown"].read_text()
    z2 = NormalDist().inv_cdf(0.975) ** 2
    # Six tasks in six scenarios, every run solved by the reference and none by the model.
    assert (f"| oracle (ground truth; reference, base, react) | 6 | 12/12 | 100.0% [{100 * 6 / (6 + z2):.1f}-100.0%] "
            in markdown)
    for paradigm in PARADIGMS:
        assert f"| {paradigm} | 6 | 0/6 | 0.0% [0.0-{100 * z2 / (6 + z2):.1f}%] |" in markdown
    assert "the ground-truth policy (oracle) solved 12 of 12 runs" in markdown
    hit_rate = served["prefix_cache_hits"] / served["prefix_cache_queries"]
    assert (f"| {served['prompt_tokens']:,} | {served['generation_tokens']:,} | {served['prefix_cache_queries']:,} | "
            f"{served['prefix_cache_hits']:,} | {100 * hit_rate:.1f}% |") in markdown
    assert f"the prefix cache served {100 * hit_rate:.1f}% of prompt tokens" in markdown
    # Per request, by paradigm and role: the cached shares the server reported add up to its hits.
    records = read_results(out)
    assert sum(u["cached_prompt_tokens"] for r in records for u in r["usage"].values()) == served["prefix_cache_hits"]
    by_role: dict[tuple[str, str], list[int]] = {}
    for r in records:
        for role, u in r["usage"].items():
            total = by_role.setdefault((r["paradigm"], role), [0, 0])
            total[0] += u["cached_prompt_tokens"]
            total[1] += u["prompt_tokens"]
    for (paradigm, role), (hits, prompt) in by_role.items():
        assert f"| {paradigm} | {role} |" in markdown and f"| {hits:,} ({100 * hits / prompt:.1f}%) |" in markdown
    assert "## One run per paradigm, in excerpts" in markdown and "complete_task(100)" in markdown


def test_server_counters_sum_label_sets_and_skip_a_server_restarted_mid_run():
    from trirole.serving.metrics import counters_since, metrics_url, parse_counters

    text = ('# TYPE vllm:prompt_tokens_total counter\n'
            'vllm:prompt_tokens_total{engine="0",model_name="m"} 100.0\n'
            'vllm:prompt_tokens_total{engine="1",model_name="m"} 50.0\n'
            '# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running{engine="0"} 1.0\n')
    assert parse_counters(text) == {"prompt_tokens": 150.0}
    assert metrics_url("http://h:8000/v1/") == metrics_url("http://h:8000") == "http://h:8000/metrics"
    before = {"a": {"prompt_tokens": 10.0}, "b": {"prompt_tokens": 500.0}}
    after = {"a": {"prompt_tokens": 25.0}, "b": {"prompt_tokens": 7.0}, "c": {"prompt_tokens": 3.0}}
    assert counters_since(before, after) == {"prompt_tokens": 15}  # b restarted, c was not read before


def test_pairs_in_flight_are_of_different_tasks_and_a_tasks_paradigms_follow_each_other(tmp_path):
    # Block by block (the pairs in flight): a task's next paradigm starts after its previous
    # one, so its first prompt is in the server's prefix cache (llama.cpp cannot share a
    # prompt between requests computed at once); each block completes its tasks' pairs.
    from trirole.evals.datasets import EvalTask
    from trirole.evals.planning import pending_runs

    tasks = [EvalTask(id=f"t{i}", env="python") for i in range(5)]
    runs = [(p, t.id) for p, t, _ in pending_runs(tmp_path, ["base", "react"], tasks, False, 1, width=2)]
    assert runs == [("base", "t0"), ("base", "t1"), ("react", "t0"), ("react", "t1"),
                    ("base", "t2"), ("base", "t3"), ("react", "t2"), ("react", "t3"),
                    ("base", "t4"), ("react", "t4")]
    assert [(p, t.id) for p, t, _ in pending_runs(tmp_path, ["base", "react"], tasks[:2], False, 1)] == [
        ("base", "t0"), ("react", "t0"), ("base", "t1"), ("react", "t1")]


def test_a_folder_resumes_only_on_the_engine_that_began_it(tmp_path):
    # The same model on another engine gives other greedy replies: a folder begun on vLLM
    # (its /metrics names say so) is refused on llama.cpp in one line, before any pair runs.
    from trirole.evals.planning import FolderError
    from trirole.serving.metrics import serving_engine

    tasks, out = _task_file(tmp_path / "tasks.jsonl"), tmp_path / "out"
    with ScriptedOpenAIServer(lambda messages: "```python\ncomplete_task(0)\n```", metrics=True) as server:
        assert serving_engine(server.base_url) == "vllm"
        settings = TriroleSettings(base_url=server.base_url, model=server.model, max_steps=2)
        first = asyncio.run(evaluate(["react"], str(tasks), out, settings=settings, limit=1, progress=False))
        assert first.ran == 1
        manifest = json.loads((out / "run.json").read_text())
        assert manifest["server_engines"] == ["vllm"]
        (out / "run.json").write_text(json.dumps({**manifest, "server_engines": ["llama.cpp"]}))
        with pytest.raises(FolderError, match=r"serving engine \(\[\"llama.cpp\"\] in the folder, \[\"vllm\"\] now\)"):
            asyncio.run(evaluate(["react"], str(tasks), out, settings=settings, limit=2, extend=True, progress=False))
    assert serving_engine("http://127.0.0.1:9/v1") is None  # nothing answers: not known, not refused
