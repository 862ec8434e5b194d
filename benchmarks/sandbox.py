"""The cost of confining the python sandbox: bubblewrap against a plain process.

Both isolations run in the same process, interleaved (bwrap and process alternate, in
alternating order, so machine load hits both alike), on the real worker; on a loaded
machine the best repeat is the steadier comparison, so both are printed:
- start: `reset()` (a new worker: bubblewrap's namespaces and mounts, the interpreter's
  start, the init round trip), then `close()`;
- step: one `execute()` round trip of a trivial cell, and of a cell summing 200k squares (~10-30 ms)
  (imports cached, so this is the pipe round trip plus the work).

    .venv/bin/python benchmarks/sandbox.py [--starts 10] [--steps 200] [--repeats 5]

Target (issue 12): the per-step cost within 1.1x of the plain process.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from trirole.environments.python_sandbox import PythonSandbox

TRIVIAL = "x = 1 + 1\nx"
WORK = "total = sum(i * i for i in range(200_000))\ntotal % 7"


async def start_cost(isolation: str, starts: int) -> float:
    """Median seconds of reset + close."""
    samples = []
    for _ in range(starts):
        began = time.perf_counter()
        async with PythonSandbox(isolation=isolation) as box:
            await box.reset({"instruction": "benchmark"})
        samples.append(time.perf_counter() - began)
    return statistics.median(samples)


async def step_cost(isolation: str, steps: int, code: str) -> float:
    """Median seconds of one execute() round trip of `code` (after one warm-up step)."""
    async with PythonSandbox(isolation=isolation) as box:
        await box.reset({"instruction": "benchmark"})
        await box.execute(code)
        samples = []
        for _ in range(steps):
            began = time.perf_counter()
            result = await box.execute(code)
            samples.append(time.perf_counter() - began)
            assert not result["error"], result["output"]
    return statistics.median(samples)


async def main(starts: int, steps: int, repeats: int) -> None:
    isolations = ["bwrap", "process"]
    measured: dict[str, dict[str, list[float]]] = {i: {"start": [], "trivial": [], "work": []} for i in isolations}
    for repeat in range(repeats):
        order = isolations if repeat % 2 == 0 else isolations[::-1]
        for isolation in order:
            measured[isolation]["start"].append(await start_cost(isolation, starts))
            measured[isolation]["trivial"].append(await step_cost(isolation, steps, TRIVIAL))
            measured[isolation]["work"].append(await step_cost(isolation, max(steps // 10, 5), WORK))
    median = {i: {k: statistics.median(v) for k, v in m.items()} for i, m in measured.items()}
    best = {i: {k: min(v) for k, v in m.items()} for i, m in measured.items()}
    print(f"python sandbox cost: per repeat the median of {starts} starts / {steps} trivial / "
          f"{max(steps // 10, 5)} work steps; {repeats} interleaved repeats, their median and best")
    print(f"{'':>22} {'bwrap':>10} {'process':>10} {'ratio':>7}   {'best bwrap':>10} {'process':>10} {'ratio':>7}")
    for key, label in (("start", "start (reset+close)"), ("trivial", "step, trivial cell"),
                       ("work", "step, computing cell")):
        b, p = median["bwrap"][key], median["process"][key]
        bb, bp = best["bwrap"][key], best["process"][key]
        print(f"{label:>22} {b * 1000:>8.2f}ms {p * 1000:>8.2f}ms {b / p:>6.2f}x   "
              f"{bb * 1000:>8.2f}ms {bp * 1000:>8.2f}ms {bb / bp:>6.2f}x")
    for name, table in (("median", median), ("best", best)):
        ratio = max(table["bwrap"][k] / table["process"][k] for k in ("trivial", "work"))
        print(f"per-step target (<= 1.1x the plain process), {name}: {'met' if ratio <= 1.1 else 'NOT met'} "
              f"(worst step ratio {ratio:.2f}x)")

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--starts", type=int, default=10)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.starts, args.steps, args.repeats))
