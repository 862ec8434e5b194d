"""trirole's TGC/SGC equal AppWorld's own evaluation of the same finished run.

REAL parts: the AppWorld environment server (fixture `appworld_server`, its own venv, on
loopback), the offline task pack, `trirole.evals.evaluate`, and AppWorld's evaluator
(`evaluate_tasks`, run by `check_agreement` in AppWorld's venv on the outputs the server
saved). FAKE part: the model, tests/scripted_openai.py's HTTP endpoint with a test-local
policy that answers some tasks with their ground-truth ``solution.py`` and does nothing
useful on the others, so the run (two paradigms, two repeats) has a known mix of
successes and failures. The check is also shown to fail on a record that claims a
success AppWorld did not see.
"""

from __future__ import annotations

import json
import shutil

import pytest
from scripted_openai import ScriptedOpenAIServer
from test_appworld_env import _MUNCH  # the Munch stand-in the ground-truth solutions need

from trirole.evals import evaluate, load_dataset, write_report
from trirole.evals.agreement import check_agreement
from trirole.evals.datasets import Dataset
from trirole.evals.metrics import compute_metrics
from trirole.settings import TriroleSettings

pytestmark = pytest.mark.appworld

# Two scenarios of the pack's dev split: all of the first solved, one task of the second.
SOLVED = {"836d01c_1", "836d01c_2", "836d01c_3", "efd4add_1"}
UNSOLVED = {"efd4add_2", "efd4add_3"}


def _solution_program(task_dir) -> str:
    """The task's ground-truth solution as agent code (AppWorld forbids its imports)."""
    truth = task_dir / "ground_truth"
    code = "\n".join(line for line in (truth / "solution.py").read_text().splitlines()
                     if not line.startswith(("from ", "import ")))
    public_data = (truth / "public_data.json").read_text()
    return _MUNCH + code + f"\nsolution(None, apis, requester, _munch(json.loads({public_data!r})))"


def _policy(root):
    """Which task a prompt is about (by its instruction) -> the reply for it."""
    replies = {}
    for task_id in SOLVED | UNSOLVED:
        folder = root / "data" / "tasks" / task_id
        instruction = json.loads((folder / "specs.json").read_text())["instruction"]
        body = _solution_program(folder) if task_id in SOLVED else "print('nothing to do')"
        replies[instruction] = f"Here is the program.\n```python\n{body}\n```"

    def respond(messages):
        text = " ".join(str(m.get("content", "")) for m in messages)
        (reply,) = [r for instruction, r in replies.items() if instruction in text]
        return reply

    return respond


@pytest.fixture
def appworld_outputs(appworld_server):
    """The AppWorld experiment folders a test's run wrote under the data root, removed after it."""
    names: set[str] = set()
    yield names
    for name in names:
        shutil.rmtree(appworld_server.root / "experiments" / "outputs" / name, ignore_errors=True)


async def test_trirole_and_appworld_agree_on_tgc_and_sgc_of_one_run(appworld_server, appworld_outputs, tmp_path):
    root = appworld_server.root
    dev = load_dataset("dev", appworld_root=str(root))
    tasks = tuple(t for t in dev.tasks if t.id in SOLVED | UNSOLVED)
    if len(tasks) != len(SOLVED | UNSOLVED):
        pytest.skip(f"the data at {root} is not trirole's offline pack (its dev split lacks these tasks)")
    data = Dataset(name="dev", env="appworld", tasks=tasks, env_options=dev.env_options)

    with ScriptedOpenAIServer(_policy(root)) as model:
        settings = TriroleSettings(base_url=model.base_url, model=model.model, max_steps=2,
                                   env_options={"url": appworld_server.url})
        summary = await evaluate(["base", "react"], data, tmp_path, settings=settings, concurrency=1,
                                 repeats=2, progress=False)

    records = summary.records()
    appworld_outputs.update(r["experiment"] for r in records)
    assert len(records) == 2 * 2 * 6
    assert {r["task_id"] for r in records if r["success"]} == SOLVED  # both paradigms, both repeats
    assert len({r["experiment"] for r in records}) == 4  # one AppWorld experiment per paradigm and repeat
    metrics = compute_metrics(records)
    for paradigm in ("base", "react"):
        assert metrics[paradigm]["tgc"] == pytest.approx(4 / 6) and metrics[paradigm]["sgc"] == 0.5

    result = check_agreement(tmp_path, root=root)
    assert result["agree"] is True, result
    assert [(r["paradigm"], r["repeat"]) for r in result["runs"]] == [("base", 0), ("base", 1), ("react", 0),
                                                                      ("react", 1)]
    for run in result["runs"]:
        # AppWorld's own numbers for this run: 4 of 6 tasks, 1 of 2 scenarios (percent, 0.1).
        assert run["appworld"] == {"tgc": round(100 * 4 / 6, 1), "sgc": 50.0} == run["trirole"]
        assert run["differing_tasks"] == [] and run["function"] == "evaluate_tasks"

    markdown = write_report(tmp_path)["markdown"].read_text()
    assert "## Agreement with AppWorld's own evaluation" in markdown
    assert "| base | 1 | 6 | 66.7 | 66.7 | 50.0 | 50.0 | yes |" in markdown

    # The check can fail: a record that claims a success AppWorld did not see is caught.
    lines = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    for record in lines:
        if (record["paradigm"], record["repeat"], record["task_id"]) == ("base", 0, "efd4add_2"):
            record["success"] = True
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    tampered = check_agreement(tmp_path, root=root)
    assert tampered["agree"] is False
    (base_0, *others) = tampered["runs"]
    assert base_0["differing_tasks"] == ["efd4add_2"] and base_0["trirole"]["tgc"] == round(100 * 5 / 6, 1)
    assert base_0["appworld"]["tgc"] == round(100 * 4 / 6, 1) and all(run["agree"] for run in others)
