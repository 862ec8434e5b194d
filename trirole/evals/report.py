"""The report of an evaluation folder: report.md, results.csv and two PNG plots.

Everything is computed from ``results.jsonl`` and the traces, so a report can be
rewritten at any time, also for a run still in progress or one that was killed. Two
optional inputs beside them: the model server's own counters (``server_counters.json``,
`trirole.serving.metrics`) and a reference evaluation of the same tasks by the oracle in
the sub-folder ``oracle/`` (``trirole eval --model oracle --out OUT/oracle``, as
``make demo`` does): the harness scoring the ground-truth solution, so a low rate next to
it is the model's, not the harness's.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Any

from trirole.evals.agreement import read_agreement
from trirole.evals.failures import classify_failure, failure_counts
from trirole.evals.mechanisms import MECHANISM_KEYS, excerpt, mechanism_counts
from trirole.evals.metrics import compute_metrics, goal_completion, is_infra_error, paired_comparisons, request_progress
from trirole.evals.paradigms import VARIANTS
from trirole.evals.published import (BFCL_PUBLISHED_ROWS, BFCL_RESULTS_COMMIT, BFCL_RESULTS_DATE, BFCL_RESULTS_REPO,
                                     MARK, PUBLISHED_ROWS, RETHINKING_SCALE_FINDING)
from trirole.evals.results import read_replica_counts, read_results
from trirole.evals.stats import require_statistics
from trirole.serving.metrics import prefix_cache_hit_rate, read_server_counters

REFERENCE_DIR = "oracle"  # OUT/oracle: the oracle's evaluation of the same tasks (see the module doc)

CSV_COLUMNS = ["paradigm", "task_id", "repeat", "env", "difficulty", "scenario", "success", "status", "infra_error",
               "failure_class",
               "steps", "model_calls", "prompt_tokens", "completion_tokens", "summarizations", "corrections",
               "no_code", "wall_s", "status_reason", "trace"]


def replica_report(out_dir: str | Path) -> str:
    """The "which replica served what" table ("" for a single-endpoint run)."""
    counts = read_replica_counts(out_dir)
    if not counts:
        return ""
    lines = ["## Model replicas", "", "| replica | requests | failures | prompt tokens | completion tokens |",
             "|---|---|---|---|---|"]
    lines += [f"| {url} | {c.get('requests', 0)} | {c.get('failures', 0)} | {c.get('prompt_tokens', 0)} | "
              f"{c.get('completion_tokens', 0)} |" for url, c in sorted(counts.items())]
    return "\n".join(lines) + "\n"


def load_trace(out_dir: Path, record: dict[str, Any]) -> list[dict[str, Any]]:
    """A pair's trace records ([] when missing); unreadable lines are skipped."""
    path = out_dir / (record.get("trace") or "")
    if not record.get("trace") or not path.is_file():
        return []
    lines = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            continue
    return lines


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _ci(interval: dict[str, Any] | None) -> str:
    return "-" if not interval else f"{100 * interval['low']:.1f}-{100 * interval['high']:.1f}%"


def _rate(value: float | None, interval: dict[str, Any] | None) -> str:
    """A rate and its 95% interval, e.g. ``41.7% [22.1-63.4%]``."""
    return "-" if value is None else f"{_pct(value)} [{_ci(interval)}]"


def _yerr(values: list[float], intervals: list[dict[str, Any] | None]) -> list[list[float]]:
    """Matplotlib's asymmetric error bars (percent) from 95% intervals."""
    # Clamped at 0: a float round-off (an interval's bound a hair past its estimate, e.g. 0.0
    # against -1e-17) made matplotlib refuse the whole plot.
    lows = [max(0.0, 100 * (v - i["low"])) if i else 0.0 for v, i in zip(values, intervals)]
    highs = [max(0.0, 100 * (i["high"] - v)) if i else 0.0 for v, i in zip(values, intervals)]
    return [lows, highs]


def _num(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_csv(path: Path, records: list[dict[str, Any]], labels: list[str | None]) -> None:
    """One row per pair, with per-role calls and tokens as extra columns."""
    roles = sorted({role for r in records for role in (r.get("usage") or {})})
    role_columns = [f"{role}_{key}" for role in roles for key in ("calls", "prompt_tokens", "completion_tokens")]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS + role_columns, extrasaction="ignore")
        writer.writeheader()
        for record, label in zip(records, labels):
            row = {**record, "repeat": record.get("repeat") or 0, "infra_error": is_infra_error(record),
                   "failure_class": label or ""}
            for role in roles:
                usage = (record.get("usage") or {}).get(role, {})
                for key in ("calls", "prompt_tokens", "completion_tokens"):
                    row[f"{role}_{key}"] = usage.get(key, 0)
            writer.writerow(row)


def write_plots(out_dir: Path, metrics: dict[str, dict[str, Any]]) -> list[Path]:
    """success_vs_tokens.png and success_by_difficulty.png (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers
    import matplotlib.pyplot as plt

    paths = [out_dir / "success_vs_tokens.png", out_dir / "success_by_difficulty.png"]
    fig, ax = plt.subplots(figsize=(6, 4))
    for paradigm, m in metrics.items():
        x, y = m["tokens_per_task"] or 0, m["tgc"] or 0
        ax.errorbar([x], [100 * y], yerr=_yerr([y], [m["tgc_ci"]]), fmt="o", ms=7, capsize=4, label=paradigm,
                    alpha=0.8)
    ax.set(xlabel="tokens per task (prompt + completion)", ylabel="task goal completion (%), 95% CI",
           title="Success vs cost (measured)", ylim=(-2, 102))
    ax.set_xlim(left=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(paths[0], dpi=120)
    plt.close(fig)

    difficulties = sorted({d for m in metrics.values() for d in m["by_difficulty"]},
                          key=lambda d: (d == "unknown", d))
    fig, ax = plt.subplots(figsize=(6, 4))
    width = 0.8 / max(len(metrics), 1)
    for i, (paradigm, m) in enumerate(metrics.items()):
        groups = [m["by_difficulty"].get(d) or {} for d in difficulties]
        values = [g.get("tgc") or 0 for g in groups]
        ax.bar([j + i * width for j in range(len(difficulties))], [100 * v for v in values], width, label=paradigm,
               yerr=_yerr(values, [g.get("tgc_ci") for g in groups]), capsize=3)
    ax.set_xticks([j + width * (len(metrics) - 1) / 2 for j in range(len(difficulties))],
                  [f"difficulty {d}" for d in difficulties])
    ax.set(ylabel="task goal completion (%), 95% CI", title="Success by difficulty (measured)", ylim=(0, 102))
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(paths[1], dpi=120)
    plt.close(fig)
    return paths


def _methods(metrics: dict[str, dict[str, Any]]) -> list[str]:
    """The interval methods used in the tables, each once."""
    found = [(g.get(key) or {}).get("method") for m in metrics.values()
             for g in (m, *m["by_difficulty"].values()) for key in ("tgc_ci", "sgc_ci")]
    return sorted({f for f in found if f})


STATISTICS_NOTE = (
    "Every rate has its 95% confidence interval in brackets. TGC intervals are clustered by scenario (tasks of "
    "one scenario are correlated; Miller 2024, \"Adding Error Bars to Evals\"), with a t quantile for the number "
    "of scenarios: with few scenarios they are wide, because that is all the sample shows. Where every task is "
    "its own scenario, or all outcomes are equal, TGC gets a Wilson interval; SGC intervals are Wilson intervals "
    "over scenarios. With repeats, a task's outcome is its mean success over the repeats, so the intervals count "
    "tasks, not runs. Methods used here: {methods}.")


EXCERPT_LABELS = {"corrector_prompt": "What the corrector saw (its prompt from the reason for review on)",
                  "corrector_reply": "What the corrector answered",
                  "summary": "The summary the agent saw",
                  "agent_reply": "The agent's first reply", "observation": "What its first step printed"}


def _at_a_glance(metrics: dict[str, dict[str, Any]], reference: dict[str, Any] | None,
                 server: dict[str, int] | None, mechanisms: dict[str, dict[str, int]] | None) -> list[str]:
    """The report's first lines: every rate with its interval, the reference, the server."""
    lines = ["## At a glance", ""]
    if reference:
        lines.append(f"- **Harness check**: the ground-truth policy (oracle) solved {reference['solved']} of "
                     f"{reference['runs']} runs, TGC {_rate(reference['tgc'], reference['tgc_ci'])}: the harness "
                     "can score these tasks, so a low rate below is the model's.")
    else:
        lines.append("- No oracle reference in this folder (run `trirole eval --model oracle --out OUT/oracle` "
                     "on the same tasks to check the harness).")
    for paradigm, m in metrics.items():
        mech = (mechanisms or {}).get(paradigm) or {}
        extra = ""
        if mech.get("corrections") or mech.get("summarizations"):
            extra = (f"; {mech.get('corrections', 0)} corrections ({mech.get('loops_broken', 0)} of "
                     f"{mech.get('loop_corrections', 0)} loops broken), {mech.get('summarizations', 0)} summaries")
        lines.append(f"- **{paradigm}**: {m['solved']}/{m['runs']} solved, TGC {_rate(m['tgc'], m['tgc_ci'])}; "
                     f"{_num(m['tokens_per_task'])} tokens per task{extra}.")
    if server:
        lines.append(f"- **Model server**: {server.get('prompt_tokens', 0):,} prompt and "
                     f"{server.get('generation_tokens', 0):,} generated tokens; the prefix cache served "
                     f"{_pct(prefix_cache_hit_rate(server))} of prompt tokens.")
    return lines + [""]


def _mechanism_parts(records: list[dict[str, Any]], server: dict[str, int] | None,
                     mechanisms: dict[str, dict[str, int]] | None,
                     excerpts: dict[str, dict[str, Any]] | None) -> list[str]:
    """The sections on what the roles and the server did: mechanisms, counters, excerpts."""
    parts: list[str] = []
    if mechanisms:
        parts += ["", "## What the mechanisms did (measured, from the traces)", "",
                  "Corrections: the isolated corrector's reviews; on a loop: those made because the agent "
                  "repeated earlier code or the same error. A loop counts as broken when the code that ran next "
                  "has another fingerprint than the reviewed code and did not fail with the same error signature "
                  "as the attempt before (`trirole/evals/mechanisms.py`). Credentials carried: secret values "
                  "(tokens, passwords, codes) shown before a summarization (printed, or returned by a function the "
                  "code called) that were verbatim in the agent's next prompt after it; ids carried: the same for "
                  "records' ids (the state a task builds up); requests carried: for tasks of several user "
                  "requests, the later requests worked on during a summarization that the next prompt still held.",
                  ""]
        parts.append(_table(["paradigm", "corrections", "on a loop", "loops broken", "summarizations",
                             "credentials carried through a summary", "ids carried", "requests carried"],
                            [[p, c["corrections"], c["loop_corrections"], c["loops_broken"], c["summarizations"],
                              f"{c['secrets_carried']} of {c['secrets_before_summary']}",
                              f"{c.get('records_carried', 0)} of {c.get('records_before_summary', 0)}",
                              f"{c.get('requests_carried', 0)} of {c.get('requests_before_summary', 0)}"]
                             for p, c in mechanisms.items()]))  # (in the metrics' order: see write_report)
    if server:
        harness = sum(r.get("prompt_tokens", 0) for r in records)
        parts += ["", "## The model server's own counters (measured at its /metrics)", "",
                  f"Read from the server's Prometheus `/metrics` before and after each run of this folder "
                  f"({server.get('runs', 1)} run(s), added up; `server_counters.json`). They count everything the "
                  f"server did meanwhile, other clients included. The harness itself counted {harness:,} prompt "
                  "tokens. Prefix-cache hit rate: the share of prompt tokens the server did not have to prefill. A server "
                  "that served the same prompts before (an earlier run of these tasks, greedy decoding) serves them "
                  "from its cache again: compare hit rates of runs on freshly started servers.", ""]
        parts.append(_table(["prompt tokens", "generated tokens", "prefix-cache queries", "prefix-cache hits",
                             "prefix-cache hit rate"],
                            [[f"{server.get('prompt_tokens', 0):,}", f"{server.get('generation_tokens', 0):,}",
                              f"{server.get('prefix_cache_queries', 0):,}", f"{server.get('prefix_cache_hits', 0):,}",
                              _pct(prefix_cache_hit_rate(server))]]))
    if excerpts:
        parts += ["", "## One run per paradigm, in excerpts (from the traces)", ""]
        for paradigm, item in excerpts.items():
            parts += [f"**{paradigm}**, task `{item['task_id']}` ({item['status']}; trace `{item['trace']}`):", ""]
            for key, label in EXCERPT_LABELS.items():
                if key in item["pieces"]:
                    parts += [f"{label}:", "", "~~~text", item["pieces"][key], "~~~", ""]
    return parts


def _cached_share(usage: dict[str, Any]) -> str:
    if "cached_prompt_tokens" not in usage:
        return "-"
    prompt = usage.get("prompt_tokens", 0)
    share = usage["cached_prompt_tokens"] / prompt if prompt else None
    return f"{usage['cached_prompt_tokens']:,} ({_pct(share)})"


def render_markdown(records: list[dict[str, Any]], metrics: dict[str, dict[str, Any]],
                    failures: dict[str, dict[str, int]], plots: list[Path], plot_note: str = "",
                    comparisons: list[dict[str, Any]] | None = None,
                    agreement: dict[str, Any] | None = None, reference: dict[str, Any] | None = None,
                    server: dict[str, int] | None = None, mechanisms: dict[str, dict[str, int]] | None = None,
                    excerpts: dict[str, dict[str, Any]] | None = None) -> str:
    envs = sorted({r.get("env", "?") for r in records})
    infra = sum(m["infra_errors"] for m in metrics.values())
    repeats = max((m["repeats"] for m in metrics.values()), default=1)
    parts = ["# trirole evaluation report", "",
             f"{len(records)} finished runs, {len(metrics)} paradigms"
             + (f", up to {repeats} repeats per task" if repeats > 1 else "")
             + f", environment(s): {', '.join(envs) or '-'}. "
             "TGC: share of tasks whose evaluation succeeded; SGC: share of scenarios all of whose tasks "
             "succeeded (AppWorld's definitions). Runs without a verdict (e.g. a task without a checker) count as "
             "not solved; infrastructure errors (environment or endpoint down, harness timeouts, an environment "
             "holding another task) are not the agent's failures: they are left out of the rates and counted "
             "apart, and a scenario with one is left out of SGC.", "",
             STATISTICS_NOTE.format(methods="; ".join(_methods(metrics)) or "-"), "",
             "Agent code isolation: " + ", ".join(f"{k}: {v} pairs" for k, v in sorted(
                 Counter(r.get("isolation") or "unrecorded" for r in records).items())) + ".", ""]
    if infra:
        parts += [f"**{infra} run(s) ended in an infrastructure error** and are not in the rates below; "
                  "rerun only those with `trirole eval --retry-errors` (same --out).", ""]
    parts = parts[:2] + _at_a_glance(metrics, reference, server, mechanisms) + parts[2:]
    parts += ["## Goal completion and cost (measured)", ""]
    if reference:
        parts += ["The first row is the reference: the same harness and tasks with the oracle, which answers "
                  "every role with the task's ground-truth solution (`--model oracle`). It shows the harness can "
                  "score a correct policy; any shortfall of the model's rows below it is the model's.", ""]
    oracle_rows = [[f"oracle (ground truth; reference, {', '.join(reference['paradigms'])})", reference["tasks"],
                    f"{reference['solved']}/{reference['runs']}", _rate(reference["tgc"], reference["tgc_ci"]),
                    reference["scenarios"], _rate(reference["sgc"], reference["sgc_ci"]), reference["infra_errors"],
                    *["-"] * 7]] if reference else []
    parts.append(_table(
        ["paradigm", "tasks", "solved/runs", "TGC [95% CI]", "scenarios", "SGC [95% CI]", "infra errors",
         "tokens/task", "tokens/solved task", "calls/task", "steps/task", "wall s/task", "summarizations",
         "corrections"],
        oracle_rows + [[p, m["tasks"], f"{m['solved']}/{m['runs']}", _rate(m["tgc"], m["tgc_ci"]), m["scenarios"],
          _rate(m["sgc"], m["sgc_ci"]), m["infra_errors"], _num(m["tokens_per_task"]),
          _num(m["tokens_per_solved"]), _num(m["calls_per_task"], 1), _num(m["steps_per_task"], 1),
          _num(m["wall_s_per_task"], 1),
          f"{m['summarizations']} ({m['tasks_with_summarization']} tasks)",
          f"{m['corrections']} ({m['tasks_with_correction']} tasks)"] for p, m in metrics.items()]))
    parts += _mechanism_parts(records, server, mechanisms, excerpts)
    if comparisons:
        parts += ["", "## Paired comparisons on the same tasks (measured)", "",
                  "B - A per task (mean over repeats), with its 95% interval clustered by scenario, and McNemar's "
                  "exact test on the tasks where they differ. \"Distinguishable\" needs p < 0.05 and an interval "
                  "that excludes 0; otherwise this sample cannot tell the difference from noise.", ""]
        parts.append(_table(
            ["A", "B", "tasks", "better with A", "better with B", "B - A [95% CI]", "McNemar exact p",
             "distinguishable"],
            [[c["a"], c["b"], c["tasks"], c["a_better"], c["b_better"],
              f"{100 * c['difference']['estimate']:+.1f} pts [{100 * c['difference']['low']:+.1f}, "
              f"{100 * c['difference']['high']:+.1f}]", f"{c['p_value']:.3g}",
              "yes" if c["distinguishable"] else "no"] for c in comparisons]))
        parts += [""] + [f"- {c['verdict']}" for c in comparisons]
    if repeats > 1:
        parts += ["", "## Across repeats (measured)", "",
                  "Each repeat's own TGC and SGC (sampling on), summarized.", ""]
        parts.append(_table(["paradigm", "repeats", "TGC mean", "TGC sd", "TGC min-max", "SGC mean", "SGC sd",
                             "SGC min-max"],
                            [[p, m["repeats"], *_spread(m["tgc_spread"]), *_spread(m["sgc_spread"])]
                             for p, m in metrics.items()]))
    parts += ["", "## By difficulty (measured)", ""]
    parts.append(_table(["paradigm", "difficulty", "tasks", "solved/runs", "TGC [95% CI]", "SGC [95% CI]"],
                        [[p, d, g["tasks"], f"{g['solved']}/{g['runs']}", _rate(g["tgc"], g["tgc_ci"]),
                          _rate(g["sgc"], g["sgc_ci"])]
                         for p, m in metrics.items() for d, g in m["by_difficulty"].items()]))
    parts += _bfcl_parts(records)
    parts += ["", "## Tokens by role (measured)", ""]
    by_role = [(p, role, u) for p, m in metrics.items() for role, u in m["tokens_by_role"].items()]
    if any("cached_prompt_tokens" in u for _, _, u in by_role):
        parts += ["Served from the prefix cache: the prompt tokens the server reported as cached, per request "
                  "(`usage.prompt_tokens_details`; \"-\" where it did not say).", ""]
        parts.append(_table(["paradigm", "role", "calls", "prompt tokens", "completion tokens",
                             "served from the prefix cache"],
                            [[p, role, u.get("calls", 0), u.get("prompt_tokens", 0), u.get("completion_tokens", 0),
                              _cached_share(u)] for p, role, u in by_role]))
    else:
        parts.append(_table(["paradigm", "role", "calls", "prompt tokens", "completion tokens"],
                            [[p, role, u.get("calls", 0), u.get("prompt_tokens", 0), u.get("completion_tokens", 0)]
                             for p, role, u in by_role]))
    parts += ["", "## How runs ended and failure classes (measured)", ""]
    parts.append(_table(["paradigm", "statuses", "infrastructure errors", "failure classes"],
                        [[p, ", ".join(f"{k}: {v}" for k, v in m["statuses"].items()), m["infra_errors"],
                          ", ".join(f"{k}: {v}" for k, v in failures.get(p, {}).items()) or "-"]
                         for p, m in metrics.items()]))
    if agreement:
        parts += ["", "## Agreement with AppWorld's own evaluation (measured)", "",
                  "AppWorld's `evaluate_dataset`/`evaluate_tasks`, run in its own environment on this run's saved "
                  "outputs, against trirole's numbers (percent, rounded to 0.1 as AppWorld does), as of the last "
                  "`trirole eval --check-appworld` (infrastructure errors are scored by neither).", ""]
        parts.append(_table(["paradigm", "repeat", "tasks", "TGC trirole", "TGC AppWorld", "SGC trirole",
                             "SGC AppWorld", "agree"],
                            [[a["paradigm"], a["repeat"], a["tasks"], a["trirole"]["tgc"], a["appworld"]["tgc"],
                              a["trirole"]["sgc"], a["appworld"]["sgc"], "yes" if a["agree"] else "**no**"]
                             for a in agreement.get("runs", [])]))
    parts += _published_parts(records)
    parts += ["", "## Plots", "", "Error bars: the 95% intervals of the tables.", ""]
    parts += [f"![{p.stem}]({p.name})" for p in plots] or [plot_note or "(no plots)"]
    return "\n".join(parts) + "\n"


def _published_parts(records: list[dict[str, Any]]) -> list[str]:
    """The published reference rows of the benchmark(s) the records ran: the papers' for
    AppWorld (and any other environment), BFCL's leaderboard rows for BFCL's categories."""
    envs = {r.get("env") for r in records}
    parts: list[str] = []
    if envs - {"bfcl"}:
        parts += ["", f"## Published results ({MARK})", "",
                  f"Reference rows from the papers, AppWorld. Every row is **{MARK}**.", ""]
        parts.append(_table(["source", "paper", "model", "paradigm", "subset", "metric", "value"],
                            [[MARK, r["paper"], r["model"], r["paradigm"], r["subset"], r["metric"], r["value"]]
                             for r in PUBLISHED_ROWS]))
        parts += ["", f"- {RETHINKING_SCALE_FINDING} ({MARK})"]
    if "bfcl" in envs:
        from trirole.environments.bfcl import data

        categories = {data.category_of(r["task_id"]) for r in records if r.get("env") == "bfcl"}
        rows = [r for r in BFCL_PUBLISHED_ROWS if r["category"] in categories]
        parts += ["", f"## BFCL's published leaderboard rows ({MARK})", "",
                  f"The smallest models (under 2B parameters) of BFCL's leaderboard, V4, update of {BFCL_RESULTS_DATE}, "
                  f"from the leaderboard's own score files ({BFCL_RESULTS_REPO}, commit {BFCL_RESULTS_COMMIT[:12]}). "
                  f"Every row is **{MARK}**: BFCL's own runner called those models (their replies read by BFCL's "
                  "handler for each model, up to 20 steps per request), not this harness's code actions.", ""]
        if rows:
            parts.append(_table(["source", "model", "category", "correct/total", "accuracy", "file"],
                                [[MARK, r["model"], r["category"], f"{r['correct']}/{r['total']}",
                                  _pct(int(r["correct"]) / int(r["total"])), f"`{r['file']}`"] for r in rows]))
        else:
            parts.append(f"(None for the categories of this evaluation; rows are kept for simple_python and the "
                         f"multi-turn categories.)")
    return parts


def _bfcl_parts(records: list[dict[str, Any]]) -> list[str]:
    """BFCL runs: accuracy per category and, for multi-turn, per number of user turns,
    with Wilson intervals (entries are independent; repeats count as runs)."""
    runs = [r for r in records if r.get("env") == "bfcl" and not is_infra_error(r)]
    if not runs:
        return []
    from trirole.evals.stats import proportion_interval
    from trirole.environments.bfcl import data

    by_category: dict[tuple[str, str], list[bool]] = {}
    by_turns: dict[tuple[str, int], list[bool]] = {}
    for r in runs:
        category = data.category_of(r["task_id"])
        by_category.setdefault((r["paradigm"], category), []).append(r.get("success") is True)
        if data.is_multi_turn(category):
            turns = len(data.entry(r["task_id"])["question"])
            by_turns.setdefault((r["paradigm"], turns), []).append(r.get("success") is True)

    def rows(groups: dict[tuple[str, Any], list[bool]]) -> list[list[Any]]:
        out = []
        for (paradigm, key), wins in groups.items():
            interval = proportion_interval(sum(wins), len(wins))
            out.append([paradigm, key, f"{sum(wins)}/{len(wins)}",
                        _rate(interval.estimate if interval else None, interval.as_dict() if interval else None)])
        return out

    parts = ["", "## BFCL accuracy by category (measured, BFCL's own checker)", "",
             _table(["paradigm", "category", "solved/runs", "accuracy [95% CI]"], rows(by_category))]
    if by_turns:
        parts += ["", "## BFCL multi-turn accuracy by number of user turns (measured)", "",
                  _table(["paradigm", "user turns", "solved/runs", "accuracy [95% CI]"], rows(dict(sorted(by_turns.items()))))]
    return parts + _progress_parts(request_progress(runs, list(dict.fromkeys(r["paradigm"] for r in runs))))


def _progress_parts(progress: dict[str, Any]) -> list[str]:
    """How many requests each paradigm got right before its first wrong one (tasks of
    several requests judged one by one: BFCL multi-turn), with paired comparisons."""
    if not progress:
        return []
    parts = ["", "## Requests right before the first wrong one (measured, BFCL's own per-request checks)", "",
             "BFCL scores a multi-turn entry all or nothing. Beside that score, never instead of it: how many of an "
             "entry's user requests were right before the first wrong one (BFCL's state and response checks on the "
             "first k requests of the answer and of the ground truth), as the mean share of each entry's requests "
             "with its 95% interval, so that differences below the first full success show.", ""]
    parts.append(_table(["paradigm", "entries", "requests", "right before the first wrong", "share of requests [95% CI]",
                         "entries with >= 1 right", "entries all right"],
                        [[p, m["entries"], m["requests"], m["right"], _rate(m["share"], m["share_ci"]),
                          m["some"], m["all"]] for p, m in progress["paradigms"].items()]))
    if progress["comparisons"]:
        parts += ["", "Paired on the same entries: B - A in share of requests, with its 95% interval, and the exact "
                  "sign test on the entries where they differ.", ""]
        parts.append(_table(["A", "B", "entries", "better with A", "better with B", "B - A [95% CI]", "sign test p",
                             "distinguishable"],
                            [[c["a"], c["b"], c["tasks"], c["a_better"], c["b_better"],
                              f"{100 * c['difference']['estimate']:+.1f} pts [{100 * c['difference']['low']:+.1f}, "
                              f"{100 * c['difference']['high']:+.1f}]", f"{c['p_value']:.3g}",
                              "yes" if c["distinguishable"] else "no"] for c in progress["comparisons"]]))
    return parts


def _spread(s: dict[str, Any]) -> list[str]:
    """Mean, sd and range of a per-repeat rate: three table cells."""
    if not s.get("n"):
        return ["-", "-", "-"]
    sd = "-" if s["sd"] is None else f"{100 * s['sd']:.1f} pts"
    return [_pct(s["mean"]), sd, f"{_pct(s['min'])}-{_pct(s['max'])}"]


def write_report(out_dir: str | Path) -> dict[str, Path]:
    """Write report.md, results.csv and the plots for `out_dir`; their paths by name.
    Needs the ``[eval]`` extra (`trirole.evals.stats.StatisticsUnavailable` says so)."""
    require_statistics()
    out = Path(out_dir)
    records = read_results(out)
    labels, mechanisms, excerpts = read_traces(out, records)
    order = {name: i for i, name in enumerate(VARIANTS)}
    metrics = dict(sorted(compute_metrics(records).items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))
    mechanisms = {p: mechanisms[p] for p in metrics if p in mechanisms}
    excerpts = {p: excerpts[p] for p in metrics if p in excerpts}
    failures = failure_counts(list(zip(records, labels)))
    comparisons = paired_comparisons(records, list(metrics))
    agreement = read_agreement(out)
    paths = {"csv": out / "results.csv", "markdown": out / "report.md"}
    write_csv(paths["csv"], records, labels)
    plots, note = [], ""
    if metrics:
        try:
            plots = write_plots(out, metrics)
        except ImportError:
            note = "(plots skipped: matplotlib is not installed; `pip install trirole[eval]`)"
    paths.update({p.stem: p for p in plots})
    reference, server = reference_metrics(out, records), read_server_counters(out)
    markdown = render_markdown(records, metrics, failures, plots, note, comparisons, agreement,
                               reference=reference, server=server, mechanisms=mechanisms, excerpts=excerpts)
    replicas = replica_report(out)  # which model replica served what (several --base-url)
    paths["markdown"].write_text(markdown + ("\n" + replicas if replicas else ""), encoding="utf-8")
    (out / "metrics.json").write_text(json.dumps({"metrics": metrics, "failures": failures,
                                                  "comparisons": comparisons, "mechanisms": mechanisms,
                                                  "request_progress": request_progress(records, list(metrics)),
                                                  "reference": reference, "server_counters": server},
                                                 indent=1), encoding="utf-8")
    paths["metrics"] = out / "metrics.json"
    return paths


def reference_metrics(out_dir: Path, records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """TGC/SGC of the oracle's evaluation in ``out_dir/oracle`` over the tasks of `records`
    (every paradigm it ran pooled: each run is the harness scoring a ground-truth solution)."""
    tasks = {r["task_id"] for r in records}
    oracle = [r for r in read_results(out_dir / REFERENCE_DIR) if r["task_id"] in tasks]
    if not oracle:
        return None
    return {**goal_completion(oracle), "paradigms": sorted({r["paradigm"] for r in oracle})}




def read_traces(out_dir: Path, records: list[dict[str, Any]]) -> tuple[list[str | None], dict[str, dict[str, int]],
                                                                       dict[str, dict[str, Any]]]:
    """One pass over the traces (one in memory at a time): each record's failure class,
    `trirole.evals.mechanisms.mechanism_counts` summed per paradigm, and per paradigm one
    run to show in excerpts: the first where most mechanisms acted (a correction and a
    summary, else either, else the first run with a trace)."""
    labels: list[str | None] = []
    mechanisms: dict[str, Counter] = {}
    excerpts: dict[str, dict[str, Any]] = {}
    for record in records:
        trace = load_trace(out_dir, record)
        labels.append(classify_failure(record, trace))
        paradigm = record["paradigm"]
        mechanisms.setdefault(paradigm, Counter()).update(mechanism_counts(trace))
        score = bool(record.get("corrections")) + bool(record.get("summarizations"))
        if trace and (paradigm not in excerpts or score > excerpts[paradigm]["score"]):
            excerpts[paradigm] = {"score": score, "task_id": record["task_id"], "status": record.get("status", "?"),
                                  "trace": record.get("trace", ""), "pieces": excerpt(trace)}
    return (labels, {p: {k: c.get(k, 0) for k in MECHANISM_KEYS} for p, c in mechanisms.items()}, excerpts)
