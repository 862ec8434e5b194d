"""What a LangChain user does first against the REAL embedded server (`embedded_server`: the
session's shared SmolLM2-135M on each engine in turn): the middleware example of
docs/langgraph.md as written (a tool-calling `create_agent`), and a Python caller whose
prompt is longer than the server's context.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from fakes import ScriptedEnvironment
from test_docs_snippets import blocks

from trirole import build_scaffold_graph

pytestmark = pytest.mark.server


def test_the_middleware_example_runs_as_written_on_the_embedded_server(embedded_server, tmp_path):
    (block,) = [b for b in blocks("python") if b.heading.startswith("LangChain agents") and "run_python]" in b.code
                and "ScriptedAgent" not in b.code]
    script = tmp_path / "middleware.py"
    script.write_text(block.code)
    env = {**os.environ, "TRIROLE_BASE_URL": embedded_server.url, "TRIROLE_MODEL": embedded_server.extra["model"]}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]  # no 400 "auto tool choice requires ..."
    out = done.stdout
    assert "tool call(s)" in out and "answer:" in out
    # Either the model called the tool (the corrector's revisions, if any, are listed) or it
    # answered in prose, and the script says that nothing ran.
    calls = int(out.split(" tool call(s)")[0].split()[-1])
    assert calls > 0 or "answered without calling run_python" in out, out


def test_the_corrector_review_example_shows_the_embedded_models_review(model_server, tmp_path):
    (block,) = [b for b in blocks("python") if "ScriptedAgent" in b.code]
    script = tmp_path / "review.py"
    script.write_text(block.code)
    env = {**os.environ, "TRIROLE_BASE_URL": model_server.url, "TRIROLE_MODEL": model_server.extra["model"]}
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "· corrector reviewed the code:" in done.stdout  # the real model's review, printed
    assert done.stdout.count("--- tool result") == 2 and "SyntaxError" in done.stdout


def test_a_prompt_over_the_servers_context_ends_context_overflow_for_a_python_caller(embedded_server):
    # The budget says 12288 tokens; the embedded server holds 8192: the server refuses the
    # prompt, and the run says which Python setting to change (not a CLI flag).
    graph = build_scaffold_graph(environment=ScriptedEnvironment(reference="alpha beta gamma " * 3500), settings={
        "base_url": embedded_server.url, "model": embedded_server.extra["model"], "max_context_tokens": 12288,
        "max_retries": 0})
    out = graph.invoke({"task": {"instruction": "Say done."}})
    assert out["status"] == "context_overflow", out["status_reason"]
    reason = out["status_reason"]
    assert "max_context_tokens=12288" in reason and "set the setting `max_context_tokens` to at most 8192" in reason
    assert "--max-context-tokens" not in reason
    assert out["messages"][-1].response_metadata["status"] == "context_overflow"
