"""Metrics over results records (plain dicts, one per (paradigm, task) pair).

Task goal completion (TGC): the share of tasks whose evaluation succeeded. Scenario goal
completion (SGC): the share of scenarios all of whose tasks succeeded. Both as AppWorld
defines them; a pair without a verdict (timeout, crash, no checker) counts as not solved.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any, Iterable

UNKNOWN = "unknown"


def solved(record: dict[str, Any]) -> bool:
    return record.get("success") is True


def goal_completion(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Tasks, solved tasks and TGC; scenarios, solved scenarios and SGC (None when empty)."""
    scenarios: dict[str, bool] = {}
    for record in records:
        key = record.get("scenario") or record["task_id"]
        scenarios[key] = scenarios.get(key, True) and solved(record)
    tasks, wins = len(records), sum(solved(r) for r in records)
    won_scenarios = sum(scenarios.values())
    return {"tasks": tasks, "solved": wins, "tgc": wins / tasks if tasks else None,
            "scenarios": len(scenarios), "scenarios_solved": won_scenarios,
            "sgc": won_scenarios / len(scenarios) if scenarios else None}


def difficulty_key(record: dict[str, Any]) -> str:
    value = record.get("difficulty")
    return UNKNOWN if value is None else str(value)


def _per_task(total: float, tasks: int) -> float | None:
    return total / tasks if tasks else None


def paradigm_metrics(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Every metric of one paradigm's records."""
    tasks = len(records)
    by_difficulty: dict[str, list] = defaultdict(list)
    roles: dict[str, Counter] = defaultdict(Counter)
    for record in records:
        by_difficulty[difficulty_key(record)].append(record)
        for role, usage in (record.get("usage") or {}).items():
            roles[role].update({k: usage.get(k, 0) for k in ("calls", "prompt_tokens", "completion_tokens")})
    prompt = sum(r.get("prompt_tokens", 0) for r in records)
    completion = sum(r.get("completion_tokens", 0) for r in records)
    overall = goal_completion(records)
    calls = sum(r.get("model_calls", 0) for r in records)
    wall = sum(r.get("wall_s", 0.0) for r in records)
    summarizations = sum(r.get("summarizations", 0) for r in records)
    corrections = sum(r.get("corrections", 0) for r in records)
    return {
        **overall,
        "by_difficulty": {key: goal_completion(group) for key, group in
                          sorted(by_difficulty.items(), key=lambda kv: (kv[0] == UNKNOWN, kv[0]))},
        "prompt_tokens": prompt, "completion_tokens": completion, "tokens": prompt + completion,
        "tokens_per_task": _per_task(prompt + completion, tasks),
        # None, not infinity, when nothing was solved: JSON has no inf, and the report says "-".
        "tokens_per_solved": (prompt + completion) / overall["solved"] if overall["solved"] else None,
        "tokens_by_role": {role: dict(counts) for role, counts in sorted(roles.items())},
        "model_calls": calls, "calls_per_task": _per_task(calls, tasks),
        "wall_s": wall, "wall_s_per_task": _per_task(wall, tasks),
        "steps_per_task": _per_task(sum(r.get("steps", 0) for r in records), tasks),
        "summarizations": summarizations, "corrections": corrections,
        "tasks_with_summarization": sum(1 for r in records if r.get("summarizations")),
        "tasks_with_correction": sum(1 for r in records if r.get("corrections")),
        "statuses": dict(Counter(r.get("status", "error") for r in records)),
    }


def compute_metrics(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """`paradigm_metrics` per paradigm, in the order paradigms first appear."""
    groups: dict[str, list] = {}
    for record in records:
        groups.setdefault(record["paradigm"], []).append(record)
    return {paradigm: paradigm_metrics(group) for paradigm, group in groups.items()}
