"""JSONL traces of a run, as a LangChain callback handler.

Attach it to any run (``config={"callbacks": [JsonlTrace("run.jsonl")]}``) and it
writes one line per model call (the role, the exact messages sent, the response text,
the server's usage and the latency), one line per recorded function call a code action
made (``tool_call``: name, arguments, result or error, latency), one line per code
execution, and a last line with
the final status and its reason. Evaluation keeps one trace per task; the failure
classifier reads them.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import LLMResult

from trirole.events import EXECUTION_EVENT, FINAL_EVENT, TOOL_CALL_EVENT


class JsonlTrace(BaseCallbackHandler):
    """Writes a run's model calls, executions and final status to `path` (appending)."""

    raise_error = True
    # Writing a line is cheap: do it inline instead of a thread hop per callback event,
    # which dominated evaluation at high concurrency.
    run_inline = True

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._pending: dict[UUID, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def _write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, default=str, ensure_ascii=False)
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    def on_chat_model_start(self, serialized: dict[str, Any], messages: list[list[BaseMessage]], *, run_id: UUID,
                            metadata: dict[str, Any] | None = None, **kwargs: Any) -> None:
        role = (metadata or {}).get("trirole_role", "model")
        self._pending[run_id] = {
            "type": "model_call", "role": role, "started": time.time(),
            "messages": [{"role": _role_name(m), "content": m.content} for m in messages[0]],
        }

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        record = self._pending.pop(run_id, None)
        if record is None:
            return
        generation = response.generations[0][0] if response.generations and response.generations[0] else None
        message = getattr(generation, "message", None)
        usage = dict(getattr(message, "usage_metadata", None) or {})
        record.update(response=generation.text if generation else "", usage=usage,
                      latency_s=round(time.time() - record.pop("started"), 4))
        self._write(record)

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        record = self._pending.pop(run_id, None)
        if record is not None:
            record.update(error=f"{type(error).__name__}: {error}", latency_s=round(time.time() - record.pop("started"), 4))
            self._write(record)

    def on_custom_event(self, name: str, data: Any, *, run_id: UUID, **kwargs: Any) -> None:
        if name == EXECUTION_EVENT:
            self._write({"type": "execution", "step": data.get("step"), "code": data.get("code"),
                         "output": data.get("output"), "error": bool(data.get("error")),
                         "error_type": data.get("error_type"), "task_completed": bool(data.get("task_completed")),
                         **({"next_request": data["next_request"]} if data.get("next_request") is not None else {})})
        elif name == TOOL_CALL_EVENT:
            self._write({"type": "tool_call", "step": data.get("step"), "name": data.get("name"),
                         "arguments": data.get("arguments"), "result": data.get("result"),
                         "error": data.get("error"), "latency_ms": data.get("latency_ms")})
        elif name == FINAL_EVENT:
            self._write({"type": "final", **data})


def read_trace(path: str | Path) -> list[dict[str, Any]]:
    """The records of a trace file, in order."""
    with Path(path).open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _role_name(message: BaseMessage) -> str:
    return {"human": "user", "ai": "assistant"}.get(message.type, message.type)
