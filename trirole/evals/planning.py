"""What an evaluation will run in its results folder, before anything runs.

`plan_runs` makes the folder, checks its manifest (``run.json``: the dataset and settings
the folder was filled with) and lists the (paradigm, task, repeat) runs not recorded yet
(`RunPlan`). With ``repeats=K`` every pair runs K times, keyed by (paradigm, task, repeat).
AppWorld saves each episode's outputs under an experiment name; each (paradigm, repeat)
of an evaluation gets its own (`appworld_experiment`), so AppWorld's own evaluation can be
run on them afterwards (`trirole.evals.agreement`).
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from trirole.evals.datasets import Dataset, EvalTask
from trirole.evals.results import INFRA_STATUSES, PairRecord, pair_key, read_results, repeat_of
from trirole.settings import TriroleSettings

MANIFEST_FILE = "run.json"
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


def check_manifest(out: Path, data: Dataset, settings: TriroleSettings, progress: bool) -> None:
    """Record the dataset and settings in ``run.json``; warn when a resumed folder was
    filled with other ones (its records are kept: results are keyed by pair only)."""
    manifest = {"dataset": data.name, "settings": {k: v for k, v in settings.to_dict().items() if k != "api_key"}}
    path = out / MANIFEST_FILE
    if path.is_file():
        try:
            before = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:
            before = None
        if before is not None and before != json.loads(json.dumps(manifest, default=str)):
            changed = sorted(k for k in manifest["settings"] if before.get("settings", {}).get(k) !=
                             json.loads(json.dumps(manifest["settings"][k], default=str)))
            if before.get("dataset") != data.name:
                changed.insert(0, "dataset")
            log(f"warning: {out} holds results of a run with other {', '.join(changed)}; "
                "finished pairs are kept and skipped (use a new --out to start over)", progress)
    path.write_text(json.dumps(manifest, indent=1, default=str), encoding="utf-8")


def pending_runs(out: Path, names: list[str], tasks: list[EvalTask], retry_errors: bool, repeats: int) -> list[Run]:
    """The (paradigm, task, repeat) runs not recorded yet (and with `retry_errors`, those
    last recorded as an infrastructure error)."""
    done = {pair_key(r) for r in read_results(out)
            if not (retry_errors and r.get("infra_error", r.get("status") in INFRA_STATUSES))}
    return [(p, t, k) for k in range(repeats) for t in tasks for p in names if (p, t.id, k) not in done]


def done_records(out: Path, names: list[str], tasks: list[EvalTask], repeats: int,
                 pending: list[Run]) -> list[PairRecord]:
    """The records of this evaluation's runs that count as done (for the progress display):
    not those `pending` reruns (``--retry-errors``)."""
    wanted = {t.id for t in tasks}
    rerun = {(p, t.id, k) for p, t, k in pending}
    return [r for r in read_results(out) if r["paradigm"] in names and r["task_id"] in wanted
            and repeat_of(r) < repeats and pair_key(r) not in rerun]


def plan_runs(out_dir: str | Path, data: Dataset, names: list[str], tasks: list[EvalTask], settings: TriroleSettings,
              *, retry_errors: bool, repeats: int, progress: bool) -> RunPlan:
    """The folder made and its manifest checked, and what is left to run in it."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    check_manifest(out, data, settings, progress)
    pending = pending_runs(out, names, tasks, retry_errors, repeats)
    return RunPlan(out=out, data=data, names=names, tasks=tasks, repeats=repeats, pending=pending,
                   previous=done_records(out, names, tasks, repeats, pending))
