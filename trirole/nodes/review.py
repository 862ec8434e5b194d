"""Optional human review of code the corrector revised, before it runs.

The node pauses the run with LangGraph's ``interrupt``; the person resumes it with
``Command(resume=...)``: ``True``/``"accept"`` (or ``None``, ``{"action": "accept"}``) runs
the revision, a string of code or ``{"code": ...}`` runs that instead, and
``False``/``"reject"``/``{"action": "reject"}`` runs the agent's original code. Anything
else is an error rather than a silent accept: a mistyped "reject" must not run code.

Interrupts need a checkpointer (``build_scaffold_graph(checkpointer=...)``, a parent
graph's, or the LangGraph server's); without one the node fails with that fix instead of
ending the run half-way with status ``running`` and its environment still open.
"""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.constants import CONFIG_KEY_CHECKPOINTER
from langgraph.types import interrupt

from trirole.resources import Resources
from trirole.state import TriroleState

_CHOICES = ("accept", "reject")


def review_decision(decision: Any, *, proposed: str) -> dict:
    """The state update for a reviewer's `decision` (see the module docstring)."""
    if isinstance(decision, dict):
        if decision.get("code"):
            return {"code_to_run": decision["code"]}
        decision = decision.get("action", decision.get("type"))
        if decision not in _CHOICES:
            raise _unknown(decision)
    # `is`, not `==`: 0 == False and 1 == True, and neither is a decision.
    if decision is None or decision is True or decision == "accept" or decision == "":
        return {}
    if decision is False or decision == "reject":
        return {"code_to_run": proposed}
    if isinstance(decision, str):
        return {"code_to_run": decision}  # a string of code: run the person's edit
    raise _unknown(decision)


def _unknown(decision: Any) -> ValueError:
    return ValueError(f"unknown review decision {decision!r}; resume with True/'accept', False/'reject', "
                      "a string of code, {'code': ...} or {'action': 'accept'|'reject'}")


def make_review_node(resources: Resources):
    async def review(state: TriroleState, config: RunnableConfig) -> dict:
        if not (config.get("configurable") or {}).get(CONFIG_KEY_CHECKPOINTER):
            raise RuntimeError(
                "human_review pauses the run with interrupt(), which needs a checkpointer: "
                "build the graph with checkpointer=InMemorySaver() (or a SQLite saver), or compile "
                "the parent graph that embeds it with one")
        decision = interrupt({
            "question": "The corrector revised the agent's code. Run the revision?",
            "reason": state.get("correction_reason", ""),
            "proposed_code": state.get("proposed_code", ""),
            "revised_code": state.get("code_to_run", ""),
        })
        return review_decision(decision, proposed=state.get("proposed_code", ""))

    return review
