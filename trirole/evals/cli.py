"""``trirole eval``: run paradigms over a dataset against one endpoint and write the report.

    trirole eval --paradigms base,react,multi-agent,scaffold --dataset python --out runs/py
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from trirole.evals.paradigms import VARIANTS

DEFAULT_PARADIGMS = "base,react,multi-agent,scaffold"


def add_eval_command(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``trirole eval`` (with the shared model options of ``trirole run``)."""
    from trirole.cli import add_model_options  # here, not at import: trirole.cli imports this module

    parser = subparsers.add_parser(
        "eval", help="evaluate paradigms on a dataset (resumable)",
        description="Run every (paradigm, task) pair against one endpoint, N at a time. Results go to "
                    "OUT/results.jsonl, one line per finished pair; a rerun skips finished pairs. Then "
                    "OUT/report.md, results.csv and plots are written.")
    parser.add_argument("--paradigms", default=DEFAULT_PARADIGMS,
                        help=f"comma-separated, from: {', '.join(VARIANTS)} (default {DEFAULT_PARADIGMS})")
    parser.add_argument("--dataset", help="python, an AppWorld split (dev, test, train, test_normal, "
                                          "test_challenge) or a .json/.jsonl python task file")
    parser.add_argument("--out", help="output folder (created; reused to resume)")
    parser.add_argument("--concurrency", type=int, default=4, help="pairs in flight (default 4)")
    parser.add_argument("--limit", type=int, help="only the first K tasks")
    parser.add_argument("--task-timeout", type=float, default=900.0,
                        help="wall-clock seconds per pair before it is recorded as timeout (default 900)")
    parser.add_argument("--ray", metavar="auto|ADDRESS",
                        help="run the pairs on a Ray cluster (auto: the one this machine joined; needs "
                             "trirole[ray]); --concurrency worker slots spread over its nodes")
    add_model_options(parser)
    parser.set_defaults(func=eval_command)
    return parser


def _fail(message: str) -> int:
    print("trirole eval: error: " + " ".join(str(message).split()), file=sys.stderr)
    return 1


def eval_command(args: argparse.Namespace) -> int:
    from trirole.backend import BackendError
    from trirole.cli import settings_from_args
    from trirole.evals.datasets import DatasetError, load_dataset
    from trirole.evals.paradigms import resolve_paradigms
    from trirole.evals.report import write_report
    from trirole.evals.runner import evaluate

    if not args.dataset or not args.out:
        return _fail("give --dataset NAME and --out DIR")
    if args.concurrency < 1 or (args.limit is not None and args.limit < 1) or args.task_timeout <= 0:
        return _fail("--concurrency and --limit must be >= 1 and --task-timeout > 0")
    try:
        paradigms = resolve_paradigms(args.paradigms)
        dataset = load_dataset(args.dataset)
        settings = settings_from_args(args)
        summary = asyncio.run(evaluate(paradigms, dataset, args.out, settings=settings, concurrency=args.concurrency,
                                       limit=args.limit, task_timeout_s=args.task_timeout, ray=args.ray))
    except (DatasetError, BackendError, ValueError) as exc:
        return _fail(str(exc))
    paths = write_report(Path(args.out))
    records = summary.records()
    solved = {p: sum(1 for r in records if r["paradigm"] == p and r.get("success") is True) for p in paradigms}
    total = {p: sum(1 for r in records if r["paradigm"] == p) for p in paradigms}
    print(" ".join(f"{p}: {solved[p]}/{total[p]} solved;" for p in paradigms))
    print(f"report: {paths['markdown']}")
    return 0
