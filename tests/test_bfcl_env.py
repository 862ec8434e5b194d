"""BFCL as a trirole environment: real bubblewrap sandboxes, BFCL's real classes and
checkers in BFCL's own venv (installed on first use, about 3 minutes).

The agreement test runs a mix of right and wrong answers through trirole (the sandbox
records the calls, BFCL's checker process scores them) and through BFCL's own evaluation
runner on result files, and asserts the verdicts are equal entry by entry.
"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from trirole.evals.datasets import UnknownDataset, load_dataset
from trirole.environments.bfcl import data
from trirole.environments.bfcl.agreement import bfcl_own_verdicts
from trirole.environments.bfcl.environment import BfclEnvironment
from trirole.environments.bfcl.oracle import turn_codes
from trirole.environments.bfcl.scorer import BfclScorer

pytestmark = pytest.mark.bfcl


async def run_answer(env: BfclEnvironment, task_id: str, codes: list[str]) -> tuple[bool, object]:
    """Reset to `task_id`, run one code action per turn, return trirole's verdict and the
    recorded answer in BFCL's result form."""
    await env.reset({"task_id": task_id, "instruction": ""})
    for code in codes:
        result = await env.execute(code)
        assert not result["error"], result["output"]
    verdict = await env.evaluate()
    return verdict.success, env.model_result()


def _wrong_single(task_id: str) -> list[str]:
    """The right calls with one argument value changed (its type kept, so the schema
    check accepts it and only BFCL's checker can tell); irrelevance: a call made."""
    item, category = data.entry(task_id), data.category_of(task_id)
    if category == "irrelevance":
        doc = item["function"][0]
        properties = doc["parameters"]["properties"]
        fill = {"string": "'x'", "integer": "1", "float": "1.0", "boolean": "True", "array": "[]", "dict": "{}"}
        arguments = ", ".join(f"{p}={fill.get(properties[p]['type'], repr('x'))}"
                              for p in doc["parameters"].get("required", []))
        return [f"{doc['name']}({arguments})\ncomplete_task()"]
    (code,) = turn_codes(task_id)
    first = code.splitlines()[0]
    name, _, rest = first.partition("(")
    key, _, value = rest.partition("=")
    value = value.split(", ")[0].rstrip(")")
    changed = repr(str(json.loads(value.replace("'", '"'))) + "_not_it") if value.startswith(("'", '"')) \
        else (str(int(value) + 7) if value.lstrip("-").isdigit() else None)
    assert changed is not None, f"no simple first argument to change in {first}"
    return ["\n".join([first.replace(f"{key}={value}", f"{key}={changed}", 1), *code.splitlines()[1:]])]


def _wrong_multi(task_id: str) -> list[str]:
    """The right turns, but the last turn does nothing."""
    codes = turn_codes(task_id)
    return [*codes[:-1], "complete_task()"]


RIGHT = ["simple_python_0", "simple_python_96", "multiple_3", "parallel_5", "parallel_multiple_7", "irrelevance_0",
         "live_simple_0-0-0", "live_multiple_10-4-2", "live_relevance_0-0-0", "live_irrelevance_0-0-0",
         "multi_turn_base_0", "multi_turn_miss_func_0", "multi_turn_miss_param_1", "multi_turn_long_context_2"]
WRONG_SINGLE = ["simple_python_2", "simple_python_10", "multiple_4", "irrelevance_1"]
WRONG_MULTI = ["multi_turn_base_3", "multi_turn_miss_func_5", "multi_turn_long_context_4"]


async def test_trirole_verdicts_equal_bfcls_own_evaluation():
    answers, trirole = {}, {}
    async with BfclScorer() as scorer, BfclEnvironment(scorer=scorer) as env:
        for task_id in RIGHT:
            trirole[task_id], answers[task_id] = await run_answer(env, task_id, turn_codes(task_id))
        for task_id in WRONG_SINGLE:
            trirole[task_id], answers[task_id] = await run_answer(env, task_id, _wrong_single(task_id))
        for task_id in WRONG_MULTI:
            trirole[task_id], answers[task_id] = await run_answer(env, task_id, _wrong_multi(task_id))
    own = bfcl_own_verdicts(answers)
    assert own == trirole
    # A mix: the right answers pass and the wrong ones fail, by both.
    assert all(own[t] for t in RIGHT) and not any(own[t] for t in WRONG_SINGLE + WRONG_MULTI)


async def test_the_ground_truth_cannot_be_read_from_the_sandbox():
    package = data.data_dir().parent
    probe = f"""
import glob, os
tried = {{}}
for path in [{str(package / 'data' / 'possible_answer' / 'BFCL_v4_multi_turn_base.json')!r},
             {str(package / 'data' / 'BFCL_v4_multi_turn_base.json')!r},
             '/bfcl/bfcl_eval/data/possible_answer/BFCL_v4_multi_turn_base.json']:
    try:
        open(path).read(10)
        tried[path] = 'READ'
    except OSError as exc:
        tried[path] = type(exc).__name__
found = [p for top in ('/bfcl', '/scratch', '/root', '/home', '/tmp', '/opt', '/work')
         for pattern in ('*possible_answer*', 'BFCL_v4_*.json') for p in glob.glob(top + '/**/' + pattern, recursive=True)]
try:
    import bfcl_eval.utils
    imported = 'IMPORTED'
except ImportError as exc:
    imported = type(exc).__name__
print(tried, found, imported)
print('sources:', sorted(os.listdir('/bfcl/bfcl_eval/eval_checker/multi_turn_eval/func_source_code'))[:3])
"""
    async with BfclEnvironment() as env:
        await env.reset({"task_id": "multi_turn_base_0"})
        result = await env.execute(probe)
    output = result["output"]
    assert "READ" not in output and "IMPORTED" not in output, output
    assert "[] ModuleNotFoundError" in output, output  # nothing found by name anywhere in the sandbox
    assert "sources: ['__init__.py'" in output, output  # while the classes' sources are there


async def test_single_turn_calls_are_checked_against_their_schema():
    async with BfclEnvironment() as env:
        info = await env.reset({"task_id": "simple_python_0"})
        assert "calculate_triangle_area(base: integer, height: integer, unit: string = <optional>)" in info.reference
        cases = {
            "calculate_triangle_area(base=10)": "missing the required parameter(s) 'height'",
            "calculate_triangle_area(base=10, height=5, color='red')": "has no parameter 'color'",
            "area_of_triangle(base=10, height=5)": "NameError",
        }
        for code, message in cases.items():
            result = await env.execute(code)
            assert result["error"] and message in result["output"], (code, result["output"])
            assert "[10]" not in result["output"]  # the allowed values are never shown
            assert not result["task_completed"] and result["answer"] == []  # a rejected call is no answer
        # Accepted calls are the answer, and a step whose calls are all accepted ends the entry.
        result = await env.execute("calculate_triangle_area(10, height=5.0 and 5)")
        assert not result["error"] and result["task_completed"]
        assert result["answer"] == ["calculate_triangle_area(base=10, height=5)"]  # positional bound to its name
        assert (await env.evaluate()).success
        # A value of another type than the schema's is recorded with a note, not refused:
        # BFCL's checker accepts a value of the ground truth's type even against the
        # schema, so refusing it here would make some entries unanswerable (docs/bfcl.md).
        for code, note in (("calculate_triangle_area(base='ten', height=5)", "'base' should be of type integer"),
                           ("calculate_triangle_area(base=True, height=5)", "got bool")):
            await env.reset({"task_id": "simple_python_0"})
            result = await env.execute(code)
            assert not result["error"] and note in result["output"] and result["task_completed"], result["output"]
            assert not (await env.evaluate()).success  # BFCL refuses this one: its ground truth is an integer
        await env.reset({"task_id": "live_multiple_595-158-1"})  # an integer where the schema says string
        result = await env.execute("\n".join(turn_codes("live_multiple_595-158-1")))
        assert not result["error"] and "should be of type string" in result["output"]
        assert (await env.evaluate()).success
        # A dotted name is reached through its namespace; an unknown member says so.
        await env.reset({"task_id": "simple_python_1"})
        result = await env.execute("math.gcd(1, 2)")
        assert result["error"] and "math.gcd is not one of the functions listed" in result["output"]


async def test_multi_turn_requests_arrive_one_at_a_time_and_held_back_functions_at_their_turn():
    async with BfclEnvironment() as env:
        info = await env.reset({"task_id": "multi_turn_miss_func_0"})
        # The first request as the user wrote it: nothing numbers it or says how many follow.
        assert info.instruction.startswith("Move 'final_report.pdf'") and info.one_request_at_a_time
        assert "sort(" not in info.reference  # held back until turn 4
        codes = turn_codes("multi_turn_miss_func_0")
        first = await env.execute(codes[0])
        second_request = data.instruction_of(data.entry("multi_turn_miss_func_0"), 1)
        assert first["output"].endswith(f"--- The user's next request ---\n{second_request}\n")
        assert first["next_request"] == second_request and not first["task_completed"]
        listed = await env.execute("print(ls())")
        assert "final_report.pdf" not in listed["output"] and "temp" in listed["output"]  # the real class's state
        assert f"(The request being worked on: {second_request})" in listed["output"] and "next_request" not in listed
        await env.execute(codes[1])
        early = await env.execute("sort(file_name='final_report.pdf')")
        assert early["error"] and "NameError" in early["output"]
        # Nothing to do (the function is missing); a long output is clipped, the user's next
        # request after it, with the new functions' docs, never is.
        third = await env.execute("print('x' * 9000)\n" + codes[2])
        assert "These functions are now available too" in third["next_request"] and "sort(" in third["next_request"]
        assert len(third["output"]) <= 3000 and third["output"].endswith(third["next_request"] + "\n")
        assert "x" * 500 in third["output"] and "x" * 4000 not in third["output"]
        await env.execute(codes[3])
        last = await env.execute(codes[4])
        assert last["task_completed"]
        assert len(env.model_result()) == 5 and env.model_result()[2] == []
        verdict = await env.evaluate()
    # The stray calls (ls, the failed sort) are part of the answer, as BFCL would see them,
    # and do not change the state: BFCL's checker still accepts it.
    assert verdict.success, verdict


# The venv's own tools: `python -m venv` puts them in every venv (setuptools up to Python 3.11).
VENV_TOOLS = {"pip", "setuptools"}
HEAVY = ("torch", "nvidia-", "triton", "faiss", "sentence-transformers")


def test_bfcls_venv_holds_exactly_the_lock_and_bfcl_eval_without_torch_or_faiss():
    """pip's own list in BFCL's venv: every package of the lock at its version, bfcl-eval,
    nothing else (a package outside the lock would mean the lock is not closed, or
    bfcl-eval's own dependency list, torch and CUDA with it, came in)."""
    from packaging.utils import canonicalize_name

    from trirole.environments.bfcl.install import BFCL_VERSION, ensure_bfcl_env, requirements

    venv = ensure_bfcl_env()
    listed = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "list", "--format=json"],
                            capture_output=True, text=True, check=True).stdout
    installed = {canonicalize_name(p["name"]): p["version"] for p in json.loads(listed)
                 if canonicalize_name(p["name"]) not in VENV_TOOLS}
    locked = {canonicalize_name(name): version for name, version in (line.split("==") for line in requirements())}
    assert installed == {**locked, "bfcl-eval": BFCL_VERSION}
    assert not [name for name in installed if name.startswith(HEAVY)]


def test_the_lock_leaves_bfcl_eval_to_the_no_deps_step():
    from trirole.environments.bfcl.install import POST_INSTALL, requirements

    names = [line.split("==")[0].lower().replace("_", "-") for line in requirements()]
    assert "bfcl-eval" not in names and not [n for n in names if n.startswith(HEAVY)]
    assert all(line.count("==") == 1 for line in requirements())  # every version pinned
    assert ["--no-deps", "bfcl-eval"] == [a.split("==")[0] for a in POST_INSTALL[0][-2:]]


def test_dataset_names():
    assert [t.id for t in load_dataset("bfcl:simple_python").tasks][:2] == ["simple_python_0", "simple_python_1"]
    assert len(load_dataset("bfcl:multi-turn").tasks) == 800
    single = load_dataset("bfcl:single-turn")
    assert {data.category_of(t.id) for t in single.tasks} == set(data.SINGLE_TURN) and single.env == "bfcl"
    # Single-turn entries get BFCL's own prompts (calls only, worked examples before the
    # task); a dataset with multi-turn entries keeps the general agent prompts.
    assert single.prompts["agent_system"] == "bfcl_system" and "agent_example_request" in single.prompts
    assert load_dataset("bfcl:multi_turn_base").prompts == {}
    assert load_dataset("bfcl:simple_python,multi_turn_base").prompts == {}
    for name, why in (("bfcl:simple_java", "trirole's agent writes Python"), ("bfcl:web_search", "network"),
                      ("bfcl:memory", "embedding models"), ("bfcl:nope", "unknown BFCL category")):
        with pytest.raises(UnknownDataset, match=why):
            load_dataset(name)


def test_the_cli_lists_entries_and_refuses_unrunnable_categories_with_exit_2(capsys, tmp_path):
    from trirole.cli import main

    assert main(["env", "tasks", "bfcl", "--dataset", "bfcl:live_parallel"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == "live_parallel_0-0-0" and "16 entries" in err
    assert main(["run", "--env", "bfcl", "--task", "parallel_0", "--model", "oracle", "--paradigm", "react"]) == 0
    assert "evaluation: PASS" in capsys.readouterr().out
    for argv in (["eval", "--dataset", "bfcl:simple_javascript", "--out", str(tmp_path)],
                 ["env", "tasks", "bfcl", "--dataset", "bfcl:web_search_base"]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "cannot run here" in err and err.count("\n") == 1, err


async def test_the_oracle_scores_every_paradigm_through_bfcls_checker(tmp_path):
    from trirole.evals import evaluate
    from trirole.evals.report import write_report
    from trirole.settings import TriroleSettings

    paradigms = ["base", "react", "multi-agent", "scaffold"]
    single = load_dataset("bfcl:simple_python,parallel_multiple,live_irrelevance")
    picked = [t for t in single.tasks if t.id in ("simple_python_96", "parallel_multiple_7", "live_irrelevance_3-0-3")]
    summary = await evaluate(paradigms, dataclasses.replace(single, tasks=tuple(picked)),
                             tmp_path / "single", settings=TriroleSettings(model="oracle"), progress=False)
    assert {(r["paradigm"], r["task_id"]): r["success"] for r in summary.records()} == \
        {(p, t.id): True for p in paradigms for t in picked}
    # Every paradigm answers every request (the base model with one program each); the
    # functions' docs need more than the default 4096-token context (refused below).
    multi = await evaluate(paradigms, "bfcl:multi_turn_long_context", tmp_path / "multi", limit=1,
                           settings=TriroleSettings(model="oracle", max_context_tokens=8192), progress=False)
    assert [(r["success"], r["requests_correct"]) for r in multi.records()] == [(True, 4)] * len(paradigms)
    report = write_report(tmp_path / "multi")["markdown"].read_text()
    assert "| react | multi_turn_long_context | 1/1 |" in report
    assert "## BFCL multi-turn accuracy by number of user turns" in report
    assert "| base | 1 | 4 | 4 | 100.0% [" in report  # requests right before the first wrong one
    # The references are BFCL's own leaderboard rows, not AppWorld's.
    assert "| published, not measured here | Salesforce_xLAM-2-1b-fc-r | multi_turn_long_context | 51/200 |" in report
    assert "Qwen3-8B" not in report


async def test_an_evaluation_whose_checker_cannot_start_stops_with_the_checkers_one_line_error(tmp_path,
                                                                                              monkeypatch):
    """The pairs start while BFCL's checker still imports (seconds); a checker that never
    becomes ready stops the evaluation with its own error naming its log (not a group of
    errors, not every pair an infrastructure error)."""
    from trirole.environments.bfcl import scorer
    from trirole.environments.bfcl.errors import BfclScorerError
    from trirole.evals import evaluate
    from trirole.settings import TriroleSettings

    broken = tmp_path / "scorer_main.py"
    broken.write_text("import sys\nprint('BFCL failed to import', file=sys.stderr)\nsys.exit(1)\n")
    monkeypatch.setattr(scorer, "_MAIN", broken)
    with pytest.raises(BfclScorerError, match="checker process ended; its log: "):
        await evaluate(["base", "react"], "bfcl:simple_python", tmp_path / "run", limit=2,
                       settings=TriroleSettings(model="oracle"), progress=False)


async def test_one_checker_process_scores_the_same_multi_turn_entry_afresh_each_time():
    """BFCL's multi-turn checker keeps instances per entry in module globals (it scores an
    entry once per process); the evaluation's one checker scores each entry once per
    paradigm, so each scoring must start from fresh instances."""
    # (keyword form, as trirole records calls: BFCL's decoder drops positional arguments)
    truth = [[call.replace("sort('final_report.pdf')", "sort(file_name='final_report.pdf')") for call in turn]
             for turn in data.ground_truth("multi_turn_base_0")]
    right = [[f"[{', '.join(turn)}]"] if turn else [] for turn in truth]
    wrong = [*right[:-1], []]
    async with BfclScorer() as scorer:
        verdicts = [(await scorer.score("multi_turn_base", "multi_turn_base_0", answer))["valid"]
                    for answer in (right, wrong, right, right)]
    assert verdicts == [True, False, True, True]


class RoleScript(BaseChatModel):
    """A FAKE model that answers by the role of its call (the run's metadata), so that every
    role of every paradigm acts in a real multi-turn episode: the agent (and the base model,
    a specialist) cycles a failing step, two long outputs and ``complete_task()``; the
    corrector rewrites to a long output; the summarizer and supervisor answer in kind."""

    calls: list = []

    @property
    def _llm_type(self) -> str:
        return "role-script"

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        role = (run_manager.metadata if run_manager else {}).get("trirole_role", "agent")
        last = str(messages[-1].content)
        if role == "summarizer":
            text = "The agent worked on the user's requests and printed long outputs."
        elif role == "corrector":
            text = "```python\nprint('z' * 2900)\n```"
        elif role == "supervisor":
            text = "general: do what the user asked" if "Write the sub-goals" in last else "```python\ncomplete_task()\n```"
        else:
            self.calls.append(role)
            text = ["```python\nundefined_name_xyz\n```", "```python\nprint('x' * 2900)\n```",
                    "```python\nprint('y' * 2900)\n```", "```python\ncomplete_task()\n```"][len(self.calls) % 4]
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])


async def test_no_prompt_of_any_role_names_the_entry_its_category_or_the_number_of_requests(tmp_path):
    """As in BFCL, single-turn entries included: an id names its category, and
    `irrelevance_0` would tell the model that no function fits."""
    from trirole.evals import evaluate
    from trirole.evals.paradigms import VARIANTS
    from trirole.settings import TriroleSettings

    entries = ["multi_turn_miss_param_0", "multi_turn_long_context_1", "irrelevance_0", "simple_python_1"]
    data = load_dataset("bfcl:multi_turn_miss_param,multi_turn_long_context,irrelevance,simple_python")
    data = dataclasses.replace(data, tasks=tuple(t for t in data.tasks if t.id in entries))
    await evaluate(list(VARIANTS), data, tmp_path, settings=TriroleSettings(max_context_tokens=8192),
                   graph_options={"model": RoleScript()}, progress=False, check=False)
    roles, leaks = set(), []
    for trace in (tmp_path / "traces").glob("*/*.jsonl"):  # the prompts as the harness recorded them
        for call in map(json.loads, trace.read_text().splitlines()):
            if call.get("type") != "model_call":
                continue
            roles.add(call["role"])
            text = "\n".join(str(m.get("content")) for m in call["messages"])
            words = [*entries, *data_categories(), "miss_param", "miss_func", "long_context",
                     "irrelevance", "simple_python", "BFCL entry"]
            found = [word for word in words if word in text] + re.findall(r"[Rr]equest \d+|\b\d+ of \d+\b", text)
            leaks += [(trace.parent.name, call["role"], word) for word in found]
    assert {"agent", "corrector", "summarizer", "supervisor", "specialist"} <= roles
    assert leaks == []


def data_categories() -> tuple[str, ...]:
    return data.MULTI_TURN


def test_a_context_too_small_for_the_function_docs_is_refused_before_any_pair_in_one_line(capsys, tmp_path):
    from trirole.cli import main

    out = tmp_path / "refused"
    assert main(["eval", "--model", "oracle", "--dataset", "bfcl:multi_turn_base", "--limit", "3", "--out", str(out),
                 "--max-context-tokens", "4096"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--max-context-tokens" in err and "function docs are never clipped" in err, err
    needed = int(re.search(r"a context of at least (\d+) tokens", err).group(1))
    assert 4096 < needed <= 8192
    assert not (out / "results.jsonl").exists() and not (out / "traces").exists()
    assert main(["run", "--env", "bfcl", "--task", "multi_turn_base_0", "--model", "oracle"]) == 1
    assert "--max-context-tokens" in capsys.readouterr().err


async def test_requests_right_before_the_first_wrong_one_are_judged_by_bfcls_own_checks():
    codes = turn_codes("multi_turn_base_0")  # four requests
    wrong_third = [*codes[:2], "cd(folder='..')\ncomplete_task()", codes[3]]
    async with BfclScorer() as scorer, BfclEnvironment(scorer=scorer) as env:
        found = {}
        for name, answer in (("right", codes), ("wrong third", wrong_third), ("two then stopped", codes[:2]),
                             ("wrong first", ["complete_task()", *codes[1:]])):
            await env.reset({"task_id": "multi_turn_base_0"})
            for code in answer:
                await env.execute(code)
            verdict = await env.evaluate()
            found[name] = (verdict.success, verdict.details["requests_correct"], verdict.details["requests"])
    assert found == {"right": (True, 4, 4), "wrong third": (False, 2, 4), "two then stopped": (False, 2, 4),
                     "wrong first": (False, 0, 4)}
