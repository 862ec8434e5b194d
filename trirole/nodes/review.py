"""Optional human review of code the corrector revised, before it runs.

The node pauses the run with LangGraph's ``interrupt``; the person resumes it with
``Command(resume=...)``: ``True``/``"accept"`` runs the revision, a string of code or
``{"code": ...}`` runs that instead, ``False``/``"reject"`` runs the agent's original code.
"""

from __future__ import annotations

from langchain_core.runnables import RunnableConfig
from langgraph.types import interrupt

from trirole.resources import Resources
from trirole.state import TriroleState


def make_review_node(resources: Resources):
    async def review(state: TriroleState, config: RunnableConfig) -> dict:
        decision = interrupt({
            "question": "The corrector revised the agent's code. Run the revision?",
            "reason": state.get("correction_reason", ""),
            "proposed_code": state.get("proposed_code", ""),
            "revised_code": state.get("code_to_run", ""),
        })
        if decision in (False, "reject"):
            return {"code_to_run": state.get("proposed_code", "")}
        if isinstance(decision, dict) and decision.get("code"):
            return {"code_to_run": decision["code"]}
        if isinstance(decision, str) and decision not in ("accept", ""):
            return {"code_to_run": decision}
        return {}

    return review
