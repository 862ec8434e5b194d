"""Throughput and memory of the evaluation harness (`trirole.evals.evaluate`).

Throughput: tasks per minute at concurrency 1, 2, 4 and 8, with the react paradigm
against the scripted OpenAI-compatible server (tests/scripted_openai.py, a FAKE model
in its own process) answering each call after a fixed latency, and an instant in-memory
environment. Each task takes two model calls. Run with the server's ``/tokenize`` token
counter (what real runs use; it makes extra HTTP calls) and with the heuristic counter
(the harness and graph alone). Printed as ratios to concurrency 1;
target: at least 0.8 x N up to N = 8.

Memory: the peak traced memory (tracemalloc) of an evaluation of 10 and of 100 tasks
above what was allocated before it started (median of three runs each), no latency; target: under 10% growth (nothing kept per finished pair).

    .venv/bin/python benchmarks/eval_throughput.py [--latency 0.2]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from trirole.backend import HeuristicTokenCounter  # noqa: E402
from trirole.evals import Dataset, EvalTask, evaluate  # noqa: E402
from trirole.settings import TriroleSettings  # noqa: E402
from trirole.environments.base import EnvironmentInfo, Evaluation  # noqa: E402

MODEL = "scripted-model"


def responder(messages: list[dict]) -> str:
    """First call: set a variable; second call (the observation is in): complete."""
    if len(messages) <= 2:
        return "First the value.\n```python\nx = 1\nprint(x)\n```"
    return "Done.\n```python\ncomplete_task(x)\n```"


def serve(latency_s: float, ports: multiprocessing.Queue, stop: multiprocessing.Event) -> None:
    from scripted_openai import ScriptedOpenAIServer

    with ScriptedOpenAIServer(responder, model=MODEL, latency_s=latency_s) as server:
        ports.put(server.base_url)
        stop.wait()


class InstantEnvironment:
    """An in-memory environment: every execution returns at once; complete_task completes."""

    name = "instant"

    def __init__(self) -> None:
        self.completed = False

    async def reset(self, task):
        return EnvironmentInfo(instruction="Set x, then complete the task with it.", reference="print() shows values.")

    async def execute(self, code):
        if "complete_task(" in code:
            self.completed = True
        return {"code": code, "output": "1", "error": False, "task_completed": self.completed}

    async def evaluate(self):
        return Evaluation(success=self.completed)

    async def close(self) -> None:
        pass


def dataset(n: int) -> Dataset:
    return Dataset(name=f"synthetic-{n}", env="python",
                   tasks=tuple(EvalTask(id=f"t{i}", env="python", difficulty=1, scenario=f"t{i}") for i in range(n)))


async def timed_run(settings: TriroleSettings, tasks: int, concurrency: int,
                    counter: str = "server") -> tuple[float, int]:
    """Wall seconds of one evaluation, and its peak traced memory above what was
    allocated before it started (0 when tracemalloc is off): the memory the evaluation
    itself needed, not what earlier runs left in caches. The records are read and
    checked after that."""
    options = {"token_counter": HeuristicTokenCounter()} if counter == "heuristic" else {}
    tasks_in = dataset(tasks)  # the input is the caller's memory, not the harness's
    with tempfile.TemporaryDirectory() as out:
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        started = time.perf_counter()
        summary = await evaluate(["react"], tasks_in, out, settings=settings, concurrency=concurrency,
                                 environment=lambda s: InstantEnvironment(), graph_options=options, progress=False)
        wall = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] - before if tracemalloc.is_tracing() else 0
        bad = [r for r in summary.records() if not r["success"]]
    assert summary.ran == tasks and not bad, f"the benchmark's tasks should all succeed: {bad[:1]}"
    return wall, peak


async def peak_memory(settings: TriroleSettings, tasks: int) -> int:
    return (await timed_run(settings, tasks, concurrency=4))[1]


async def measure(slow_url: str, fast_url: str, latency: float, rounds: int, counters: list[str]) -> None:
    slow = TriroleSettings(base_url=slow_url, model=MODEL, max_steps=5)
    await timed_run(slow, 2, 1)  # warm-up: imports, connection set-up
    for counter in counters:
        print(f"throughput: react, 2 model calls per task at {latency:g} s each, instant environment, "
              f"{counter} token counter")
        print(f"{'concurrency':>11} {'tasks':>6} {'wall s':>7} {'tasks/min':>10} {'ratio':>6} {'target':>7}")
        base_rate = None
        for concurrency in (1, 2, 4, 8):
            tasks = max(8, rounds * concurrency)
            wall, _ = await timed_run(slow, tasks, concurrency, counter)
            rate = 60 * tasks / wall
            base_rate = base_rate or rate
            print(f"{concurrency:>11} {tasks:>6} {wall:>7.2f} {rate:>10.1f} {rate / base_rate:>6.2f} "
                  f"{0.8 * concurrency:>7.1f}", flush=True)

    fast = TriroleSettings(base_url=fast_url, model=MODEL, max_steps=5)
    tracemalloc.start()
    await peak_memory(fast, 5)  # warm-up: one-time allocations
    # The median of three: the peak depends on which pairs happen to be in flight together.
    small = statistics.median([await peak_memory(fast, 10) for _ in range(3)])
    large = statistics.median([await peak_memory(fast, 100) for _ in range(3)])
    tracemalloc.stop()
    growth = 100 * (large - small) / small
    print(f"peak traced memory of one evaluation: 10 tasks {small / 2**20:.2f} MiB, 100 tasks {large / 2**20:.2f} MiB, "
          f"growth {growth:+.1f}% (target < 10%)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per model call (default 0.2)")
    parser.add_argument("--rounds", type=int, default=8, help="tasks per level = rounds x concurrency (min 8)")
    parser.add_argument("--counter", choices=["server", "heuristic", "both"], default="both",
                        help="token counter: the server's /tokenize (the default of real runs), trirole's "
                             "heuristic (no HTTP), or both (default)")
    args = parser.parse_args()

    ports: multiprocessing.Queue = multiprocessing.Queue()
    stops = []

    def start(latency: float) -> str:
        stop = multiprocessing.Event()
        multiprocessing.Process(target=serve, args=(latency, ports, stop), daemon=True).start()
        stops.append(stop)
        return ports.get(timeout=60)

    try:
        # One event loop for everything: langchain-openai caches its async HTTP client
        # per endpoint, bound to the loop that first used it.
        counters = ["server", "heuristic"] if args.counter == "both" else [args.counter]
        asyncio.run(measure(start(args.latency), start(0.0), args.latency, args.rounds, counters))
    finally:
        for stop in stops:
            stop.set()


if __name__ == "__main__":
    main()
