"""A tiny real MCP server (the `mcp` package's FastMCP) for the tools tests and examples:
``python mcp_demo_server.py stdio`` or ``python mcp_demo_server.py http PORT`` (streamable
HTTP on 127.0.0.1:PORT, path /mcp)."""

from __future__ import annotations

import asyncio
import sys

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
