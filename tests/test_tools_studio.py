"""Composition with your own tools: the scaffold, given a LangChain tool and a REAL MCP server
(tests/mcp_demo_server.py over stdio, started and stopped by trirole for each run), as a
subgraph of a larger LangGraph app, served by a REAL ``langgraph dev`` (no reload, no
``--allow-blocking``, logs outside the project) and driven by a ``langgraph_sdk`` client.
The agent's code runs in the REAL sandbox under bubblewrap; the model is the scripted
OpenAI-compatible server (a FAKE model, scripted_openai.py), which writes code that calls
the tools.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import psutil
import pytest
from fixtures_studio import serve_langgraph_dev
from scripted_openai import ScriptedOpenAIServer

pytestmark = [pytest.mark.studio,
              pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")]

SERVER = Path(__file__).with_name("mcp_demo_server.py")

APP = '''
"""A user's LangGraph app: a support ticket answered by trirole's scaffold with the user's tools."""
import os
import sys
from typing import Any, NotRequired, TypedDict

from langchain_core.tools import tool
from langchain_mcp_adapters.client import MultiServerMCPClient
from langgraph.graph import END, START, StateGraph

from trirole import build_scaffold_graph


@tool
def shout(text: str) -> str:
    """`text` in capitals."""
    return text.upper()


mcp = MultiServerMCPClient({"demo": {"transport": "stdio", "command": sys.executable,
                                     "args": [os.environ["DEMO_MCP_SERVER"], "stdio"]}})
scaffold = build_scaffold_graph(settings={"base_url": os.environ["TRIROLE_BASE_URL"],
                                          "model": os.environ["TRIROLE_MODEL"], "max_steps": 3,
                                          "use_corrector": False, "use_summarizer": False},
                                tools=[shout, mcp])


class Ticket(TypedDict):
    question: str
    task: NotRequired[dict]
    status: NotRequired[str]
    answer: NotRequired[Any]
    reply: NotRequired[str]


app = StateGraph(Ticket)
app.add_node("prepare", lambda state: {"task": {"instruction": state["question"]}})
app.add_node("solve", scaffold)
app.add_node("reply", lambda state: {"reply": f"{state['status']}: {state.get('answer')}"})
app.add_edge(START, "prepare")
app.add_edge("prepare", "solve")
app.add_edge("solve", "reply")
app.add_edge("reply", END)
graph = app.compile()
'''


def scripted_agent(messages: list[dict]) -> str:
    return ("I will use the tools.\n```python\ntotal = add(40, 2)\nword = shout('done')\nprint(total, word)\n"
            "complete_task({'total': total, 'word': word})\n```")


def mcp_servers_under(pid: int) -> list[psutil.Process]:
    found = []
    for child in psutil.Process(pid).children(recursive=True):
        try:
            if any(str(SERVER) in part for part in child.cmdline()):
                found.append(child)
        except psutil.Error:
            pass
    return found


@pytest.fixture(scope="module")
def served_app(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("tools-app")
    (workdir / "ticket_app.py").write_text(APP)
    config = workdir / "langgraph.json"
    config.write_text(json.dumps({"dependencies": ["."], "graphs": {"ticket": "./ticket_app.py:graph"}}))
    with ScriptedOpenAIServer(scripted_agent) as model:
        env = {**os.environ, "TRIROLE_BASE_URL": model.base_url, "TRIROLE_MODEL": model.model,
               "DEMO_MCP_SERVER": str(SERVER), "LANGSMITH_TRACING": "false"}
        with serve_langgraph_dev(workdir, env=env, config=config) as server:
            yield server.url, server.pid, server.log_path, model


async def test_the_scaffold_with_tools_runs_as_a_subgraph_of_an_app_served_by_langgraph_dev(served_app):
    from langgraph_sdk import get_client

    url, pid, logs, model = served_app
    client = get_client(url=url)
    thread = await client.threads.create()
    out = await client.runs.wait(thread["thread_id"], "ticket",
                                 input={"question": "Add 40 and 2, and shout 'done'."})
    assert out.get("reply") == "completed: {'total': 42, 'word': 'DONE'}", (out, logs.read_text()[-3000:])
    assert model.requests, "the scripted model wrote the code"
    # The MCP server trirole started for the run is stopped once the run is over.
    deadline = time.monotonic() + 10
    while mcp_servers_under(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert mcp_servers_under(pid) == []
    state = await client.threads.get_state(thread["thread_id"], subgraphs=True)
    assert state["values"]["status"] == "completed"
    assert "blocking" not in logs.read_text().lower()
