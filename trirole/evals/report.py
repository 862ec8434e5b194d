"""The report of an evaluation folder: report.md, results.csv and two PNG plots.

Everything is computed from ``results.jsonl`` and the traces, so a report can be
rewritten at any time, also for a run still in progress or one that was killed.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from trirole.endpoints import replica_report
from trirole.evals.failures import classify_failure, failure_counts
from trirole.evals.metrics import compute_metrics
from trirole.evals.paradigms import VARIANTS
from trirole.evals.published import MARK, PUBLISHED_ROWS, RETHINKING_SCALE_FINDING
from trirole.evals.runner import read_results

CSV_COLUMNS = ["paradigm", "task_id", "env", "difficulty", "scenario", "success", "status", "failure_class",
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
            row = {**record, "failure_class": label or ""}
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
        x, y = m["tokens_per_task"] or 0, 100 * (m["tgc"] or 0)
        ax.scatter([x], [y], s=60, label=paradigm, alpha=0.8)
    ax.set(xlabel="tokens per task (prompt + completion)", ylabel="task goal completion (%)",
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
        values = [100 * ((m["by_difficulty"].get(d) or {}).get("tgc") or 0) for d in difficulties]
        ax.bar([j + i * width for j in range(len(difficulties))], values, width, label=paradigm)
    ax.set_xticks([j + width * (len(metrics) - 1) / 2 for j in range(len(difficulties))],
                  [f"difficulty {d}" for d in difficulties])
    ax.set(ylabel="task goal completion (%)", title="Success by difficulty (measured)", ylim=(0, 100))
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(paths[1], dpi=120)
    plt.close(fig)
    return paths


def render_markdown(records: list[dict[str, Any]], metrics: dict[str, dict[str, Any]],
                    failures: dict[str, dict[str, int]], plots: list[Path], plot_note: str = "") -> str:
    envs = sorted({r.get("env", "?") for r in records})
    parts = ["# trirole evaluation report", "",
             f"{len(records)} finished pairs, {len(metrics)} paradigms, environment(s): {', '.join(envs) or '-'}. "
             "TGC: share of tasks whose evaluation succeeded; SGC: share of scenarios all of whose tasks "
             "succeeded (AppWorld's definitions). Pairs without a verdict (timeout, crash, no checker) count as "
             "not solved.", "", "## Goal completion and cost (measured)", ""]
    parts.append(_table(
        ["paradigm", "tasks", "solved", "TGC", "scenarios", "SGC", "tokens/task", "tokens/solved task",
         "calls/task", "steps/task", "wall s/task", "summarizations", "corrections"],
        [[p, m["tasks"], m["solved"], _pct(m["tgc"]), m["scenarios"], _pct(m["sgc"]), _num(m["tokens_per_task"]),
          _num(m["tokens_per_solved"]), _num(m["calls_per_task"], 1), _num(m["steps_per_task"], 1),
          _num(m["wall_s_per_task"], 1),
          f"{m['summarizations']} ({m['tasks_with_summarization']} tasks)",
          f"{m['corrections']} ({m['tasks_with_correction']} tasks)"] for p, m in metrics.items()]))
    parts += ["", "## By difficulty (measured)", ""]
    parts.append(_table(["paradigm", "difficulty", "tasks", "solved", "TGC", "SGC"],
                        [[p, d, g["tasks"], g["solved"], _pct(g["tgc"]), _pct(g["sgc"])]
                         for p, m in metrics.items() for d, g in m["by_difficulty"].items()]))
    parts += ["", "## Tokens by role (measured)", ""]
    parts.append(_table(["paradigm", "role", "calls", "prompt tokens", "completion tokens"],
                        [[p, role, u.get("calls", 0), u.get("prompt_tokens", 0), u.get("completion_tokens", 0)]
                         for p, m in metrics.items() for role, u in m["tokens_by_role"].items()]))
    parts += ["", "## How runs ended and failure classes (measured)", ""]
    parts.append(_table(["paradigm", "statuses", "failure classes"],
                        [[p, ", ".join(f"{k}: {v}" for k, v in m["statuses"].items()),
                          ", ".join(f"{k}: {v}" for k, v in failures.get(p, {}).items()) or "-"]
                         for p, m in metrics.items()]))
    parts += ["", f"## Published results ({MARK})", "",
              f"Reference rows from the papers, AppWorld. Every row is **{MARK}**.", ""]
    parts.append(_table(["source", "paper", "model", "paradigm", "subset", "metric", "value"],
                        [[MARK, r["paper"], r["model"], r["paradigm"], r["subset"], r["metric"], r["value"]]
                         for r in PUBLISHED_ROWS]))
    parts += ["", f"- {RETHINKING_SCALE_FINDING} ({MARK})", "", "## Plots", ""]
    parts += [f"![{p.stem}]({p.name})" for p in plots] or [plot_note or "(no plots)"]
    return "\n".join(parts) + "\n"


def write_report(out_dir: str | Path) -> dict[str, Path]:
    """Write report.md, results.csv and the plots for `out_dir`; their paths by name."""
    out = Path(out_dir)
    records = read_results(out)
    labels = [classify_failure(r, load_trace(out, r)) for r in records]
    order = {name: i for i, name in enumerate(VARIANTS)}
    metrics = dict(sorted(compute_metrics(records).items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))
    failures = failure_counts(list(zip(records, labels)))
    paths = {"csv": out / "results.csv", "markdown": out / "report.md"}
    write_csv(paths["csv"], records, labels)
    plots, note = [], ""
    if metrics:
        try:
            plots = write_plots(out, metrics)
        except ImportError:
            note = "(plots skipped: matplotlib is not installed; `pip install trirole[eval]`)"
    paths.update({p.stem: p for p in plots})
    markdown = render_markdown(records, metrics, failures, plots, note)
    replicas = replica_report(out)  # which model replica served what (several --base-url)
    paths["markdown"].write_text(markdown + ("\n" + replicas if replicas else ""), encoding="utf-8")
    (out / "metrics.json").write_text(json.dumps({"metrics": metrics, "failures": failures}, indent=1),
                                      encoding="utf-8")
    paths["metrics"] = out / "metrics.json"
    return paths
