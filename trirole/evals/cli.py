"""The handler of ``trirole eval`` (its options are declared in `trirole.cli`): run the
paradigms over a dataset against one endpoint, then write the report.

    trirole eval --paradigms base,react,multi-agent,scaffold --dataset python --out runs/py
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

DEFAULT_PARADIGMS = "base,react,multi-agent,scaffold"


def eval_command(args: argparse.Namespace) -> int:
    """Exit 0 when every pair ran (whatever the agents scored); failures raise TriroleError."""
    from trirole.evals.datasets import load_dataset
    from trirole.evals.paradigms import resolve_paradigms
    from trirole.evals.report import write_report
    from trirole.evals.runner import evaluate

    try:
        paradigms = resolve_paradigms(args.paradigms)
    except ValueError as exc:
        args.command_parser.error(str(exc))
    dataset = load_dataset(args.dataset)
    summary = asyncio.run(evaluate(paradigms, dataset, args.out, settings=args.settings,
                                   concurrency=args.concurrency, limit=args.limit, task_timeout_s=args.task_timeout))
    paths = write_report(Path(args.out))
    records = summary.records()
    solved = {p: sum(1 for r in records if r["paradigm"] == p and r.get("success") is True) for p in paradigms}
    total = {p: sum(1 for r in records if r["paradigm"] == p) for p in paradigms}
    print(" ".join(f"{p}: {solved[p]}/{total[p]} solved;" for p in paradigms))
    print(f"report: {paths['markdown']}")
    return 0
