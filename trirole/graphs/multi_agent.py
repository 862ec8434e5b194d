"""The multi-agent paradigm of *Rethinking Scale*: a supervisor routes sub-goals to
app-specialist agents.

The supervisor splits the task into a few sub-goals, each for one specialist. Every
specialist knows only its apps' reference (`EnvironmentInfo.apps`; one ``general``
specialist with the whole reference when the environment has no apps) and runs the
single-agent loop (trirole.graphs.loop, as a subgraph: agent <-> executor) in the same
environment episode, on its own dialogue, until it reports a result or runs out of its
steps. Later specialists are told what earlier ones reported. Then the supervisor writes
the final code that completes the task (retried once if it does not).

    setup -> plan -> specialist (agent <-> executor) -> ... -> final -> executor -> finish

A task that brings several user requests one after another (BFCL multi-turn) is planned
request by request: when a request ends (its final code, or a specialist's, called the
completion hint) and the next arrives, the supervisor plans that one, in the same dialogue.

Setup, execution, finish, the loop and "the run is over" are the shared ones. The graph
routes in one style: conditional edges on the state after each node. After the plan, a
specialist or an execution, one function decides who acts next (`next_turn`); after the
supervisor's final reply, its code runs if it wrote one (`after_final`). A specialist's
loop has a state of its own (`SpecialistState`): its sub-goal, its reference and the
reports so far go in, its dialogue, usage and how it ended come back.

Every model call (supervisor or specialist) counts one step in ``counters["steps"]``, so
``max_steps`` bounds each request (and ``max_total_steps`` the run); each specialist is
also bounded by ``specialist_steps`` and the final code by ``MAX_FINAL_ATTEMPTS``. Usage
is recorded per role: ``supervisor`` and ``specialist``.
"""

from __future__ import annotations

import json
import operator
import re
from dataclasses import replace
from typing import Annotated, Any, Callable, Literal, Mapping, NotRequired, Sequence

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Overwrite
from typing_extensions import TypedDict, Unpack  # pydantic (Studio's schemas) rejects typing.TypedDict before 3.12

from trirole.graphs.loop import GraphOptions, assemble_loop, compile_graph, compile_options, make_resources, new_graph
from trirole.graphs.routing import out_of_steps, run_is_over, unless_over
from trirole.nodes.agent import ask, make_agent_node
from trirole.nodes.chat import reply_message, unused_id
from trirole.nodes.context import model_turns
from trirole.nodes.executor import make_executor_node, make_finish_node, make_setup_node, step_budget_reason
from trirole.parsing import clip_middle, extract_code, strip_thinking
from trirole.prompts import Prompts
from trirole.model_call import calls_role
from trirole.resources import Resources
from trirole.settings import TriroleSettings
from trirole.state import RoleUsage, TriroleState, current_request, status_is_final, steps_in_request, steps_taken

GENERAL = "general"
SUPERVISOR, SPECIALIST = "supervisor", "specialist"
MAX_FINAL_ATTEMPTS = 2
_REPORT_CHARS = 800
SAME_AS_SUBGOAL = "the same as your sub-goal."


class SubGoal(TypedDict):
    """One hand-off: which specialist, and what it must reach."""

    specialist: str
    goal: str


class Report(TypedDict):
    """What a specialist handed back. reached: it reported; False: it ran out of steps
    and the result is its last output."""

    specialist: str
    goal: str
    result: str
    steps: int
    reached: bool


class MultiAgentState(TriroleState):
    """`TriroleState` (every field intact) plus the supervisor's bookkeeping.

    app_references: specialist name -> the reference it sees (an app's docs, or the
        whole reference for ``general``).
    plan: the supervisor's sub-goals, in order.
    subgoal_index: the sub-goal in work (``len(plan)``: all handed back).
    reports: what the specialists handed back (append reducer).
    final_attempts: how many times the supervisor wrote the final code of this request.
    planned_request: which request the plan is for (``counters["requests"]`` when it was
        made: 0 for the first).
    supervisor_messages: the supervisor's own dialogue after its system prompt (append
        reducer): the task and its plan, the reports and its final code, each failure and
        its next try. Each of its prompts is the one before plus its reply and one new
        message, so a server's prefix cache serves all but the new part.
    """

    app_references: NotRequired[dict[str, str]]
    plan: NotRequired[list[SubGoal]]
    subgoal_index: NotRequired[int]
    reports: Annotated[list[Report], operator.add]
    final_attempts: NotRequired[int]
    planned_request: NotRequired[int]
    supervisor_messages: Annotated[list[BaseMessage], operator.add]


class SpecialistState(TriroleState):
    """One specialist's loop: `TriroleState` (its own dialogue, counters and status, in the
    run's episode) plus what its prompt shows.

    subgoal: the sub-goal it works on. app_reference: the reference it sees (its apps'
    docs, or the whole reference for ``general``). reports: what earlier specialists
    handed back.
    """

    subgoal: SubGoal
    app_reference: str
    reports: list[Report]


class SpecialistInput(TypedDict):
    """What a specialist's loop starts from (a dialogue of its own: no messages)."""

    task: Any
    env_session: str
    reference: str
    completion_hint: str
    status: str
    request: NotRequired[str]
    subgoal: SubGoal
    app_reference: str
    reports: list[Report]


class SpecialistOutput(TypedDict):
    """What a specialist's loop hands back to the run."""

    messages: list[BaseMessage]
    usage: dict[str, RoleUsage]
    counters: dict[str, int]
    attempts: list[Any]
    artifacts: dict[str, Any]
    last_result: NotRequired[Any]
    env_session: NotRequired[str]
    status: str
    status_reason: NotRequired[str]


# -- pure parts ---------------------------------------------------------------------------
_PLAN_LINE = re.compile(r"^\s*(?:[-*]|\d+[.)])?\s*\**\[?([A-Za-z][\w-]*)\]?\**\s*:\s*(.+?)\s*$")


def specialist_references(apps: Mapping[str, str], reference: str) -> dict[str, str]:
    """One specialist per app, each with that app's reference; one ``general``
    specialist with the whole reference when there are no apps."""
    return dict(apps) if apps else {GENERAL: reference or "(none)"}


def parse_plan(text: str, specialists: list[str], *, instruction: str, max_subgoals: int) -> list[SubGoal]:
    """The sub-goals in the supervisor's reply (``name: goal`` lines naming a known
    specialist). A reply with none becomes one sub-goal, the whole task, for the
    specialist named in the instruction (else ``general``, else the first)."""
    names = {name.lower(): name for name in specialists}
    plan: list[SubGoal] = []
    for line in strip_thinking(text).splitlines():
        match = _PLAN_LINE.match(line)
        if match and match.group(1).lower() in names:
            plan.append({"specialist": names[match.group(1).lower()], "goal": match.group(2)})
    if not plan:
        lowered = instruction.lower()  # "Simple Note" names the app simple_note
        named = [name for name in specialists if name.lower() in lowered or name.lower().replace("_", " ") in lowered]
        fallback = named[0] if named else (GENERAL if GENERAL in specialists else specialists[0])
        plan = [{"specialist": fallback, "goal": instruction}]
    return plan[:max(1, max_subgoals)]


def is_report(reply: str) -> bool:
    """A specialist's hand-back: a reply that starts with ``RESULT:`` and has no code fence."""
    text = strip_thinking(reply)
    return text.upper().startswith("RESULT:") and "```" not in text


def format_reports(reports: list[Report]) -> str:
    if not reports:
        return "(nothing yet)"
    lines = []
    for number, report in enumerate(reports, start=1):
        how = "" if report["reached"] else " (did not report; its last output)"
        lines.append(f"{number}. {report['specialist']} - {report['goal']}{how}:\n"
                     f"{clip_middle(report['result'], _REPORT_CHARS)}")
    return "\n".join(lines)


def _context(state: TriroleState) -> str:
    context = state["task"].get("context") or {}
    return json.dumps(context, indent=1, default=str) if context else "(none)"


def describe_specialist(name: str, reference: str) -> str:
    """One line for the supervisor: the reference's own line about the app (``- name:
    text``, as AppWorld's app list has it), else its first line."""
    if name == GENERAL:
        return f"- {name}: the whole reference"
    lines = [line.strip() for line in reference.splitlines() if line.strip()]
    own = next((line.lstrip("-* ")[len(name):].lstrip(" :") for line in lines
                if line.lstrip("-* ").lower().startswith(name.lower() + ":")), None)
    return f"- {name}: " + clip_middle(own or (lines[0] if lines else name), 160)


def supervisor_system(state: MultiAgentState, prompts: Prompts, *, max_subgoals: int) -> SystemMessage:
    """The supervisor's one system prompt: how both phases work (the same for every task,
    so it comes first), then the specialists by name with one line each, not their
    references (the supervisor routes; specialists read the docs)."""
    specialists = "\n".join(describe_specialist(n, r) for n, r in (state.get("app_references") or {}).items())
    return SystemMessage(content=prompts.render(
        "supervisor_system", specialists=specialists, max_subgoals=max_subgoals,
        completion_hint=state.get("completion_hint") or "complete_task(answer)"))


def plan_prompt(state: MultiAgentState, prompts: Prompts, *, max_subgoals: int) -> list[BaseMessage]:
    """The supervisor's prompt to plan a request: its dialogue so far (none for the first),
    then the request (the task's instruction, or the user's latest), to be split into sub-goals."""
    return [supervisor_system(state, prompts, max_subgoals=max_subgoals),
            *model_turns(state.get("supervisor_messages") or []),
            HumanMessage(content=prompts.render("supervisor_plan_user", instruction=current_request(state),
                                                context=_context(state)))]


def specialist_input(state: MultiAgentState) -> SpecialistInput:
    """The loop input of the current sub-goal's specialist."""
    subgoal = state["plan"][state["subgoal_index"]]
    return {"task": state["task"], "env_session": state.get("env_session", ""), "status": "running",
            "reference": state.get("reference", ""), "completion_hint": state.get("completion_hint", ""),
            "request": state.get("request", ""),
            "subgoal": subgoal, "app_reference": (state.get("app_references") or {}).get(subgoal["specialist"], "(none)"),
            "reports": state.get("reports") or []}


def specialist_prompt(state: SpecialistState, prompts: Prompts, *, max_steps: int) -> list[BaseMessage]:
    """A specialist's prompt: only its apps' reference, its sub-goal, the reports so far,
    and its own turns of this sub-goal (its loop's messages)."""
    subgoal = state["subgoal"]
    system = prompts.render("specialist_system", specialist=subgoal["specialist"], max_steps=max_steps,
                            completion_hint=state.get("completion_hint") or "complete_task(answer)",
                            reference=state["app_reference"])
    instruction = current_request(state)
    # A plan that fell back to the whole task (`parse_plan`) would show it twice.
    whole_task = SAME_AS_SUBGOAL if subgoal["goal"].strip() == instruction.strip() else instruction
    task = prompts.render("specialist_task", goal=subgoal["goal"], instruction=whole_task,
                          context=_context(state), reports=format_reports(state.get("reports") or []))
    return [SystemMessage(content=system), HumanMessage(content=task), *model_turns(state.get("messages") or [])]


def final_prompt(state: MultiAgentState, prompts: Prompts, *, max_subgoals: int) -> list[BaseMessage]:
    """The supervisor's dialogue so far, then the reports (its first final code), or for a
    retry: what its last final code printed, or that its reply had no code."""
    if not state.get("final_attempts"):
        ask_for = prompts.render("supervisor_final_user", reports=format_reports(state.get("reports") or []))
    elif state.get("proposed_code"):  # the last final code ran
        output = (state.get("last_result") or {}).get("output") or "(no output)"
        ask_for = prompts.render("supervisor_final_retry", output=clip_middle(output, 1500))
    else:
        ask_for = prompts.render("no_code")
    return [supervisor_system(state, prompts, max_subgoals=max_subgoals),
            *model_turns(state.get("supervisor_messages") or []), HumanMessage(content=ask_for)]


def read_specialist_code(reply: str) -> str | None:
    """A specialist's code action; its report has none ("RESULT: x" alone parses as
    Python, an annotation, so it is recognised first)."""
    return None if is_report(reply) else extract_code(reply)


def report_of(loop_state: SpecialistOutput, subgoal: SubGoal) -> Report:
    """What a specialist's finished loop hands back: its report, or, out of steps, its
    last output."""
    steps = steps_taken(loop_state)
    if loop_state.get("status") == "handed_back":
        return {**subgoal, "result": str(loop_state["messages"][-1].content), "steps": steps, "reached": True}
    last = loop_state.get("last_result") or {}
    result = (f"(used all {steps} steps without reporting) last output: "
              + clip_middle(last.get("output") or "(no output)", _REPORT_CHARS))
    return {**subgoal, "result": result, "steps": steps, "reached": False}


Turn = Literal["plan", "specialist", "final", "finish"]
TURNS: tuple[Turn, ...] = ("plan", "specialist", "final", "finish")


def next_turn(state: MultiAgentState, settings: TriroleSettings) -> Turn:
    """Who acts next: the supervisor's plan when a new request arrived, the next
    specialist while sub-goals remain, then the supervisor's final code (at most
    `MAX_FINAL_ATTEMPTS` times); ``finish`` once the run is over."""
    if run_is_over(state, settings):
        return "finish"
    if (state.get("counters") or {}).get("requests", 0) != state.get("planned_request", 0):
        return "plan"
    if state.get("subgoal_index", 0) < len(state.get("plan") or []):
        return "specialist"
    return "final" if state.get("final_attempts", 0) < MAX_FINAL_ATTEMPTS else "finish"


def after_final(state: MultiAgentState, settings: TriroleSettings) -> Literal["executor", Turn]:
    """After the supervisor's final reply: its code runs, if it wrote some (a reply without
    code is asked again, while attempts remain)."""
    if not run_is_over(state, settings) and state.get("code_to_run"):
        return "executor"
    return next_turn(state, settings)


# -- nodes ----------------------------------------------------------------------------------
# The graph's model roles, both served by the agent's endpoint (one model, every role,
# as in the papers) unless a model is injected for the role.
ROLE_ENDPOINTS = {SUPERVISOR: "agent", SPECIALIST: "agent"}


def make_plan_node(resources: Resources, *, max_subgoals: int):
    @calls_role(resources, SUPERVISOR)
    async def plan(state: MultiAgentState, config: RunnableConfig) -> dict:
        prompt = plan_prompt(state, resources.prompts, max_subgoals=max_subgoals)
        reply, _, usage, message_id = await ask(resources, SUPERVISOR, prompt, resources.settings(config))
        subgoals = parse_plan(reply, list(state.get("app_references") or {GENERAL: ""}),
                              instruction=current_request(state), max_subgoals=max_subgoals)
        answer = reply_message(reply or "(empty reply)", role=SUPERVISOR, step=steps_taken(state) + 1,
                               message_id=unused_id(message_id, state.get("messages") or []))
        # A new plan per request: its own sub-goals, reports and final attempts.
        return {"messages": [answer], "supervisor_messages": [prompt[-1], answer], "usage": {SUPERVISOR: usage},
                "counters": {"steps": 1}, "plan": subgoals, "subgoal_index": 0, "reports": Overwrite([]),
                "final_attempts": 0, "planned_request": (state.get("counters") or {}).get("requests", 0)}

    return plan


def make_specialist_loop(resources: Resources, *, specialist_steps: int) -> CompiledStateGraph:
    """The single-agent loop (agent <-> executor, no setup or finish) as one specialist:
    role ``specialist``, its prompt, and a reply without code is its report, which ends
    its loop (status ``handed_back``, local to the loop)."""

    def prompt(state: SpecialistState, prompts: Prompts, *, settings: TriroleSettings) -> list[BaseMessage]:
        return specialist_prompt(state, prompts, max_steps=specialist_steps)

    def report(state: TriroleState, prompts: Prompts) -> dict:
        return {"status": "handed_back", "status_reason": "the specialist reported its result"}

    factories = {"agent": lambda r: make_agent_node(r, role=SPECIALIST, prompt=prompt,
                                                    read_code=read_specialist_code, without_code=report),
                 "executor": make_specialist_executor}
    return assemble_loop(resources, factories=factories, nodes=None, checkpointer=None, name=SPECIALIST,
                         state_schema=SpecialistState, input_schema=SpecialistInput, output_schema=SpecialistOutput)


def make_specialist_executor(resources: Resources):
    """The loop's executor; a step that ended the user's request (the next one arrived)
    ends the specialist's loop too: the supervisor plans the new request."""
    execute = make_executor_node(resources)

    async def executor(state: SpecialistState, config: RunnableConfig) -> dict:
        update = await execute(state, config)
        last = update.get("last_result") or {}
        if last.get("next_request") is not None and not last.get("task_completed") and not status_is_final(update):
            update = {**update, "status": "handed_back", "status_reason": "the user's request ended; a new one arrived"}
        return update

    return executor


def make_specialist_node(resources: Resources, *, specialist_steps: int):
    """Runs the current sub-goal's specialist loop on a dialogue of its own, within what
    is left of the run's step budget, and hands its report back to the supervisor."""
    loop = make_specialist_loop(resources, specialist_steps=specialist_steps)

    async def specialist(state: MultiAgentState, config: RunnableConfig) -> dict:
        settings = resources.settings(config)
        subgoal = state["plan"][state["subgoal_index"]]
        left = [specialist_steps, settings.max_steps - steps_in_request(state)]
        if settings.max_total_steps:
            left.append(settings.max_total_steps - steps_taken(state))
        turn: SpecialistOutput = await loop.ainvoke(specialist_input(state), config,
                                                    context=replace(settings, max_steps=min(left), max_total_steps=0))
        update: dict = {key: turn[key] for key in ("messages", "usage", "attempts", "artifacts", "last_result",
                                                   "env_session") if turn.get(key)}
        update.update(counters={**(turn.get("counters") or {}), "subgoals": 1},
                      proposed_code="", code_to_run="", correction_reason="")
        if status_is_final(turn) and turn["status"] != "handed_back":  # its model or environment failed
            return {**update, "status": turn["status"], "status_reason": turn.get("status_reason", "")}
        last = turn.get("last_result") or {}
        if last.get("next_request") is not None and not last.get("task_completed"):
            # Its step ended the user's request: the rest of this plan is moot; the next request gets its own.
            return {**update, "request": last["next_request"], "request_start_step": steps_taken(state) +
                    steps_taken(turn), "subgoal_index": len(state["plan"])}
        return {**update, "reports": [report_of(turn, subgoal)], "subgoal_index": state["subgoal_index"] + 1}

    return specialist


def make_final_node(resources: Resources, *, max_subgoals: int):
    @calls_role(resources, SUPERVISOR)
    async def final(state: MultiAgentState, config: RunnableConfig) -> dict:
        prompt = final_prompt(state, resources.prompts, max_subgoals=max_subgoals)
        reply, code, usage, message_id = await ask(resources, SUPERVISOR, prompt, resources.settings(config))
        answer = reply_message(reply or "(empty reply)", role=SUPERVISOR, step=steps_taken(state) + 1, code=code,
                               message_id=unused_id(message_id, state.get("messages") or []))
        update = {"messages": [answer], "supervisor_messages": [prompt[-1], answer], "usage": {SUPERVISOR: usage},
                  "counters": {"steps": 1}, "final_attempts": state.get("final_attempts", 0) + 1,
                  "proposed_code": code or "", "code_to_run": code or "", "correction_reason": ""}
        return update

    return final


def final_code_reason(state: MultiAgentState, settings: TriroleSettings) -> str:
    """Why a multi-agent run ended without completing the task, when no node said why."""
    if out_of_steps(state, settings):
        return step_budget_reason(state, settings)
    return (f"the supervisor's final code did not complete the task in {state.get('final_attempts', 0)} "
            f"attempt(s) (at most {MAX_FINAL_ATTEMPTS})")


def build_multi_agent_graph(*, models: Mapping[str, BaseChatModel] | None = None, specialist_steps: int = 5,
                            max_subgoals: int = 4, name: str = "multi-agent",
                            **options: Unpack[GraphOptions]) -> CompiledStateGraph:
    """Compile the supervisor / app-specialist graph over `MultiAgentState`.

    Args:
        models: per-role models by ``supervisor`` / ``specialist``; win over `model`
            (one chat model for every role; default: built from the settings' agent endpoint).
        specialist_steps: model calls one specialist may make on its sub-goal.
        max_subgoals: sub-goals the supervisor's plan is cut to.
        options: what every builder takes (`trirole.graphs.GraphOptions`); `nodes`
            replaces nodes by name (``setup``, ``plan``, ``specialist``, ``final``,
            ``executor``, ``finish``), a replacement keeping the node's edges. The others
            mean what they mean for `build_scaffold_graph`.
    """
    if specialist_steps < 1 or max_subgoals < 1:
        raise ValueError("specialist_steps and max_subgoals must be >= 1")
    resources = make_resources(models=models, roles=ROLE_ENDPOINTS, builder="build_multi_agent_graph", **options)
    built = {
        "setup": make_setup_node(resources, with_info=lambda info: {
            "app_references": specialist_references(info.apps, info.reference)}, graph_new_run=lambda: {
            "reports": Overwrite([]), "supervisor_messages": Overwrite([]), "plan": [], "subgoal_index": 0,
            "final_attempts": 0, "planned_request": 0}),
        "plan": make_plan_node(resources, max_subgoals=max_subgoals),
        "specialist": make_specialist_node(resources, specialist_steps=specialist_steps),
        "final": make_final_node(resources, max_subgoals=max_subgoals),
        "executor": make_executor_node(resources),
        "finish": make_finish_node(resources, unfinished=final_code_reason),
    }
    graph = new_graph(built, options.get("nodes"), state_schema=MultiAgentState)

    def route(decide: Callable[[MultiAgentState, TriroleSettings], str]) -> Callable:
        async def routed(state: MultiAgentState, config: RunnableConfig) -> str:
            return decide(state, resources.settings(config))

        routed.__name__ = decide.__name__
        return routed

    graph.add_edge(START, "setup")
    graph.add_conditional_edges("setup", unless_over("plan"), ["plan", "finish"])
    for node in ("plan", "specialist", "executor"):
        graph.add_conditional_edges(node, route(next_turn), list(TURNS))
    graph.add_conditional_edges("final", route(after_final), ["executor", *TURNS])
    graph.add_edge("finish", END)
    return compile_graph(graph, resources, name=name, **compile_options(options))
