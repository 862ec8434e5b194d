"""One model call of a role, and the guard that turns a failed call into a run's end.

`invoke_role` calls a role's model (tagged with the role for traces and streams) and
measures it; `calls_role` decorates a node that does, so that a prompt that cannot fit
(`ContextOverflow`) or an endpoint that fails (`MODEL_ERRORS`) ends the run with a status
and its reason instead of an exception.
"""

from __future__ import annotations

import functools
import time
from typing import Any, Awaitable, Callable

import httpx
import openai
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import RunnableConfig

from trirole.backend import TokenCounter, context_overflow_reason, describe_model_error
from trirole.resources import Resources
from trirole.state import RoleUsage


class ContextOverflow(RuntimeError):
    """The fixed part of a prompt alone exceeds the budget."""


async def invoke_role(model: BaseChatModel, messages: list[BaseMessage], *, role: str,
                      counter: TokenCounter) -> tuple[AIMessage, RoleUsage]:
    """One model call for `role`, tagged so traces and streams know the role, with its
    usage: the server's token counts when it reports them, else the counter's."""
    started = time.perf_counter()
    response = await model.ainvoke(
        messages, config={"tags": [f"trirole:{role}"], "metadata": {"trirole_role": role}, "run_name": role}
    )
    latency = time.perf_counter() - started
    reported = getattr(response, "usage_metadata", None) or {}
    usage: RoleUsage = {
        "calls": 1,
        "prompt_tokens": reported.get("input_tokens") or await counter.acount(messages),
        "completion_tokens": reported.get("output_tokens") or await counter.acount([AIMessage(content=response.content)]),
        "latency_s": latency,
    }
    cached = (reported.get("input_token_details") or {}).get("cache_read")
    if cached is not None:  # the server said how much of the prompt its prefix cache served
        usage["cached_prompt_tokens"] = cached
    return response, usage


MODEL_ERRORS: tuple[type[BaseException], ...] = (openai.APIError, httpx.HTTPError)
"""What an endpoint raises once the client's retries are spent (unreachable, timed out,
an error status). Anything else out of a model call is a bug in trirole and raises."""

Node = Callable[[Any, RunnableConfig], Awaitable[Any]]


def calls_role(resources: Resources, role: str) -> Callable[[Node], Node]:
    """Decorate a node that calls `role`'s model: a prompt that cannot fit the budget (or
    that the server refuses as longer than its context) ends the run as
    ``context_overflow``, an endpoint failure as ``model_error``, each
    with the reason; every other exception propagates (a wrong prompt placeholder, a
    bug in a node)."""

    def decorate(node: Node) -> Node:
        @functools.wraps(node)
        async def guarded(state: Any, config: RunnableConfig) -> Any:
            try:
                return await node(state, config)
            except ContextOverflow as exc:
                return {"status": "context_overflow", "status_reason": str(exc)}
            except MODEL_ERRORS as exc:
                settings = resources.settings(config)
                endpoint = resources.endpoint(settings, role)
                overflow = context_overflow_reason(exc, endpoint, settings)
                if overflow is not None:  # the server's context is smaller than the run's budget
                    return {"status": "context_overflow", "status_reason": overflow}
                return {"status": "model_error", "status_reason": describe_model_error(exc, endpoint)}

        return guarded

    return decorate
