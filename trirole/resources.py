"""What graph nodes use that is not state: settings, role models, prompts, the token
counter and the environment session of each run.

A graph builder makes one `Resources` from its keyword options; every node of that graph
reads through it. Anything injected (a fake model, a custom counter, an environment
instance) wins over what the run's settings would build, which is how tests and
experiments swap parts without copying the graph.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Mapping

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import RunnableConfig
from langgraph.runtime import get_runtime

from trirole.backend import HeuristicTokenCounter, ServerTokenCounter, TokenCounter, make_chat_model
from trirole.prompts import Prompts
from trirole.settings import ROLES, RoleEndpoint, TriroleSettings, resolve_settings
from trirole.state import RoleUsage, TriroleState
from trirole.tools import Environment, make_environment

log = logging.getLogger(__name__)

EnvironmentSpec = Environment | Callable[[TriroleSettings], Environment] | None


@dataclass
class Resources:
    """The injected parts of one compiled graph (see the builders' docstrings).

    roles: the graph's model roles, each mapped to the settings role whose endpoint
    serves it (the scaffold's roles serve themselves; the multi-agent graph's
    ``supervisor`` and ``specialist`` are served by ``agent``: one model, every role).
    """

    defaults: TriroleSettings
    prompts: Prompts
    models: Mapping[str, BaseChatModel] = field(default_factory=dict)
    token_counter: TokenCounter | None = None
    environment: EnvironmentSpec = None
    roles: Mapping[str, str] = field(default_factory=lambda: {role: role for role in ROLES})
    _built_models: weakref.WeakKeyDictionary = field(default_factory=weakref.WeakKeyDictionary, repr=False)
    _counters: dict[tuple, TokenCounter] = field(default_factory=dict, repr=False)
    _sessions: dict[str, Environment] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        unknown = set(self.models) - set(self.roles)
        if unknown:
            raise ValueError(f"models has unknown roles {sorted(unknown)}; roles are {list(self.roles)}")

    # -- settings and models ------------------------------------------------------------
    def settings(self, config: RunnableConfig | None) -> TriroleSettings:
        """This run's settings: builder defaults < ``configurable`` < LangGraph context."""
        try:
            context = get_runtime().context
        except (RuntimeError, KeyError, AttributeError):  # called outside a graph run
            context = None
        return resolve_settings(self.defaults, config, context)

    def endpoint(self, settings: TriroleSettings, role: str) -> RoleEndpoint:
        """The endpoint serving `role` in this run (its model, unless one is injected)."""
        return settings.endpoint(self.roles[role])

    def model(self, role: str, settings: TriroleSettings) -> BaseChatModel:
        """The injected model of `role`, else one built (and cached) from the settings."""
        if role in self.models:
            return self.models[role]
        endpoint = self.endpoint(settings, role)
        key = (endpoint, settings.api_key, settings.enable_thinking, settings.request_timeout_s, settings.max_retries)
        # Per event loop (and gone with it): a model's async HTTP client is bound to the
        # loop it first ran in.
        built = self._built_models.setdefault(asyncio.get_running_loop(), {})
        if key not in built:
            built[key] = make_chat_model(settings, role)
        return built[key]

    def counter(self, settings: TriroleSettings, role: str = "agent") -> TokenCounter:
        """How prompts for `role` are measured: the injected counter, else the ``/tokenize``
        of the endpoint serving `role` (its own tokenizer), else a heuristic when the
        role's model was injected (a fake or foreign model has no such endpoint)."""
        if self.token_counter is not None:
            return self.token_counter
        if role in self.models:
            return self._counters.setdefault(("heuristic",), HeuristicTokenCounter())
        endpoint = self.endpoint(settings, role)
        key = (endpoint.base_url, endpoint.model)
        if key not in self._counters:
            self._counters[key] = ServerTokenCounter(endpoint.base_url, endpoint.model)
        return self._counters[key]

    # -- environment sessions -----------------------------------------------------------
    def new_session(self, settings: TriroleSettings) -> tuple[str, Environment]:
        session_id = uuid.uuid4().hex
        self._sessions[session_id] = self._make_environment(settings)
        return session_id, self._sessions[session_id]

    def session(self, state: TriroleState) -> Environment | None:
        return self._sessions.get(state.get("env_session", ""))

    def end_session(self, state: TriroleState) -> Environment | None:
        return self._sessions.pop(state.get("env_session", ""), None)

    def _make_environment(self, settings: TriroleSettings) -> Environment:
        if self.environment is None:
            options = {"step_timeout_s": settings.step_timeout_s, "memory_limit_mb": settings.memory_limit_mb,
                       "isolation": settings.isolation,
                       "max_observation_chars": settings.max_observation_chars} if settings.env == "python" else {
                       "max_observation_chars": settings.max_observation_chars}
            return make_environment(settings.env, **{**options, **dict(settings.env_options)})
        if isinstance(self.environment, Environment):
            return self.environment
        return self.environment(settings)


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
    return response, usage
