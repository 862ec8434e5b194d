"""The base-model paradigm of *Rethinking Scale*: no agent loop, no tools feedback.

The model is prompted once with the task and the environment's reference (API docs) and
writes one whole program; the environment runs it once; the run ends. It is the lower
bound that the single-agent (ReAct, scaffold) and multi-agent paradigms are compared
against: everything they add is feedback from executions.

A task that brings several user requests one after another (BFCL multi-turn) gets one
program per request, as BFCL's prompting handlers give each turn its generation: the
model sees the requests so far and its own programs, never what they printed. A program
that did not end its request (``complete_task()``) has its request ended by the harness,
as BFCL ends a turn once the model's reply is done.

    setup -> base (one model call, role ``agent``) -> executor -> [end_request -> executor]
          -> [base -> executor ... for each later request] -> finish
"""

from __future__ import annotations

import operator
from typing import Annotated, Literal

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Overwrite
from typing_extensions import NotRequired, Unpack

from trirole.graphs.loop import GraphOptions, compile_graph, compile_options, make_resources, new_graph
from trirole.graphs.routing import out_of_steps, unless_over
from trirole.nodes.agent import ask
from trirole.nodes.chat import reply_message, unused_id
from trirole.nodes.context import example_turns, task_message
from trirole.nodes.executor import make_executor_node, make_finish_node, make_setup_node
from trirole.model_call import calls_role
from trirole.prompts import Prompts
from trirole.resources import Resources
from trirole.settings import TriroleSettings
from trirole.state import TriroleState, status_is_final

ROLE = "agent"  # one model call per request, counted (in usage and traces) as the agent's


class BaseState(TriroleState):
    """`TriroleState` plus the base model's own dialogue.

    dialogue: after the task, each later request and each program the model wrote, in
        order (append reducer): what its next prompt shows; never a program's output.
    one_request_at_a_time: the task brings several requests (`EnvironmentInfo`): a
        program that did not end its request has it ended by the harness.
    """

    dialogue: Annotated[list[BaseMessage], operator.add]
    one_request_at_a_time: NotRequired[bool]


def base_prompt(state: BaseState, prompts: Prompts) -> list[BaseMessage]:
    """The base model's prompt: system prompt with the reference, the worked examples if
    any, the task, then its dialogue (later requests and its programs)."""
    system = SystemMessage(content=prompts.render(
        "base_system", completion_hint=state.get("completion_hint") or "complete_task(answer)",
        reference=state.get("reference") or "(none)"))
    return [system, *example_turns(prompts), task_message(state, prompts, max_response_chars=0),
            *(state.get("dialogue") or [])]


def make_base_node(resources: Resources):
    """One model call: the task and reference in (and, for a later request, the requests
    and programs so far), one whole program out."""

    @calls_role(resources, ROLE)
    async def base(state: BaseState, config: RunnableConfig) -> dict:
        request = (state.get("last_result") or {}).get("next_request")  # called again: the user's next request
        asked = [HumanMessage(content=request)] if request is not None else []
        prompt = [*base_prompt(state, resources.prompts), *asked]
        reply, code, usage, message_id = await ask(resources, ROLE, prompt, resources.settings(config))
        text = reply or "(empty reply)"
        answer = reply_message(text, role=ROLE, step=(state.get("counters") or {}).get("steps", 0) + 1, code=code,
                               message_id=unused_id(message_id, state.get("messages") or []))
        # The model's own dialogue holds its replies as plain turns (what it read before),
        # under the reply's id: a stream_mode="messages" stream sends the reply once.
        update: dict = {"messages": [answer], "dialogue": [*asked, AIMessage(content=text, id=answer.id)],
                        "usage": {ROLE: usage},
                        "counters": {"steps": 1}, "proposed_code": code or "", "code_to_run": code or "",
                        "correction_reason": ""}
        if code is None:
            # The one attempt is spent: there is nothing to run. step_budget is the
            # honest status (the paradigm's budget is one program), the reason says why.
            update["counters"]["no_code"] = 1
            update.update(status="step_budget", status_reason="the base model's one reply held no code block")
        return update

    return base


def make_end_request_node(resources: Resources):
    """The harness ends a request the program left open: the next step runs the completion
    hint (``complete_task()``), which is no model step."""

    async def end_request(state: BaseState) -> dict:
        hint = state.get("completion_hint") or "complete_task()"
        return {"proposed_code": hint, "code_to_run": hint, "correction_reason": ""}

    return end_request


def one_program_reason(state: TriroleState, settings: TriroleSettings) -> str:
    """The reason of a one-shot run whose program did not complete the task (the
    generic one talks about ``max_steps``)."""
    last = state.get("last_result") or {}
    failed = f" (it failed: {last.get('error_type') or 'error'})" if last.get("error") else ""
    return f"the base model's one program ran without completing the task{failed}"


async def _after_base(state: BaseState) -> Literal["executor", "finish"]:
    return "finish" if status_is_final(state) or not state.get("code_to_run") else "executor"


def make_after_execution(resources: Resources):
    """After an execution: the next request gets its program; a request the program left
    open is ended first (tasks of several requests); otherwise the run is over."""

    async def after_execution(state: BaseState, config: RunnableConfig) -> Literal["base", "end_request", "finish"]:
        last = state.get("last_result") or {}
        if status_is_final(state) or last.get("task_completed"):
            return "finish"
        if last.get("next_request") is not None:
            return "finish" if out_of_steps(state, resources.settings(config)) else "base"
        hint = (state.get("completion_hint") or "").strip()
        if state.get("one_request_at_a_time") and (state.get("code_to_run") or "").strip() != hint:
            return "end_request"
        return "finish"

    return after_execution


def build_base_graph(*, name: str = "base", **options: Unpack[GraphOptions]) -> CompiledStateGraph:
    """Compile the base-model paradigm (nodes ``setup``, ``base``, ``executor``,
    ``end_request``, ``finish``).

    Exactly one model call and at most one execution of its program per user request,
    whatever ``max_steps`` says (``max_total_steps``, if set, caps the requests answered).
    The options (`GraphOptions`) mean what they mean for `build_scaffold_graph`.
    """
    resources = make_resources(builder="build_base_graph", models=None, **options)  # one role: models= is a TypeError
    built = {"setup": make_setup_node(resources, with_info=lambda info: {
                 "one_request_at_a_time": info.one_request_at_a_time}, graph_new_run=lambda: {"dialogue": Overwrite([])}),
             "base": make_base_node(resources), "executor": make_executor_node(resources),
             "end_request": make_end_request_node(resources),
             "finish": make_finish_node(resources, unfinished=one_program_reason)}
    graph = new_graph(built, options.get("nodes"), state_schema=BaseState)
    graph.add_edge(START, "setup")
    graph.add_conditional_edges("setup", unless_over("base"), ["base", "finish"])
    graph.add_conditional_edges("base", _after_base, ["executor", "finish"])
    graph.add_conditional_edges("executor", make_after_execution(resources), ["base", "end_request", "finish"])
    graph.add_edge("end_request", "executor")
    graph.add_edge("finish", END)
    return compile_graph(graph, resources, name=name, **compile_options(options))
