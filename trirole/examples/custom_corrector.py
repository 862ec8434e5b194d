"""Swap in a custom corrector without copying the graph: a static check first.

The scaffold sends code to its corrector when the agent repeats a failure or follows an
error. This corrector first compiles the code (``ast.parse``, no execution): code that
compiles runs as the agent wrote it, and only code that does not compile costs a model
call, to trirole's own isolated `correct_code` core with the syntax error as the error.
It is a cheap ablation of the corrector, built from the same core, plugged in by name::

    graph = build_scaffold_graph(nodes={"corrector": make_static_check_corrector()})

Run it, from any directory, on the local model server (``trirole model serve``; or the
endpoint named by ``TRIROLE_BASE_URL``/``TRIROLE_MODEL``) with::

    python -m trirole.examples.custom_corrector "Compute 17 * 23 and call complete_task with the result."

(``examples/custom_corrector.py`` in the repository does the same.)
"""

from __future__ import annotations

import ast
import asyncio
import os
import sys

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime

from trirole import TriroleSettings, build_scaffold_graph
from trirole.backend import HeuristicTokenCounter, ServerTokenCounter, TokenCounter, make_chat_model
from trirole.nodes.corrector import correct_code, corrector_prompt
from trirole.prompts import load_prompts
from trirole.settings import resolve_settings
from trirole.state import TriroleState


def syntax_error(code: str) -> str:
    """``""`` if `code` compiles, else the error as Python reports it."""
    try:
        ast.parse(code, "<agent code>")
    except SyntaxError as exc:
        return f"SyntaxError: {exc.msg} (line {exc.lineno}): {(exc.text or '').strip()}"
    return ""


def make_static_check_corrector(*, model: BaseChatModel | None = None, settings: TriroleSettings | None = None,
                                token_counter: TokenCounter | None = None, prompts=None):
    """A corrector node: compile first, ask the model only about code that does not compile.

    model: the corrector's model; default: built per run from the run's settings (the
        ``corrector`` role's endpoint), so Studio edits and ``context=`` apply to it too.
    settings: defaults for a run that brings no settings of its own; inside a trirole
        graph's run, the run's context is its settings, resolved when it started.
    token_counter: default: the endpoint's ``/tokenize`` (a heuristic with an injected model).
    """
    templates = load_prompts(prompts)
    defaults = settings or TriroleSettings()

    async def corrector(state: TriroleState, config: RunnableConfig, runtime: Runtime[TriroleSettings]) -> dict:
        code = state.get("proposed_code") or ""
        error = syntax_error(code)
        if not error:  # it compiles: run it as written, no model call
            return {"code_to_run": code, "counters": {"static_checks": 1}}
        run = resolve_settings(defaults, config, runtime.context, shared_context=True)
        endpoint = run.endpoint("corrector")
        counter = token_counter or (HeuristicTokenCounter() if model is not None
                                    else ServerTokenCounter(endpoint.base_url, endpoint.model))
        prompt = corrector_prompt(instruction=state["task"]["instruction"],
                                  reference=state.get("reference") or "(none)", code=code,
                                  reason="the code does not compile", error=error, prompts=templates)
        revised, usage = await correct_code(model or make_chat_model(run, "corrector"), prompt, counter,
                                            run.prompt_budget)
        return {"code_to_run": revised or code, "usage": {"corrector": usage},
                "counters": {"static_checks": 1, "corrections": 1}}

    corrector.__name__ = "corrector"
    return corrector


def endpoint() -> dict[str, str]:
    """``TRIROLE_BASE_URL``/``TRIROLE_MODEL`` when set, else the local server that
    ``trirole model serve`` started (else the settings' default endpoint)."""
    from trirole.serving import find_local_server

    if os.environ.get("TRIROLE_BASE_URL") and os.environ.get("TRIROLE_MODEL"):
        return {"base_url": os.environ["TRIROLE_BASE_URL"], "model": os.environ["TRIROLE_MODEL"]}
    record = find_local_server()
    return {"base_url": record.url, "model": record.extra["model"]} if record else {}


async def main(instruction: str) -> dict:
    from trirole.transcript import print_run

    settings = TriroleSettings(**endpoint(), max_steps=4, max_completion_tokens=256)
    graph = build_scaffold_graph(settings=settings, nodes={"corrector": make_static_check_corrector()})
    return await print_run(graph, {"task": {"instruction": instruction}})


def cli(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    final = asyncio.run(main(" ".join(args) or "Compute 17 * 23 and call complete_task with the result."))
    return 0 if final.get("status") == "completed" else 1


if __name__ == "__main__":
    sys.exit(cli())
