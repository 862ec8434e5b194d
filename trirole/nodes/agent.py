"""The agent role: reasons over the compressed context and writes one code action.

`propose_action` is the pure core (prompt in, reply and code out); `make_agent_node`
wraps it for the graph: it builds the prompt from the state within the budget, decides
whether the code goes to the corrector first, and returns a partial state update.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig

from trirole.backend import TokenCounter
from trirole.nodes.chat import hint_message, reply_message, unused_id
from trirole.nodes.context import agent_prompt, agent_prompt_when_cut, example_turns, fit_to_budget
from trirole.parsing import extract_code, strip_thinking
from trirole.prompts import Prompts
from trirole.repetition import correction_reason
from trirole.model_call import calls_role, invoke_role
from trirole.resources import Resources
from trirole.settings import TriroleSettings
from trirole.state import RoleUsage, TriroleState, steps_taken

NO_CODE_REVIEW = "the reply holds no valid Python code"
"""The correction reason of a reply without code (`TriroleSettings.review_no_code`)."""

PromptBuilder = Callable[..., list[BaseMessage]]
"""``(state, prompts, *, settings) -> prompt``: the run's settings size the artifact block."""


class Proposal(NamedTuple):
    """A role's answer: its reply without thinking, the code in it (``None``: none), the
    call's usage, and the id the model gave the reply (a ``stream_mode="messages"``
    stream sent its tokens under it: the reply's message keeps it, `reply_message`)."""

    reply: str
    code: str | None
    usage: RoleUsage
    message_id: str | None = None


async def propose_action(model: BaseChatModel, prompt: list[BaseMessage], counter: TokenCounter,
                         *, role: str = "agent", read_code: Callable[[str], str | None] = extract_code
                         ) -> Proposal:
    """Ask `model` for the next step (`Proposal`: reply, code, usage, message id)."""
    response, usage = await invoke_role(model, prompt, role=role, counter=counter)
    text = response.content if isinstance(response.content, str) else str(response.content)
    return Proposal(strip_thinking(text), read_code(text), usage, response.id)


async def ask(resources: Resources, role: str, prompt: list[BaseMessage], settings: TriroleSettings, *,
              read_code: Callable[[str], str | None] = extract_code,
              when_cut: Callable[[], list[BaseMessage]] | None = None, fixed: int = 2
              ) -> Proposal:
    """`propose_action` with `role`'s model, its prompt cut to the budget by its counter
    (`when_cut`, if given, builds the prompt to cut when `prompt` does not fit; `fixed`:
    the leading messages that are never dropped: `fit_to_budget`)."""
    counter = resources.counter(settings, role)
    prompt = await fit_to_budget(prompt, settings.prompt_budget, counter, when_cut=when_cut, fixed=fixed)
    return await propose_action(resources.model(role, settings), prompt, counter, role=role, read_code=read_code)


def hint_without_code(state: TriroleState, prompts: Prompts) -> dict:
    """A reply without code is recoverable: tell the model so, as an observation. (Short,
    and without how to finish, which the system prompt says: it is new, uncached text at
    every step the model writes no code.)"""
    return {"messages": [hint_message(prompts.render("no_code"), step=steps_taken(state) + 1)],
            "counters": {"no_code": 1}}


def make_agent_node(resources: Resources, *, role: str = "agent", prompt: PromptBuilder = agent_prompt,
                    prompt_when_cut: PromptBuilder | None = None,
                    read_code: Callable[[str], str | None] = extract_code,
                    without_code: Callable[[TriroleState, Prompts], dict] = hint_without_code):
    """The agent node. Each call is one step: it counts against ``max_steps``.

    role: whose model and usage (the multi-agent graph's specialists are this node);
    prompt: the state to the prompt; prompt_when_cut: the state to the prompt that is cut
    when `prompt` does not fit the budget (default: `agent_prompt_when_cut` for the
    agent's own prompt, else `prompt` itself); read_code: the reply to its code action;
    without_code: the update for a reply without code (default: a hint, and the loop goes on).
    """
    if prompt_when_cut is None:
        prompt_when_cut = agent_prompt_when_cut if prompt is agent_prompt else prompt

    @calls_role(resources, role)
    async def agent(state: TriroleState, config: RunnableConfig) -> dict:
        settings = resources.settings(config)
        built = prompt(state, resources.prompts, settings=settings)
        when_cut = None if prompt_when_cut is prompt else (  # built only if `built` does not fit
            lambda: prompt_when_cut(state, resources.prompts, settings=settings))
        # The agent's own prompt: system, worked examples if any, task; then the turns, which may go.
        fixed = 2 + len(example_turns(resources.prompts)) if prompt is agent_prompt else 2
        reply, code, usage, message_id = await ask(resources, role, built, settings, read_code=read_code,
                                                   when_cut=when_cut, fixed=fixed)
        answer = reply_message(reply or "(empty reply)", role=role, step=steps_taken(state) + 1, code=code,
                               message_id=unused_id(message_id, state.get("messages") or []))
        update: dict = {"messages": [answer], "usage": {role: usage}, "counters": {"steps": 1}}
        if code is None:
            extra = without_code(state, resources.prompts)
            update["messages"] += extra.pop("messages", [])
            update["counters"].update(extra.pop("counters", {}))
            # With `review_no_code`, a graph that has the corrector sends it this reply
            # (`trirole.graphs.routing`); the hint stays in the conversation either way.
            reason = NO_CODE_REVIEW if settings.use_corrector and settings.review_no_code else ""
            update.update(proposed_code="", code_to_run="", correction_reason=reason, **extra)
            return update
        reason = correction_reason(code, state.get("attempts") or [], state.get("last_result"), settings)
        update.update(proposed_code=code, code_to_run=code, correction_reason=reason)
        return update

    agent.__name__ = role
    return agent
