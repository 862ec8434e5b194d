"""trirole: three roles, one model.

A small model called as summarizer, agent and isolated corrector over one shared state
makes a far better tool-use agent at inference time, without training.

    from trirole import build_scaffold_graph
    graph = build_scaffold_graph(settings={"base_url": "http://127.0.0.1:8000/v1", "model": "Qwen/Qwen3-8B"})
    result = await graph.ainvoke({"task": {"instruction": "What is 17 * 23? Answer with complete_task."}})
"""

from trirole.graphs import PARADIGMS, build_react_graph, build_scaffold_graph
from trirole.episode import Episode
from trirole.settings import PRESETS, TriroleSettings
from trirole.state import TriroleState

__version__ = "0.1.0"

__all__ = ["PARADIGMS", "PRESETS", "Episode", "TriroleSettings", "TriroleState", "build_react_graph", "build_scaffold_graph"]
