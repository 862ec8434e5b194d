"""Assembly shared by the agent-loop graphs (scaffold and ReAct): options validated at
build time, nodes swappable by name, one state schema."""

from __future__ import annotations

from typing import Any, Callable, Mapping

from langchain_core.language_models import BaseChatModel
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Checkpointer

from trirole.backend import TokenCounter
from trirole.graphs.routing import after_setup, make_routes
from trirole.nodes.agent import make_agent_node
from trirole.nodes.corrector import make_corrector_node
from trirole.nodes.review import make_review_node
from trirole.nodes.executor import make_executor_node, make_finish_node, make_setup_node
from trirole.nodes.summarizer import make_summarizer_node
from trirole.prompts import load_prompts
from trirole.resources import EnvironmentSpec, Resources
from trirole.settings import ROLES, TriroleSettings, settings_from_mapping
from trirole.state import TriroleInput, TriroleOutput, TriroleState

NodeFactory = Callable[[Resources], Callable]


def make_resources(*, model: BaseChatModel | None, models: Mapping[str, BaseChatModel] | None,
                   settings: TriroleSettings | Mapping[str, Any] | None, prompts: Any,
                   token_counter: TokenCounter | None, environment: EnvironmentSpec,
                   roles: Mapping[str, str] | None = None) -> Resources:
    """Validate the builder options and bundle them for the nodes. `roles`: the graph's
    model roles and the settings role serving each (default: the scaffold's three)."""
    roles = dict(roles or {role: role for role in ROLES})
    if model is not None and not isinstance(model, BaseChatModel):
        raise TypeError(f"model must be a LangChain chat model (BaseChatModel), got {type(model).__name__}")
    role_models = {role: model for role in roles} if model is not None else {}
    for role, role_model in (models or {}).items():
        if not isinstance(role_model, BaseChatModel):
            raise TypeError(f"models[{role!r}] must be a BaseChatModel, got {type(role_model).__name__}")
        role_models[role] = role_model
    if settings is None:
        defaults = TriroleSettings()
    elif isinstance(settings, TriroleSettings):
        defaults = settings
    elif isinstance(settings, Mapping):
        unknown = set(settings) - set(TriroleSettings.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown settings {sorted(unknown)}; see trirole.TriroleSettings for the fields")
        defaults = settings_from_mapping(settings)
    else:
        raise TypeError("settings must be a TriroleSettings or a mapping of its fields")
    return Resources(defaults=defaults, prompts=load_prompts(prompts), models=role_models,
                     token_counter=token_counter, environment=environment, roles=roles)


def new_graph(nodes_built: Mapping[str, Callable], replacements: Mapping[str, Callable] | None, *,
              state_schema: type = TriroleState) -> StateGraph:
    """A StateGraph with trirole's schemas and `nodes_built` added, each replaced by
    `replacements` where given; an unknown replacement name is an error at build time."""
    unknown = set(replacements or {}) - set(nodes_built)
    if unknown:
        raise ValueError(f"cannot replace unknown nodes {sorted(unknown)}; this graph's nodes are {sorted(nodes_built)}")
    graph = StateGraph(state_schema, context_schema=TriroleSettings,
                       input_schema=TriroleInput, output_schema=TriroleOutput)
    for node_name, node in nodes_built.items():
        graph.add_node(node_name, (replacements or {}).get(node_name) or node)
    return graph


def assemble_loop(resources: Resources, *, factories: Mapping[str, NodeFactory], nodes: Mapping[str, Callable] | None,
                  checkpointer: Checkpointer, name: str, human_review: bool = False,
                  debug: bool = False) -> CompiledStateGraph:
    """The agent loop over `factories`' nodes (replaced by `nodes` where given).

    setup -> agent -> [corrector -> [review ->]] executor -> [summarizer ->] agent ... -> finish.
    """
    if human_review:
        if "corrector" not in factories:
            raise ValueError("human_review pauses before the corrector's code runs: this graph has no corrector")
        factories = {**factories, "review": make_review_node}
    graph = new_graph({node_name: factory(resources) for node_name, factory in factories.items()}, nodes)
    has_summarizer, has_corrector = "summarizer" in factories, "corrector" in factories
    after_agent, after_execution = make_routes(resources, summarizer=has_summarizer, corrector=has_corrector)
    loop_targets = ["agent", "finish"] + (["summarizer"] if has_summarizer else [])
    graph.add_edge(START, "setup")
    graph.add_conditional_edges("setup", after_setup, ["agent", "finish"])
    graph.add_conditional_edges("agent", after_agent,
                                ["executor", *loop_targets] + (["corrector"] if has_corrector else []))
    if has_corrector:
        graph.add_edge("corrector", "review" if human_review else "executor")
    if human_review:
        graph.add_edge("review", "executor")
    graph.add_conditional_edges("executor", after_execution, loop_targets)
    if has_summarizer:
        graph.add_edge("summarizer", "agent")
    graph.add_edge("finish", END)
    return graph.compile(checkpointer=checkpointer, name=name, debug=debug)


SCAFFOLD_NODES: dict[str, NodeFactory] = {
    "setup": make_setup_node,
    "agent": make_agent_node,
    "corrector": make_corrector_node,
    "executor": make_executor_node,
    "summarizer": make_summarizer_node,
    "finish": make_finish_node,
}

REACT_NODES: dict[str, NodeFactory] = {
    name: factory for name, factory in SCAFFOLD_NODES.items() if name not in ("corrector", "summarizer")
}
