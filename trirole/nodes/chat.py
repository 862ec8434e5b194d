"""Chat in, chat out: what lets a trirole graph sit in a chat app or Studio's chat view.

In: besides ``{"task": {...}}`` a graph takes ``{"messages": [...]}`` (LangChain messages
or their dicts); the last human message is the instruction and the earlier messages are
the task's context (``context["conversation"]``). The agent sees them through its task
message, never as turns of its own dialogue. A thread can go on: the next chat turn in it
is a new task, the conversation so far its context (`run_task`).

Out: every run ends with its final answer as an `AIMessage` at the end of ``messages``:
the answer given to ``complete_task``, else what stopped the run; its
``response_metadata`` holds the ``status`` and ``status_reason``.

Between the two, the run's steps, as LangChain's ``create_agent`` writes a tool-calling
loop: each reply of a role is an `AIMessage` named after the role (``agent``; a
multi-agent run's ``supervisor`` and ``specialist``) whose code action is a call of the
``python`` tool (`CODE_TOOL`), and what the code printed is the `ToolMessage` answering that
call. A hint trirole gives the model (a reply held no code) is a `HumanMessage` named
``trirole``. Every step message is marked (`is_step`: ``response_metadata`` holds
``trirole_role`` and ``trirole_step``), so nothing a run adds reads as a turn of the
user's: a next task's context leaves steps out, and `without_steps` gives a chat app the
exchange alone. The model reads the steps as it always did, replies and observations as
plain turns (`trirole.nodes.context.model_turns`).
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Mapping, Sequence

from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.messages.utils import convert_to_messages

from trirole.state import ExecutionResult, TaskSpec

FINAL_ANSWER_NAME = "trirole"
"""The ``name`` of the final-answer message (tells it from the agent's own replies)."""
ROLES = {"human": "user", "ai": "assistant"}  # the conversation as chat APIs name its roles

CODE_TOOL = "python"
"""The tool a code action calls, in ``messages``: a reply's code is its ``tool_calls[0]``
(``{"name": "python", "args": {"code": ...}}``), what it printed the `ToolMessage` of that name."""
HINT_NAME = "trirole"
"""The ``name`` of a hint trirole gives the model between its replies (a `HumanMessage`)."""
STEP_ROLE, STEP = "trirole_role", "trirole_step"
"""The ``response_metadata`` keys that mark a step message: who wrote it, at which step."""


# -- steps in `messages` ----------------------------------------------------------------------
def _marks(role: str, step: int) -> dict[str, Any]:
    return {STEP_ROLE: role, STEP: step}


def is_step(message: BaseMessage) -> bool:
    """Whether `message` is a step of a trirole run (a role's reply, a code output, a hint)."""
    return STEP_ROLE in (getattr(message, "response_metadata", None) or {})


def without_steps(messages: Sequence[BaseMessage]) -> list[BaseMessage]:
    """`messages` without the runs' steps: the user's turns and each run's final answer
    (what a chat app shows, or keeps)."""
    return [message for message in messages if not is_step(message)]


def reply_message(text: str, *, role: str, step: int, code: str | None = None,
                  message_id: str | None = None) -> AIMessage:
    """A role's reply as a step: named after `role`, its `code` (if any) a call of the
    `CODE_TOOL`; `message_id` (the model's own id for it, under which a
    ``stream_mode="messages"`` stream has already sent its tokens) so that a stream sends it once."""
    calls = [{"name": CODE_TOOL, "args": {"code": code}, "id": f"call_{uuid.uuid4().hex[:24]}",
              "type": "tool_call"}] if code else []
    return AIMessage(content=text, name=role, id=message_id, tool_calls=calls, response_metadata=_marks(role, step))


def unused_id(message_id: str | None, messages: Sequence[BaseMessage]) -> str | None:
    """`message_id` unless a message of `messages` has it already (``add_messages`` would
    replace that one): a server that numbers its replies the same every time."""
    return None if message_id is None or any(m.id == message_id for m in messages) else message_id


def output_messages(text: str, result: ExecutionResult, *, step: int, messages: Sequence[BaseMessage]
                    ) -> list[BaseMessage]:
    """What a step's code printed, as the `ToolMessage` answering the code's call: the
    last reply's, while unanswered; when it has none (code no reply holds: the corrector's,
    for a reply without code), a call of that code first."""
    last = next((m for m in reversed(messages) if isinstance(m, AIMessage)), None)
    answered = {m.tool_call_id for m in messages if isinstance(m, ToolMessage)}
    call = next((c for c in (last.tool_calls if last is not None else [])
                 if c.get("name") == CODE_TOOL and c.get("id") not in answered), None)
    calling: list[BaseMessage] = []
    if call is None:
        calling = [reply_message("", role="corrector", step=step, code=result.get("code") or "")]
        call = calling[0].tool_calls[0]  # type: ignore[attr-defined]
    output = ToolMessage(content=text, name=CODE_TOOL, tool_call_id=call["id"],
                         status="error" if result.get("error") else "success",
                         response_metadata=_marks("executor", step))
    return [*calling, output]


def hint_message(text: str, *, step: int) -> HumanMessage:
    """A hint trirole gives the model (named `HINT_NAME`, marked as a step)."""
    return HumanMessage(content=text, name=HINT_NAME, response_metadata=_marks("trirole", step))


class TaskError(ValueError):
    """The input's task is not one: the message says which shape a task has."""


class NoTaskError(TaskError):
    """The input holds neither a task nor a human message to take it from."""


_TASK_SHAPE = '{"instruction": str, "task_id"?: str, "context"?: dict}'


def as_task(value: Any) -> TaskSpec:
    """A task input as the state holds it: a string is the instruction (``{"task": "Add 2
    and 3."}``); a mapping must be a `TaskSpec`. `TaskError` naming the shape otherwise."""
    if isinstance(value, str):
        return {"instruction": value.strip()}
    if not isinstance(value, Mapping):
        raise TaskError(f"a task is a dict {_TASK_SHAPE} or the instruction as a string, not {type(value).__name__}")
    unknown = sorted(set(value) - set(TaskSpec.__annotations__))
    if unknown:
        raise TaskError(f"the task has unknown keys {unknown}: a task is {_TASK_SHAPE}")
    if not isinstance(value.get("instruction", ""), str) or not isinstance(value.get("context", {}), Mapping):
        raise TaskError(f"the task's instruction must be a string and its context a dict: a task is {_TASK_SHAPE}")
    if not (str(value.get("instruction") or "").strip() or value.get("task_id")):
        raise TaskError('the task has no instruction: pass {"task": {"instruction": "..."}} '
                        '(or {"task_id": "..."} for a task of the environment\'s task set)')
    return dict(value)  # type: ignore[return-value]


def _text(message: BaseMessage) -> str:
    content: Any = message.content
    if isinstance(content, str):
        return content
    return " ".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)


def task_from_messages(messages: Sequence[AnyMessage | dict | tuple | str]) -> TaskSpec:
    """The task a conversation asks for: its last human message is the instruction; the
    messages before it are the context (``{"conversation": [{"role", "content"}, ...]}``),
    trirole's steps left out (`is_step`: a chat that held an earlier run keeps its final
    answer, not its inner turns)."""
    chat = without_steps(convert_to_messages(list(messages)))  # a run's steps are not the user's conversation
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
    if not state.get("task"):
        return task_from_messages(messages)
    task = as_task(state["task"])
    if state.get("status") in (None, "running"):
        return task  # a new thread (or a task input, which replaced `task`)
    answers = [i for i, m in enumerate(messages) if isinstance(m, AIMessage) and m.name == FINAL_ANSWER_NAME]
    turn = without_steps(messages[answers[-1] + 1:]) if answers else []
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
