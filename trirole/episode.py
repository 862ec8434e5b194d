"""The environment episode of one run: who opens it, where the run finds it, who closes it."""

from __future__ import annotations

import asyncio
import logging
import uuid

from langchain_core.runnables import RunnableConfig

from trirole.state import TaskSpec
from trirole.environments import Environment, EnvironmentInfo

log = logging.getLogger(__name__)


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
