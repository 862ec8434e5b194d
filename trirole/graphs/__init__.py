"""Graphs wire nodes. One builder per paradigm, all over `TriroleState`."""

from trirole.graphs.react import build_react_graph
from trirole.graphs.scaffold import build_scaffold_graph

PARADIGMS = {"scaffold": build_scaffold_graph, "react": build_react_graph}

__all__ = ["PARADIGMS", "build_react_graph", "build_scaffold_graph"]
