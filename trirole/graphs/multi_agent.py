"""The multi-agent paradigm of *Rethinking Scale*: a supervisor routes sub-goals to
app-specialist agents.

The supervisor splits the task into a few sub-goals, each for one specialist. Every
specialist knows only its apps' reference (`EnvironmentInfo.apps`; one ``general``
specialist with the whole reference when the environment has no apps) and runs a short
ReAct code loop, in the same environment episode, until it reports a result or runs out
of its steps. Later specialists are told what earlier ones reported. Then the supervisor
writes the final code that completes the task (retried once if it does not).

    setup -> plan -> specialist <-> executor [-> handoff] -> ... -> final -> executor -> finish

Every model call (supervisor or specialist) counts one step in ``counters["steps"]``, so
``max_steps`` bounds the run; each specialist is also bounded by ``specialist_steps`` and
the final code by ``MAX_FINAL_ATTEMPTS``. Usage is recorded per role: ``supervisor`` and
``specialist``.
"""

from __future__ import annotations

import json
import operator
import re
from typing import Annotated, Any, Callable, Literal, Mapping, NotRequired

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Checkpointer
from typing_extensions import TypedDict  # pydantic (Studio's schemas) rejects typing.TypedDict before 3.12

from trirole.backend import TokenCounter, describe_model_error
from trirole.graphs.loop import make_resources, new_graph
from trirole.nodes.agent import propose_action
from trirole.nodes.context import ContextOverflow, fit_to_budget
from trirole.nodes.executor import make_executor_node, make_finish_node, start_episode
from trirole.parsing import clip_middle, strip_thinking
from trirole.prompts import Prompts
from trirole.resources import EnvironmentSpec, Resources
from trirole.settings import TriroleSettings
from trirole.state import TriroleState, steps_taken

GENERAL = "general"
SUPERVISOR, SPECIALIST = "supervisor", "specialist"
MAX_FINAL_ATTEMPTS = 2
_REPORT_CHARS = 800


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
    subgoal_start: index in ``messages`` where the current sub-goal's dialogue starts;
        a specialist sees only ``messages[subgoal_start:]``.
    subgoal_steps: model calls of the current specialist so far.
    reports: what the specialists handed back (append reducer).
    phase: ``plan``, ``specialist`` or ``final`` (the supervisor's completion code).
    final_attempts: how many times the supervisor wrote the final code.
    """

    app_references: NotRequired[dict[str, str]]
    plan: NotRequired[list[SubGoal]]
    subgoal_index: NotRequired[int]
    subgoal_start: NotRequired[int]
    subgoal_steps: NotRequired[int]
    reports: Annotated[list[Report], operator.add]
    phase: NotRequired[Literal["plan", "specialist", "final"]]
    final_attempts: NotRequired[int]


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
        lowered = instruction.lower()
        named = [name for name in specialists if name.lower() in lowered]
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


def plan_prompt(state: MultiAgentState, prompts: Prompts, *, max_subgoals: int) -> list[BaseMessage]:
    """The supervisor's planning prompt: specialists by name with one line each, not
    their references (the supervisor routes; specialists read the docs)."""
    specialists = "\n".join(describe_specialist(n, r) for n, r in (state.get("app_references") or {}).items())
    return [SystemMessage(content=prompts.render("supervisor_plan_system", specialists=specialists,
                                                 max_subgoals=max_subgoals)),
            HumanMessage(content=prompts.render("supervisor_plan_user", instruction=state["task"]["instruction"],
                                                context=_context(state)))]


def specialist_prompt(state: MultiAgentState, prompts: Prompts, *, max_steps: int) -> list[BaseMessage]:
    """The current specialist's prompt: only its apps' reference, its sub-goal, the
    reports so far, and its own turns of this sub-goal."""
    subgoal = state["plan"][state["subgoal_index"]]
    reference = (state.get("app_references") or {}).get(subgoal["specialist"], "(none)")
    system = prompts.render("specialist_system", specialist=subgoal["specialist"], max_steps=max_steps,
                            completion_hint=state.get("completion_hint") or "complete_task(answer)",
                            reference=reference)
    task = prompts.render("specialist_task", goal=subgoal["goal"], instruction=state["task"]["instruction"],
                          context=_context(state), reports=format_reports(state.get("reports") or []))
    recent = list(state.get("messages") or [])[state.get("subgoal_start", 0):]
    return [SystemMessage(content=system), HumanMessage(content=task), *recent]


def final_prompt(state: MultiAgentState, prompts: Prompts) -> list[BaseMessage]:
    """The supervisor's completion prompt: the task, the reports, and its failed try."""
    previous = ""
    last = state.get("last_result") or {}
    if state.get("phase") == "final" and last:
        previous = prompts.render("supervisor_final_retry", code=last.get("code", ""),
                                  output=clip_middle(last.get("output") or "(no output)", 1500))
    hint = state.get("completion_hint") or "complete_task(answer)"
    return [SystemMessage(content=prompts.render("supervisor_final_system", completion_hint=hint)),
            HumanMessage(content=prompts.render("supervisor_final_user", instruction=state["task"]["instruction"],
                                                context=_context(state), previous=previous,
                                                reports=format_reports(state.get("reports") or [])))]


def _hand_back(state: MultiAgentState, *, result: str, reached: bool, steps: int, added_messages: int) -> dict:
    """The update that records the current specialist's report and moves to the next."""
    subgoal = state["plan"][state["subgoal_index"]]
    return {"reports": [{"specialist": subgoal["specialist"], "goal": subgoal["goal"], "result": result,
                         "steps": steps, "reached": reached}],
            "subgoal_index": state["subgoal_index"] + 1, "subgoal_steps": 0,
            "subgoal_start": len(state.get("messages") or []) + added_messages}


# -- nodes ----------------------------------------------------------------------------------
# The graph's model roles, both served by the agent's endpoint (one model, every role,
# as in the papers) unless a model is injected for the role.
ROLE_ENDPOINTS = {SUPERVISOR: "agent", SPECIALIST: "agent"}


class _Roles:
    """One model call of the supervisor or a specialist, failures as state updates."""

    def __init__(self, resources: Resources) -> None:
        self.resources = resources

    async def call(self, role: str, prompt: list[BaseMessage], config: RunnableConfig) -> tuple[dict, Any]:
        """One model call: ``({"reply", "code", "usage"}, None)`` or ``(None, failure update)``."""
        settings = self.resources.settings(config)
        counter = self.resources.counter(settings, role)
        try:
            prompt = await fit_to_budget(prompt, settings.prompt_budget, counter)
            reply, code, usage = await propose_action(self.resources.model(role, settings), prompt, counter, role=role)
        except ContextOverflow as exc:
            return {}, {"status": "context_overflow", "status_reason": str(exc)}
        except Exception as exc:  # the endpoint failed after its retries
            return {}, {"status": "model_error",
                        "status_reason": describe_model_error(exc, self.resources.endpoint(settings, role))}
        return {"reply": reply, "code": code, "usage": usage}, None


def make_setup_node(resources: Resources):
    """Like the loops' setup node, and also keeps each specialist's reference."""

    async def setup(state: MultiAgentState, config: RunnableConfig) -> dict:
        update, info = await start_episode(resources, state, resources.settings(config))
        if info is not None:
            update.update(app_references=specialist_references(info.apps, info.reference), phase="plan")
        return update

    return setup


def make_plan_node(roles: _Roles, *, max_subgoals: int):
    async def plan(state: MultiAgentState, config: RunnableConfig) -> dict:
        prompt = plan_prompt(state, roles.resources.prompts, max_subgoals=max_subgoals)
        out, failure = await roles.call(SUPERVISOR, prompt, config)
        if failure:
            return failure
        subgoals = parse_plan(out["reply"], list(state.get("app_references") or {GENERAL: ""}),
                              instruction=state["task"]["instruction"], max_subgoals=max_subgoals)
        messages = list(state.get("messages") or [])
        return {"messages": [AIMessage(content=out["reply"] or "(empty reply)")], "usage": {SUPERVISOR: out["usage"]},
                "counters": {"steps": 1}, "plan": subgoals, "subgoal_index": 0, "subgoal_steps": 0,
                "subgoal_start": len(messages) + 1, "phase": "specialist"}

    return plan


def make_specialist_node(roles: _Roles, *, specialist_steps: int):
    async def specialist(state: MultiAgentState, config: RunnableConfig) -> dict:
        prompt = specialist_prompt(state, roles.resources.prompts, max_steps=specialist_steps)
        out, failure = await roles.call(SPECIALIST, prompt, config)
        if failure:
            return failure
        steps = state.get("subgoal_steps", 0) + 1
        if is_report(out["reply"]):
            out["code"] = None  # "RESULT: x" alone parses as Python (an annotation): it is the report
        update: dict = {"messages": [AIMessage(content=out["reply"] or "(empty reply)")],
                        "usage": {SPECIALIST: out["usage"]}, "counters": {"steps": 1}, "subgoal_steps": steps,
                        "proposed_code": out["code"] or "", "code_to_run": out["code"] or "", "correction_reason": ""}
        if out["code"] is None:  # no code: the specialist's report
            update.update(_hand_back(state, result=out["reply"], reached=True, steps=steps, added_messages=1))
            update["counters"]["subgoals"] = 1
        return update

    return specialist


def make_handoff_node(specialist_steps: int):
    """A specialist out of steps hands back its last output (no model call)."""

    async def handoff(state: MultiAgentState) -> dict:
        last = state.get("last_result") or {}
        result = (f"(used all {specialist_steps} steps without reporting) last output: "
                  + clip_middle(last.get("output") or "(no output)", _REPORT_CHARS))
        return {**_hand_back(state, result=result, reached=False, steps=state.get("subgoal_steps", 0),
                             added_messages=0), "counters": {"subgoals": 1}}

    return handoff


def make_final_node(roles: _Roles):
    async def final(state: MultiAgentState, config: RunnableConfig) -> dict:
        out, failure = await roles.call(SUPERVISOR, final_prompt(state, roles.resources.prompts), config)
        if failure:
            return failure
        return {"messages": [AIMessage(content=out["reply"] or "(empty reply)")], "usage": {SUPERVISOR: out["usage"]},
                "counters": {"steps": 1}, "phase": "final", "final_attempts": state.get("final_attempts", 0) + 1,
                "proposed_code": out["code"] or "", "code_to_run": out["code"] or "", "correction_reason": ""}

    return final


def make_multi_agent_finish_node(resources: Resources):
    """`make_finish_node`, with the right reason when the supervisor's final code
    did not complete the task before the step budget ran out."""
    finish = make_finish_node(resources)

    async def multi_agent_finish(state: MultiAgentState, config: RunnableConfig) -> dict:
        settings = resources.settings(config)
        preset: dict = {}
        done = (state.get("last_result") or {}).get("task_completed")
        if state.get("status") in (None, "running") and not done and steps_taken(state) < settings.max_steps:
            preset = {"status": "step_budget", "status_reason": (
                f"the supervisor's final code did not complete the task in {state.get('final_attempts', 0)} "
                f"attempt(s) (at most {MAX_FINAL_ATTEMPTS})")}
        update = await finish({**state, **preset}, config)
        return {**preset, **update}

    multi_agent_finish.__name__ = "finish"
    return multi_agent_finish


# -- routing ----------------------------------------------------------------------------------
def make_routes(resources: Resources, *, specialist_steps: int):
    """The conditional edges. Each path out of a model-calling node either ends or
    passes a check of the step budget, so every loop terminates."""

    def over(state: MultiAgentState, config: RunnableConfig) -> bool:
        if state.get("status") not in (None, "running"):
            return True
        if (state.get("last_result") or {}).get("task_completed"):
            return True
        return steps_taken(state) >= resources.settings(config).max_steps

    def next_subgoal(state: MultiAgentState, config: RunnableConfig) -> str:
        if over(state, config):
            return "finish"
        return "specialist" if state.get("subgoal_index", 0) < len(state.get("plan") or []) else "final"

    async def after_setup(state: MultiAgentState) -> Literal["plan", "finish"]:
        return "finish" if state.get("status") not in (None, "running") else "plan"

    async def after_plan(state: MultiAgentState, config: RunnableConfig) -> str:
        return next_subgoal(state, config)

    async def after_specialist(state: MultiAgentState, config: RunnableConfig) -> str:
        if state.get("status") not in (None, "running"):
            return "finish"
        return "executor" if state.get("code_to_run") else next_subgoal(state, config)

    async def after_executor(state: MultiAgentState, config: RunnableConfig) -> str:
        if over(state, config):
            return "finish"
        if state.get("phase") == "final":
            return "final" if state.get("final_attempts", 0) < MAX_FINAL_ATTEMPTS else "finish"
        return "handoff" if state.get("subgoal_steps", 0) >= specialist_steps else "specialist"

    async def after_handoff(state: MultiAgentState, config: RunnableConfig) -> str:
        return next_subgoal(state, config)

    async def after_final(state: MultiAgentState, config: RunnableConfig) -> str:
        if state.get("status") not in (None, "running"):
            return "finish"
        if state.get("code_to_run"):
            return "executor"
        retry = state.get("final_attempts", 0) < MAX_FINAL_ATTEMPTS and not over(state, config)
        return "final" if retry else "finish"

    return {"setup": after_setup, "plan": after_plan, "specialist": after_specialist,
            "executor": after_executor, "handoff": after_handoff, "final": after_final}


_TARGETS = {
    "setup": ["plan", "finish"],
    "plan": ["specialist", "final", "finish"],
    "specialist": ["executor", "specialist", "final", "finish"],
    "executor": ["specialist", "handoff", "final", "finish"],
    "handoff": ["specialist", "final", "finish"],
    "final": ["executor", "final", "finish"],
}


def build_multi_agent_graph(
    *,
    model: BaseChatModel | None = None,
    models: Mapping[str, BaseChatModel] | None = None,
    settings: TriroleSettings | Mapping[str, Any] | None = None,
    prompts: Mapping[str, str] | str | None = None,
    token_counter: TokenCounter | None = None,
    environment: EnvironmentSpec = None,
    nodes: Mapping[str, Callable] | None = None,
    specialist_steps: int = 5,
    max_subgoals: int = 4,
    checkpointer: Checkpointer = None,
    name: str = "multi-agent",
    debug: bool = False,
) -> CompiledStateGraph:
    """Compile the supervisor / app-specialist graph over `MultiAgentState`.

    Args:
        model: one chat model for every role. Default: built from the settings' agent
            endpoint.
        models: per-role models by ``supervisor`` / ``specialist``; win over `model`.
        specialist_steps: model calls one specialist may make on its sub-goal.
        max_subgoals: sub-goals the supervisor's plan is cut to.
        nodes: replacements by node name (``setup``, ``plan``, ``specialist``,
            ``executor``, ``handoff``, ``final``, ``finish``).
        Other options mean what they mean for `build_scaffold_graph`.
    """
    if specialist_steps < 1 or max_subgoals < 1:
        raise ValueError("specialist_steps and max_subgoals must be >= 1")
    resources = make_resources(model=model, models=models, settings=settings, prompts=prompts,
                               token_counter=token_counter, environment=environment, roles=ROLE_ENDPOINTS)
    roles = _Roles(resources)
    built = {
        "setup": make_setup_node(resources),
        "plan": make_plan_node(roles, max_subgoals=max_subgoals),
        "specialist": make_specialist_node(roles, specialist_steps=specialist_steps),
        "executor": make_executor_node(resources),
        "handoff": make_handoff_node(specialist_steps),
        "final": make_final_node(roles),
        "finish": make_multi_agent_finish_node(resources),
    }
    graph = new_graph(built, nodes, state_schema=MultiAgentState)
    routes = make_routes(resources, specialist_steps=specialist_steps)
    graph.add_edge(START, "setup")
    for source, targets in _TARGETS.items():
        graph.add_conditional_edges(source, routes[source], targets)
    graph.add_edge("finish", END)
    return graph.compile(checkpointer=checkpointer, name=name, debug=debug)
