"""The base-model paradigm of *Rethinking Scale*: no agent loop, no tools feedback.

The model is prompted once with the task and the environment's reference (API docs) and
writes one whole program; the environment runs it once; the run ends. It is the lower
bound that the single-agent (ReAct, scaffold) and multi-agent paradigms are compared
against: everything they add is feedback from executions.

    setup -> base (one model call, role ``agent``) -> executor -> finish
"""

from __future__ import annotations

from typing import Literal

from langchain_core.messages import SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START
from langgraph.graph.state import CompiledStateGraph
from typing_extensions import Unpack

from trirole.graphs.loop import GraphOptions, compile_graph, compile_options, make_resources, new_graph
from trirole.graphs.routing import unless_over
from trirole.nodes.agent import ask
from trirole.nodes.chat import reply_message, unused_id
from trirole.nodes.context import example_turns, task_message
from trirole.nodes.executor import make_executor_node, make_finish_node, make_setup_node
from trirole.model_call import calls_role
from trirole.resources import Resources
from trirole.settings import TriroleSettings
from trirole.state import TriroleState, status_is_final

ROLE = "agent"  # one model call, counted (in usage and traces) as the agent's


def make_base_node(resources: Resources):
    """The one model call: the task and reference in, one whole program out."""

    @calls_role(resources, ROLE)
    async def base(state: TriroleState, config: RunnableConfig) -> dict:
        system = SystemMessage(content=resources.prompts.render(
            "base_system", completion_hint=state.get("completion_hint") or "complete_task(answer)",
            reference=state.get("reference") or "(none)"))
        prompt = [system, *example_turns(resources.prompts), task_message(state, resources.prompts, max_response_chars=0)]
        reply, code, usage, message_id = await ask(resources, ROLE, prompt, resources.settings(config))
        answer = reply_message(reply or "(empty reply)", role=ROLE, step=1, code=code,
                               message_id=unused_id(message_id, state.get("messages") or []))
        update: dict = {"messages": [answer], "usage": {ROLE: usage},
                        "counters": {"steps": 1}, "proposed_code": code or "", "code_to_run": code or "",
                        "correction_reason": ""}
        if code is None:
            # The one attempt is spent: there is nothing to run. step_budget is the
            # honest status (the paradigm's budget is one program), the reason says why.
            update["counters"]["no_code"] = 1
            update.update(status="step_budget", status_reason="the base model's one reply held no code block")
        return update

    return base


def one_program_reason(state: TriroleState, settings: TriroleSettings) -> str:
    """The reason of a one-shot run whose program did not complete the task (the
    generic one talks about ``max_steps``)."""
    last = state.get("last_result") or {}
    failed = f" (it failed: {last.get('error_type') or 'error'})" if last.get("error") else ""
    return f"the base model's one program ran without completing the task{failed}"


async def _after_base(state: TriroleState) -> Literal["executor", "finish"]:
    return "finish" if status_is_final(state) or not state.get("code_to_run") else "executor"


def build_base_graph(*, name: str = "base", **options: Unpack[GraphOptions]) -> CompiledStateGraph:
    """Compile the base-model paradigm (nodes ``setup``, ``base``, ``executor``, ``finish``).

    Exactly one model call and at most one execution per run, whatever ``max_steps``
    says. The options (`GraphOptions`) mean what they mean for `build_scaffold_graph`.
    """
    resources = make_resources(builder="build_base_graph", models=None, **options)  # one role: models= is a TypeError
    built = {"setup": make_setup_node(resources), "base": make_base_node(resources),
             "executor": make_executor_node(resources),
             "finish": make_finish_node(resources, unfinished=one_program_reason)}
    graph = new_graph(built, options.get("nodes"))
    graph.add_edge(START, "setup")
    graph.add_conditional_edges("setup", unless_over("base"), ["base", "finish"])
    graph.add_conditional_edges("base", _after_base, ["executor", "finish"])
    graph.add_edge("executor", "finish")
    graph.add_edge("finish", END)
    return compile_graph(graph, resources, name=name, **compile_options(options))
