"""The handlers of ``trirole env install|tasks bfcl`` (options declared in `trirole.cli`)."""

from __future__ import annotations

import argparse
import sys
import time


def install_command(args: argparse.Namespace) -> int:
    from trirole.environments.bfcl.install import ensure_bfcl_env

    started = time.monotonic()
    venv = ensure_bfcl_env()
    print(f"BFCL is installed in {venv} ({time.monotonic() - started:.1f} s)")
    return 0


def tasks_command(args: argparse.Namespace) -> int:
    """The entry ids of ``--dataset`` (default ``bfcl:single-turn``), one a line."""
    from trirole.environments.bfcl import data

    name = args.dataset or "bfcl:single-turn"
    try:
        categories = data.parse_categories(name)
    except data.BfclError as exc:
        args.command_parser.error(str(exc))
    ids = data.ids(categories)
    for task_id in ids:
        if args.details:
            item = data.entry(task_id)
            print(f"{task_id}\tturns={len(item['question'])}\t{' '.join(data.instruction_of(item).split())[:200]}")
        else:
            print(task_id)
    print(f"{len(ids)} entries in {name}", file=sys.stderr)
    return 0
