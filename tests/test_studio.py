"""The graphs of langgraph.json served by a real ``langgraph dev`` (the API server that
LangGraph Studio talks to), driven through its REST API on an offline python task.

Model endpoints:
- the REST runs and the schema checks use the scripted OpenAI-compatible server
  (a FAKE model, scripted_openai.py), named by TRIROLE_BASE_URL/TRIROLE_MODEL as the
  Studio graphs' default endpoint: deterministic, and cheap enough to run everywhere;
- `test_a_run_on_the_real_model_with_the_endpoint_set_per_run` (marked ``server``) uses
  the REAL vLLM server of the session-scoped `model_server` fixture, shared with the
  notebook and end-to-end tests, and sets its endpoint per run through the context, as
  Studio's settings form does.
The environment is the real python sandbox in every run.

The server is started by fixtures_studio.py (``--no-reload``, no ``--allow-blocking``: see
`test_the_graphs_make_no_blocking_calls_in_the_event_loop`; logs outside the project).
"""

from __future__ import annotations

import json
from dataclasses import fields

import httpx
import pytest
from fixtures_studio import CONFIG, langgraph_dev
from scripted_openai import ScriptedOpenAIServer

from trirole.settings import TriroleSettings

pytestmark = pytest.mark.studio

SETTING_NAMES = {f.name for f in fields(TriroleSettings)}
TASK = {"task": {"instruction": "Compute 17 * 23 and call complete_task with the result."}}


def scripted_agent(messages: list[dict]) -> str:
    return "I will compute it.\n```python\nresult = 17 * 23\nprint(result)\ncomplete_task(result)\n```"


def graph_ids() -> list[str]:
    return list(json.loads(CONFIG.read_text())["graphs"])


@pytest.fixture(scope="module")
def scripted_model():
    with ScriptedOpenAIServer(scripted_agent) as server:
        yield server


@pytest.fixture(scope="module")
def studio(scripted_model, tmp_path_factory):
    """The base URL of a `langgraph dev` serving the repository's langgraph.json."""
    from trirole.graphs import PARADIGMS

    missing = [g for g in graph_ids() if g not in PARADIGMS]  # graph ids are paradigm names
    if missing:
        pytest.skip(f"langgraph.json names paradigms not in trirole.graphs.PARADIGMS yet: {missing}")
    with langgraph_dev(tmp_path_factory.mktemp("langgraph-dev"), base_url=scripted_model.base_url,
                       model=scripted_model.model) as url:
        yield url


def new_thread(url: str) -> str:
    response = httpx.post(f"{url}/threads", json={}, timeout=30)
    response.raise_for_status()
    return response.json()["thread_id"]


def stream_events(url: str, thread_id: str, body: dict) -> list[tuple[str, object]]:
    """The (event, data) pairs of one streamed run (server-sent events)."""
    events, name = [], None
    with httpx.stream("POST", f"{url}/threads/{thread_id}/runs/stream", json=body, timeout=600) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line.startswith("event:"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and name:
                events.append((name, json.loads(line.split(":", 1)[1])))
    return events


def test_the_default_endpoint_comes_from_the_environment():
    from trirole.studio import studio_settings

    settings = studio_settings({"TRIROLE_BASE_URL": "http://10.0.0.9:8000/v1", "TRIROLE_MODEL": "m"})
    assert (settings.base_url, settings.model) == ("http://10.0.0.9:8000/v1", "m")
    assert settings.max_steps == TriroleSettings().max_steps  # nothing else changes


def test_every_paradigm_is_served_with_every_setting_editable(studio):
    assistants = httpx.post(f"{studio}/assistants/search", json={"limit": 100}, timeout=30).json()
    by_graph = {a["graph_id"]: a["assistant_id"] for a in assistants}
    assert set(by_graph) == set(graph_ids()) == {"scaffold", "react", "base", "multi-agent"}
    for graph_id, assistant_id in by_graph.items():
        schemas = httpx.get(f"{studio}/assistants/{assistant_id}/schemas", timeout=30).json()
        for kind in ("context_schema", "config_schema"):
            listed = set((schemas[kind] or {}).get("properties", {}))
            assert SETTING_NAMES <= listed, f"{graph_id} {kind} lacks {sorted(SETTING_NAMES - listed)}"
        assert schemas["context_schema"]["properties"]["correction_policy"]["enum"] == ["always", "after_n", "never"]


def test_the_input_and_output_schemas_reach_studio(studio):
    # Studio builds its input form from these (they need typing_extensions' TypedDict on 3.11).
    assistant = httpx.post(f"{studio}/assistants/search", json={"graph_id": "scaffold"}, timeout=30).json()[0]
    schemas = httpx.get(f"{studio}/assistants/{assistant['assistant_id']}/schemas", timeout=30).json()
    assert {"task", "messages"} <= set(schemas["input_schema"]["properties"])  # messages: Studio's chat view
    assert {"status", "messages"} <= set(schemas["output_schema"]["properties"])


@pytest.mark.parametrize("graph_id", ["scaffold", "react", "base"])
async def test_a_chat_input_gets_its_answer_as_an_ai_message_through_langgraph_sdk(studio, graph_id):
    from langgraph_sdk import get_client

    client = get_client(url=studio)
    thread = await client.threads.create()
    out = await client.runs.wait(thread["thread_id"], graph_id, context={"max_steps": 3}, input={"messages": [
        {"role": "user", "content": "I need a product for an invoice."},
        {"role": "user", "content": "Compute 17 * 23 and call complete_task with the result."}]})
    assert out["status"] == "completed", out["status_reason"]
    assert out["task"]["instruction"] == "Compute 17 * 23 and call complete_task with the result."
    assert out["task"]["context"]["conversation"] == [{"role": "user", "content": "I need a product for an invoice."}]
    final = out["messages"][-1]
    assert final["type"] == "ai" and final["content"] == "391"  # computed by the real sandbox
    assert final["response_metadata"]["status"] == "completed"
    state = await client.threads.get_state(thread["thread_id"])
    assert state["values"]["messages"][-1]["content"] == "391"  # what a chat view shows last


async def test_the_next_chat_message_in_the_same_thread_is_a_new_task(studio):
    # Studio's chat view sends each new message to the same thread.
    from langgraph_sdk import get_client

    client = get_client(url=studio)
    thread = await client.threads.create()
    for text in ("Compute 17 * 23 and call complete_task with the result.", "Once more, please."):
        out = await client.runs.wait(thread["thread_id"], "scaffold", context={"max_steps": 3},
                                     input={"messages": [{"role": "user", "content": text}]})
        assert out["status"] == "completed", out["status_reason"]
        assert out["task"]["instruction"] == text and out["counters"]["steps"] == 1
        assert out["messages"][-1]["type"] == "ai" and out["messages"][-1]["content"] == "391"
    assert out["task"]["context"]["conversation"] == [
        {"role": "user", "content": "Compute 17 * 23 and call complete_task with the result."},
        {"role": "assistant", "content": "391"}]


def test_the_scaffold_runs_to_completion_over_rest(studio, scripted_model):
    thread_id = new_thread(studio)
    response = httpx.post(f"{studio}/threads/{thread_id}/runs/wait", timeout=600, json={
        "assistant_id": "scaffold", "input": TASK, "context": {"max_steps": 3}})
    response.raise_for_status()
    out = response.json()
    assert out["status"] == "completed", out
    assert out["answer"] == 391  # computed by the real sandbox
    assert scripted_model.requests, "the default endpoint came from TRIROLE_BASE_URL"
    state = httpx.get(f"{studio}/threads/{thread_id}/state", timeout=30).json()
    # The full state (not only the output schema's keys) is in the thread's checkpoint.
    assert state["values"]["last_result"]["output"].strip() == "391"
    assert state["values"]["counters"]["steps"] == 1


def test_the_scaffold_streams_node_updates_over_rest(studio):
    events = stream_events(studio, new_thread(studio), {
        "assistant_id": "scaffold", "input": TASK, "stream_mode": ["updates"], "context": {"max_steps": 3}})
    updates = [data for name, data in events if name == "updates"]
    assert [node for update in updates for node in update] == ["setup", "agent", "executor", "finish"]
    assert updates[-1]["finish"]["status"] == "completed"
    assert not [data for name, data in events if name == "error"]


def test_a_misspelled_setting_in_configurable_fails_the_run_in_one_line_over_rest(studio):
    # (A "context" key the schema lacks is dropped by the server itself before the run: docs/langgraph.md.)
    events = stream_events(studio, new_thread(studio), {
        "assistant_id": "scaffold", "input": TASK, "stream_mode": ["updates"],
        "config": {"configurable": {"max_step": 1, "user_id": "u1"}}})
    errors = [data for name, data in events if name == "error"]
    assert errors and "unknown setting 'max_step' in config[\"configurable\"]: did you mean 'max_steps'?" in \
        errors[0]["message"], events
    assert not [data for name, data in events if name == "updates"]  # refused before any node ran


@pytest.mark.server
def test_a_run_on_the_real_model_with_the_endpoint_set_per_run(studio, scripted_model, model_server):
    before = len(scripted_model.requests)
    events = stream_events(studio, new_thread(studio), {
        "assistant_id": "scaffold", "input": TASK, "stream_mode": ["updates", "messages-tuple"],
        "context": {"base_url": model_server.url, "model": model_server.extra["model"], "max_steps": 1,
                    "max_completion_tokens": 96}})
    assert not [data for name, data in events if name == "error"]
    nodes = [node for name, data in events if name == "updates" for node in data]
    assert nodes[0] == "setup" and nodes[-1] == "finish" and "agent" in nodes
    chunks = [data for name, data in events if name == "messages"]
    agent_tokens = [chunk for chunk, metadata in chunks if metadata.get("langgraph_node") == "agent"]
    assert len(agent_tokens) > 1, "the real model's tokens stream one by one"
    # ... and its reply is not sent again whole (its message keeps the id its tokens came under).
    assert {chunk["type"] for chunk in agent_tokens} == {"AIMessageChunk"}, {chunk["type"] for chunk in agent_tokens}
    assert len(scripted_model.requests) == before, "the per-run endpoint replaced the default"


async def test_the_graphs_make_no_blocking_calls_in_the_event_loop():
    blockbuster = pytest.importorskip("blockbuster")  # what `langgraph dev` uses to catch them
    from fakes import code, replies

    from trirole import build_scaffold_graph

    graph = build_scaffold_graph(model=replies(code("complete_task(6 * 7)")), settings={"env": "python"})
    with blockbuster.blockbuster_ctx():
        out = await graph.ainvoke({"task": {"instruction": "Compute 6 * 7."}})
    assert out["answer"] == 42
