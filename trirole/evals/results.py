"""An evaluation's results folder: the record of one pair, and ``results.jsonl``.

Each finished pair is one JSON line (a `PairRecord`) appended to ``out_dir/results.jsonl``
and synced to disk before the next is written (`ResultsWriter`), so a killed run loses
only the pairs in flight; a half-written last line is ignored (`read_results`) and cut
before the next append. The file is append-only: when a pair is recorded twice
(``retry_errors`` reruns the pairs whose last record is an infrastructure error), its
last record wins, in `read_results` and everything built on it.

An infrastructure error (the environment or the endpoint failed, the harness cut the pair
off) is never the agent's failure: its record says ``"infra_error": true`` with the reason.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Mapping

from typing_extensions import NotRequired, TypedDict

from trirole.backend.replicas import merge_counts
from trirole.evals.datasets import EvalTask
from trirole.state import RoleUsage

RESULTS_FILE = "results.jsonl"
TRACES_DIR = "traces"
ENDPOINTS_FILE = "endpoints.json"
# Statuses that are the infrastructure's failure, not the agent's: the environment or the
# model endpoint failed, the harness cut the pair off at its wall-clock limit, or crashed.
INFRA_STATUSES = frozenset({"env_error", "model_error", "timeout", "error"})


class PairRecord(TypedDict):
    """One line of ``results.jsonl``: one (paradigm, task, repeat) run.

    success: the environment's verdict (None: no verdict, e.g. a task without a checker;
    False for a run cut off or crashed). status/status_reason: how the run ended (the
    graph's final status, or ``timeout``/``env_error``/``error`` set by the harness).
    infra_error: the environment or endpoint failed or the harness cut the run off
    (``infra_reason`` says how): not the agent's failure, left out of every rate.
    trace: the pair's trace, relative to the results folder. repeat: 0-based (missing in
    folders written before repeats existed: repeat 0). experiment: AppWorld's output folder.
    retried_after: the pair's environment server died under it, was replaced and the pair
    ran once more; this is the first attempt's reason.
    tool_calls / tool_errors: the recorded calls the agent's code made (the user's own tools,
    `trirole.environments.user_tools`; a benchmark's functions: AppWorld's APIs, BFCL's) and
    how many raised, present when it made any.
    requests / requests_correct: for a task of several user requests whose checker judges
    each (BFCL multi-turn): how many it brings, and how many were right before the first
    wrong one (its evaluation's details); absent otherwise.
    """

    paradigm: str
    task_id: str
    env: str
    difficulty: Any
    scenario: str | None
    success: bool | None
    isolation: str
    status: str
    status_reason: str
    steps: int
    model_calls: int
    prompt_tokens: int
    completion_tokens: int
    usage: dict[str, RoleUsage]  # per role (latency rounded to ms)
    summarizations: int
    corrections: int
    no_code: int
    wall_s: float
    answer: str | None
    failed_checks: int
    trace: str
    infra_error: bool
    infra_reason: NotRequired[str]
    repeat: NotRequired[int]
    experiment: NotRequired[str]
    retried_after: NotRequired[str]  # the pair ran again on a new environment server after this failure
    tool_calls: NotRequired[int]
    tool_errors: NotRequired[int]
    requests: NotRequired[int]
    requests_correct: NotRequired[int]


# -- reading a record -----------------------------------------------------------------------------
def pair_key(record: Mapping[str, Any]) -> tuple:
    """What identifies a pair's record: paradigm, task and repeat."""
    return record["paradigm"], record["task_id"], record.get("repeat", 0)


def solved(record: Mapping[str, Any]) -> bool:
    return record.get("success") is True


def is_infra_error(record: Mapping[str, Any]) -> bool:
    """True for an infrastructure error (see the module docstring), not an agent failure.
    Records written before ``infra_error`` existed are judged by their status."""
    flag = record.get("infra_error")
    return bool(flag) if flag is not None else record.get("status") in INFRA_STATUSES


def repeat_of(record: Mapping[str, Any]) -> int:
    """A record's repeat; records written before repeats existed are repeat 0."""
    return int(record.get("repeat") or 0)


# -- making a record ------------------------------------------------------------------------------
def make_record(paradigm: str, task: EvalTask, final: Mapping[str, Any], *, status: str | None, reason: str,
                wall_s: float, trace: str) -> PairRecord:
    """The results line of one pair from its last known state (the final one, or the
    last streamed before a timeout or crash)."""
    usage: dict[str, RoleUsage] = {
        role: {"calls": u.get("calls", 0), "prompt_tokens": u.get("prompt_tokens", 0),
               "completion_tokens": u.get("completion_tokens", 0),
               "latency_s": round(u.get("latency_s", 0.0), 3),
               **({"cached_prompt_tokens": u["cached_prompt_tokens"]} if "cached_prompt_tokens" in u else {})}
        for role, u in (final.get("usage") or {}).items()}
    counters = final.get("counters") or {}
    evaluation = final.get("evaluation")
    details = (evaluation or {}).get("details") or {}
    if status is not None:  # cut off or crashed: no verdict, not a success
        success: bool | None = False
    else:
        success = bool(evaluation.get("success")) if evaluation else None
    answer = final.get("answer")
    return {
        "paradigm": paradigm, "task_id": task.id, "env": task.env, "difficulty": task.difficulty,
        "scenario": task.scenario, "success": success, "isolation": final.get("isolation") or "",
        "status": status or final.get("status") or "error",
        "status_reason": reason if status is not None else final.get("status_reason", ""),
        "steps": counters.get("steps", 0),
        "model_calls": sum(u["calls"] for u in usage.values()),
        "prompt_tokens": sum(u["prompt_tokens"] for u in usage.values()),
        "completion_tokens": sum(u["completion_tokens"] for u in usage.values()),
        "usage": usage,
        "summarizations": counters.get("summarizations", 0), "corrections": counters.get("corrections", 0),
        "no_code": counters.get("no_code", 0),
        **({"tool_calls": counters["tool_calls"], "tool_errors": counters.get("tool_errors", 0)}
           if counters.get("tool_calls") else {}),
        "wall_s": round(wall_s, 3),
        "answer": None if answer is None else str(answer)[:300],
        "failed_checks": len((evaluation or {}).get("failed") or []),
        **{key: details[key] for key in ("requests", "requests_correct") if key in details},
        "trace": trace,
        **infra_marker(status or final.get("status") or "error",
                       reason if status is not None else final.get("status_reason", "")),
    }  # type: ignore[typeddict-item]


def infra_marker(status: str, reason: str) -> dict[str, Any]:
    """``infra_error`` (bool) and, when true, ``infra_reason``: see INFRA_STATUSES."""
    if status in INFRA_STATUSES:
        return {"infra_error": True, "infra_reason": reason}
    return {"infra_error": False}


def trace_path(out_dir: Path, paradigm: str, task_id: str, repeat: int = 0) -> Path:
    """Where the trace of one pair goes (task ids made safe as file names)."""
    suffix = f".r{repeat}.jsonl" if repeat else ".jsonl"
    return out_dir / TRACES_DIR / paradigm / (re.sub(r"[^\w.-]", "_", task_id) + suffix)


# -- results.jsonl --------------------------------------------------------------------------------
def read_results(out_dir: str | Path, *, every: bool = False) -> list[PairRecord]:
    """The records of ``out_dir/results.jsonl`` (``[]`` if none): the last one of each
    pair (a retried pair was recorded again), in the order pairs were first recorded;
    `every`: all lines as written. Lines that are not a complete JSON object (a run killed
    mid-write) are skipped."""
    path = Path(out_dir) / RESULTS_FILE
    if not path.is_file():
        return []
    records = []
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and "paradigm" in record and "task_id" in record:
                records.append(record)
    if every:
        return records
    latest: dict[tuple, PairRecord] = {}
    for record in records:
        latest[pair_key(record)] = record
    first = list(dict.fromkeys(pair_key(r) for r in records))
    return [latest[key] for key in first]


def _drop_partial_tail(path: Path) -> None:
    """Cut a half-written last line, so the next record starts on a line of its own."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    with path.open("rb+") as handle:
        handle.seek(-1, os.SEEK_END)
        if handle.read(1) == b"\n":
            return
        handle.seek(0)
        data = handle.read()
        handle.truncate(data.rfind(b"\n") + 1)


class ResultsWriter:
    """Appends one record per line to ``out_dir/results.jsonl``, flushed and fsynced: a
    finished pair survives a kill. ``with ResultsWriter(out) as writer:`` closes it."""

    def __init__(self, out_dir: Path) -> None:
        path = Path(out_dir) / RESULTS_FILE
        _drop_partial_tail(path)
        self._handle = path.open("a", encoding="utf-8")

    def write(self, record: Mapping[str, Any]) -> None:
        self._handle.write(json.dumps(record, default=str, ensure_ascii=False) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> "ResultsWriter":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# -- endpoints.json: which model replica served what ----------------------------------------------
def read_replica_counts(out_dir: str | Path) -> dict[str, dict[str, int]]:
    """``out_dir/endpoints.json`` ({} when missing or unreadable)."""
    path = Path(out_dir) / ENDPOINTS_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except ValueError:
        return {}


def record_replica_counts(out_dir: str | Path, counts: Mapping[str, Mapping[str, int]]) -> None:
    """Add a run's per-replica counts (`trirole.backend.replica_counts`) to
    ``out_dir/endpoints.json`` (a resumed run adds up)."""
    if not counts:
        return
    merged = merge_counts(read_replica_counts(out_dir), counts)
    (Path(out_dir) / ENDPOINTS_FILE).write_text(json.dumps(merged, indent=1), encoding="utf-8")
