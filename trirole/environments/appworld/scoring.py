"""Scoring AppWorld episodes after they ran, in a process that never runs agent code.

The server that holds the episode's world never holds the task's ground truth (it initialises
the task without it). AppWorld's evaluator (``appworld.evaluator.evaluate_task``) runs
here instead, in a process of the AppWorld venv of its own, on the episode's saved
outputs (copied into ``<root>/experiments/outputs/<experiment>`` by
`trirole.environments.appworld.stage.collect_outputs`) and the data root's ground truth. It
returns what the server's ``/evaluate`` returned (``success``, ``difficulty``,
``num_tests``, ``passes``, ``failures``).

One scorer process per data root serves a whole trirole process (AppWorld loads its apps
in ~3 s, and many more on a busy machine; an evaluation scores every pair), one task at a
time. It reads requests on its stdin, so it ends when trirole does (its pipe closes).
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import threading
from pathlib import Path
from typing import Any

from trirole.environments.appworld.errors import AppWorldError
from trirole.environments.appworld.install import ensure_appworld_env
from trirole.environments.isolation import minimal_env

_MARK = "TRIROLE_APPWORLD_SCORE "
_SERVE = f"""
import json, sys
from appworld.apps.model_lib import CachedDBHandler
from appworld.evaluator import evaluate_task
for line in sys.stdin:
    args = json.loads(line)
    try:
        tracker = evaluate_task(task_id=args["task_id"], experiment_name=args["experiment"], suppress_errors=True)
        reply = {{"ok": tracker.to_dict(stats_only=False)}}
    except Exception as exc:
        reply = {{"error": type(exc).__name__ + ": " + str(exc)}}
    finally:
        CachedDBHandler.reset()
    print({_MARK!r} + json.dumps(reply, default=str), flush=True)
"""

_scorers: dict[str, subprocess.Popen] = {}
_lock = threading.Lock()


def _scorer(root: Path) -> subprocess.Popen:
    proc = _scorers.get(str(root))
    if proc is not None and proc.poll() is None:
        return proc
    python = ensure_appworld_env() / "bin" / "python"
    env = minimal_env(str(root), {"APPWORLD_ROOT": str(root), "PYTHONUNBUFFERED": "1"})
    proc = subprocess.Popen([str(python), "-c", _SERVE], cwd=root, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    _scorers[str(root)] = proc
    return proc


def score_task(root: str | os.PathLike, experiment_name: str, task_id: str) -> dict[str, Any]:
    """AppWorld's evaluation of task `task_id` as experiment `experiment_name` saved it
    under data root `root` (blocking; call it from a thread)."""
    root = Path(root).resolve()
    with _lock:
        proc = _scorer(root)
        try:
            proc.stdin.write(json.dumps({"task_id": task_id, "experiment": experiment_name}) + "\n")
            proc.stdin.flush()
            line = ""
            while line is not None and not line.startswith(_MARK):
                line = proc.stdout.readline()
                if not line:
                    line = None
        except OSError:
            line = None
        if line is None:
            _scorers.pop(str(root), None)
            proc.kill()
            raise AppWorldError(f"AppWorld's evaluator process ended while scoring task {task_id!r} "
                                f"(exit {proc.wait()}); the pair is an infrastructure error")
    reply = json.loads(line[len(_MARK):])
    if "error" in reply:
        raise AppWorldError(f"AppWorld's evaluation of task {task_id!r} ({experiment_name}) failed: {reply['error']}")
    return reply["ok"]


@atexit.register
def _stop_scorers() -> None:
    for proc in list(_scorers.values()):
        proc.kill()
        proc.wait()
    _scorers.clear()
