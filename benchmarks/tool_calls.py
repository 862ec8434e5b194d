"""How often the served model answers a plain tool-use question with a tool call.

Asks QUESTIONS (each names the tool) with one tool, ``run_python``, offered and
``tool_choice: "auto"``, at temperature 0, and prints each reply and the count of replies
that the server parsed as tool calls. On the embedded server (`trirole model serve`:
SmolLM2-135M with vLLM's pythonic tool-call parser) it shows what a LangChain agent gets.

    .venv/bin/python benchmarks/tool_calls.py [--base-url URL --model NAME]
"""

from __future__ import annotations

import argparse
import json

import httpx

QUESTIONS = ["What is 17 * 23? Use run_python.", "Compute 2**20 with run_python.", "Use run_python to print hello.",
             "What is the sum of 1 to 100? Call run_python.", "Run print(3+4) with run_python."]
RUN_PYTHON = {"type": "function", "function": {
    "name": "run_python", "description": "Run Python code and return what it printed.",
    "parameters": {"type": "object", "properties": {"code": {"type": "string", "description": "the Python code"}},
                   "required": ["code"]}}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", help="OpenAI base URL (default: the local server of trirole model serve)")
    parser.add_argument("--model", help="model name (default: the local server's)")
    args = parser.parse_args()
    base_url, model = args.base_url, args.model
    if not (base_url and model):
        from trirole.serving import find_local_server

        record = find_local_server()
        if record is None:
            parser.error("no local model server: start one with `trirole model serve` or pass --base-url/--model")
        base_url, model = base_url or record.url, model or record.extra["model"]
    calls = 0
    for question in QUESTIONS:
        reply = httpx.post(f"{base_url.rstrip('/')}/chat/completions", timeout=300, json={
            "model": model, "messages": [{"role": "user", "content": question}], "tools": [RUN_PYTHON],
            "tool_choice": "auto", "max_tokens": 96, "temperature": 0})
        reply.raise_for_status()
        message = reply.json()["choices"][0]["message"]
        calls += bool(message.get("tool_calls"))
        said = json.dumps(message["tool_calls"]) if message.get("tool_calls") else repr((message.get("content") or "")[:120])
        print(f"{question!r} -> {said}")
    print(f"{calls}/{len(QUESTIONS)} replies were tool calls ({model} at {base_url})")


if __name__ == "__main__":
    main()
