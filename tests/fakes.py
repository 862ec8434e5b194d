"""Test doubles for unit tests of routing and state. FAKES, not the real parts:

- `ScriptedEnvironment`: an in-memory environment whose results a test scripts, so a
  routing test can make step 2 fail with a KeyError deterministically. Real environments
  are tested in test_python_sandbox.py and test_appworld_env.py.
- `RequestsEnvironment`: the same for a task of several user requests that arrive one at
  a time (as BFCL multi-turn's do): ``complete_task()`` ends the current one. The real
  one is tested in test_bfcl_env.py.
- `role_models`: LangChain's `GenericFakeChatModel` per role, with scripted replies.
- `PromptLog`: a callback handler that records every prompt sent, by role.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage

from trirole.state import ExecutionResult, TaskSpec
from trirole.environments.base import EnvironmentInfo, Evaluation

Script = Callable[[str, int], dict]


def ok(output: str = "ok") -> dict:
    return {"output": output, "error": False}


def fail(error_type: str = "KeyError", message: str = "'access_token'") -> dict:
    return {"output": f"Traceback (most recent call last):\n{error_type}: {message}", "error": True,
            "error_type": error_type, "error_message": message}


class ScriptedEnvironment:
    """Returns `script(code, call_index)` for each execution; ``complete_task(`` in the
    code completes the task."""

    name = "scripted"

    def __init__(self, script: Script | None = None, *, reference: str = "Reference: use print().") -> None:
        self.script = script or (lambda code, i: ok())
        self.reference = reference
        self.executed: list[str] = []
        self.closed = False
        self.completed = False

    async def reset(self, task: TaskSpec) -> EnvironmentInfo:
        self.executed, self.completed, self.closed = [], False, False
        return EnvironmentInfo(instruction=task["instruction"], context={"user": "ada"}, reference=self.reference)

    async def execute(self, code: str) -> ExecutionResult:
        self.executed.append(code)
        result = {"code": code, **self.script(code, len(self.executed) - 1)}
        if "complete_task(" in code and not result.get("error"):
            self.completed = True
            result["task_completed"] = True
        return result  # type: ignore[return-value]

    async def evaluate(self) -> Evaluation | None:
        return Evaluation(success=self.completed, passed=["completed"] if self.completed else [],
                          failed=[] if self.completed else [{"check": "completed"}])

    async def close(self) -> None:
        self.closed = True


class RequestsEnvironment:
    """A FAKE environment whose task brings `requests` one at a time: a step whose code
    calls ``complete_task()`` ends the current request and its output is the next one
    (``next_request``); the last ends the task. Every step prints `printed` (which the
    base model must never see). Solved when every request was ended."""

    name = "requests"

    def __init__(self, requests: list[str], *, printed: str = "step output") -> None:
        self.requests, self.printed = requests, printed
        self.executed: list[str] = []
        self.current = 0

    async def reset(self, task: TaskSpec) -> EnvironmentInfo:
        self.executed, self.current = [], 0
        return EnvironmentInfo(instruction=self.requests[0], reference="Functions: work().",
                               completion_hint="complete_task()", one_request_at_a_time=True)

    async def execute(self, code: str) -> ExecutionResult:
        self.executed.append(code)
        result: dict = {"code": code, "output": self.printed, "error": False}
        if "complete_task()" in code:
            self.current += 1
            if self.current < len(self.requests):
                result["next_request"] = self.requests[self.current]
                result["output"] += f"\n--- The user's next request ---\n{self.requests[self.current]}"
        result["task_completed"] = self.current >= len(self.requests)
        return result  # type: ignore[return-value]

    async def evaluate(self) -> Evaluation | None:
        done = self.current >= len(self.requests)
        return Evaluation(success=done, details={"requests": len(self.requests), "requests_correct": self.current})

    async def close(self) -> None:
        pass


def replies(*texts: str) -> GenericFakeChatModel:
    """A fake chat model that answers with `texts` in order (and fails past the end)."""
    return GenericFakeChatModel(messages=iter([AIMessage(content=t) for t in texts]))


def code(body: str) -> str:
    return f"I will run this.\n```python\n{body}\n```"


def repeat(text: str, n: int) -> Iterable[str]:
    return [text] * n


class PromptLog(BaseCallbackHandler):
    """Every prompt sent to a model, as (role, messages)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[BaseMessage]]] = []

    def on_chat_model_start(self, serialized: dict[str, Any], messages: list[list[BaseMessage]], *,
                            metadata: dict[str, Any] | None = None, **kwargs: Any) -> None:
        self.calls.append(((metadata or {}).get("trirole_role", "model"), list(messages[0])))

    def prompts(self, role: str) -> list[list[BaseMessage]]:
        return [messages for r, messages in self.calls if r == role]

    @staticmethod
    def text(messages: list[BaseMessage]) -> str:
        return "\n".join(str(m.content) for m in messages)
