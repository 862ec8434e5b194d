"""The three-role scaffold of *Three Roles, One Model*: summarizer, agent and isolated
corrector, one frozen model, one shared state."""

from __future__ import annotations

from typing import Mapping

from langchain_core.language_models import BaseChatModel
from langgraph.graph.state import CompiledStateGraph
from typing_extensions import Unpack

from trirole.graphs.loop import SCAFFOLD_NODES, GraphOptions, assemble_loop, compile_options, make_resources


def build_scaffold_graph(*, models: Mapping[str, BaseChatModel] | None = None, human_review: bool = False,
                         name: str = "scaffold", **options: Unpack[GraphOptions]) -> CompiledStateGraph:
    """Compile the three-role scaffold.

    Every option is keyword-only and checked here, at build time.

    Args:
        models: per-role models, e.g. ``{"corrector": other_model}``; wins over `model`.
        human_review: pause (``interrupt``) before code the corrector revised runs, so a
            person can accept it or edit ``code_to_run`` with ``graph.update_state``.
        name: the compiled graph's name (shown in Studio and traces).
        options: what every builder takes (`trirole.graphs.GraphOptions`): `model` (one
            chat model for all three roles), `settings`, `prompts`, `token_counter`,
            `environment`, `nodes` (replacements by node name: ``setup``, ``agent``,
            ``corrector``, ``executor``, ``summarizer``, ``finish``), `checkpointer`, `debug`.
    """
    resources = make_resources(models=models, builder="build_scaffold_graph", **options)
    return assemble_loop(resources, factories=SCAFFOLD_NODES, nodes=options.get("nodes"), human_review=human_review,
                         name=name, **compile_options(options))
