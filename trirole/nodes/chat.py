"""Chat in, chat out: what lets a trirole graph sit in a chat app or Studio's chat view.

In: besides ``{"task": {...}}`` a graph takes ``{"messages": [...]}`` (LangChain messages
or their dicts); the last human message is the instruction and the earlier messages are
the task's context (``context["conversation"]``). The agent sees them through its task
message, never as turns of its own dialogue. A thread can go on: the next chat turn in it
is a new task, the conversation so far its context (`run_task`).

Out: every run ends with its final answer as an `AIMessage` at the end of ``messages``:
the answer given to ``complete_task``, else what stopped the run; its
``response_metadata`` holds the ``status`` and ``status_reason``.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage
from langchain_core.messages.utils import convert_to_messages

from trirole.state import TaskSpec

FINAL_ANSWER_NAME = "trirole"
"""The ``name`` of the final-answer message (tells it from the agent's own replies)."""
ROLES = {"human": "user", "ai": "assistant"}  # the conversation as chat APIs name its roles


class NoTaskError(ValueError):
    """The input holds neither a task nor a human message to take it from."""


def _text(message: BaseMessage) -> str:
    content: Any = message.content
    if isinstance(content, str):
        return content
    return " ".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)


def task_from_messages(messages: Sequence[AnyMessage | dict | tuple | str]) -> TaskSpec:
    """The task a conversation asks for: its last human message is the instruction; the
    messages before it are the context (``{"conversation": [{"role", "content"}, ...]}``)."""
    chat = convert_to_messages(list(messages))
    last = next((i for i in range(len(chat) - 1, -1, -1) if isinstance(chat[i], HumanMessage)), None)
    if last is None or not _text(chat[last]).strip():
        raise NoTaskError('the input has no task: pass {"task": {"instruction": "..."}} or '
                          '{"messages": [...]} whose last human message is the instruction')
    task: TaskSpec = {"instruction": _text(chat[last]).strip()}
    earlier = [{"role": ROLES.get(m.type, m.type), "content": _text(m)} for m in chat[:last] if _text(m).strip()]
    if earlier:
        task["context"] = {"conversation": earlier}
    return task


def run_task(state: dict[str, Any]) -> TaskSpec:
    """The task a run starts on `state`: the input's ``task``, else the chat's. On a thread
    whose last run ended (a chat app's or Studio's next message in the same thread), human
    messages after its final answer are a new chat turn: their last one is the new
    instruction, and the conversation so far (earlier turns, the last task and its final
    answer) is its context."""
    messages = list(state.get("messages") or [])
    task = state.get("task")
    if not task:
        return task_from_messages(messages)
    if state.get("status") in (None, "running"):
        return task  # a new thread (or a task input, which replaced `task`)
    answers = [i for i, m in enumerate(messages) if isinstance(m, AIMessage) and m.name == FINAL_ANSWER_NAME]
    turn = messages[answers[-1] + 1:] if answers else []
    if not any(isinstance(m, HumanMessage) for m in turn):
        return task  # a task input on a used thread: it replaced `task`
    before = [*(task.get("context") or {}).get("conversation", []), {"role": "user", "content": task["instruction"]}]
    if answers:
        before.append({"role": "assistant", "content": _text(messages[answers[-1]])})
    return task_from_messages([*before, *turn])


def final_message(state: dict[str, Any]) -> AIMessage:
    """The run's final answer as an AI message (``state`` holds the final status)."""
    status, reason = state.get("status") or "", state.get("status_reason") or ""
    answer = state.get("answer")
    if status == "completed" and answer is not None:
        content = answer if isinstance(answer, str) else json.dumps(answer, default=str)
    elif status == "completed":
        content = "Done: the task is complete."
    else:
        content = f"I could not complete the task ({status}): {reason}"
    return AIMessage(content=content, name=FINAL_ANSWER_NAME,
                     response_metadata={"status": status, "status_reason": reason})
