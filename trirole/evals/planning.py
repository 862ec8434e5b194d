"""What an evaluation will run in its results folder, before anything runs.

`plan_runs` makes the folder, checks its manifest (``run.json``: the experiment the folder
holds: dataset, settings, paradigms, limits and pairs) and lists the (paradigm, task,
repeat) runs not recorded yet (`RunPlan`). One experiment per folder: a run whose
configuration differs from the folder's is refused (`FolderError`, saying what differs),
and one that adds pairs to it must say so (``extend``). With ``repeats=K`` every pair runs
K times, keyed by (paradigm, task, repeat).
AppWorld saves each episode's outputs under an experiment name; each (paradigm, repeat)
of an evaluation gets its own (`appworld_experiment`), so AppWorld's own evaluation can be
run on them afterwards (`trirole.evals.agreement`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from trirole.errors import TriroleError
from trirole.evals.datasets import Dataset, EvalTask
from trirole.evals.paradigms import VARIANTS
from trirole.evals.results import INFRA_STATUSES, PairRecord, pair_key, read_results, repeat_of
from trirole.settings import TriroleSettings

MANIFEST_FILE = "run.json"
LOCK_FILE = ".evaluation.lock"
"""Held (an OS file lock, released when the process ends however it ends) by the
evaluation running in the folder."""
Run = tuple[str, EvalTask, int]
"""One run of an evaluation: (paradigm, task, repeat)."""


def log(message: str, enabled: bool) -> None:
    """A line for the user on stderr (when the evaluation shows progress)."""
    if enabled:
        print(message, file=sys.stderr, flush=True)


def appworld_experiment(out_dir: Path, paradigm: str, repeat: int) -> str:
    """AppWorld's experiment name (its output folder) for one paradigm's repeat of the
    evaluation in `out_dir`: unique per folder, so paradigms, repeats and evaluations
    never overwrite each other's saved outputs; stable, so a resumed run keeps it."""
    digest = hashlib.sha1(str(Path(out_dir).resolve()).encode()).hexdigest()[:10]
    return f"trirole-{digest}-{paradigm}-r{repeat}"


@dataclass(frozen=True)
class EvalSummary:
    """What `evaluate` did. The records themselves stay on disk (memory does not grow
    with the number of pairs); `records()` reads this evaluation's from results.jsonl.

    pairs: (paradigm, task, repeat) runs of this evaluation; skipped: already recorded
    before this run; ran: finished in this run.
    """

    out_dir: Path
    paradigms: tuple[str, ...]
    task_ids: tuple[str, ...]
    pairs: int
    skipped: int
    ran: int
    repeats: int = 1

    def records(self) -> list[PairRecord]:
        wanted = {(p, t) for t in self.task_ids for p in self.paradigms}
        return [r for r in read_results(self.out_dir)
                if (r["paradigm"], r["task_id"]) in wanted and repeat_of(r) < self.repeats]


@dataclass(frozen=True)
class RunPlan:
    """An evaluation's runs in its results folder: all of them (`names` x `tasks` x
    `repeats`), those still to run, and the records of those done (for the display)."""

    out: Path
    data: Dataset
    names: list[str]
    tasks: list[EvalTask]
    repeats: int
    pending: list[Run]
    previous: list[PairRecord]

    @property
    def total(self) -> int:
        return len(self.tasks) * len(self.names) * self.repeats

    @property
    def skipped(self) -> int:
        return self.total - len(self.pending)

    def describe(self) -> str:
        times = f" x {self.repeats} repeats" if self.repeats > 1 else ""
        return (f"{self.total} pairs ({len(self.names)} paradigms x {len(self.tasks)} tasks of {self.data.name}{times}); "
                f"{self.skipped} already done")

    def experiment(self, paradigm: str, repeat: int) -> str | None:
        """The AppWorld experiment of (paradigm, repeat), None for other environments."""
        return appworld_experiment(self.out, paradigm, repeat) if self.data.env == "appworld" else None

    def summary(self, ran: int) -> EvalSummary:
        return EvalSummary(out_dir=self.out, paradigms=tuple(self.names), task_ids=tuple(t.id for t in self.tasks),
                           pairs=self.total, skipped=self.skipped, ran=ran, repeats=self.repeats)


class FolderError(TriroleError, ValueError):
    """The results folder cannot take this evaluation: it is a file, or it holds another
    experiment (the message says what differs and how to proceed)."""


# Settings that say where and how the model is reached, not what is measured: a resumed
# evaluation may reach the same model at another address.
NOT_THE_EXPERIMENT = frozenset({"api_key", "base_url", "request_timeout_s", "max_retries"})


def _plain(value: Any) -> Any:
    """`value` as it reads back from JSON (tuples as lists, objects as strings)."""
    return json.loads(json.dumps(value, default=str))


def experiment_manifest(data: Dataset, names: list[str], tasks: list[EvalTask], settings: TriroleSettings, *,
                        repeats: int, task_timeout_s: float | None,
                        server_engines: list[str] | None = None) -> dict[str, Any]:
    """What defines an evaluation's results (``run.json``): the dataset, the run settings
    (except how the endpoint is reached), each paradigm's own settings, the wall-clock
    limit per pair, its pairs (paradigms x tasks x repeats), and the engines serving the
    model when known (`trirole.serving.metrics.serving_engine`: the same model on another
    engine gives other greedy replies, so resuming across engines would mix two experiments)."""
    run_settings = {k: v for k, v in settings.to_dict().items() if k not in NOT_THE_EXPERIMENT}
    run_settings["env_options"] = {k: v for k, v in run_settings["env_options"].items() if k != "url"}
    return _plain({"dataset": data.name, "settings": run_settings,
                   "paradigms": {name: dict(VARIANTS[name][1]) for name in names},
                   "task_timeout_s": None if task_timeout_s is None else float(task_timeout_s),
                   "tasks": [t.id for t in tasks], "repeats": repeats,
                   **({"server_engines": server_engines} if server_engines else {})})


def _read_manifest(out: Path) -> dict[str, Any] | None:
    try:
        manifest = json.loads((out / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def _differences(before: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """What of `now`'s configuration differs from the folder's (`before`), one phrase each."""
    def phrase(name: str, old: Any, new: Any) -> str:
        return f"{name} ({json.dumps(old)} in the folder, {json.dumps(new)} now)"

    found = []
    if before.get("dataset") != now["dataset"]:
        found.append(phrase("dataset", before.get("dataset"), now["dataset"]))
    old_settings = before.get("settings") or {}
    for key, value in now["settings"].items():
        old = old_settings.get(key)
        if key == "env_options" and isinstance(old, dict):
            old = {k: v for k, v in old.items() if k != "url"}
        if key in old_settings and old != value:
            found.append(phrase(key, old, value))
    if before.get("server_engines") and now.get("server_engines") and before["server_engines"] != now["server_engines"]:
        found.append(phrase("the model's serving engine", before["server_engines"], now["server_engines"]))
    if "task_timeout_s" in before and before["task_timeout_s"] != now["task_timeout_s"]:
        found.append(phrase("task_timeout_s", before["task_timeout_s"], now["task_timeout_s"]))
    for name, overrides in now["paradigms"].items():
        old = (before.get("paradigms") or {}).get(name)
        if old is not None and old != overrides:
            found.append(phrase(f"the settings of paradigm {name}", old, overrides))
    return found


def _additions(before: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """The pairs `now` adds to the folder's experiment, as phrases (none for a folder
    whose manifest predates the list of pairs: its pairs are unknown, so it resumes)."""
    if "paradigms" not in before or "tasks" not in before:
        return []
    found = []
    paradigms = [p for p in now["paradigms"] if p not in before["paradigms"]]
    if paradigms:
        found.append(f"paradigm(s) {', '.join(paradigms)}")
    tasks = [t for t in now["tasks"] if t not in set(before["tasks"])]
    if tasks:
        found.append(f"{len(tasks)} task(s) ({', '.join(tasks[:3])}{', ...' if len(tasks) > 3 else ''})")
    if now["repeats"] > before.get("repeats", 1):
        found.append(f"repeats {before.get('repeats', 1) + 1}..{now['repeats']}")
    return found


@contextlib.contextmanager
def folder_lock(out: Path) -> Iterator[None]:
    """This evaluation's hold on its results folder for as long as it runs. Another
    evaluation of the same folder (another process, or this one) is refused in one line:
    two `trirole eval` runs of one --out each ran every pending pair and wrote it twice."""
    out.mkdir(parents=True, exist_ok=True)
    lock = FileLock(out / LOCK_FILE)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise FolderError(f"{out} is being evaluated by another trirole process; wait until it ends (it resumes "
                          "there if stopped), or give another --out") from None
    try:
        yield
    finally:
        lock.release()


def check_folder(out: Path, manifest: dict[str, Any], *, extend: bool) -> dict[str, Any]:
    """The manifest the folder will hold once this evaluation joins it; raises
    `FolderError` when `out` is a file or holds another experiment, or when this
    evaluation adds pairs to it without `extend`. Reads only."""
    if out.exists() and not out.is_dir():
        raise FolderError(f"--out {out} is a file, not a folder; give a folder (a new one, or the folder of an "
                          "evaluation to resume)")
    before = _read_manifest(out) if out.is_dir() else None
    if before is None:
        return manifest
    differences = _differences(before, manifest)
    if differences:
        raise FolderError(f"{out} holds another experiment: {'; '.join(differences)}. Give a new --out for this "
                          "one, or rerun with the folder's configuration to resume it")
    additions = _additions(before, manifest)
    if additions and not extend:
        raise FolderError(f"{out} holds an evaluation that this run would extend with {' and '.join(additions)}; "
                          "pass --extend to add them to it (same configuration), or give a new --out")
    if "paradigms" not in before or "tasks" not in before:
        return manifest
    return {**manifest, "paradigms": {**before["paradigms"], **manifest["paradigms"]},
            "tasks": list(dict.fromkeys([*before["tasks"], *manifest["tasks"]])),
            "repeats": max(before.get("repeats", 1), manifest["repeats"])}


def pending_runs(out: Path, names: list[str], tasks: list[EvalTask], retry_errors: bool, repeats: int,
                 width: int = 1) -> list[Run]:
    """The (paradigm, task, repeat) runs not recorded yet (and with `retry_errors`, those
    last recorded as an infrastructure error), in the order they start: tasks in blocks of
    `width` (the pairs in flight), each block paradigm by paradigm. The pairs running at
    once are then of different tasks, and a task's next paradigm starts after the previous
    one's first request: its prompt, the same for every paradigm at the first step, is in
    the server's prefix cache by then. (A server that keeps each request's prompt in a slot
    of its own, as llama.cpp's does, cannot share a prompt between requests computed at the
    same time: on the demo's BFCL workload with 8 in flight it served 79% of the prompt
    tokens from its cache task by task, 81% block by block, and generated 12% faster;
    vLLM, which shares cached blocks between requests, 91% either way.) Each block finishes every paradigm of its tasks, so an
    interrupted evaluation leaves complete pairs for the paired comparisons."""
    done = {pair_key(r) for r in read_results(out)
            if not (retry_errors and r.get("infra_error", r.get("status") in INFRA_STATUSES))}
    width = max(1, width)
    blocks = [tasks[i:i + width] for i in range(0, len(tasks), width)]
    return [(p, t, k) for k in range(repeats) for block in blocks for p in names for t in block
            if (p, t.id, k) not in done]


def done_records(out: Path, names: list[str], tasks: list[EvalTask], repeats: int,
                 pending: list[Run]) -> list[PairRecord]:
    """The records of this evaluation's runs that count as done (for the progress display):
    not those `pending` reruns (``--retry-errors``)."""
    wanted = {t.id for t in tasks}
    rerun = {(p, t.id, k) for p, t, k in pending}
    return [r for r in read_results(out) if r["paradigm"] in names and r["task_id"] in wanted
            and repeat_of(r) < repeats and pair_key(r) not in rerun]


def plan_runs(out_dir: str | Path, data: Dataset, names: list[str], tasks: list[EvalTask], settings: TriroleSettings,
              *, retry_errors: bool, repeats: int, task_timeout_s: float | None, extend: bool = False,
              width: int = 1, server_engines: list[str] | None = None) -> RunPlan:
    """The folder made and its manifest checked (`check_folder`) and written, and what is
    left to run in it (`pending_runs`: `width` is the number of pairs in flight)."""
    out = Path(out_dir)
    manifest = check_folder(out, experiment_manifest(data, names, tasks, settings, repeats=repeats,
                                                     task_timeout_s=task_timeout_s, server_engines=server_engines),
                            extend=extend)
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    pending = pending_runs(out, names, tasks, retry_errors, repeats, width)
    return RunPlan(out=out, data=data, names=names, tasks=tasks, repeats=repeats, pending=pending,
                   previous=done_records(out, names, tasks, repeats, pending))
