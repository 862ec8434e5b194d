"""The code blocks of README.md and docs/*.md run as written, so the docs cannot go stale.

The convention every block follows (docs/langgraph.md says it in one sentence at the top):

- A ```python block is a complete script: its imports and names are its own, it runs on
  its own (a fresh interpreter, an empty temporary working folder; no top-level ``await``)
  and must exit 0. Each block is one test here, named ``FILE::HEADING#N``.
- A block that talks to a model server takes its endpoint from ``TRIROLE_BASE_URL`` and
  ``TRIROLE_MODEL``, defaulting to the embedded server of ``trirole model serve``
  (``http://127.0.0.1:8000/v1``, ``smollm2-135m-instruct``). Here both name a scripted
  OpenAI-compatible endpoint (a FAKE model, `docs_responder` below; it also answers with
  tool calls when a request offers tools), so the blocks run in CI without a model.
- A block that talks to ``langgraph dev`` takes its URL from ``LANGGRAPH_URL`` (default
  ``http://127.0.0.1:2024``). Here such a block (any block that names ``LANGGRAPH_URL``)
  gets a real ``langgraph dev`` serving langgraph.json over the scripted endpoint, and its
  test is marked ``studio``.
- Commands for a shell go in ```bash blocks (GPU machines, servers, ``make``): they are not
  run, but every line that starts with ``trirole`` must parse with trirole's own argument
  parser, so the docs match the command line (one command per line; ``<TASK_ID>``-style
  placeholders are fine). Output, diagrams and layouts go in ```text or bare fences.

There is no way to skip a Python block: a snippet that cannot run as written belongs in a
bash block (a command) or must be made complete.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from fixtures_studio import langgraph_dev
from scripted_openai import ScriptedOpenAIServer

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SNIPPET_TIMEOUT_S = 300
_FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)[ \t]*$")


@dataclass
class Block:
    path: Path
    heading: str
    index: int  # the N-th block of its language under its heading
    lang: str
    code: str
    line: int

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}::{self.heading}#{self.index}"


def blocks(lang: str) -> list[Block]:
    """Every fenced block of `lang` in the docs, indented ones (in list items) included."""
    found: list[Block] = []
    for path in DOCS:
        lines = path.read_text(encoding="utf-8").splitlines()
        heading, counts, i = "(top)", {}, 0
        while i < len(lines):
            line = lines[i]
            if line.startswith("#") and not line.startswith("#!"):
                heading = line.lstrip("#").strip()
            opened = _FENCE.match(line)
            if opened:
                indent, block_lang, start = opened["indent"], opened["lang"], i
                body = []
                i += 1
                while i < len(lines) and lines[i].strip() != "```":
                    body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i].lstrip())
                    i += 1
                if block_lang == lang:
                    counts[heading] = counts.get(heading, 0) + 1
                    found.append(Block(path, heading, counts[heading], lang, "\n".join(body) + "\n", start + 1))
            i += 1
    return found


# -- the scripted endpoint ---------------------------------------------------------------------

FIXED = "```python\nresult = 17 * 23\nprint(result)\ncomplete_task(result)\n```"  # the corrector's
RETRY = "```python\nresult = 17 * 23\ncomplete_task(result)\n```"  # the agent's second try (so a review changes it)


def _text(message: dict) -> str:
    content = message.get("content") or ""
    return content if isinstance(content, str) else " ".join(str(p.get("text", p)) for p in content)


def docs_responder(body: dict) -> str | dict:
    """A FAKE model for the docs' blocks: an agent whose first code fails (``NameError``),
    then the right code; a corrector that revises it (so human review pauses once); a
    summarizer; and, when tools are
    offered, a tool-calling agent that repeats a failing call (so the corrector middleware
    reviews it) and then answers."""
    messages = body["messages"]
    system = next((_text(m) for m in messages if m["role"] == "system"), "")
    if body.get("tools"):
        results = [_text(m) for m in messages if m["role"] == "tool"]
        if len(results) < 2 and (not results or "Error" in results[-1]):
            return {"content": "", "tool_calls": [{"name": body["tools"][0]["function"]["name"],
                                                   "arguments": {"code": "print(17 * 23"}}]}
        return "17 * 23 = 391."
    if "code reviewer" in system:
        return "The variable is undefined; compute it first.\n" + FIXED
    if "You compress an agent's working history" in system:
        return "The agent printed an undefined name, then computed 17 * 23 = 391."
    observed = any("Output of step" in _text(m) for m in messages if m["role"] == "user")
    return RETRY if observed else "Let me print the result.\n```python\nprint(result)\n```"


@pytest.fixture(scope="module")
def endpoint():
    with ScriptedOpenAIServer(lambda m: "", model="smollm2-135m-instruct", request_responder=docs_responder) as server:
        yield server


@pytest.fixture(scope="module")
def studio_for_docs(endpoint, tmp_path_factory):
    with langgraph_dev(tmp_path_factory.mktemp("docs-langgraph-dev"), base_url=endpoint.base_url,
                       model=endpoint.model) as url:
        yield url


PYTHON = blocks("python")


def _marks(block: Block) -> list:
    return [pytest.mark.studio] if "LANGGRAPH_URL" in block.code else []


@pytest.mark.parametrize("block", [pytest.param(b, id=b.id, marks=_marks(b)) for b in PYTHON])
def test_the_python_block_runs_as_written(block: Block, endpoint, request, tmp_path):
    env = {**os.environ, "TRIROLE_BASE_URL": endpoint.base_url, "TRIROLE_MODEL": endpoint.model,
           "TRIROLE_HOME": str(tmp_path / "home"),  # no local server of this machine's to find
           "LANGSMITH_TRACING": "false", "PYTHONUNBUFFERED": "1"}
    env.pop("PYTHONPATH", None)  # imports come from the installed trirole, as for a user
    if "LANGGRAPH_URL" in block.code:
        env["LANGGRAPH_URL"] = request.getfixturevalue("studio_for_docs")
    script = tmp_path / "snippet.py"
    script.write_text(block.code, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=SNIPPET_TIMEOUT_S)
    where = f"{block.path.name}:{block.line} ({block.heading})"
    assert done.returncode == 0, f"{where} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"


def test_every_python_block_is_found():
    # The extraction itself: README's and docs/langgraph.md's blocks, indented ones included.
    ids = [b.id for b in PYTHON]
    assert any(i.startswith("README.md::") for i in ids)
    assert any("Known limits" in i for i in ids), "a block indented in a list item"


# -- command lines --------------------------------------------------------------------------------

def trirole_lines() -> list[tuple[str, str]]:
    """(where, command) of every ``trirole ...`` line of the docs' bash blocks."""
    lines = []
    for block in blocks("bash"):
        joined = block.code.replace("\\\n", " ")  # continuation lines: one command
        for offset, line in enumerate(joined.splitlines()):
            command = line.split(" #", 1)[0].strip() if not line.strip().startswith("#") else ""
            if command.startswith("trirole "):
                lines.append((f"{block.path.name}:{block.line}+{offset + 1}", command))
    return lines


@pytest.mark.parametrize("where,command", trirole_lines(), ids=[w for w, _ in trirole_lines()])
def test_the_command_line_parses_with_the_cli(where, command, capsys, tmp_path, monkeypatch):
    from trirole.cli import build_parser

    argv = [re.sub(r"<[A-Z_]+>", "x", word) for word in shlex.split(command)[1:]]
    monkeypatch.chdir(tmp_path)  # files the line names (e.g. --base-url @replicas.txt) exist here
    for word in argv:
        if word.startswith("@"):
            (tmp_path / word[1:]).write_text("http://127.0.0.1:8000/v1\n")
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        if exc.code == 0:  # --help / --version
            return
        pytest.fail(f"{where}: `{command}` is not a valid trirole command line: {capsys.readouterr().err.strip()}")
    assert args.handler is not None, f"{where}: `{command}` names a command group, not a command"
