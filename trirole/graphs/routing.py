"""The conditional edges of the agent loops. Pure decisions over the state; every path
ends: each agent call counts a step, and the step budget sends the run to ``finish``."""

from __future__ import annotations

from typing import Literal

from langchain_core.runnables import RunnableConfig

from trirole.nodes.context import agent_prompt
from trirole.resources import Resources
from trirole.settings import TriroleSettings
from trirole.state import TriroleState, status_is_final, steps_in_request, steps_taken

AfterAgent = Literal["corrector", "executor", "summarizer", "agent", "finish"]
AfterExecution = Literal["summarizer", "agent", "finish"]
AfterCorrector = Literal["executor", "summarizer", "agent", "finish"]


def run_is_over(state: TriroleState, settings: TriroleSettings) -> bool:
    """Completed, failed for good, or out of steps (`out_of_steps`)."""
    if status_is_final(state):
        return True
    if (state.get("last_result") or {}).get("task_completed"):
        return True
    return out_of_steps(state, settings)


def out_of_steps(state: TriroleState, settings: TriroleSettings) -> bool:
    """The current request used its ``max_steps``, or the run its ``max_total_steps``."""
    capped = bool(settings.max_total_steps) and steps_taken(state) >= settings.max_total_steps
    return capped or steps_in_request(state) >= settings.max_steps


def make_routes(resources: Resources, *, summarizer: bool = True, corrector: bool = True):
    """The two routing functions of a loop, for a graph that has (or lacks) the
    summarizer and corrector nodes. Ablations switched off in the settings skip them too."""

    # Async, like the nodes: a sync router would be sent to a thread pool every step,
    # and counting tokens is an HTTP call that must not block the event loop.
    async def needs_summary(state: TriroleState, settings: TriroleSettings) -> bool:
        if not (summarizer and settings.use_summarizer):
            return False
        prompt = agent_prompt(state, resources.prompts, settings=settings)
        return await resources.counter(settings).acount(prompt) > settings.prompt_budget

    async def after_execution(state: TriroleState, config: RunnableConfig) -> AfterExecution:
        settings = resources.settings(config)
        if run_is_over(state, settings):
            return "finish"
        return "summarizer" if await needs_summary(state, settings) else "agent"

    async def after_agent(state: TriroleState, config: RunnableConfig) -> AfterAgent:
        if status_is_final(state):
            return "finish"
        if not state.get("code_to_run"):  # no code: the reply was answered with a hint
            settings = resources.settings(config)
            if corrector and settings.use_corrector and settings.review_no_code and state.get("correction_reason"):
                return "corrector"  # it writes the step's code (`review_no_code`)
            return await after_execution(state, config)
        if corrector and state.get("correction_reason"):
            return "corrector"
        return "executor"

    async def after_corrector(state: TriroleState, config: RunnableConfig) -> AfterCorrector:
        if state.get("code_to_run"):
            return "executor"
        return await after_execution(state, config)  # a reply without code, and no code from the corrector

    return after_agent, after_execution, after_corrector


def unless_over(first: str):
    """The edge out of ``setup``: to `first`, or to ``finish`` when the task could not start."""

    async def after_setup(state: TriroleState) -> str:
        return "finish" if status_is_final(state) else first

    return after_setup
