"""The harness's own cost per BFCL pair: no model (the oracle answers in-process), so
what is measured is trirole: the graph, a bubblewrap sandbox per pair with BFCL's
functions or classes set up, the recorded calls, and BFCL's checker scoring each pair.

Runs `trirole.evals.evaluate` with the react paradigm at concurrency 4 over the first N
entries of a single-turn and of a multi-turn category, side by side in one run, and
prints per pair (wall time of the evaluation / pairs) and pairs per minute. The one-off
start of BFCL's checker process is timed apart (once per evaluation). Aim: at most 0.2 s
per single-turn pair on 2 cores, so that the harness never dominates a GPU run of
thousands of pairs.

    .venv/bin/python benchmarks/bfcl_harness.py [--single 200] [--multi 50] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time

from trirole.evals import evaluate
from trirole.evals.datasets import load_dataset
from trirole.settings import TriroleSettings
from trirole.environments.bfcl.scorer import BfclScorer


async def scorer_start_s() -> float:
    started = time.perf_counter()
    async with BfclScorer():
        return time.perf_counter() - started


async def measure(dataset: str, limit: int, concurrency: int) -> tuple[float, int, int]:
    """(seconds, pairs, solved) of an oracle evaluation of `limit` entries of `dataset`."""
    data = load_dataset(dataset)
    # Multi-turn entries' function docs need 8,192 tokens of context (trirole refuses to clip them).
    context = 8192 if "multi_turn" in dataset else 4096
    with tempfile.TemporaryDirectory(prefix="trirole-bfcl-bench-") as out:
        started = time.perf_counter()
        settings = TriroleSettings(model="oracle", max_context_tokens=context)
        summary = await evaluate(["react"], data, out, settings=settings, limit=limit, concurrency=concurrency,
                                 progress=False)
        elapsed = time.perf_counter() - started
        records = summary.records()
    return elapsed, len(records), sum(1 for r in records if r.get("success"))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--single", type=int, default=200, help="simple_python entries (default 200)")
    parser.add_argument("--multi", type=int, default=50, help="multi_turn_base entries (default 50)")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    start = await scorer_start_s()
    print(f"BFCL checker process start (once per evaluation): {start:.2f} s")
    print(f"{'dataset':28} {'pairs':>5} {'solved':>6} {'wall s':>7} {'s/pair':>7} {'pairs/min':>9}  "
          f"(concurrency {args.concurrency}, oracle, react)")
    for dataset, limit in (("bfcl:simple_python", args.single), ("bfcl:multi_turn_base", args.multi)):
        elapsed, pairs, solved = await measure(dataset, limit, args.concurrency)
        per_pair = (elapsed - start) / pairs
        print(f"{dataset:28} {pairs:5d} {solved:6d} {elapsed:7.1f} {per_pair:7.3f} {60 / per_pair:9.0f}")
    print("s/pair: (wall - checker start) / pairs; target <= 0.2 s for single-turn pairs")


if __name__ == "__main__":
    asyncio.run(main())
