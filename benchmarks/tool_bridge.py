"""The per-call cost of the tool bridge: a trivial tool called N times from the agent's code
inside the sandbox (bubblewrap), against calling the same tool directly in-process.

Each call from the sandbox is a JSON line from the worker to trirole over the worker's
private pipe, the tool run in trirole's event loop (a sync LangChain tool in a thread of
its own), and a JSON line back. Measured side by side, interleaved over repeats (the
median of each; the best repeat too, steadier on a loaded machine):

- bridged: one ``execute()`` of ``for i in range(N): ping(i)``, minus the same loop
  calling a local function in the sandbox, divided by N;
- in-process: ``await tool.ainvoke({"x": i})`` N times (LangChain's own call path, what an
  agent running its tools in-process pays), and the bare Python call ``fn(i)``.

Three tools: a plain async callable (`HostFunction.from_callable`: the bridge alone), an
async LangChain ``@tool`` and a sync one (LangChain's invoke in a daemon thread).

    .venv/bin/python benchmarks/tool_bridge.py [--calls 2000] [--repeats 5]

Target (issue 23): under 2 ms per bridged call on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from langchain_core.tools import tool

from trirole.environments.functions import HostFunction
from trirole.environments.python_sandbox import PythonSandbox
from trirole.environments.user_tools import from_langchain_tool


async def ping(x: int) -> int:
    """Returns x + 1."""
    return x + 1


@tool
async def ping_async_tool(x: int) -> int:
    """Returns x + 1."""
    return x + 1


@tool
def ping_sync_tool(x: int) -> int:
    """Returns x + 1."""
    return x + 1


TOOLS = {"plain async callable": (HostFunction.from_callable(ping, name="ping_plain"), None),
         "async LangChain tool": (from_langchain_tool(ping_async_tool), ping_async_tool),
         "sync LangChain tool": (from_langchain_tool(ping_sync_tool), ping_sync_tool)}


async def bridged(box: PythonSandbox, name: str, calls: int) -> float:
    """Seconds per call from the sandbox, the loop's own cost taken out."""
    loop = f"for i in range({calls}):\n    {{}}(i)\n"
    began = time.perf_counter()
    result = await box.execute(loop.format(name))
    with_calls = time.perf_counter() - began
    assert not result["error"] and len(result["calls"]) == calls, result["output"]
    began = time.perf_counter()
    await box.execute(loop.format("local"))
    local = time.perf_counter() - began
    return (with_calls - local) / calls


async def in_process(langchain_tool, calls: int) -> float:
    began = time.perf_counter()
    for i in range(calls):
        await langchain_tool.ainvoke({"x": i})
    return (time.perf_counter() - began) / calls


def bare(calls: int) -> float:
    def fn(x: int) -> int:
        return x + 1

    began = time.perf_counter()
    for i in range(calls):
        fn(i)
    return (time.perf_counter() - began) / calls


async def main(calls: int, repeats: int) -> None:
    functions = [function for function, _ in TOOLS.values()]
    measured: dict[str, dict[str, list[float]]] = {label: {"bridged": [], "in_process": []} for label in TOOLS}
    bare_times = []
    async with PythonSandbox(host_functions=functions) as box:
        await box.reset({"instruction": "benchmark"})
        await box.execute("def local(x):\n    return x + 1\n")
        for label, (function, _) in TOOLS.items():  # warm-up
            await bridged(box, function.name, 50)
        for repeat in range(repeats):
            order = list(TOOLS) if repeat % 2 == 0 else list(TOOLS)[::-1]
            for label in order:
                function, langchain_tool = TOOLS[label]
                measured[label]["bridged"].append(await bridged(box, function.name, calls))
                direct = await in_process(langchain_tool, calls) if langchain_tool is not None else None
                if direct is not None:
                    measured[label]["in_process"].append(direct)
            bare_times.append(bare(calls))
    bare_s = statistics.median(bare_times)
    print(f"{calls} calls x {repeats} repeats, sandbox isolation {box.isolation}; per call, median (best):")
    print(f"  bare in-process Python call:                  {bare_s * 1e6:9.2f} µs")
    for label, times in measured.items():
        b, b_best = statistics.median(times["bridged"]), min(times["bridged"])
        line = f"  {label:22s} bridged from the sandbox: {b * 1e3:7.3f} ms ({b_best * 1e3:.3f})"
        if times["in_process"]:
            d, d_best = statistics.median(times["in_process"]), min(times["in_process"])
            line += (f" | in-process ainvoke: {d * 1e3:7.3f} ms ({d_best * 1e3:.3f}) | "
                     f"ratio bridged/in-process {b / d:5.2f}x ({b_best / d_best:.2f}x)")
        else:
            line += f" | ratio to the bare call {b / bare_s:,.0f}x"
        print(line)
    worst = max(statistics.median(times["bridged"]) for times in measured.values())
    print(f"target: under 2 ms per bridged call -> {'met' if worst < 0.002 else 'NOT met'} "
          f"(slowest median {worst * 1e3:.3f} ms)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    options = parser.parse_args()
    asyncio.run(main(options.calls, options.repeats))
