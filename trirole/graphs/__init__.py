"""Graphs wire nodes. One builder per paradigm, all over `TriroleState`."""

from trirole.graphs.base import build_base_graph
from trirole.graphs.loop import GraphOptions
from trirole.graphs.multi_agent import build_multi_agent_graph
from trirole.graphs.react import build_react_graph
from trirole.graphs.scaffold import build_scaffold_graph

PARADIGMS = {"scaffold": build_scaffold_graph, "react": build_react_graph, "base": build_base_graph,
             "multi-agent": build_multi_agent_graph}

__all__ = ["GraphOptions", "PARADIGMS", "build_base_graph", "build_multi_agent_graph", "build_react_graph", "build_scaffold_graph"]
