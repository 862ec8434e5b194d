"""Assembly shared by every trirole graph: options validated at build time, nodes
swappable by name, one state schema, runs that own their environment episode
(`TriroleGraph`), and the agent loop itself (scaffold, ReAct, multi-agent specialists)."""

from __future__ import annotations

from typing import Any, AsyncIterator, Callable, Iterator, Mapping, Sequence

from typing_extensions import TypedDict, Unpack  # pydantic (Studio's schemas) rejects typing.TypedDict before 3.12

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import get_runtime
from langgraph.types import Checkpointer

from trirole.backend import TokenCounter
from trirole.graphs.routing import make_routes, unless_over
from trirole.graphs.sync import iterate_in_thread
from trirole.nodes.agent import make_agent_node
from trirole.nodes.corrector import make_corrector_node
from trirole.nodes.review import make_review_node
from trirole.nodes.executor import make_executor_node, make_finish_node, make_setup_node
from trirole.nodes.summarizer import make_summarizer_node
from trirole.prompts import load_prompts
from trirole.episode import EPISODE_KEY, Episode
from trirole.resources import EnvironmentSpec, Resources
from trirole.settings import (DEFAULT_RECURSION_LIMIT, ROLES, TriroleSettings, recursion_limit, resolve_settings,
                              settings_from_mapping)
from trirole.state import TriroleInput, TriroleOutput, TriroleState
from trirole.environments.user_tools import Toolbox, load_tools, tool_list

NodeFactory = Callable[[Resources], Callable]


class GraphOptions(TypedDict, total=False):
    """The options every builder takes, keyword-only and checked at build time (a
    builder adds its own: its ``name``, per-role ``models`` where it has several roles).

    model: one chat model for every role (the paper's setting). Default: built per run
        from the settings' OpenAI-compatible endpoint (a vLLM server).
    settings: defaults for every run (`TriroleSettings` or a mapping of its fields); a run
        overrides them with ``context={...}`` or ``configurable``.
    prompts: template overrides by name, or a folder of ``NAME.md`` files.
    token_counter: how prompts are measured against the budget. Default: each role's
        server's ``/tokenize``; a heuristic for a role whose model is injected.
    environment: an `Environment` instance, or a factory ``settings -> Environment``.
        Default: ``make_environment(settings.env)``, one fresh episode per run.
    tools: your own tools, called as Python functions from the agent's code: LangChain
        tools, plain callables with type hints and a docstring, and ``MultiServerMCPClient``
        objects whose servers each run starts and stops (`trirole.environments.user_tools`). They
        run in this process, each call bridged out of the sandbox; their signatures and
        docstrings are in the reference the agent and the corrector read. With the
        ``python`` environment (not with ``environment=``). Added to the settings' ``tools``.
    nodes: replacements by node name; any LangGraph node callable.
    checkpointer: e.g. ``InMemorySaver()`` or a SQLite saver, for interrupt/resume by
        thread id.
    debug: LangGraph's debug output.
    """

    model: BaseChatModel | None
    settings: TriroleSettings | Mapping[str, Any] | None
    prompts: Mapping[str, str] | str | None
    token_counter: TokenCounter | None
    environment: EnvironmentSpec
    tools: Sequence[Any] | None
    nodes: Mapping[str, Callable] | None
    checkpointer: Checkpointer
    debug: bool


_RESOURCE_OPTIONS = ("model", "settings", "prompts", "token_counter", "environment")


def make_resources(*, models: Mapping[str, BaseChatModel] | None = None, roles: Mapping[str, str] | None = None,
                   builder: str = "the builder", **options: Unpack[GraphOptions]) -> Resources:
    """Validate a builder's options and bundle them for the nodes. `roles`: the graph's
    model roles and the settings role serving each (default: the scaffold's three)."""
    unknown = set(options) - set(GraphOptions.__annotations__)
    if unknown:
        raise TypeError(f"{builder}() got unexpected keyword argument(s) {', '.join(sorted(unknown))}; "
                        f"its options are {', '.join(GraphOptions.__annotations__)} (see trirole.graphs.GraphOptions)")
    model, settings, prompts, token_counter, environment = (options.get(key) for key in _RESOURCE_OPTIONS)
    tools = options.get("tools")
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
        defaults = settings_from_mapping(settings, where="settings=")
    else:
        raise TypeError("settings must be a TriroleSettings or a mapping of its fields")
    tools = [*tool_list(tools), *load_tools(defaults.tools)]
    toolbox = Toolbox(tools, timeout_s=None) if tools else None
    if toolbox and environment is not None:
        raise ValueError("tools= gives your tools to the built-in python sandbox; with environment= of your own, "
                         "give them to it yourself (trirole.environments.python_sandbox.PythonSandbox(tools=[...]))")
    return Resources(defaults=defaults, prompts=load_prompts(prompts), models=role_models,
                     token_counter=token_counter, environment=environment, roles=roles, tools=toolbox)


def compile_options(options: GraphOptions) -> dict[str, Any]:
    """The options `compile_graph` (and `assemble_loop`) take from a builder's."""
    return {"checkpointer": options.get("checkpointer"), "debug": options.get("debug", False)}


class TriroleGraph(CompiledStateGraph):
    """A compiled trirole graph. Each run resolves its settings once, when it starts
    (builder defaults < ``configurable`` < ``context``, `resolve_settings`), and hands
    them to LangGraph as the run's context: every node reads them there. Each run owns
    its environment episode: unless the caller (or a parent trirole run) brought one in
    its config, the run opens an `Episode` and closes it when the run returns, raises, is
    cancelled or times out, so no sandbox or AppWorld episode outlives its run. A run
    without a recursion limit of its own (LangGraph's default) gets `recursion_limit` of
    its settings.

    Every entry point works: ``invoke``, ``stream`` and ``batch`` run the same
    ``astream`` as their async forms, in a private event loop (`trirole.graphs.sync`),
    since every trirole node is async.
    """

    defaults: TriroleSettings | None = None

    def __init__(self, *, defaults: TriroleSettings | None = None, **kwargs: Any) -> None:
        # LangGraph's `copy` (with_config, the LangGraph server's per-run copies) rebuilds
        # the graph from its attributes: `defaults` must survive it.
        super().__init__(**kwargs)
        self.defaults = defaults

    def run_settings(self, config: RunnableConfig, context: Any) -> TriroleSettings:
        """The settings of a run called with `config` and `context`. Without a context of
        its own, a run inside another graph's node (a subgraph) has that run's context,
        shared with the enclosing graph (`resolve_settings`)."""
        shared = context is None
        if shared:
            try:
                context = get_runtime().context
            except (RuntimeError, KeyError, AttributeError):  # a run of its own, not inside another graph's node
                context = None
        return resolve_settings(self.defaults or TriroleSettings(), config, context, shared_context=shared)

    async def astream(self, input: Any, config: RunnableConfig | None = None, *, context: Any = None,
                      **kwargs: Any) -> AsyncIterator[Any]:
        config = dict(config or {})
        if isinstance(self.checkpointer, BaseCheckpointSaver) and "thread_id" not in (config.get("configurable") or {}):
            # LangGraph's own check passes once the run's episode is in `configurable`,
            # and the saver then fails on a bare KeyError: say it here, as LangGraph would.
            raise ValueError('this graph has a checkpointer, so each run needs a thread: pass '
                             'config={"configurable": {"thread_id": "..."}}')
        settings = self.run_settings(config, context)
        if config.get("recursion_limit", DEFAULT_RECURSION_LIMIT) == DEFAULT_RECURSION_LIMIT:
            config["recursion_limit"] = recursion_limit(settings)
        if EPISODE_KEY in (config.get("configurable") or {}):
            async for part in super().astream(input, config, context=settings, **kwargs):
                yield part
            return
        async with Episode() as episode:
            async for part in super().astream(input, episode.bind(config), context=settings, **kwargs):
                yield part

    def stream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[Any]:
        # LangGraph's `invoke` (and Runnable's `batch`, through it) streams through here.
        return iterate_in_thread(lambda: self.astream(input, config, **kwargs))


def compile_graph(graph: StateGraph, resources: Resources, *, checkpointer: Checkpointer, name: str,
                  debug: bool) -> TriroleGraph:
    compiled = graph.compile(checkpointer=checkpointer, name=name, debug=debug)
    # StateGraph.compile has no hook for the class it builds; TriroleGraph adds no state
    # of its own besides `defaults`, so the compiled graph is re-classed in place.
    compiled.__class__ = TriroleGraph
    compiled.defaults = resources.defaults
    return compiled  # type: ignore[return-value]


def new_graph(nodes_built: Mapping[str, Callable], replacements: Mapping[str, Callable] | None, *,
              state_schema: type = TriroleState, input_schema: type = TriroleInput,
              output_schema: type = TriroleOutput, destinations: Mapping[str, Sequence[str]] | None = None) -> StateGraph:
    """A StateGraph with trirole's schemas and `nodes_built` added, each replaced by
    `replacements` where given; an unknown replacement name is an error at build time.
    destinations: where nodes that return a `Command` may go (for drawing the graph)."""
    unknown = set(replacements or {}) - set(nodes_built)
    if unknown:
        raise ValueError(f"cannot replace unknown nodes {sorted(unknown)}; this graph's nodes are {sorted(nodes_built)}")
    graph = StateGraph(state_schema, context_schema=TriroleSettings,
                       input_schema=input_schema,
                       output_schema=output_schema)
    for node_name, node in nodes_built.items():
        replacement = (replacements or {}).get(node_name)
        # trirole's nodes are annotated with `TriroleState`, from which LangGraph would
        # infer their input: they read the graph's whole state (a replacement keeps its own).
        graph.add_node(node_name, replacement or node, input_schema=None if replacement else state_schema,
                       destinations=tuple((destinations or {}).get(node_name, ())) or None)
    return graph


def assemble_loop(resources: Resources, *, factories: Mapping[str, NodeFactory], nodes: Mapping[str, Callable] | None,
                  checkpointer: Checkpointer, name: str, human_review: bool = False, debug: bool = False,
                  state_schema: type = TriroleState, input_schema: type = TriroleInput,
                  output_schema: type = TriroleOutput) -> TriroleGraph:
    """The agent loop over `factories`' nodes (replaced by `nodes` where given).

    setup -> agent -> [corrector -> [review ->]] executor -> [summarizer ->] agent ... -> finish.

    Without a ``setup`` factory the loop starts at the agent (its episode is already
    running); without ``finish`` it ends where it would go to finish (a loop embedded
    in a larger run, like a multi-agent specialist's).
    """
    if human_review:
        if "corrector" not in factories:
            raise ValueError("human_review pauses before the corrector's code runs: this graph has no corrector")
        factories = {**factories, "review": make_review_node}
    graph = new_graph({node_name: factory(resources) for node_name, factory in factories.items()}, nodes,
                      state_schema=state_schema, input_schema=input_schema, output_schema=output_schema)
    has_summarizer, has_corrector = "summarizer" in factories, "corrector" in factories
    after_agent, after_execution, after_corrector = make_routes(resources, summarizer=has_summarizer,
                                                                corrector=has_corrector)
    end = "finish" if "finish" in factories else END
    loop_targets = {"agent": "agent", "finish": end, **({"summarizer": "summarizer"} if has_summarizer else {})}
    if "setup" in factories:
        graph.add_edge(START, "setup")
        graph.add_conditional_edges("setup", unless_over("agent"), {"agent": "agent", "finish": end})
    else:
        graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", after_agent, {"executor": "executor", **loop_targets,
                                                       **({"corrector": "corrector"} if has_corrector else {})})
    if has_corrector:
        # Back to the loop only when a reply without code got none from the corrector either.
        graph.add_conditional_edges("corrector", after_corrector,
                                    {"executor": "review" if human_review else "executor", **loop_targets})
    if human_review:
        graph.add_edge("review", "executor")
    graph.add_conditional_edges("executor", after_execution, loop_targets)
    if has_summarizer:
        graph.add_edge("summarizer", "agent")
    if end != END:
        graph.add_edge("finish", END)
    return compile_graph(graph, resources, checkpointer=checkpointer, name=name, debug=debug)


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
