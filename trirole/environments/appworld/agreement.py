"""AppWorld's own evaluation of saved episode outputs, run in AppWorld's own venv.

AppWorld's server saves every episode's end state under
``<root>/experiments/outputs/<experiment_name>/tasks/<task_id>/dbs``; its evaluator
(``appworld.evaluator.evaluate_dataset``, or ``evaluate_tasks`` for a subset of a split,
which is what ``evaluate_dataset`` runs on the split's task ids) reloads those states and
runs each task's ground-truth checks. This module runs that evaluator in a subprocess of
the AppWorld venv (pydantic 1: it cannot be imported here) with ``APPWORLD_ROOT`` set to
the data root, and returns its task and scenario goal completion.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, Sequence

from trirole.environments.appworld.errors import AppWorldError
from trirole.environments.appworld.install import ensure_appworld_env

_MARK = "TRIROLE_APPWORLD_EVALUATION "
# Runs inside the AppWorld venv. Reports are not saved: the evaluation only reads.
_SCRIPT = f"""
import json, sys
from appworld.evaluator import evaluate_dataset, evaluate_tasks
args = json.loads(sys.argv[1])
if args["dataset"]:
    result = evaluate_dataset(experiment_name=args["experiment"], dataset_name=args["dataset"],
                              include_details=True, save_reports=False, print_report=False)
else:
    result = evaluate_tasks(task_ids=args["task_ids"], experiment_name=args["experiment"],
                            include_details=True, save_reports=False)
print({_MARK!r} + json.dumps({{
    "aggregate": result["aggregate"],
    "success": {{task: bool(d.get("success")) for task, d in result["individual"].items()}},
}}))
"""


def appworld_evaluation(experiment_name: str, root: str | os.PathLike, *, task_ids: Sequence[str] | None = None,
                        dataset: str | None = None, timeout_s: float = 1800) -> dict[str, Any]:
    """AppWorld's evaluation of experiment `experiment_name` under data root `root`:
    ``{"tgc": %, "sgc": %, "success": {task_id: bool}, "function": ...}`` (percent,
    rounded to 0.1 as AppWorld reports them). Give `dataset` (a split whose tasks all ran)
    to use ``evaluate_dataset``, or `task_ids` to use ``evaluate_tasks``."""
    if bool(dataset) == bool(task_ids):
        raise ValueError("give exactly one of dataset (a split) or task_ids")
    root = Path(root).expanduser().resolve()
    if not (root / "experiments" / "outputs" / experiment_name).is_dir():
        raise AppWorldError(f"no AppWorld outputs for experiment {experiment_name!r} under "
                            f"{root / 'experiments' / 'outputs'}; was the run made against this data root?")
    python = ensure_appworld_env() / "bin" / "python"
    args = {"experiment": experiment_name, "dataset": dataset, "task_ids": list(task_ids or [])}
    env = {**os.environ, "APPWORLD_ROOT": str(root), "PYTHONUNBUFFERED": "1"}
    try:
        done = subprocess.run([str(python), "-c", _SCRIPT, json.dumps(args)], cwd=root, env=env,
                              capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise AppWorldError(f"AppWorld's evaluation of {experiment_name!r} took longer than {timeout_s:g} s") from exc
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith(_MARK)), None)
    if done.returncode != 0 or line is None:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise AppWorldError(f"AppWorld's evaluation of {experiment_name!r} failed (exit {done.returncode}): {tail[0]}")
    result = json.loads(line[len(_MARK):])
    return {"tgc": result["aggregate"]["task_goal_completion"], "sgc": result["aggregate"]["scenario_goal_completion"],
            "success": result["success"], "function": "evaluate_dataset" if dataset else "evaluate_tasks"}
