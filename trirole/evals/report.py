"""The report of an evaluation folder: report.md, results.csv and two PNG plots.

Everything is computed from ``results.jsonl`` and the traces, so a report can be
rewritten at any time, also for a run still in progress or one that was killed.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Any

from trirole.endpoints import replica_report
from trirole.evals.agreement import read_agreement
from trirole.evals.failures import classify_failure, failure_counts
from trirole.evals.metrics import compute_metrics, is_infra_error, paired_comparisons
from trirole.evals.paradigms import VARIANTS
from trirole.evals.published import MARK, PUBLISHED_ROWS, RETHINKING_SCALE_FINDING
from trirole.evals.runner import read_results

CSV_COLUMNS = ["paradigm", "task_id", "repeat", "env", "difficulty", "scenario", "success", "status", "infra_error",
               "failure_class",
               "steps", "model_calls", "prompt_tokens", "completion_tokens", "summarizations", "corrections",
               "no_code", "wall_s", "status_reason", "trace"]


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
    lows = [100 * (v - i["low"]) if i else 0.0 for v, i in zip(values, intervals)]
    highs = [100 * (i["high"] - v) if i else 0.0 for v, i in zip(values, intervals)]
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


def render_markdown(records: list[dict[str, Any]], metrics: dict[str, dict[str, Any]],
                    failures: dict[str, dict[str, int]], plots: list[Path], plot_note: str = "",
                    comparisons: list[dict[str, Any]] | None = None,
                    agreement: dict[str, Any] | None = None) -> str:
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
    parts += ["## Goal completion and cost (measured)", ""]
    parts.append(_table(
        ["paradigm", "tasks", "solved/runs", "TGC [95% CI]", "scenarios", "SGC [95% CI]", "infra errors",
         "tokens/task", "tokens/solved task", "calls/task", "steps/task", "wall s/task", "summarizations",
         "corrections"],
        [[p, m["tasks"], f"{m['solved']}/{m['runs']}", _rate(m["tgc"], m["tgc_ci"]), m["scenarios"],
          _rate(m["sgc"], m["sgc_ci"]), m["infra_errors"], _num(m["tokens_per_task"]),
          _num(m["tokens_per_solved"]), _num(m["calls_per_task"], 1), _num(m["steps_per_task"], 1),
          _num(m["wall_s_per_task"], 1),
          f"{m['summarizations']} ({m['tasks_with_summarization']} tasks)",
          f"{m['corrections']} ({m['tasks_with_correction']} tasks)"] for p, m in metrics.items()]))
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
    parts += ["", "## Tokens by role (measured)", ""]
    parts.append(_table(["paradigm", "role", "calls", "prompt tokens", "completion tokens"],
                        [[p, role, u.get("calls", 0), u.get("prompt_tokens", 0), u.get("completion_tokens", 0)]
                         for p, m in metrics.items() for role, u in m["tokens_by_role"].items()]))
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
    parts += ["", f"## Published results ({MARK})", "",
              f"Reference rows from the papers, AppWorld. Every row is **{MARK}**.", ""]
    parts.append(_table(["source", "paper", "model", "paradigm", "subset", "metric", "value"],
                        [[MARK, r["paper"], r["model"], r["paradigm"], r["subset"], r["metric"], r["value"]]
                         for r in PUBLISHED_ROWS]))
    parts += ["", f"- {RETHINKING_SCALE_FINDING} ({MARK})", "", "## Plots", "",
              "Error bars: the 95% intervals of the tables.", ""]
    parts += [f"![{p.stem}]({p.name})" for p in plots] or [plot_note or "(no plots)"]
    return "\n".join(parts) + "\n"


def _spread(s: dict[str, Any]) -> list[str]:
    """Mean, sd and range of a per-repeat rate: three table cells."""
    if not s.get("n"):
        return ["-", "-", "-"]
    sd = "-" if s["sd"] is None else f"{100 * s['sd']:.1f} pts"
    return [_pct(s["mean"]), sd, f"{_pct(s['min'])}-{_pct(s['max'])}"]


def write_report(out_dir: str | Path) -> dict[str, Path]:
    """Write report.md, results.csv and the plots for `out_dir`; their paths by name."""
    out = Path(out_dir)
    records = read_results(out)
    labels = [classify_failure(r, load_trace(out, r)) for r in records]
    order = {name: i for i, name in enumerate(VARIANTS)}
    metrics = dict(sorted(compute_metrics(records).items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))
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
    markdown = render_markdown(records, metrics, failures, plots, note, comparisons, agreement)
    replicas = replica_report(out)  # which model replica served what (several --base-url)
    paths["markdown"].write_text(markdown + ("\n" + replicas if replicas else ""), encoding="utf-8")
    (out / "metrics.json").write_text(json.dumps({"metrics": metrics, "failures": failures,
                                                  "comparisons": comparisons}, indent=1), encoding="utf-8")
    paths["metrics"] = out / "metrics.json"
    return paths
