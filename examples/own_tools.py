"""Your own tools in the agent's code: a LangChain tool and a small local MCP server.

The scaffold's agent writes Python; with ``tools=[...]`` your tools are Python functions
in that code (``price("coffee")``), their signatures and docstrings in the reference the
agent and the corrector read. The code still runs in the sandbox (no network, none of your
files); each call crosses to this process, where the tool runs with your credentials and
network, and its result (or its error, as ``ToolError``) goes back. The MCP server below is
this same file run as ``python own_tools.py mcp-server``: trirole starts it (stdio) when
the run starts and stops it when the run ends.

Run it from anywhere (needs ``trirole[tools]``: ``langchain-mcp-adapters`` and ``mcp``)::

    python examples/own_tools.py               # the local model server if one runs, else a scripted model
    python examples/own_tools.py --scripted    # a scripted model that calls the tools (no server needed)
    python examples/own_tools.py --base-url http://127.0.0.1:8000/v1 --model NAME

A small model may not call the tools at all; the scripted model shows a call going through.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.tools import tool

INSTRUCTION = ("What does a coffee cost in euros? Get its price in US dollars with price('coffee'), convert it "
               "with exchange_rate('EUR'), and call complete_task with the result rounded to 2 decimals.")
SCRIPTED_REPLY = ("I will look up the price and the rate.\n```python\nusd = price('coffee')\n"
                  "rate = exchange_rate('EUR')\nprint(usd, rate)\ncomplete_task(round(usd * rate, 2))\n```")


# -- the LangChain tool (runs in this process) ----------------------------------------------------
@tool
def exchange_rate(currency: str) -> float:
    """How many units of `currency` (EUR, GBP or JPY) one US dollar buys."""
    rates = {"EUR": 0.92, "GBP": 0.79, "JPY": 151.3}
    if currency not in rates:
        raise ValueError(f"no rate for {currency!r}; known: {', '.join(rates)}")
    return rates[currency]


# -- the MCP server (this file, run as `own_tools.py mcp-server`) ---------------------------------
def serve_mcp() -> None:
    from mcp.server.fastmcp import FastMCP

    server = FastMCP("prices", log_level="WARNING")

    @server.tool()
    def price(item: str) -> float:
        """The price of `item` (coffee, bagel or tea) in US dollars."""
        return {"coffee": 3.5, "bagel": 2.25, "tea": 2.0}[item]

    server.run(transport="stdio")


def mcp_client():
    from langchain_mcp_adapters.client import MultiServerMCPClient

    return MultiServerMCPClient({"prices": {"transport": "stdio", "command": sys.executable,
                                            "args": [os.path.abspath(__file__), "mcp-server"]}})


# -- the run ----------------------------------------------------------------------------------------
def endpoint(args: argparse.Namespace) -> tuple[str, str] | None:
    if args.scripted:
        return None
    if args.base_url and args.model:
        return args.base_url, args.model
    from trirole.serving import find_local_server

    record = find_local_server()
    return (record.url, record.extra["model"]) if record is not None else None


async def main(args: argparse.Namespace) -> int:
    from trirole import build_scaffold_graph
    from trirole.transcript import print_run

    found = endpoint(args)
    if found is None:
        print("(a scripted model writes the agent's code: no model server given or running)")
        options = {"model": GenericFakeChatModel(messages=iter([AIMessage(content=SCRIPTED_REPLY)]))}
        settings = {"max_steps": 1}
    else:
        print(f"(model {found[1]!r} at {found[0]})")
        options, settings = {}, {"base_url": found[0], "model": found[1], "max_steps": 4}
    graph = build_scaffold_graph(settings=settings, tools=[exchange_rate, mcp_client()], **options)
    final = await print_run(graph, {"task": {"instruction": INSTRUCTION}})
    return 0 if final.get("status") == "completed" else 1


if __name__ == "__main__":
    if sys.argv[1:] == ["mcp-server"]:
        serve_mcp()
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scripted", action="store_true", help="a scripted model writes the code")
    parser.add_argument("--base-url", help="an OpenAI-compatible endpoint")
    parser.add_argument("--model", help="the model's name there")
    sys.exit(asyncio.run(main(parser.parse_args())))
