"""The handler of ``trirole eval`` (its options are declared in `trirole.cli`): run the
paradigms over a dataset against one endpoint, then write the report.

    trirole eval --paradigms base,react,multi-agent,scaffold --dataset python --out runs/py
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import replace
from pathlib import Path

DEFAULT_PARADIGMS = "base,react,multi-agent,scaffold"
# Sampling temperature of `--repeats K` (K > 1) when the user gives none: repeats of a
# greedy (temperature 0) run would repeat the same run. 0.7 is a common sampling default
# for instruction-tuned models (Qwen3's model card suggests 0.6-0.7).
REPEAT_TEMPERATURE = 0.7


def eval_command(args: argparse.Namespace) -> int:
    """Exit 0 when every pair ran (whatever the agents scored), 1 when AppWorld's own
    evaluation disagrees (``--check-appworld``); failures raise TriroleError."""
    # Imported here, not above: `trirole --help` and the other commands build this
    # command's parser without loading the evaluation (graphs, Ray's runner, plots).
    from trirole.errors import TriroleError
    from trirole.evals.agreement import check_agreement
    from trirole.evals.datasets import UnknownDataset, load_dataset
    from trirole.evals.paradigms import resolve_paradigms
    from trirole.evals.planning import FolderError
    from trirole.evals.report import write_report
    from trirole.evals.runner import evaluate
    from trirole.evals.stats import require_statistics

    require_statistics()  # the report needs the [eval] extra: said before any pair runs
    try:
        paradigms = resolve_paradigms(args.paradigms)
    except ValueError as exc:
        args.command_parser.error(str(exc))
    if Path(args.out).exists() and not Path(args.out).is_dir():
        args.command_parser.error(f"--out {args.out} is a file, not a folder; give a folder (a new one, or the "
                                  "folder of an evaluation to resume)")
    try:
        dataset = load_dataset(args.dataset)
    except UnknownDataset as exc:
        args.command_parser.error(str(exc))
    if args.check_appworld and dataset.env != "appworld":
        args.command_parser.error(f"--check-appworld needs an AppWorld dataset, not {args.dataset!r}")
    settings = args.settings
    if args.repeats > 1 and args.temperature is None:
        settings = replace(settings, temperature=REPEAT_TEMPERATURE)
    try:
        summary = asyncio.run(evaluate(paradigms, dataset, args.out, settings=settings, concurrency=args.concurrency,
                                       limit=args.limit, task_timeout_s=args.task_timeout,
                                       retry_errors=args.retry_errors, repeats=args.repeats, ray=args.ray,
                                       extend=args.extend))
    except FolderError as exc:  # another experiment's folder: a usage error
        args.command_parser.error(str(exc))
    agreement = None
    if args.check_appworld:
        try:
            agreement = check_agreement(args.out, root=dataset.env_options.get("root"))
        except ValueError as exc:  # nothing AppWorld could compare
            raise TriroleError(f"AppWorld's own evaluation could not run: {exc}") from None
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
    if agreement is not None and not agreement["agree"]:
        print("trirole eval: AppWorld's own evaluation disagrees with trirole's; see the report", file=sys.stderr)
        return 1
    return 0
