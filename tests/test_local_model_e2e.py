"""The scaffold on the REAL serving path: the embedded SmolLM2-135M-Instruct (the `model_server`
fixture starts it on the engine picked for this CPU; `embedded_server` is each engine in
turn) and the real python sandbox. The 135M model solves almost nothing, so these tests
assert structure, never success."""

from __future__ import annotations

import subprocess
import sys

import pytest

from trirole import build_scaffold_graph
from trirole.backend import ServerTokenCounter
from trirole.trace import JsonlTrace, read_trace
from langchain_core.messages import convert_to_messages

pytestmark = pytest.mark.server

TASK = {"task": {"instruction": "Compute 17 * 23 and call complete_task with the result."}}


def real_settings(server, **overrides):
    return {"base_url": server.url, "model": server.extra["model"], "env": "python", "max_steps": 2,
            "max_completion_tokens": 128, **overrides}


async def test_scaffold_runs_a_python_task_end_to_end(embedded_server, tmp_path):
    trace_path = tmp_path / "trace.jsonl"
    graph = build_scaffold_graph(settings=real_settings(embedded_server))
    out = await graph.ainvoke(TASK, config={"callbacks": [JsonlTrace(trace_path)]})
    records = read_trace(trace_path)
    calls = [r for r in records if r["type"] == "model_call"]
    executions = [r for r in records if r["type"] == "execution"]

    assert [r["role"] for r in calls if r["role"] == "agent"], "the agent was called"
    assert executions, "code was executed in the sandbox"
    assert out["status"] in {"completed", "step_budget"} and out["status_reason"]
    assert records[-1]["type"] == "final" and records[-1]["status"] == out["status"]

    # Usage is the server's: the state's totals are the sums of what the server reported.
    agent_calls = [r for r in calls if r["role"] == "agent"]
    assert out["usage"]["agent"]["prompt_tokens"] == sum(r["usage"]["input_tokens"] for r in agent_calls)
    assert out["usage"]["agent"]["completion_tokens"] == sum(r["usage"]["output_tokens"] for r in agent_calls)
    # The budget's counts come from the server's /tokenize and match what it billed.
    counter = ServerTokenCounter(embedded_server.url, embedded_server.extra["model"])
    first_prompt = convert_to_messages([(m["role"], m["content"]) for m in agent_calls[0]["messages"]])
    assert await counter.acount(first_prompt) == agent_calls[0]["usage"]["input_tokens"]
    assert counter.exact


async def test_an_answer_without_code_from_the_real_model_is_handled(model_server, tmp_path):
    trace_path = tmp_path / "trace.jsonl"
    poet = "You are a poet. Answer with one short English sentence about the sea. Never write code or lists."
    graph = build_scaffold_graph(settings=real_settings(model_server, max_completion_tokens=48),
                                 prompts={"agent_system": poet})
    out = await graph.ainvoke({"task": {"instruction": "Describe the sea."}},
                              config={"callbacks": [JsonlTrace(trace_path)]})
    assert out["counters"].get("no_code", 0) >= 1
    assert out["status"] == "step_budget"
    second_prompt = [r for r in read_trace(trace_path) if r["type"] == "model_call"][1]["messages"]
    assert "no ```python code block" in second_prompt[-1]["content"]


def test_the_cli_runs_a_bundled_task_against_the_server(model_server, tmp_path):
    trace_path = tmp_path / "cli.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "trirole.cli", "run", "--env", "python", "--task", "sum-prices",
         "--base-url", model_server.url, "--model", model_server.extra["model"], "--max-steps", "1",
         "--max-completion-tokens", "96", "--trace", str(trace_path)],
        capture_output=True, text=True, timeout=600)
    assert result.returncode in (0, 1), result.stderr  # 0: completed, 1: ended otherwise (2 is a usage error)
    assert "step 1 · agent" in result.stdout and "status:" in result.stdout
    assert read_trace(trace_path)[-1]["type"] == "final"


def test_the_cli_names_the_fix_for_a_wrong_model(model_server):
    result = subprocess.run(
        [sys.executable, "-m", "trirole.cli", "run", "--instruction", "x", "--base-url", model_server.url,
         "--model", "no-such-model"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "'no-such-model' is not served" in result.stderr and model_server.extra["model"] in result.stderr
