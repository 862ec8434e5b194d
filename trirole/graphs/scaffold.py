"""The three-role scaffold of *Three Roles, One Model*: summarizer, agent and isolated
corrector, one frozen model, one shared state."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from langchain_core.language_models import BaseChatModel
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Checkpointer

from trirole.backend import TokenCounter
from trirole.graphs.loop import SCAFFOLD_NODES, assemble_loop, make_resources
from trirole.resources import EnvironmentSpec
from trirole.settings import TriroleSettings


def build_scaffold_graph(
    *,
    model: BaseChatModel | None = None,
    models: Mapping[str, BaseChatModel] | None = None,
    settings: TriroleSettings | Mapping[str, Any] | None = None,
    prompts: Mapping[str, str] | str | None = None,
    token_counter: TokenCounter | None = None,
    environment: EnvironmentSpec = None,
    tools: Sequence[Any] | None = None,
    nodes: Mapping[str, Callable] | None = None,
    checkpointer: Checkpointer = None,
    human_review: bool = False,
    name: str = "scaffold",
    debug: bool = False,
) -> CompiledStateGraph:
    """Compile the three-role scaffold.

    Every option is keyword-only and checked here, at build time.

    Args:
        model: one chat model for all three roles (the paper's setting). Default: built
            per run from the settings' OpenAI-compatible endpoint (a vLLM server).
        models: per-role models, e.g. ``{"corrector": other_model}``; wins over `model`.
        settings: defaults for every run (`TriroleSettings` or a mapping of its fields);
            a run overrides them with ``context={...}`` or ``configurable``.
        prompts: template overrides by name, or a folder of ``NAME.md`` files.
        token_counter: how prompts are measured against the budget. Default: each
            role's server's ``/tokenize``; a heuristic for a role whose model is injected.
        environment: an `Environment` instance, or a factory ``settings -> Environment``.
            Default: ``make_environment(settings.env)``, one fresh episode per run.
        tools: your own tools, called as Python functions from the agent's code: LangChain
            tools, plain callables with type hints and a docstring, and
            ``MultiServerMCPClient`` objects whose servers each run starts and stops (see
            `trirole.tools.user_tools`). They run in this process, each call bridged out of
            the sandbox; their signatures and docstrings are in the reference the agent and
            the corrector read. With the ``python`` environment (not with ``environment=``).
        nodes: replacements by node name (``setup``, ``agent``, ``corrector``,
            ``executor``, ``summarizer``, ``finish``); any LangGraph node callable.
        checkpointer: e.g. ``InMemorySaver()`` or a SQLite saver, for interrupt/resume
            by thread id.
        human_review: pause (``interrupt``) before code the corrector revised runs, so a
            person can accept it or edit ``code_to_run`` with ``graph.update_state``.
        name: the compiled graph's name (shown in Studio and traces).
    """
    resources = make_resources(model=model, models=models, settings=settings, prompts=prompts,
                               token_counter=token_counter, environment=environment, tools=tools)
    return assemble_loop(resources, factories=SCAFFOLD_NODES, nodes=nodes, checkpointer=checkpointer, name=name,
                         human_review=human_review, debug=debug)
