"""Evaluation: run paradigms over a dataset, resumably, and report what they cost and achieve.

    from trirole.evals import evaluate, load_dataset, write_report
    summary = await evaluate(["react", "scaffold"], load_dataset("python"), "runs/x", settings=settings)
    records = summary.records()       # from runs/x/results.jsonl
    write_report("runs/x")

Modules: `paradigms` (names -> graph builders and settings overrides), `datasets`,
`runner` (`evaluate`: resumable, ``repeats``), which plans (`planning`: what is left to
run, the folder's manifest), runs each pair (`pair`) here (`local`) or on a Ray cluster
(`ray_runner`) and records it (`results`: the typed `PairRecord` of each results.jsonl
line, its writer and reader), `progress` (the live display), `metrics` (TGC, SGC, cost),
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
from trirole.evals.planning import EvalSummary
from trirole.evals.results import PairRecord, read_results
from trirole.evals.runner import evaluate

__all__ = ["Dataset", "DatasetError", "EvalSummary", "EvalTask", "PairRecord", "OracleChatModel", "VARIANTS", "classify_failure", "compute_metrics", "evaluate",
           "load_dataset", "read_results", "resolve_paradigms", "write_report"]
