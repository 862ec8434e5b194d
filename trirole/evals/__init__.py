"""Evaluation: run paradigms over a dataset, resumably, and report what they cost and achieve.

    from trirole.evals import evaluate, load_dataset, write_report
    summary = await evaluate(["react", "scaffold"], load_dataset("python"), "runs/x", settings=settings)
    records = summary.records()       # from runs/x/results.jsonl
    write_report("runs/x")

Modules: `paradigms` (names -> graph builders and settings overrides), `datasets`,
`runner` (`evaluate`, resumable, results.jsonl, ``repeats``), `metrics` (TGC, SGC, cost),
`stats` (95% intervals, paired comparisons), `agreement` (AppWorld's own evaluation of a run),
`failures` (failure classes from traces), `report` (report.md, results.csv, plots),
`published` (the papers' numbers, reference only), `oracle` (a chat model answering with
each task's ground-truth solution: ``--model oracle``), `cli` (``trirole eval``).
"""

from trirole.evals.datasets import Dataset, DatasetError, EvalTask, load_dataset
from trirole.evals.failures import classify_failure
from trirole.evals.metrics import compute_metrics
from trirole.evals.oracle import OracleChatModel
from trirole.evals.paradigms import VARIANTS, resolve_paradigms
from trirole.evals.report import write_report
from trirole.evals.runner import EvalSummary, evaluate, read_results

__all__ = ["Dataset", "DatasetError", "EvalSummary", "EvalTask", "OracleChatModel", "VARIANTS", "classify_failure", "compute_metrics", "evaluate",
           "load_dataset", "read_results", "resolve_paradigms", "write_report"]
