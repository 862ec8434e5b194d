"""The isolated corrector role: reviews and rewrites the agent's code without the
conversation.

Three Roles' point: an agent stuck in a loop keeps seeing its own failed attempts and
repeats them. The corrector sees only the task instruction (for a task of several user
requests, the one being worked on), the environment's reference, the code and the error,
so it judges the code afresh. `correct_code` is the pure core;
the ``corrector_sees_history`` ablation hands it the agent's context too.
"""

from __future__ import annotations

from typing import Sequence

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig

from trirole.backend import TokenCounter
from trirole.nodes.context import agent_prompt, example_turns, fit_to_budget
from trirole.parsing import extract_code
from trirole.prompts import Prompts
from trirole.model_call import calls_role, invoke_role
from trirole.resources import Resources
from trirole.state import ExecutionResult, RoleUsage, TriroleState, current_request


def corrector_prompt(*, instruction: str, reference: str, code: str, reason: str, error: str,
                     prompts: Prompts, history: Sequence[BaseMessage] = ()) -> list[BaseMessage]:
    """The corrector's whole input. Nothing of the conversation, unless `history` is given.
    The reference opens its system prompt, as it opens the agent's: a server's prefix
    cache then serves it to every role."""
    request = HumanMessage(content=prompts.render("corrector_user", instruction=instruction, reason=reason,
                                                  reference=reference,
                                                  error=error or "(none)", code=code))
    return [SystemMessage(content=prompts.render("corrector_system", reference=reference)),
            *example_turns(prompts, "corrector"), *history, request]


def describe_error(result: ExecutionResult | None) -> str:
    if not result or not result.get("error"):
        return ""
    return f"{result.get('error_type', 'Error')}: {result.get('error_message', '')}\n{result.get('output', '')}".strip()


async def correct_code(model: BaseChatModel, prompt: list[BaseMessage], counter: TokenCounter,
                       budget: int) -> tuple[str | None, RoleUsage]:
    """The corrector's revision of the code in `prompt` (``None`` if it gave no code)."""
    prompt = await fit_to_budget(prompt, budget, counter, fixed=1)  # history turns may go, the request stays
    response, usage = await invoke_role(model, prompt, role="corrector", counter=counter)
    return extract_code(response.content if isinstance(response.content, str) else str(response.content)), usage


def make_corrector_node(resources: Resources):
    @calls_role(resources, "corrector")
    async def corrector(state: TriroleState, config: RunnableConfig) -> dict:
        settings = resources.settings(config)
        code = state.get("proposed_code") or ""
        # A reply without code (`review_no_code`): the corrector reads the reply itself.
        without_code = not code
        if without_code:
            code = next((str(m.content) for m in reversed(state.get("messages") or []) if isinstance(m, AIMessage)),
                        "")
        history: list[BaseMessage] = []
        if settings.corrector_sees_history:  # ablation: the conversation, minus the agent's system prompt
            history = agent_prompt(state, resources.prompts, settings=settings)[1:]
        prompt = corrector_prompt(
            instruction=current_request(state), code=code,
            reference=state.get("corrector_reference") or state.get("reference") or "(none)",
            reason=state.get("correction_reason") or "review", error=describe_error(state.get("last_result")),
            prompts=resources.prompts, history=history)
        revised, usage = await correct_code(resources.model("corrector", settings), prompt,
                                            resources.counter(settings, "corrector"), settings.prompt_budget)
        # A reply without code leaves the agent's code as it was (and a reply that had none, none).
        return {"code_to_run": revised or ("" if without_code else code), "usage": {"corrector": usage},
                "counters": {"corrections": 1}}

    return corrector
