"""A readable, step-by-step transcript of a run, printed from LangGraph's ``updates``
stream (so it works for any trirole graph and any node that follows the state schema)."""

from __future__ import annotations

import json
import sys
import textwrap
from typing import Any, TextIO

RULE = "─" * 72


class TranscriptPrinter:
    """Feed it ``(node, update)`` pairs from ``graph.astream(..., stream_mode="updates")``."""

    def __init__(self, out: TextIO | None = None, *, width: int = 2000) -> None:
        self.out, self.width = out, width  # None: whatever sys.stdout is when printing
        self.step = 0

    def _print(self, text: str = "") -> None:
        print(text, file=self.out or sys.stdout, flush=True)

    def _block(self, text: str, indent: str = "  │ ") -> None:
        clipped = text if len(text) <= self.width else text[: self.width] + f" … [{len(text) - self.width} more chars]"
        self._print(textwrap.indent(clipped.rstrip() or "(empty)", indent, lambda line: True))

    def update(self, node: str, update: dict[str, Any] | None) -> None:
        if not update:
            return
        if node == "setup":
            task = update.get("task", {})
            self._print(RULE)
            self._print(f"task: {task.get('instruction', '')}")
            if task.get("context"):
                self._print("context: " + json.dumps(task["context"], default=str)[:500])
            if update.get("isolation"):
                self._print(f"isolation: {update['isolation']}")
        elif node in ("agent", "planner", "supervisor") or node.endswith("_agent"):
            self.step += update.get("counters", {}).get("steps", 0)
            self._print(RULE)
            self._print(f"step {self.step} · {node}")
            for message in update.get("messages", [])[:1]:
                self._block(str(message.content))
        elif node == "corrector":
            self._print("· corrector revised the code:")
            self._block(update.get("code_to_run", ""))
        elif node == "summarizer":
            self._print(f"· summarizer compressed the history up to message {update.get('summarized_upto')}")
            self._block(update.get("summary", ""))
        elif node == "executor" and "last_result" in update:
            result = update["last_result"]
            label = f"failed: {result.get('error_type')}" if result.get("error") else "ok"
            self._print(f"· executed ({label}){' · task complete' if result.get('task_completed') else ''}")
            self._block(result.get("output") or "(no output)")
        if update.get("status") not in (None, "running"):
            self._print(f"! {update['status']}: {update.get('status_reason', '')}")

    def final(self, state: dict[str, Any]) -> None:
        self._print(RULE)
        self._print(f"status: {state.get('status')} ({state.get('status_reason', '')})")
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
    final: dict[str, Any] = {}
    async for mode, chunk in graph.astream(graph_input, config=config, stream_mode=["updates", "values"]):
        if mode == "updates":
            for node, update in chunk.items():
                printer.update(node, update)
        else:
            final = chunk
    printer.final(final)
    return final
