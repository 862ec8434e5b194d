"""A tiny real MCP server (the `mcp` package's FastMCP) for the tools tests and examples:
``python mcp_demo_server.py stdio`` or ``python mcp_demo_server.py http PORT`` (streamable
HTTP on 127.0.0.1:PORT, path /mcp)."""

from __future__ import annotations

import asyncio
import sys
from typing import TypedDict

from mcp.server.fastmcp import FastMCP

server = FastMCP("demo", host="127.0.0.1", log_level="WARNING")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def lookup_user(name: str) -> dict:
    """The account of user `name`, with an access token."""
    return {"name": name, "access_token": f"mcp-tok-{name}-5f1c9a"}


class Point(TypedDict):
    x: int
    y: int


# One tool per JSON type a result can have, each declaring it as a Python annotation.
@server.tool()
def origin() -> Point:
    """An object with a schema of its own (a TypedDict)."""
    return {"x": 0, "y": 0}


@server.tool()
def scores() -> dict[str, int]:
    """An object whose one key happens to be `result` (not a wrapped value)."""
    return {"result": 3}


@server.tool()
def countdown(n: int) -> list[int]:
    """An array: n down to 0."""
    return list(range(n, -1, -1))


@server.tool()
def grid() -> list[list[int]]:
    """An array of arrays."""
    return [[1, 2], [3]]


@server.tool()
def greet(name: str) -> str:
    """A string that looks like a number when the name is one."""
    return name


@server.tool()
def half(x: float) -> float:
    """A number."""
    return x / 2


@server.tool()
def is_even(n: int) -> bool:
    """A boolean."""
    return n % 2 == 0


@server.tool()
def forget(name: str) -> None:
    """Null."""
    return None


@server.tool(name="fail-always")
def fail_always(reason: str) -> str:
    """Always fails with `reason`."""
    raise ValueError(f"refused: {reason}")


@server.tool()
async def sleep_for(seconds: float) -> str:
    """Sleep, then say so."""
    await asyncio.sleep(seconds)
    return f"slept {seconds}"


if __name__ == "__main__":
    transport = sys.argv[1] if len(sys.argv) > 1 else "stdio"
    if transport == "http":
        server.settings.port = int(sys.argv[2])
        server.run(transport="streamable-http")
    else:
        server.run(transport="stdio")
