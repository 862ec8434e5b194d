"""The graph's own cost per agent step, against langgraph's prebuilt ReAct agent.

Both graphs run N steps on the same fake chat model and an instant tool/environment.
Time spent inside the model call and inside code execution is measured and subtracted,
so what is left is each graph's own work per step: state updates, routing, prompt
building, token counting (trirole's heuristic counter), artifact extraction, repetition
checks and LangGraph's own machinery.

    .venv/bin/python benchmarks/overhead.py [--steps 40] [--repeats 7]

Target (issue 2): under 2 ms per step and at most 1.5x the prebuilt agent.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.tools import tool

from trirole import build_scaffold_graph
from trirole.environments.base import EnvironmentInfo


class Stopwatch:
    def __init__(self) -> None:
        self.seconds = 0.0


class TimedFakeModel(GenericFakeChatModel):
    """The fake model, timing its own calls so they can be subtracted."""

    watch: Any = None

    async def _agenerate(self, *args: Any, **kwargs: Any):
        started = time.perf_counter()
        try:
            return await super()._agenerate(*args, **kwargs)
        finally:
            self.watch.seconds += time.perf_counter() - started

    def bind_tools(self, tools: Any, **kwargs: Any):  # the prebuilt agent binds its tools
        return self


class InstantEnvironment:
    name = "instant"

    def __init__(self, watch: Stopwatch) -> None:
        self.watch = watch

    async def reset(self, task):
        return EnvironmentInfo(instruction=task["instruction"], reference="print() what you need.")

    async def execute(self, code: str):
        started = time.perf_counter()
        result = {"code": code, "output": '{"id": 7, "status": "ok"}', "error": False,
                  "task_completed": code.startswith("complete_task")}
        self.watch.seconds += time.perf_counter() - started
        return result

    async def evaluate(self):
        return None

    async def close(self):
        pass


async def trirole_per_step(steps: int) -> float:
    model_watch, env_watch = Stopwatch(), Stopwatch()
    replies = [AIMessage(content=f"Step {i}.\n```python\nresult = fetch(page={i})\nprint(result)\n```")
               for i in range(steps - 1)] + [AIMessage(content="```python\ncomplete_task()\n```")]
    model = TimedFakeModel(messages=iter(replies), watch=model_watch)
    graph = build_scaffold_graph(model=model, environment=InstantEnvironment(env_watch),
                                 settings={"max_steps": steps, "max_context_tokens": 1_000_000})
    started = time.perf_counter()
    out = await graph.ainvoke({"task": {"instruction": "page through the results"}},
                              config={"recursion_limit": 10 * steps})
    total = time.perf_counter() - started
    assert out["counters"]["steps"] == steps, out["counters"]
    return (total - model_watch.seconds - env_watch.seconds) / steps


async def prebuilt_per_step(steps: int) -> float:
    from langchain.agents import create_agent  # langgraph's prebuilt ReAct agent, as of LangGraph 1.0

    model_watch, env_watch = Stopwatch(), Stopwatch()

    @tool
    def run_code(code: str) -> str:
        """Run Python code."""
        started = time.perf_counter()
        output = '{"id": 7, "status": "ok"}'
        env_watch.seconds += time.perf_counter() - started
        return output

    replies = [AIMessage(content=f"Step {i}.", tool_calls=[{"name": "run_code", "args": {"code": f"fetch(page={i})"},
                                                             "id": f"call_{i}"}])
               for i in range(steps - 1)] + [AIMessage(content="done")]
    model = TimedFakeModel(messages=iter(replies), watch=model_watch)
    agent = create_agent(model, [run_code])
    started = time.perf_counter()
    await agent.ainvoke({"messages": [("user", "page through the results")]}, config={"recursion_limit": 10 * steps})
    total = time.perf_counter() - started
    return (total - model_watch.seconds - env_watch.seconds) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    ours, theirs = [], []
    for _ in range(args.repeats):  # interleaved, so drift affects both alike
        ours.append(asyncio.run(trirole_per_step(args.steps)))
        theirs.append(asyncio.run(prebuilt_per_step(args.steps)))
    ours_ms, theirs_ms = statistics.median(ours) * 1e3, statistics.median(theirs) * 1e3
    print(f"graph overhead per agent step (median of {args.repeats} runs x {args.steps} steps)")
    print(f"  trirole scaffold            {ours_ms:7.3f} ms   (target < 2 ms)")
    print(f"  langgraph prebuilt ReAct    {theirs_ms:7.3f} ms")
    print(f"  ratio scaffold / prebuilt   {ours_ms / theirs_ms:7.2f} x  (target <= 1.5 x)")


if __name__ == "__main__":
    main()
