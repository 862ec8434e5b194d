"""The environment's nodes: start the episode, run code actions, end the episode.

`execute_action` is the pure-ish core: run code in the environment, turn the result
into the observation the agent reads, the artifacts it must keep and the attempt record
that repetition detection uses. Agent code never runs here: the environment runs it in
its own process (a sandbox subprocess or AppWorld's server).

The recorded function calls of a step (`trirole.calls`: a user's tools, a benchmark's
functions) are events of their own (`TOOL_CALL_EVENT`, one per call, before the step's
`EXECUTION_EVENT`), counted in ``counters`` (``tool_calls``, ``tool_errors``), and their
results are read by the artifact store like the step's output, so a token a tool
returned is kept through summaries even when the code never printed it.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Sequence

from langchain_core.callbacks import adispatch_custom_event
from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig
from langgraph.types import Overwrite

from trirole.artifacts import extract_artifacts, format_artifacts, is_secret
from trirole.episode import Episode, episode_of
from trirole.events import EXECUTION_EVENT, FINAL_EVENT, TOOL_CALL_EVENT
from trirole.nodes.chat import final_message, output_messages, run_task
from trirole.parsing import clip_middle
from trirole.prompts import Prompts
from trirole.repetition import code_fingerprint, error_signature
from trirole.resources import Resources
from trirole.state import CallRecord, ExecutionResult, TriroleState, merge_artifacts, status_is_final, steps_taken
from trirole.settings import TriroleSettings
from trirole.environments import Environment, EnvironmentFailure, EnvironmentInfo
from trirole.environments.functions import RUN_STATE


def observation_text(result: ExecutionResult, *, step: int, revised: bool, prompts: Prompts,
                     cut_artifacts: str = "") -> str:
    """What the agent reads of a step; `cut_artifacts`: the artifacts clipping removed."""
    status = f" (failed: {result.get('error_type', 'Error')})" if result.get("error") else ""
    revision = prompts.render("observation_revision", code=result["code"]) if revised else ""
    text = prompts.render("observation", revision=revision, step=step, status=status,
                          output=result.get("output") or "(no output)")
    return text + ("\n" + prompts.render("observation_cut", artifacts=cut_artifacts) if cut_artifacts else "")


def artifacts_cut(artifacts: dict, shown: str) -> str:
    """The secrets among `artifacts` that the `shown` (clipped) output lacks, as artifact
    lines: every secret is verbatim in every agent prompt, and until a summary the agent
    reads those seen since in their turns (`trirole.nodes.context`). Records a clipped
    listing loses are not restated: they are budgeted, and the summary's block has them."""
    return format_artifacts({key: a for key, a in artifacts.items()
                             if is_secret(a) and a.get("value") and a["value"] not in shown})


async def execute_action(env: Environment, code: str, *, step: int, revised: bool, proposed: str,
                         max_observation_chars: int, prompts: Prompts, messages: Sequence[BaseMessage] = ()) -> dict:
    """Run `code`; the state update with the observation (the `ToolMessage` answering the
    code's call in `messages`, the run's so far: `trirole.nodes.chat.output_messages`),
    artifacts and attempt."""
    result = dict(await env.execute(code))
    # Read before clipping (an environment that returns its whole output loses no token in
    # the clipped middle), and read failed steps too: what they printed before failing is real.
    artifacts = extract_artifacts(result.get("output") or "", step=step, source=f"step {step} output", code=code)
    result["output"] = clip_middle(result.get("output") or "", max_observation_chars)
    cut = artifacts_cut(artifacts, result["output"])
    attempt = {"step": step, "fingerprint": code_fingerprint(proposed or code),
               "error_signature": error_signature(result), "corrected": revised}
    update: dict[str, Any] = {
        "last_result": result, "artifacts": merge_artifacts(call_artifacts(result.get("calls") or [], step=step),
                                                            artifacts),
        "attempts": [attempt],
        "messages": output_messages(observation_text(result, step=step, revised=revised, prompts=prompts,
                                                     cut_artifacts=cut), result, step=step, messages=messages)}
    calls = result.get("calls") or []
    counters = {"tool_calls": len(calls), "tool_errors": sum(1 for c in calls if c.get("error"))} if calls else {}
    if result.get("next_request") is not None and not result.get("task_completed"):
        # The step ended the user's request and the next one arrived: its own step budget starts here.
        update.update(request=result["next_request"], request_start_step=step)
        counters["requests"] = 1
    if counters:
        update["counters"] = counters
    return update


def call_artifacts(calls: list[CallRecord], *, step: int) -> dict:
    """What the artifact store keeps from the results of a step's recorded calls (the
    code's own output is read apart, with the code)."""
    found: dict = {}
    for call in calls:
        result = call.get("result")
        if result is None:
            continue
        text = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)
        found = merge_artifacts(found, extract_artifacts(text, step=step, source=f"step {step} {call['name']}() result"))
    return found


def make_executor_node(resources: Resources):
    async def executor(state: TriroleState, config: RunnableConfig) -> dict:
        settings = resources.settings(config)
        try:
            env, restarted = await _live_environment(resources, state, settings, episode_of(config))
            code = state.get("code_to_run") or ""
            step = (state.get("counters") or {}).get("steps", 0)
            running = RUN_STATE.set(state)  # what the user's tools see as InjectedState
            try:
                update = await execute_action(env, code, step=step,
                                              revised=code != (state.get("proposed_code") or ""),
                                              proposed=state.get("proposed_code", ""),
                                              max_observation_chars=settings.max_observation_chars,
                                              prompts=resources.prompts, messages=state.get("messages") or [])
            finally:
                RUN_STATE.reset(running)
        except EnvironmentFailure as exc:
            return {"status": "env_error", "status_reason": f"the environment failed: {exc}"}
        for call in update["last_result"].get("calls") or []:
            await adispatch_custom_event(TOOL_CALL_EVENT, {"step": step, **call}, config=config)
        await adispatch_custom_event(EXECUTION_EVENT, {"step": step, **update["last_result"]}, config=config)
        return {**update, **restarted}

    return executor


async def start_episode(resources: Resources, state: TriroleState, settings: TriroleSettings,
                        episode: Episode) -> tuple[dict, EnvironmentInfo | None]:
    """Reset a fresh environment to the task in the run's `episode`: the state update
    recording what it tells the agent, and its info (``None`` when the task could not
    start: the update then ends the run with ``env_error``)."""
    try:
        session_id, info = await episode.start(resources.new_environment(settings), state["task"])
    except (EnvironmentFailure, ValueError) as exc:
        return {"env_session": episode.id, "status": "env_error", "status_reason": f"could not start the task: {exc}"}, None
    task = {**state["task"], "instruction": state["task"].get("instruction") or info.instruction,
            "context": {**info.context, **(state["task"].get("context") or {})}}
    return {"env_session": session_id, "task": task, "reference": info.reference,
            "corrector_reference": info.corrector_reference,
            "completion_hint": info.completion_hint, "isolation": info.isolation,
            "status": "running", "status_reason": ""}, info


def new_run() -> dict:
    """What a run on a thread whose last run ended starts without: that run's counts, usage,
    attempts, artifacts (its episode is gone), memory and results (`Overwrite`: past the reducers)."""
    return {"counters": Overwrite({}), "usage": Overwrite({}), "attempts": Overwrite([]), "artifacts": Overwrite({}),
            "summary": "", "memory_artifacts": "", "last_result": None, "proposed_code": "", "code_to_run": "",
            "correction_reason": "", "answer": None, "evaluation": None, "request": "", "request_start_step": 0}


def make_setup_node(resources: Resources, *, with_info: Callable[[EnvironmentInfo], dict] | None = None,
                    graph_new_run: Callable[[], dict] | None = None):
    """Resets a fresh environment to the task and records what it tells the agent
    (plus ``with_info(info)``, for a graph that keeps more of it). A chat input (no
    ``task``, only ``messages``; or a new chat turn in a used thread) becomes the task here
    (`trirole.nodes.chat.run_task`); the messages the run starts with are never the
    agent's own turns (``summarized_upto``). On a thread whose last run ended, the run
    starts afresh (`new_run`, plus `graph_new_run()` for a graph's own fields)."""

    async def setup(state: TriroleState, config: RunnableConfig) -> dict:
        task = run_task(state)
        update, info = await start_episode(resources, {**state, "task": task}, resources.settings(config),
                                           episode_of(config))
        update.setdefault("task", task)
        if status_is_final(state):  # this thread ran a task before: this is a new one
            update = {**new_run(), **(graph_new_run() if graph_new_run else {}), **update}
        if state.get("messages"):
            update["summarized_upto"] = len(state["messages"])
        if info is not None and with_info is not None:
            update.update(with_info(info))
        return update

    return setup


def step_budget_reason(state: TriroleState, settings: TriroleSettings) -> str:
    """Why a run that did not complete its task ended, when no node said why: the step
    budget of its request (``max_steps``), or of the whole run (``max_total_steps``)."""
    if settings.max_total_steps and steps_taken(state) >= settings.max_total_steps:
        return f"the run's cap of {settings.max_total_steps} steps in all ran out before the task was complete"
    which = " of the user's current request" if state.get("request") else ""
    return f"the step budget of {settings.max_steps}{which} ran out before the task was complete"


def make_finish_node(resources: Resources, *, unfinished: Callable[[TriroleState, TriroleSettings], str] = step_budget_reason):
    """Decides the final status, asks the environment for its verdict and adds the
    final answer as an AI message to ``messages`` (`trirole.nodes.chat`). The episode
    is closed by its owner (`Episode`), not here: a run cut off before this node
    closes it just the same.

    unfinished: the reason of a run that ends running without completing its task.
    """

    async def finish(state: TriroleState, config: RunnableConfig) -> dict:
        settings = resources.settings(config)
        last = state.get("last_result") or {}
        update: dict = {}
        if last.get("task_completed"):
            update.update(status="completed", status_reason="the agent declared the task complete",
                          answer=last.get("answer"))
        elif not status_is_final(state):
            update.update(status="step_budget", status_reason=unfinished(state, settings))
        env = episode_of(config).live(state.get("env_session"))
        if env is not None:
            try:
                verdict = await env.evaluate()
                if verdict is not None:
                    update["evaluation"] = verdict.to_dict()
            except EnvironmentFailure as exc:  # no verdict: an infrastructure error, not the agent's failure
                update.update(status="env_error", status_reason=f"the environment failed to evaluate: {exc}")
        final = {**state, **update}
        update["messages"] = [final_message(final)]  # the answer, for chat apps and Studio's chat view
        await adispatch_custom_event(FINAL_EVENT, {
            "status": final.get("status"), "status_reason": final.get("status_reason"),
            "answer": final.get("answer"), "evaluation": final.get("evaluation"),
            "usage": final.get("usage"), "counters": final.get("counters"),
            "isolation": final.get("isolation")}, config=config)
        return update

    return finish


async def _live_environment(resources: Resources, state: TriroleState, settings: TriroleSettings,
                            episode: Episode) -> tuple[Environment, dict]:
    """This run's environment, and a state update if its episode had to start again
    (the rule in `Episode`: a thread resumed without its live episode restarts it)."""
    env = episode.live(state.get("env_session"))
    if env is not None:
        return env, {}
    update, info = await start_episode(resources, state, settings, episode)
    if info is None:
        raise EnvironmentFailure(update["status_reason"])
    return episode.env, {"env_session": update["env_session"]}
