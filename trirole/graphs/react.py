"""The raw ReAct code agent: AppWorld's standard baseline and Three Roles' raw-model
baseline. One agent writes code, the environment runs it, the observation comes back;
no summarizer and no corrector. When the history outgrows the context, the oldest turns
are dropped (the usual truncation), which is what the summarizer improves on."""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from langchain_core.language_models import BaseChatModel
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Checkpointer

from trirole.backend import TokenCounter
from trirole.graphs.loop import REACT_NODES, assemble_loop, make_resources
from trirole.resources import EnvironmentSpec
from trirole.settings import TriroleSettings


def build_react_graph(
    *,
    model: BaseChatModel | None = None,
    settings: TriroleSettings | Mapping[str, Any] | None = None,
    prompts: Mapping[str, str] | str | None = None,
    token_counter: TokenCounter | None = None,
    environment: EnvironmentSpec = None,
    tools: Sequence[Any] | None = None,
    nodes: Mapping[str, Callable] | None = None,
    checkpointer: Checkpointer = None,
    name: str = "react",
    debug: bool = False,
) -> CompiledStateGraph:
    """Compile the ReAct baseline (nodes ``setup``, ``agent``, ``executor``, ``finish``).

    The options mean what they mean for `build_scaffold_graph`.
    """
    resources = make_resources(model=model, models=None, settings=settings, prompts=prompts,
                               token_counter=token_counter, environment=environment, tools=tools)
    return assemble_loop(resources, factories=REACT_NODES, nodes=nodes, checkpointer=checkpointer, name=name,
                         debug=debug)
