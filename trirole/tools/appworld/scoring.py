"""Scoring one AppWorld episode after it ran, in a process of its own.

The server that ran the agent's code never holds the task's ground truth (it initialises
the task without it). AppWorld's evaluator (``appworld.evaluator.evaluate_task``) runs
here instead, in a subprocess of the AppWorld venv that no agent code ever ran in, on the
episode's saved outputs (copied into ``<root>/experiments/outputs/<experiment>`` by
`trirole.tools.appworld.stage.collect_outputs`) and the data root's ground truth.
It returns what the server's ``/evaluate`` returned (``success``, ``difficulty``,
``num_tests``, ``passes``, ``failures``).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from trirole.tools.appworld.errors import AppWorldError
from trirole.tools.appworld.install import ensure_appworld_env
from trirole.tools.isolation import minimal_env

_MARK = "TRIROLE_APPWORLD_SCORE "
_SCRIPT = f"""
import json, sys
from appworld.evaluator import evaluate_task
args = json.loads(sys.argv[1])
tracker = evaluate_task(task_id=args["task_id"], experiment_name=args["experiment"], suppress_errors=True)
print({_MARK!r} + json.dumps(tracker.to_dict(stats_only=False), default=str))
"""


def score_task(root: str | os.PathLike, experiment_name: str, task_id: str, *, timeout_s: float = 600) -> dict[str, Any]:
    """AppWorld's evaluation of task `task_id` as experiment `experiment_name` saved it
    under data root `root`."""
    root = Path(root)
    python = ensure_appworld_env() / "bin" / "python"
    args = json.dumps({"task_id": task_id, "experiment": experiment_name})
    env = minimal_env(str(root), {"APPWORLD_ROOT": str(root), "PYTHONUNBUFFERED": "1"})
    try:
        done = subprocess.run([str(python), "-c", _SCRIPT, args], cwd=root, env=env, capture_output=True, text=True,
                              timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        raise AppWorldError(f"AppWorld's evaluation of task {task_id!r} took longer than {timeout_s:g} s") from exc
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith(_MARK)), None)
    if done.returncode != 0 or line is None:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise AppWorldError(f"AppWorld's evaluation of task {task_id!r} ({experiment_name}) failed "
                            f"(exit {done.returncode}): {tail[0]}")
    return json.loads(line[len(_MARK):])
