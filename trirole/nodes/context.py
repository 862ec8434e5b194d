"""The agent's view of the state: the prompt it gets, always within the token budget.

The agent sees the task, the summary of older turns, every artifact verbatim, and the
turns after the summary verbatim. `agent_prompt` builds it; `fit_to_budget` guarantees
it fits even when summarization is switched off or one observation is huge.
"""

from __future__ import annotations

import json
from typing import Sequence

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from trirole.artifacts import artifact_chars, format_artifacts
from trirole.backend import HeuristicTokenCounter, TokenCounter
from trirole.parsing import clip_middle
from trirole.prompts import Prompts
from trirole.settings import TriroleSettings
from trirole.state import TriroleState

MIN_MESSAGE_CHARS = 200


class ContextOverflow(RuntimeError):
    """The fixed part of a prompt alone exceeds the budget."""


def artifact_block_chars(settings: TriroleSettings) -> int:
    """The artifact block's character budget: ``artifact_share`` of the prompt budget at
    the heuristic counter's characters per token (conservative: exact server counts of
    the same text are lower, so the block's measured share stays within the setting)."""
    return artifact_chars(settings.prompt_budget, settings.artifact_share, HeuristicTokenCounter.chars_per_token)


def task_message(state: TriroleState, prompts: Prompts, *, max_response_chars: int = 1500,
                 settings: TriroleSettings | None = None) -> HumanMessage:
    """The task, its context, and (once there is any) the memory: summary and artifacts
    (every secret; records within `settings.artifact_share` of the prompt budget)."""
    task = state["task"]
    context = task.get("context") or {}
    text = prompts.render("agent_task", instruction=task["instruction"],
                          context=json.dumps(context, indent=1, default=str) if context else "(none)")
    artifacts = format_artifacts(state.get("artifacts") or {}, max_response_chars_total=max_response_chars,
                                 max_chars=artifact_block_chars(settings or TriroleSettings()))
    if state.get("summary") or artifacts:
        text += "\n" + prompts.render("agent_memory", summary=state.get("summary") or "(nothing summarized yet)",
                                      artifacts=artifacts or "(none yet)")
    return HumanMessage(content=text)


def agent_prompt(state: TriroleState, prompts: Prompts, *, max_response_chars: int = 1500,
                 settings: TriroleSettings | None = None) -> list[BaseMessage]:
    """System prompt, task with memory, then the turns after the summary verbatim."""
    system = SystemMessage(content=prompts.render(
        "agent_system", completion_hint=state.get("completion_hint") or "complete_task(answer)",
        reference=state.get("reference") or "(none)"))
    recent = list(state.get("messages") or [])[state.get("summarized_upto", 0):]
    return [system, task_message(state, prompts, max_response_chars=max_response_chars, settings=settings),
            *recent]


async def fit_to_budget(messages: Sequence[BaseMessage], budget: int, counter: TokenCounter, *,
                        fixed: int = 2) -> list[BaseMessage]:
    """`messages` cut until the counter says they fit in `budget` tokens.

    First the oldest turns after the first `fixed` messages go (a turn is the agent's
    reply and its observation, so roles keep alternating), keeping the last one; then
    the longest message is clipped in the middle, again and again. If even that cannot
    fit, the fixed part is too large for the budget: `ContextOverflow`.
    """
    prompt = list(messages)
    if await counter.acount(prompt) <= budget:
        return prompt
    while len(prompt) - fixed > 2 and await counter.acount(prompt) > budget:
        del prompt[fixed:fixed + 2]
    for _ in range(64):
        if await counter.acount(prompt) <= budget:
            return prompt
        index = max(range(len(prompt)), key=lambda i: len(_content(prompt[i])))
        text = _content(prompt[index])
        if len(text) <= MIN_MESSAGE_CHARS:
            break
        prompt[index] = prompt[index].model_copy(update={"content": clip_middle(text, len(text) // 2)})
    if await counter.acount(prompt) <= budget:
        return prompt
    raise ContextOverflow(
        f"the prompt cannot be cut to {budget} tokens (it is {await counter.acount(prompt)} after clipping every "
        "message); raise max_context_tokens or shorten the environment's reference material"
    )


def _content(message: BaseMessage) -> str:
    return message.content if isinstance(message.content, str) else str(message.content)
