"""What graph nodes use that is not state: settings, role models, prompts, the token
counter, and how to build the environment of a run (the run's `Episode` owns it).

A graph builder makes one `Resources` from its keyword options; every node of that graph
reads through it. Anything injected (a fake model, a custom counter, an environment
instance) wins over what the run's settings would build, which is how tests and
experiments swap parts without copying the graph.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
import weakref
from dataclasses import dataclass, field
import functools
from typing import Any, Awaitable, Callable, Mapping

import httpx
import openai

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import RunnableConfig
from langgraph.runtime import get_runtime

from trirole.backend import HeuristicTokenCounter, ServerTokenCounter, TokenCounter, describe_model_error, make_chat_model
from trirole.nodes.context import ContextOverflow
from trirole.prompts import Prompts
from trirole.settings import ROLES, RoleEndpoint, TriroleSettings, resolve_settings
from trirole.state import RoleUsage, TaskSpec
from trirole.tools import Environment, EnvironmentInfo, make_environment

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

    def new_environment(self, settings: TriroleSettings) -> Environment:
        """The environment of a new episode: the injected instance or factory, else
        `build_environment` from the settings."""
        if self.environment is None:
            return build_environment(settings)
        if isinstance(self.environment, Environment):
            return self.environment
        return self.environment(settings)


def build_environment(settings: TriroleSettings) -> Environment:
    """A fresh environment as `settings` describe it (the one place that maps settings
    to an environment's options; ``env_options`` win)."""
    options: dict = {"max_observation_chars": settings.max_observation_chars, "isolation": settings.isolation}
    if settings.env in ("python", "bfcl"):  # (BFCL's runs in the python sandbox)
        options.update(step_timeout_s=settings.step_timeout_s, memory_limit_mb=settings.memory_limit_mb)
    return make_environment(settings.env, **{**options, **dict(settings.env_options)})


EPISODE_KEY = "__trirole_episode"
"""The ``configurable`` key of the run's `Episode`. Leading ``__``: checkpointers (the
LangGraph server's copies every other key into checkpoint metadata) and tracers skip it,
and a live sandbox cannot be serialized."""


class Episode:
    """The environment episode of one run, owned and closed by whoever opened it.

    ``async with Episode() as episode:`` around a run; the run finds it in its
    ``configurable`` (`EPISODE_KEY`). A compiled trirole graph opens one for every run
    that does not bring its own and closes it when the run returns, fails, is
    cancelled or times out; a caller that wants a paused thread to keep its sandbox
    between ``ainvoke`` calls (human review in one process) opens it itself and
    passes ``episode.bind(config)`` to each call.

    One rule for a resumed thread: a run continues the episode it finds live in its
    `Episode` under the thread's ``env_session`` id; otherwise (another process, another
    owner, the owner closed it) the executor starts a fresh episode of the same task:
    variables from before are gone, and the agent's history says what they held.
    """

    def __init__(self) -> None:
        self.env: Environment | None = None
        self.id = ""

    def bind(self, config: RunnableConfig | None = None) -> RunnableConfig:
        """`config` with this episode in its ``configurable``."""
        config = dict(config or {})
        config["configurable"] = {**(config.get("configurable") or {}), EPISODE_KEY: self}
        return config  # type: ignore[return-value]

    def live(self, session_id: str | None) -> Environment | None:
        """The environment of episode `session_id`, if this owner still holds it."""
        return self.env if self.env is not None and session_id == self.id else None

    async def start(self, env: Environment, task: TaskSpec) -> tuple[str, EnvironmentInfo]:
        """Close the episode held so far, reset `env` to `task`: the new episode's id and
        what the environment tells the agent. `env` is held (and closed later) even
        when the reset fails."""
        await self.aclose()
        self.env, self.id = env, uuid.uuid4().hex
        return self.id, await env.reset(task)

    async def aclose(self) -> None:
        env, self.env = self.env, None
        if env is not None:
            await env.close()

    async def __aenter__(self) -> "Episode":
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *exc_info: object) -> None:
        try:
            # Shielded: a cancelled run (a timeout) must still get its sandbox closed.
            await asyncio.shield(self.aclose())
        except Exception:
            if exc_type is None:
                raise
            # The run's own failure is the news; a close failing after it must not mask it.
            log.warning("closing the environment of a failed run failed too", exc_info=True)


def episode_of(config: RunnableConfig) -> Episode:
    """The `Episode` of the run `config` belongs to."""
    episode = (config.get("configurable") or {}).get(EPISODE_KEY)
    if not isinstance(episode, Episode):
        raise RuntimeError("this node runs outside a trirole graph's run: no environment episode in its config; "
                           "run it through a compiled trirole graph, or pass `Episode().bind(config)`")
    return episode


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
    """Decorate a node that calls `role`'s model: a prompt that cannot fit the budget
    ends the run as ``context_overflow``, an endpoint failure as ``model_error``, each
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
                reason = describe_model_error(exc, resources.endpoint(resources.settings(config), role))
                return {"status": "model_error", "status_reason": reason}

        return guarded

    return decorate
