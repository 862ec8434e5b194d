"""A readable, step-by-step transcript of a run, for any trirole graph.

Model replies are printed by the role their call is tagged with (``trirole_role``
metadata / ``trirole:<role>`` tag, set by `trirole.model_call.invoke_role` on every model
call), and executions by the executor's event: both reach a callback handler from any
node of any paradigm, nested graphs included (the multi-agent specialists' loops). The
``updates`` stream adds the task and every status change.
"""

from __future__ import annotations

import json
import sys
import textwrap
from typing import Any, Callable, TextIO
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import LLMResult

from trirole.calls import call_string
from trirole.events import EXECUTION_EVENT, TOOL_CALL_EVENT
from trirole.state import status_is_final

RULE = "─" * 72
SIDE_ROLES = {"corrector": "· corrector reviewed the code:", "summarizer": "· summarizer compressed the history:"}
"""Roles whose calls are not steps of their own (the corrector and summarizer serve the agent's step).
The corrector's verdict (revised, or unchanged) follows its reply, from its node's update."""


class TranscriptPrinter(BaseCallbackHandler):
    """Pass it as a callback of the run (replies, executions) and feed it ``(node,
    update)`` pairs from ``graph.astream(..., stream_mode="updates")`` (task, status);
    `print_run` does both."""

    run_inline = True  # print in order, in the event loop

    def __init__(self, out: TextIO | None = None, *, width: int = 2000,
                 reword: Callable[[str], str] | None = None) -> None:
        """reword: applied to status reasons (the command line names its flags there)."""
        self.out, self.width = out, width  # None: whatever sys.stdout is when printing
        self.reword = reword or (lambda text: text)
        self.step = 0
        self._roles: dict[UUID, str] = {}
        self._proposed = ""  # the agent's last proposal, to tell a revision from a review that changed nothing

    def _print(self, text: str = "") -> None:
        print(text, file=self.out or sys.stdout, flush=True)

    def _block(self, text: str, indent: str = "  │ ") -> None:
        clipped = text if len(text) <= self.width else text[: self.width] + f" … [{len(text) - self.width} more chars]"
        self._print(textwrap.indent(clipped.rstrip() or "(empty)", indent, lambda line: True))

    # -- callbacks: every role's replies and every execution ------------------------------
    def on_chat_model_start(self, serialized: dict[str, Any], messages: list[list[BaseMessage]], *, run_id: UUID,
                            metadata: dict[str, Any] | None = None, **kwargs: Any) -> None:
        role = (metadata or {}).get("trirole_role")
        if role:
            self._roles[run_id] = role

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        role = self._roles.pop(run_id, None)
        if role is None:  # not a trirole role's call
            return
        generation = response.generations[0][0] if response.generations and response.generations[0] else None
        if role in SIDE_ROLES:
            self._print(SIDE_ROLES[role])
        else:
            self.step += 1
            self._print(RULE)
            self._print(f"step {self.step} · {role}")
        self._block(generation.text if generation else "")

    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._roles.pop(run_id, None)

    def on_custom_event(self, name: str, data: Any, *, run_id: UUID, **kwargs: Any) -> None:
        if name == TOOL_CALL_EVENT:
            outcome = (f"raised {data['error']}" if data.get("error")
                       else "-> " + json.dumps(data.get("result"), default=str, ensure_ascii=False))
            line = f"· called {call_string(data)} {outcome} ({data.get('latency_ms', 0):.1f} ms)"
            self._print(line if len(line) <= self.width else line[: self.width] + " …")
        elif name == EXECUTION_EVENT:
            label = f"failed: {data.get('error_type')}" if data.get("error") else "ok"
            self._print(f"· executed ({label}){' · task complete' if data.get('task_completed') else ''}")
            self._block(data.get("output") or "(no output)")

    # -- the updates stream: the task and status changes -------------------------------------
    def update(self, node: str, update: dict[str, Any] | None) -> None:
        if not update:
            return
        if "proposed_code" in update:
            self._proposed = update["proposed_code"] or ""
        if node == "corrector" and "code_to_run" in update:
            if (update["code_to_run"] or "").strip() != self._proposed.strip():
                self._print("· the corrector's revision runs instead of the agent's code")
            else:
                self._print("· the corrector changed nothing (no code, or the same code): the agent's code runs")
        if node == "setup":
            task = update.get("task", {})
            self._print(RULE)
            self._print(f"task: {task.get('instruction', '')}")
            if task.get("context"):
                self._print("context: " + json.dumps(task["context"], default=str)[:500])
            if update.get("isolation"):
                self._print(f"isolation: {update['isolation']}")
        if status_is_final(update):
            self._print(f"! {update['status']}: {self.reword(update.get('status_reason', ''))}")

    def final(self, state: dict[str, Any]) -> None:
        self._print(RULE)
        self._print(f"status: {state.get('status')} ({self.reword(state.get('status_reason', ''))})")
        if state.get("answer") is not None:
            self._print(f"answer: {state['answer']!r}")
        evaluation = state.get("evaluation")
        if evaluation is not None:
            self._print(f"evaluation: {'PASS' if evaluation.get('success') else 'FAIL'}"
                        + "".join(f"\n  failed: {f}" for f in evaluation.get("failed", [])[:5]))
        counters = state.get("counters") or {}
        self._print("counters: " + ", ".join(f"{k}={v}" for k, v in sorted(counters.items())))
        for role, usage in sorted((state.get("usage") or {}).items()):
            self._print(f"usage[{role}]: {usage['calls']} calls, {usage['prompt_tokens']} prompt + "
                        f"{usage['completion_tokens']} completion tokens, {usage['latency_s']:.1f}s")


async def print_run(graph: Any, graph_input: dict[str, Any], *, config: dict[str, Any] | None = None,
                    printer: TranscriptPrinter | None = None) -> dict[str, Any]:
    """Run `graph`, printing its transcript as it goes; the final state (output keys)."""
    printer = printer or TranscriptPrinter()
    config = {**(config or {}), "callbacks": [*((config or {}).get("callbacks") or []), printer]}
    final: dict[str, Any] = {}
    async for mode, chunk in graph.astream(graph_input, config=config, stream_mode=["updates", "values"]):
        if mode == "updates":
            for node, update in chunk.items():
                printer.update(node, update)
        else:
            final = chunk
    printer.final(final)
    return final
