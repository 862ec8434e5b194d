"""What a sync call costs over its async form: ``graph.invoke`` (a private event loop on
a thread of its own, items handed over one by one) against ``await graph.ainvoke`` of the
same scaffold, side by side in one process.

Both run the same short task on a fake chat model and an instant in-memory environment,
so what is measured is the graph and the sync bridge, not a model or a sandbox.

    .venv/bin/python benchmarks/sync_calls.py [--runs 60] [--steps 3]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import time

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from trirole import build_scaffold_graph
from trirole.environments.base import EnvironmentInfo


class InstantEnvironment:
    """Runs nothing: every step prints "ok"; ``complete_task(`` completes."""

    name = "instant"

    async def reset(self, task):
        return EnvironmentInfo(instruction=task["instruction"], context={}, reference="(none)")

    async def execute(self, code):
        return {"code": code, "output": "ok", "error": False, "task_completed": "complete_task(" in code}

    async def evaluate(self):
        return None

    async def close(self):
        pass


def graph(steps: int):
    replies = itertools.cycle([f"```python\nx = {i}\n```" for i in range(steps - 1)] + ["```python\ncomplete_task(1)\n```"])
    model = GenericFakeChatModel(messages=(AIMessage(content=r) for r in replies))
    return build_scaffold_graph(model=model, environment=lambda settings: InstantEnvironment(),
                                settings={"max_steps": steps})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    task = {"task": {"instruction": "count"}}
    sync_graph, async_graph = graph(args.steps), graph(args.steps)
    sync_graph.invoke(task), asyncio.run(async_graph.ainvoke(task))  # warm up both

    def timed_sync() -> float:
        started = time.perf_counter()
        assert sync_graph.invoke(task)["status"] == "completed"
        return time.perf_counter() - started

    async def timed_async() -> float:
        started = time.perf_counter()
        assert (await async_graph.ainvoke(task))["status"] == "completed"
        return time.perf_counter() - started

    async def async_runs(count: int) -> list[float]:
        return [await timed_async() for _ in range(count)]

    sync_s, async_s = [], []
    for _ in range(3):  # interleaved rounds, so machine load hits both alike
        sync_s += [timed_sync() for _ in range(args.runs // 3)]
        async_s += asyncio.run(async_runs(args.runs // 3))
    sync_ms, async_ms = statistics.median(sync_s) * 1e3, statistics.median(async_s) * 1e3
    print(f"scaffold, {args.steps} steps, {len(sync_s)} runs each (median per run)")
    print(f"  await graph.ainvoke(...)   {async_ms:7.2f} ms")
    print(f"  graph.invoke(...)          {sync_ms:7.2f} ms")
    print(f"  sync / async               {sync_ms / async_ms:7.2f}x  (+{sync_ms - async_ms:.2f} ms per call)")


if __name__ == "__main__":
    main()
