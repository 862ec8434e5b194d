"""``trirole eval``: run paradigms over a dataset against one endpoint and write the report.

    trirole eval --paradigms base,react,multi-agent,scaffold --dataset python --out runs/py
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import replace
from pathlib import Path

from trirole.evals.paradigms import VARIANTS

DEFAULT_PARADIGMS = "base,react,multi-agent,scaffold"
# Sampling temperature of `--repeats K` (K > 1) when the user gives none: repeats of a
# greedy (temperature 0) run would repeat the same run. 0.7 is a common sampling default
# for instruction-tuned models (Qwen3's model card suggests 0.6-0.7).
REPEAT_TEMPERATURE = 0.7


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
    parser.add_argument("--retry-errors", action="store_true",
                        help="also rerun the pairs recorded as infrastructure errors (environment or endpoint "
                             "failed, timeout); their new record replaces the old")
    parser.add_argument("--repeats", type=int, default=1, metavar="K",
                        help="run each (paradigm, task) K times with sampling on; the report gives the mean and "
                             f"spread across repeats (default 1). With K > 1 the temperature is {REPEAT_TEMPERATURE} "
                             "unless --temperature is given")
    parser.add_argument("--check-appworld", action="store_true",
                        help="AppWorld datasets: afterwards, evaluate the run's saved outputs with AppWorld's own "
                             "evaluator too and put both in the report (exit 1 if they disagree)")
    parser.add_argument("--temperature", type=float,
                        help=f"sampling temperature of every role (default 0; {REPEAT_TEMPERATURE} with --repeats > 1)")
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
    if args.repeats < 1 or (args.temperature is not None and args.temperature < 0):
        return _fail("--repeats must be >= 1 and --temperature >= 0")
    try:
        paradigms = resolve_paradigms(args.paradigms)
        dataset = load_dataset(args.dataset)
        if args.check_appworld and dataset.env != "appworld":
            raise ValueError(f"--check-appworld needs an AppWorld dataset, not {args.dataset!r}")
        settings = settings_from_args(args)
        temperature = args.temperature if args.temperature is not None else (
            REPEAT_TEMPERATURE if args.repeats > 1 else None)
        if temperature is not None:
            settings = replace(settings, temperature=temperature)
        summary = asyncio.run(evaluate(paradigms, dataset, args.out, settings=settings, concurrency=args.concurrency,
                                       limit=args.limit, task_timeout_s=args.task_timeout,
                                       retry_errors=args.retry_errors, repeats=args.repeats))
    except (DatasetError, BackendError, ValueError) as exc:
        return _fail(str(exc))
    if args.check_appworld:
        from trirole.evals.agreement import check_agreement
        from trirole.tools.appworld import AppWorldError

        try:
            agreement = check_agreement(args.out, root=dataset.env_options.get("root"))
        except (AppWorldError, ValueError) as exc:
            return _fail(f"AppWorld's own evaluation could not run: {exc}")
    paths = write_report(Path(args.out))
    records = summary.records()
    solved = {p: sum(1 for r in records if r["paradigm"] == p and r.get("success") is True) for p in paradigms}
    total = {p: sum(1 for r in records if r["paradigm"] == p) for p in paradigms}
    print(" ".join(f"{p}: {solved[p]}/{total[p]} solved;" for p in paradigms)
          + (f" (runs: tasks x {args.repeats} repeats)" if args.repeats > 1 else ""))
    infra = sum(1 for r in records if r.get("infra_error"))
    if infra:
        print(f"{infra} pair(s) hit an infrastructure error (environment, endpoint or timeout; not the agent's "
              "failure): rerun them with --retry-errors")
    print(f"report: {paths['markdown']}")
    if args.check_appworld and not agreement["agree"]:
        print("trirole eval: AppWorld's own evaluation disagrees with trirole's; see the report", file=sys.stderr)
        return 1
    return 0
