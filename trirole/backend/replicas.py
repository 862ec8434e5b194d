"""Several replicas of one OpenAI-compatible model behind one chat model.

``--base-url`` may name several replicas of the same model (vLLM data-parallel servers,
one server per GPU, one per node): a comma-separated list, or ``@FILE`` with one URL a
line. `ReplicaPool` sends each request to the replica with the fewest requests in flight;
a replica whose call fails (connection refused, timeout, HTTP 429/5xx) is taken out for a
cooldown and tried again after it, and the request moves to another replica. The pool
counts requests, tokens and failures per replica (`replica_counts`): the evaluation
writes them to its folder's ``endpoints.json`` and its report ("which served what").

Pools are shared per process by URL list (`shared_pool`), so every role and every graph
of a run balances over the same in-flight counts. A pool holds counts only, no connections:
each `PooledChatModel` owns its per-replica clients.
"""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping

from langchain_core.language_models import BaseChatModel
from langchain_core.outputs import ChatResult
from pydantic import ConfigDict

from trirole.backend.errors import EndpointUnreachable

REPLICA_COOLDOWN_S = 30.0

def check_replicas(urls: tuple[str, ...], model: str, check: Callable[[str, str], list[str]]) -> list[str]:
    """Preflight of several replicas with `check` (`trirole.backend.check_endpoint` on one
    URL): a replica that lacks the model is an error; unreachable ones are only reported
    (the pool retries them later) unless none is reachable."""
    served, unreachable = None, []
    for url in urls:
        try:
            served = check(url, model)
        except EndpointUnreachable as exc:
            unreachable.append(exc)
    if served is None:
        raise unreachable[0]
    for exc in unreachable:
        print(f"warning: a model replica is down (the run uses the others and retries it): {exc}", file=sys.stderr)
    return served


@dataclass
class ReplicaStats:
    """What one replica did in this process (``down_until``: monotonic time its cooldown ends)."""

    url: str
    in_flight: int = 0
    requests: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    down_until: float = 0.0


class ReplicaPool:
    """Least-loaded choice among replicas, with a cooldown for the ones that failed."""

    def __init__(self, urls: Iterable[str], *, cooldown_s: float = REPLICA_COOLDOWN_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.replicas = {url: ReplicaStats(url) for url in urls}
        if not self.replicas:
            raise ValueError("a replica pool needs at least one URL")
        self.cooldown_s, self._clock = cooldown_s, clock
        self._lock = threading.Lock()  # models of several event loops (threads) share a pool

    def acquire(self, exclude: Iterable[str] = ()) -> str:
        """Take a replica for one request: the one with the fewest in flight (then fewest
        served) among those up and not in `exclude`. When every candidate is cooling down,
        the one whose cooldown ends first: a request is never refused by the pool itself."""
        with self._lock:
            now = self._clock()
            skip = set(exclude)
            candidates = [r for r in self.replicas.values() if r.url not in skip] or list(self.replicas.values())
            up = [r for r in candidates if r.down_until <= now]
            chosen = (min(up, key=lambda r: (r.in_flight, r.requests)) if up
                      else min(candidates, key=lambda r: r.down_until))
            chosen.in_flight += 1
            chosen.requests += 1
            return chosen.url

    def release(self, url: str, *, ok: bool, prompt_tokens: int = 0, completion_tokens: int = 0) -> None:
        """End one request; a failed one takes the replica out for ``cooldown_s``."""
        with self._lock:
            replica = self.replicas[url]
            replica.in_flight -= 1
            if ok:
                replica.prompt_tokens += prompt_tokens
                replica.completion_tokens += completion_tokens
                replica.down_until = 0.0
            else:
                replica.failures += 1
                replica.down_until = self._clock() + self.cooldown_s

    def counts(self) -> dict[str, dict[str, int]]:
        """Per replica: requests, failures, prompt and completion tokens."""
        with self._lock:
            return {url: {k: v for k, v in asdict(r).items() if k not in ("url", "in_flight", "down_until")}
                    for url, r in self.replicas.items()}


_pools: dict[tuple[str, ...], ReplicaPool] = {}
_pools_lock = threading.Lock()


def shared_pool(urls: Iterable[str]) -> ReplicaPool:
    """This process's pool for a list of replicas (one per list: roles and graphs share it)."""
    key = tuple(urls)
    with _pools_lock:
        if key not in _pools:
            _pools[key] = ReplicaPool(key)
        return _pools[key]


def replica_counts() -> dict[str, dict[str, int]]:
    """Per replica URL, the counts of every pool of this process (summed over pools)."""
    total: dict[str, dict[str, int]] = {}
    with _pools_lock:
        pools = list(_pools.values())
    for pool in pools:
        merge_counts(total, pool.counts())
    return total


def counts_since(before: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, int]]:
    """This process's per-replica counts minus an earlier `replica_counts()` (one run's share)."""
    now = replica_counts()
    diff = {url: {k: v - before.get(url, {}).get(k, 0) for k, v in counts.items()} for url, counts in now.items()}
    return {url: counts for url, counts in diff.items() if any(counts.values())}


def merge_counts(into: dict[str, dict[str, int]], more: Mapping[str, Mapping[str, int]]) -> dict[str, dict[str, int]]:
    """Add per-replica counts (e.g. of several Ray workers, or of an earlier run) into `into`."""
    for url, counts in more.items():
        slot = into.setdefault(url, {})
        for key, value in counts.items():
            slot[key] = slot.get(key, 0) + int(value)
    return into


def _retryable(exc: BaseException) -> bool:
    """A failure of the replica (worth another one), not of the request itself."""
    import httpx
    import openai

    return isinstance(exc, (openai.APIConnectionError, openai.InternalServerError, openai.RateLimitError,
                            httpx.TransportError))


class PooledChatModel(BaseChatModel):
    """A chat model that sends each call to one replica of `pool` (see the module doc).

    replicas: one chat model per URL of the pool (built by `trirole.backend.make_chat_model`
    with no retries of their own: moving to another replica is the retry).
    attempts: replicas tried per call before its last error is raised.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    pool: Any
    replicas: dict[str, Any]
    attempts: int

    @property
    def _llm_type(self) -> str:
        return "trirole-replica-pool"

    def _replicas_to_try(self) -> Iterator[tuple[int, str]]:
        """(attempt, url) for each attempt of one call: each replica once before any
        twice, then the least loaded again."""
        tried: list[str] = []
        for attempt in range(self.attempts):
            url = self.pool.acquire(exclude=tried if len(set(tried)) < len(self.replicas) else ())
            tried.append(url)
            yield attempt, url

    def _failed(self, url: str, exc: BaseException, attempt: int) -> bool:
        """Release `url` after an error; True when the call should move to another replica."""
        retry = _retryable(exc)
        self.pool.release(url, ok=not retry)  # a bad request is not the replica's fault
        return retry and attempt < self.attempts - 1

    def _settled(self, url: str, result: ChatResult) -> ChatResult:
        usage = getattr(result.generations[0].message, "usage_metadata", None) or {}
        self.pool.release(url, ok=True, prompt_tokens=usage.get("input_tokens", 0),
                          completion_tokens=usage.get("output_tokens", 0))
        return result

    # The async and sync calls differ only in the await: one failover loop each.
    async def _agenerate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        for attempt, url in self._replicas_to_try():
            try:
                result = await self.replicas[url]._agenerate(messages, stop=stop, **kwargs)
            except Exception as exc:
                if self._failed(url, exc, attempt):
                    continue
                raise
            return self._settled(url, result)
        raise AssertionError("unreachable: the last attempt raises")

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        for attempt, url in self._replicas_to_try():
            try:
                result = self.replicas[url]._generate(messages, stop=stop, **kwargs)
            except Exception as exc:
                if self._failed(url, exc, attempt):
                    continue
                raise
            return self._settled(url, result)
        raise AssertionError("unreachable: the last attempt raises")


def pooled_chat_model(urls: tuple[str, ...], build: Callable[[str], BaseChatModel], *,
                      max_retries: int) -> PooledChatModel:
    """A `PooledChatModel` over `urls` (``build(url)`` makes one replica's model): each
    replica is tried once, then up to `max_retries` more attempts."""
    return PooledChatModel(pool=shared_pool(urls), replicas={url: build(url) for url in urls},
                           attempts=len(urls) + max_retries)
