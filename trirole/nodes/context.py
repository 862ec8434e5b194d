"""The agent's view of the state: the prompt it gets, always within the token budget.

The agent sees the task, then its turns verbatim. Once turns leave the prompt, the memory
follows the task and stands in for them: the summary of the older turns and every
artifact verbatim. `agent_prompt` builds it; `fit_to_budget` guarantees it fits even when
summarization is switched off or one observation is huge.

Each prompt is the previous one plus the newest turn, so a server's prefix cache serves
all but that turn: the memory changes only when the summarizer rewrites the turns before
it anyway (the artifact block is the one written with the summary, `memory_artifacts`),
and an artifact seen since is in its turn, verbatim (an observation clipped in the middle
restates what the clipping cut, `trirole.nodes.executor`). A prompt cut to fit by dropping
its oldest turns shows the current block instead (`agent_prompt_when_cut`).
"""

from __future__ import annotations

import json
from typing import Callable, Sequence

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from trirole.artifacts import artifact_chars, format_artifacts
from trirole.backend import HeuristicTokenCounter, TokenCounter
from trirole.model_call import ContextOverflow
from trirole.parsing import clip_middle
from trirole.prompts import Prompts
from trirole.settings import TriroleSettings
from trirole.state import TriroleState

MIN_MESSAGE_CHARS = 200


def artifact_block_chars(settings: TriroleSettings) -> int:
    """The artifact block's character budget: ``artifact_share`` of the prompt budget at
    the heuristic counter's characters per token (conservative: exact server counts of
    the same text are lower, so the block's measured share stays within the setting)."""
    return artifact_chars(settings.prompt_budget, settings.artifact_share, HeuristicTokenCounter.chars_per_token)


def artifact_block(state: TriroleState, *, max_response_chars: int = 1500,
                   settings: TriroleSettings | None = None) -> str:
    """The artifact block as of now: every secret; records within `settings.artifact_share`
    of the prompt budget."""
    return format_artifacts(state.get("artifacts") or {}, max_response_chars_total=max_response_chars,
                            max_chars=artifact_block_chars(settings or TriroleSettings()))


def task_message(state: TriroleState, prompts: Prompts, *, max_response_chars: int = 1500,
                 settings: TriroleSettings | None = None, cut: bool = False) -> HumanMessage:
    """The task and its context; then the memory once turns have left the prompt. After a
    summary: the summary and the artifact block written with it (unchanged until the next
    summary). When the prompt is `cut` to fit: the current block."""
    task = state["task"]
    context = task.get("context") or {}
    text = prompts.render("agent_task", instruction=task["instruction"], reference=state.get("reference") or "(none)",
                          context=json.dumps(context, indent=1, default=str) if context else "(none)")
    if not (cut or state.get("summary")):
        return HumanMessage(content=text)
    if cut or "memory_artifacts" not in state:  # (a state from before `memory_artifacts`, or a custom summarizer)
        artifacts = artifact_block(state, max_response_chars=max_response_chars, settings=settings)
    else:
        artifacts = state["memory_artifacts"]
    text += "\n" + prompts.render("agent_memory", summary=state.get("summary") or "(nothing summarized yet)",
                                  artifacts=artifacts or "(none yet)")
    return HumanMessage(content=text)


def example_turns(prompts: Prompts, role: str = "agent") -> list[BaseMessage]:
    """The worked examples as exchanges before the task (``<role>_example_request`` and
    ``<role>_example_reply``, `Prompts.examples`), or nothing when those templates are
    empty (the default). A small model copies the form of an answer it has seen given far
    more readily than one described in the system prompt (measured on BFCL with
    SmolLM2-135M: docs/bfcl.md)."""
    return [message for request, reply in prompts.examples(role)
            for message in (HumanMessage(content=request), AIMessage(content=reply))]


def model_turns(messages: Sequence[BaseMessage]) -> list[BaseMessage]:
    """A run's steps as the model reads them: its replies as assistant turns, what their
    code printed and trirole's hints as user turns, the text alone. ``messages`` marks its
    steps for the app around the run (names, tool calls, `ToolMessage` outputs:
    `trirole.nodes.chat`); a prompt shows the model none of that, as it never has. A call
    message without text (code the corrector wrote for a reply without code) was never a
    turn of the model's and is left out: its output says what ran."""
    turns: list[BaseMessage] = []
    for message in messages:
        if isinstance(message, AIMessage):
            if message.content or not message.tool_calls:
                turns.append(AIMessage(content=message.content))
        elif isinstance(message, SystemMessage):
            turns.append(SystemMessage(content=message.content))
        else:
            turns.append(HumanMessage(content=message.content))
    return turns


def agent_prompt(state: TriroleState, prompts: Prompts, *, max_response_chars: int = 1500,
                 settings: TriroleSettings | None = None, cut: bool = False) -> list[BaseMessage]:
    """System prompt, the worked examples if any (`example_turns`), task (with the memory
    once turns have left), then the turns after the summary verbatim."""
    system = SystemMessage(content=prompts.render(
        "agent_system", completion_hint=state.get("completion_hint") or "complete_task(answer)",
        reference=state.get("reference") or "(none)"))
    recent = model_turns(list(state.get("messages") or [])[state.get("summarized_upto", 0):])
    return [system, *example_turns(prompts),
            task_message(state, prompts, max_response_chars=max_response_chars, settings=settings, cut=cut), *recent]


def agent_prompt_when_cut(state: TriroleState, prompts: Prompts, *, settings: TriroleSettings | None = None
                          ) -> list[BaseMessage]:
    """`agent_prompt` for when its oldest turns must be dropped to fit (no summarizer, or
    one summary too little): the task message then carries the current artifact block, so
    nothing the dropped turns showed is lost."""
    return agent_prompt(state, prompts, settings=settings, cut=True)


async def fit_to_budget(messages: Sequence[BaseMessage], budget: int, counter: TokenCounter, *,
                        fixed: int = 2, when_cut: Callable[[], Sequence[BaseMessage]] | None = None
                        ) -> list[BaseMessage]:
    """`messages` cut until the counter says they fit in `budget` tokens.

    First the oldest turns after the first `fixed` messages go (a turn is the agent's
    reply and its observation, so roles keep alternating), keeping the last one; then
    the longest message is clipped in the middle, again and again: the turns' messages
    first, the fixed ones (the system prompt with the environment's reference, e.g. a
    benchmark's function docs, the worked examples, the task) only when no turn is left to
    clip. If even that cannot fit, the fixed part is too large for the budget:
    `ContextOverflow`. `when_cut`: builds the prompt to cut instead when `messages` do not
    fit as they are (its fixed part restates what dropped turns held); called only then.
    """
    prompt = list(messages)
    if await counter.acount(prompt) <= budget:
        return prompt
    if when_cut is not None:
        prompt = list(when_cut())
    while len(prompt) - fixed > 2 and await counter.acount(prompt) > budget:
        del prompt[fixed:fixed + 2]
    for _ in range(64):
        if await counter.acount(prompt) <= budget:
            return prompt
        turns = [i for i in range(fixed, len(prompt)) if len(_content(prompt[i])) > MIN_MESSAGE_CHARS]
        index = max(turns or range(len(prompt)), key=lambda i: len(_content(prompt[i])))
        text = _content(prompt[index])
        if len(text) <= MIN_MESSAGE_CHARS:
            break
        prompt[index] = prompt[index].model_copy(update={"content": clip_middle(text, len(text) // 2)})
    if await counter.acount(prompt) <= budget:
        return prompt
    raise ContextOverflow(
        f"the prompt cannot be cut to {budget} tokens (it is {await counter.acount(prompt)} after clipping every "
        "message); raise the setting `max_context_tokens` (up to the server's context length) or shorten the "
        "environment's reference material"
    )


def _content(message: BaseMessage) -> str:
    return message.content if isinstance(message.content, str) else str(message.content)
