"""The raw ReAct code agent: AppWorld's standard baseline and Three Roles' raw-model
baseline. One agent writes code, the environment runs it, the observation comes back;
no summarizer and no corrector. When the history outgrows the context, the oldest turns
are dropped (the usual truncation), which is what the summarizer improves on."""

from __future__ import annotations

from langgraph.graph.state import CompiledStateGraph
from typing_extensions import Unpack

from trirole.graphs.loop import REACT_NODES, GraphOptions, assemble_loop, compile_options, make_resources


def build_react_graph(*, name: str = "react", **options: Unpack[GraphOptions]) -> CompiledStateGraph:
    """Compile the ReAct baseline (nodes ``setup``, ``agent``, ``executor``, ``finish``).

    The options (`GraphOptions`) mean what they mean for `build_scaffold_graph`.
    """
    resources = make_resources(builder="build_react_graph", models=None, **options)  # one role: models= is a TypeError
    return assemble_loop(resources, factories=REACT_NODES, nodes=options.get("nodes"), name=name,
                         **compile_options(options))
