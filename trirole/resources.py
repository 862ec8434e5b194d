"""What graph nodes use that is not state: settings, role models, prompts, the token
counter, and how to build the environment of a run (the run's `Episode`,
`trirole.episode`, owns it).

A graph builder makes one `Resources` from its keyword options; every node of that graph
reads through it. Anything injected (a fake model, a custom counter, an environment
instance) wins over what the run's settings would build, which is how tests and
experiments swap parts without copying the graph.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass, field
from typing import Callable, Mapping

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig
from langgraph.runtime import get_runtime

from trirole.backend import HeuristicTokenCounter, ServerTokenCounter, TokenCounter, make_chat_model
from trirole.prompts import Prompts
from trirole.settings import ROLES, RoleEndpoint, TriroleSettings, resolve_settings
from trirole.environments import Environment, make_environment
from trirole.environments.user_tools import Toolbox

EnvironmentSpec = Environment | Callable[[TriroleSettings], Environment] | None


@dataclass
class Resources:
    """The injected parts of one compiled graph (see the builders' docstrings).

    roles: the graph's model roles, each mapped to the settings role whose endpoint
    serves it (the scaffold's roles serve themselves; the multi-agent graph's
    ``supervisor`` and ``specialist`` are served by ``agent``: one model, every role).
    tools: the user's tools (the builder's ``tools`` and the settings' ``tools`` specs),
    fixed when the graph is built.
    """

    defaults: TriroleSettings
    prompts: Prompts
    models: Mapping[str, BaseChatModel] = field(default_factory=dict)
    token_counter: TokenCounter | None = None
    environment: EnvironmentSpec = None
    roles: Mapping[str, str] = field(default_factory=lambda: {role: role for role in ROLES})
    tools: Toolbox | None = None
    _built_models: weakref.WeakKeyDictionary = field(default_factory=weakref.WeakKeyDictionary, repr=False)
    _counters: dict[tuple, TokenCounter] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        unknown = set(self.models) - set(self.roles)
        if unknown:
            raise ValueError(f"models has unknown roles {sorted(unknown)}; roles are {list(self.roles)}")

    # -- settings and models ------------------------------------------------------------
    def settings(self, config: RunnableConfig | None) -> TriroleSettings:
        """This run's settings: resolved once when the run started (`trirole.graphs.loop.TriroleGraph`)
        and read from the run's LangGraph context. A node run outside a trirole graph's run
        (added to a graph of one's own) resolves them from `config` and that graph's context."""
        try:
            context = get_runtime().context
        except (RuntimeError, KeyError, AttributeError):  # called outside a graph run
            context = None
        if isinstance(context, TriroleSettings):
            return context
        return resolve_settings(self.defaults, config, context, shared_context=True)

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
        # The tools are the graph's, fixed when it was built: a run's `tools` setting is not
        # read (whoever can start a run must not hand the agent's code this process's functions).
        if self.environment is None:
            return build_environment(settings, tools=self.tools)
        if isinstance(self.environment, Environment):
            return self.environment
        return self.environment(settings)


def build_environment(settings: TriroleSettings, *, tools: Toolbox | None = None) -> Environment:
    """A fresh environment as `settings` describe it (the one place that maps settings
    to an environment's options; ``env_options`` win), offering `tools` to the agent's
    code (the python environment only: a benchmark's episodes offer its own functions,
    nothing that would change what is measured)."""
    options: dict = {"max_observation_chars": settings.max_observation_chars, "isolation": settings.isolation}
    if tools and settings.env != "python":
        raise ValueError(f"your own tools work with env='python' (the sandbox calls them over its channel); "
                         f"env={settings.env!r} is a benchmark whose episodes offer only its own functions")
    if settings.env == "python":
        options.update(step_timeout_s=settings.step_timeout_s, memory_limit_mb=settings.memory_limit_mb,
                       tool_timeout_s=settings.tool_timeout_s)
        if tools:
            options["tools"] = tools
    elif settings.env == "bfcl":  # BFCL's entries run in the python sandbox
        options.update(step_timeout_s=settings.step_timeout_s, memory_limit_mb=settings.memory_limit_mb)
    elif settings.env == "appworld":  # its agent code too (its time limit is AppWorld's own, `timeout_s`)
        options.update(memory_limit_mb=settings.memory_limit_mb)
    return make_environment(settings.env, **{**options, **dict(settings.env_options)})
