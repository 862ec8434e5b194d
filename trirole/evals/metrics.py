"""Metrics over results records (plain dicts, one per (paradigm, task, repeat) run).

Task goal completion (TGC): the share of tasks whose evaluation succeeded. Scenario goal
completion (SGC): the share of scenarios all of whose tasks succeeded. Both as AppWorld
defines them; a run that ended without a verdict for another reason than an
infrastructure error (e.g. a task without a checker) counts as not solved. Every rate
comes with its 95% interval (`trirole.evals.stats`).

Infrastructure errors are not the agent's failures: a record whose ``infra_error`` is
true (environment or endpoint down, harness timeout, an environment holding another
task) is left out of every success rate and counted apart (``infra_errors``); a
scenario with one is left out of SGC (its outcome is unknown). Records written before
that field existed are judged by their status: ``env_error``, ``model_error``,
``timeout`` and ``error`` are infrastructure errors.

Repeats (``trirole eval --repeats K``): a record's ``repeat`` (0 when missing). A task's
outcome is its mean success over its repeats, so TGC is the mean of those and its
interval counts tasks, not runs; ``tgc_by_repeat``/``sgc_by_repeat`` hold each repeat's
own TGC and SGC, ``tgc_spread``/``sgc_spread`` their mean, sd, min and max.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from typing import Any, Iterable

from trirole.evals import stats
from trirole.evals.results import is_infra_error, repeat_of, solved

UNKNOWN = "unknown"


def scenario_of(record: dict[str, Any]) -> str:
    return record.get("scenario") or record["task_id"]


def task_outcomes(records: list[dict[str, Any]]) -> dict[str, tuple[float, str]]:
    """Task id -> (mean success over its repeats, scenario), infrastructure errors left out."""
    runs: dict[str, list[bool]] = defaultdict(list)
    scenario: dict[str, str] = {}
    for record in records:
        if not is_infra_error(record):
            runs[record["task_id"]].append(solved(record))
            scenario[record["task_id"]] = scenario_of(record)
    return {task: (sum(wins) / len(wins), scenario[task]) for task, wins in runs.items()}


def _scenario_outcomes(records: list[dict[str, Any]]) -> dict[str, list[bool]]:
    """Scenario -> solved or not in each repeat whose tasks all have a verdict."""
    by_run: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        by_run[(scenario_of(record), repeat_of(record))].append(record)
    outcomes: dict[str, list[bool]] = defaultdict(list)
    for (scenario, _), group in sorted(by_run.items()):
        if not any(is_infra_error(r) for r in group):
            outcomes[scenario].append(all(solved(r) for r in group))
    return outcomes


def _rate(outcomes: dict[str, tuple[float, str]]) -> float | None:
    return sum(v for v, _ in outcomes.values()) / len(outcomes) if outcomes else None


def goal_completion(records: list[dict[str, Any]]) -> dict[str, Any]:
    """TGC and SGC with their 95% intervals, and what they were computed from.

    tasks: tasks with at least one run that was not an infrastructure error; runs: such
    runs (tasks x repeats); solved: solved runs; scenarios / scenarios_solved: scenarios
    (x repeats) with a verdict and those solved; infra_errors: runs left out."""
    tasks = task_outcomes(records)
    tgc_ci = stats.clustered_mean_interval([v for v, _ in tasks.values()], [s for _, s in tasks.values()])
    scenarios = _scenario_outcomes(records)
    means = {name: sum(wins) / len(wins) for name, wins in scenarios.items()}
    # One outcome per scenario (no repeats): Wilson; with repeats, an interval over the
    # per-scenario means (each scenario its own cluster).
    sgc_ci = stats.clustered_mean_interval(list(means.values()), list(means))
    valid = [r for r in records if not is_infra_error(r)]
    return {"tasks": len(tasks), "runs": len(valid), "solved": sum(solved(r) for r in valid),
            "tgc": _rate(tasks), "tgc_ci": tgc_ci.as_dict() if tgc_ci else None,
            "scenarios": sum(len(w) for w in scenarios.values()),
            "scenarios_solved": sum(sum(w) for w in scenarios.values()),
            "sgc": sum(means.values()) / len(means) if means else None,
            "sgc_ci": sgc_ci.as_dict() if sgc_ci else None,
            "infra_errors": len(records) - len(valid)}


def repeat_spread(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Each repeat's TGC and SGC, and their mean, standard deviation, min and max."""
    by_repeat: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        by_repeat[repeat_of(record)].append(record)
    per_repeat = {k: goal_completion(group) for k, group in sorted(by_repeat.items())}
    return {"repeats": len(per_repeat),
            "tgc_by_repeat": [m["tgc"] for m in per_repeat.values()],
            "sgc_by_repeat": [m["sgc"] for m in per_repeat.values()],
            "tgc_spread": stats.spread([m["tgc"] for m in per_repeat.values() if m["tgc"] is not None]),
            "sgc_spread": stats.spread([m["sgc"] for m in per_repeat.values() if m["sgc"] is not None])}


def paired_comparisons(records: Iterable[dict[str, Any]], paradigms: list[str]) -> list[dict[str, Any]]:
    """Every pair (A, B) of `paradigms` (B after A) on the tasks both have a verdict for:
    the difference B - A with its interval, McNemar's exact test, and a sentence."""
    groups: dict[str, list] = defaultdict(list)
    for record in records:
        groups[record["paradigm"]].append(record)
    outcomes = {p: task_outcomes(groups[p]) for p in paradigms}
    comparisons = []
    for a, b in itertools.combinations(paradigms, 2):
        common = [t for t in outcomes[a] if t in outcomes[b]]
        if not common:
            continue
        result = stats.paired_comparison(a, b, [outcomes[a][t][0] for t in common],
                                         [outcomes[b][t][0] for t in common],
                                         [outcomes[a][t][1] for t in common])
        comparisons.append(result.as_dict())
    return comparisons


def request_progress(records: Iterable[dict[str, Any]], paradigms: list[str]) -> dict[str, Any]:
    """For tasks of several user requests that the checker judges one by one (records with
    ``requests``/``requests_correct``: BFCL multi-turn), how far each paradigm got before
    its first wrong request, beside the all-or-nothing score: per paradigm the entries,
    requests, requests right before the first wrong one, the mean share of each entry's
    requests so answered with its interval, entries with at least one and with all right;
    and the paired comparisons of that share (B - A per entry; the sign test on the entries
    where they differ, as McNemar's). Infrastructure errors left out; with repeats, an
    entry's share is its mean over them. {} when no record has per-request verdicts."""
    shares: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    counts: dict[str, Counter] = defaultdict(Counter)
    for record in records:
        if is_infra_error(record) or not record.get("requests"):
            continue
        paradigm, right, total = record["paradigm"], int(record.get("requests_correct") or 0), int(record["requests"])
        shares[paradigm][record["task_id"]].append(right / total)
        counts[paradigm].update(runs=1, requests=total, right=right, some=int(right > 0), all=int(right == total))
    if not shares:
        return {}
    order = [p for p in paradigms if p in shares] + [p for p in shares if p not in paradigms]
    per_entry = {p: {task: sum(v) / len(v) for task, v in shares[p].items()} for p in order}
    summary = {}
    for paradigm in order:
        values = list(per_entry[paradigm].values())
        interval = stats.clustered_mean_interval(values, list(per_entry[paradigm]))
        summary[paradigm] = {**counts[paradigm], "entries": len(values), "share": interval.estimate if interval else None,
                             "share_ci": interval.as_dict() if interval else None}
    comparisons = []
    for a, b in itertools.combinations(order, 2):
        common = [t for t in per_entry[a] if t in per_entry[b]]
        if common:
            comparisons.append(stats.paired_comparison(a, b, [per_entry[a][t] for t in common],
                                                       [per_entry[b][t] for t in common], common).as_dict())
    return {"paradigms": summary, "comparisons": comparisons}


def difficulty_key(record: dict[str, Any]) -> str:
    value = record.get("difficulty")
    return UNKNOWN if value is None else str(value)


def _per_task(total: float, tasks: int) -> float | None:
    return total / tasks if tasks else None  # per run (task x repeat), every run counted


def paradigm_metrics(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Every metric of one paradigm's records."""
    tasks = len(records)
    by_difficulty: dict[str, list] = defaultdict(list)
    roles: dict[str, Counter] = defaultdict(Counter)
    for record in records:
        by_difficulty[difficulty_key(record)].append(record)
        for role, usage in (record.get("usage") or {}).items():
            roles[role].update({k: usage[k] for k in ("calls", "prompt_tokens", "completion_tokens",
                                                      "cached_prompt_tokens") if k in usage})
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
        **repeat_spread(records),
    }


def compute_metrics(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """`paradigm_metrics` per paradigm, in the order paradigms first appear."""
    groups: dict[str, list] = {}
    for record in records:
        groups.setdefault(record["paradigm"], []).append(record)
    return {paradigm: paradigm_metrics(group) for paradigm, group in groups.items()}
