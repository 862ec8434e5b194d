"""The environment's nodes: start the episode, run code actions, end the episode.

`execute_action` is the pure-ish core: run code in the environment, turn the result
into the observation the agent reads, the artifacts it must keep and the attempt record
that repetition detection uses. Agent code never runs here: the environment runs it in
its own process (a sandbox subprocess or AppWorld's server).
"""

from __future__ import annotations

from langchain_core.callbacks import adispatch_custom_event
from langchain_core.messages import HumanMessage
from langchain_core.runnables import RunnableConfig

from trirole.artifacts import extract_artifacts
from trirole.parsing import clip_middle
from trirole.prompts import Prompts
from trirole.repetition import code_fingerprint, error_signature
from trirole.resources import Resources
from trirole.state import ExecutionResult, TriroleState
from trirole.settings import TriroleSettings
from trirole.tools import Environment, EnvironmentError_, EnvironmentInfo

EXECUTION_EVENT = "trirole_execution"
FINAL_EVENT = "trirole_final"


def observation_text(result: ExecutionResult, *, step: int, revised: bool, prompts: Prompts) -> str:
    status = f" (failed: {result.get('error_type', 'Error')})" if result.get("error") else ""
    revision = prompts.render("observation_revision", code=result["code"]) if revised else ""
    return prompts.render("observation", revision=revision, step=step, status=status,
                          output=result.get("output") or "(no output)")


async def execute_action(env: Environment, code: str, *, step: int, revised: bool, proposed: str,
                         max_observation_chars: int, prompts: Prompts) -> dict:
    """Run `code`; the state update with the observation, artifacts and attempt."""
    result = dict(await env.execute(code))
    result["output"] = clip_middle(result.get("output") or "", max_observation_chars)
    artifacts = {} if result.get("error") else extract_artifacts(result["output"], step=step,
                                                                  source=f"step {step} output")
    attempt = {"step": step, "fingerprint": code_fingerprint(proposed or code),
               "error_signature": error_signature(result), "corrected": revised}
    return {"last_result": result, "artifacts": artifacts, "attempts": [attempt],
            "messages": [HumanMessage(content=observation_text(result, step=step, revised=revised, prompts=prompts))]}


def make_executor_node(resources: Resources):
    async def executor(state: TriroleState, config: RunnableConfig) -> dict:
        settings = resources.settings(config)
        try:
            env, resumed = await _environment(resources, state, settings)
        except EnvironmentError_ as exc:
            return {"status": "env_error", "status_reason": f"the environment failed: {exc}"}
        code = state.get("code_to_run") or ""
        step = (state.get("counters") or {}).get("steps", 0)
        revised = code != (state.get("proposed_code") or "")
        try:
            update = await execute_action(env, code, step=step, revised=revised, proposed=state.get("proposed_code", ""),
                                          max_observation_chars=settings.max_observation_chars,
                                          prompts=resources.prompts)
        except EnvironmentError_ as exc:
            return {"status": "env_error", "status_reason": f"the environment failed: {exc}"}
        await adispatch_custom_event(EXECUTION_EVENT, {"step": step, **update["last_result"]}, config=config)
        return {**update, **resumed}

    return executor


async def start_episode(resources: Resources, state: TriroleState,
                        settings: TriroleSettings) -> tuple[dict, EnvironmentInfo | None]:
    """Reset a fresh environment to the task: the state update recording what it tells
    the agent, and its info (``None`` when the task could not start: the update then
    ends the run with ``env_error``)."""
    session_id, env = resources.new_session(settings)
    try:
        info = await env.reset(state["task"])
    except (EnvironmentError_, ValueError) as exc:
        resources.end_session({"env_session": session_id})
        return {"env_session": session_id, "status": "env_error",
                "status_reason": f"could not start the task: {exc}"}, None
    task = {**state["task"], "instruction": state["task"].get("instruction") or info.instruction,
            "context": {**info.context, **(state["task"].get("context") or {})}}
    return {"env_session": session_id, "task": task, "reference": info.reference,
            "completion_hint": info.completion_hint, "status": "running", "status_reason": ""}, info


def make_setup_node(resources: Resources):
    """Resets a fresh environment to the task and records what it tells the agent."""

    async def setup(state: TriroleState, config: RunnableConfig) -> dict:
        update, _ = await start_episode(resources, state, resources.settings(config))
        return update

    return setup


def make_finish_node(resources: Resources):
    """Decides the final status, asks the environment for its verdict, closes it."""

    async def finish(state: TriroleState, config: RunnableConfig) -> dict:
        settings = resources.settings(config)
        last = state.get("last_result") or {}
        update: dict = {}
        if last.get("task_completed"):
            update.update(status="completed", status_reason="the agent declared the task complete",
                          answer=last.get("answer"))
        elif state.get("status") in (None, "running"):
            update.update(status="step_budget",
                          status_reason=f"the step budget of {settings.max_steps} ran out before the task was complete")
        env = resources.end_session(state)
        if env is not None:
            try:
                verdict = await env.evaluate()
                if verdict is not None:
                    update["evaluation"] = verdict.to_dict()
            except EnvironmentError_ as exc:  # no verdict: an infrastructure error, not the agent's failure
                update.update(status="env_error", status_reason=f"the environment failed to evaluate: {exc}")
            finally:
                await env.close()
        final = {**state, **update}
        await adispatch_custom_event(FINAL_EVENT, {
            "status": final.get("status"), "status_reason": final.get("status_reason"),
            "answer": final.get("answer"), "evaluation": final.get("evaluation"),
            "usage": final.get("usage"), "counters": final.get("counters")}, config=config)
        return update

    return finish


async def _environment(resources: Resources, state: TriroleState, settings) -> tuple[Environment, dict]:
    """This run's environment, and a state update if it had to be started again.

    A run resumed from a checkpoint in a process that never started its episode (or
    after the server restarted) gets a fresh episode of the same task: variables from
    before are gone, and the agent's history says what they held.
    """
    env = resources.session(state)
    if env is not None:
        return env, {}
    session_id, env = resources.new_session(settings)
    await env.reset(state["task"])
    return env, {"env_session": session_id}
