"""The agent role: reasons over the compressed context and writes one code action.

`propose_action` is the pure core (prompt in, reply and code out); `make_agent_node`
wraps it for the graph: it builds the prompt from the state within the budget, decides
whether the code goes to the corrector first, and returns a partial state update.
"""

from __future__ import annotations

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig

from trirole.backend import TokenCounter, describe_model_error
from trirole.nodes.context import ContextOverflow, agent_prompt, fit_to_budget
from trirole.parsing import extract_code, strip_thinking
from trirole.repetition import correction_reason
from trirole.resources import Resources, invoke_role
from trirole.state import RoleUsage, TriroleState


async def propose_action(model: BaseChatModel, prompt: list[BaseMessage], counter: TokenCounter,
                         *, role: str = "agent") -> tuple[str, str | None, RoleUsage]:
    """Ask `model` for the next step: its reply without thinking, the code in it (or
    ``None``), and the call's usage."""
    response, usage = await invoke_role(model, prompt, role=role, counter=counter)
    text = response.content if isinstance(response.content, str) else str(response.content)
    return strip_thinking(text), extract_code(text), usage


def make_agent_node(resources: Resources, *, role: str = "agent"):
    """The agent node. Each call is one step: it counts against ``max_steps``."""

    async def agent(state: TriroleState, config: RunnableConfig) -> dict:
        settings = resources.settings(config)
        counter = resources.counter(settings, role)
        try:
            prompt = await fit_to_budget(agent_prompt(state, resources.prompts, settings=settings), settings.prompt_budget, counter)
            reply, code, usage = await propose_action(resources.model(role, settings), prompt, counter, role=role)
        except ContextOverflow as exc:
            return {"status": "context_overflow", "status_reason": str(exc)}
        except Exception as exc:  # the endpoint failed after its retries: end the run, say why
            reason = describe_model_error(exc, resources.endpoint(settings, role))
            return {"status": "model_error", "status_reason": reason}
        update: dict = {"messages": [AIMessage(content=reply or "(empty reply)")], "usage": {role: usage},
                        "counters": {"steps": 1}}
        if code is None:
            # Recoverable: the model answered without code. Tell it so, as an observation.
            hint = state.get("completion_hint") or "complete_task(answer)"
            update["messages"].append(HumanMessage(content=resources.prompts.render("no_code", completion_hint=hint)))
            update["counters"]["no_code"] = 1
            update.update(proposed_code="", code_to_run="", correction_reason="")
            return update
        reason = correction_reason(code, state.get("attempts") or [], state.get("last_result"), settings)
        update.update(proposed_code=code, code_to_run=code, correction_reason=reason)
        return update

    agent.__name__ = role
    return agent
