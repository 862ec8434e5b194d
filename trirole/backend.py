"""The model backend: any OpenAI-compatible endpoint, vLLM first.

- `make_chat_model`: a langchain-openai `ChatOpenAI` for one role, with timeouts,
  retries and Qwen3's thinking switch.
- `TokenCounter`: exact prompt sizes from vLLM's ``/tokenize`` (it applies the chat
  template), falling back to a conservative estimate on servers without it.
- `check_endpoint`: a preflight that turns "connection refused" and "model not found"
  into errors that say what to do.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import re
import weakref
from collections import OrderedDict
from typing import Any, Protocol, Sequence

import httpx
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, convert_to_openai_messages

from trirole.endpoints import parse_base_urls
from trirole.errors import TriroleError
from trirole.settings import RoleEndpoint, TriroleSettings


class BackendError(TriroleError, RuntimeError):
    """A model endpoint problem, with the fix in the message."""


class EndpointUnreachable(BackendError):
    pass


class ModelNotFound(BackendError):
    pass


def server_root(base_url: str) -> str:
    """``http://host:port`` of an OpenAI base URL (``.../v1``): vLLM serves ``/tokenize`` there."""
    url = base_url.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


def check_endpoint(base_url: str, model: str, *, timeout_s: float = 10.0) -> list[str]:
    """The models served at `base_url`; raises if it is unreachable or lacks `model`.
    Several replicas (``URL1,URL2``): each is checked, see `trirole.endpoints.check_replicas`."""
    urls = parse_base_urls(base_url)
    if len(urls) > 1:
        from trirole.endpoints import check_replicas

        return check_replicas(urls, model, lambda url, name: check_endpoint(url, name, timeout_s=timeout_s))
    url = base_url.rstrip("/") + "/models"
    try:
        response = httpx.get(url, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise EndpointUnreachable(
            f"cannot reach the model endpoint {base_url} ({type(exc).__name__}: {exc}). "
            "Start the local server with `trirole model serve`, or pass --base-url of a running "
            "OpenAI-compatible server (vLLM: `vllm serve MODEL`)."
        ) from exc
    if response.status_code != 200:
        raise EndpointUnreachable(
            f"{url} answered HTTP {response.status_code}, not a model list: is {base_url} an "
            "OpenAI-compatible base URL (usually ending in /v1)?"
        )
    served = [entry.get("id", "") for entry in response.json().get("data", [])]
    if model not in served:
        raise ModelNotFound(
            f"model {model!r} is not served at {base_url}; it serves {served}. "
            f"Pass --model {served[0] if served else 'NAME'} (or set `model` in the settings)."
        )
    return served


def describe_model_error(exc: BaseException, endpoint: RoleEndpoint) -> str:
    """One line that says what went wrong with a model call and how to fix it. Settings
    are named as ``the setting `NAME``` (a Python caller's words); the command line shows
    its flags instead (`trirole.cli.flag_names`)."""
    import openai

    if isinstance(exc, openai.APIConnectionError):
        return (f"cannot reach the model endpoint {endpoint.base_url}: {exc}. "
                "Start it with `trirole model serve`, or point the setting `base_url` at a running server.")
    if isinstance(exc, openai.NotFoundError):
        return (f"model {endpoint.model!r} was not found at {endpoint.base_url}: {exc}. "
                "Set the setting `model` to a served name (`GET BASE_URL/models` lists them).")
    return f"model call failed: {type(exc).__name__}: {exc}"


_SERVER_CONTEXT = re.compile(r"maximum (?:context|model) length is (\d+)", re.IGNORECASE)


def context_overflow_reason(exc: BaseException, endpoint: RoleEndpoint, settings: TriroleSettings) -> str | None:
    """When the server refused a prompt as longer than its context: why, with the run's
    budget and the setting to change (``None`` for any other error)."""
    import openai

    text = str(exc)
    if not (isinstance(exc, openai.BadRequestError) and "context" in text.lower()):
        return None
    found = _SERVER_CONTEXT.search(text)
    server = f"{found.group(1)} tokens" if found else "its max-model-len"
    return (f"the prompt did not fit the context of the model at {endpoint.base_url} ({server}); this run's budget "
            f"is max_context_tokens={settings.max_context_tokens} ({settings.prompt_budget} for the prompt, "
            f"{settings.max_completion_tokens} for the reply): set the setting `max_context_tokens` to at most "
            f"{found.group(1) if found else 'the server context length'}. The server said: {text}")


def make_chat_model(settings: TriroleSettings, role: str) -> BaseChatModel:
    """A chat model for `role` from the settings (the role's overrides on the shared endpoint).

    Several comma-separated base URLs (replicas of one model, see `trirole.endpoints`)
    give a model that sends each call to the least-loaded replica.

    It gets an async HTTP client of its own: langchain-openai's default one is cached
    process-wide per base URL and bound to the event loop it first ran in, so a second
    event loop (the next test, a second ``asyncio.run``) would find it closed. Use the
    model in one event loop (`Resources` builds one per loop).
    """
    endpoint = settings.endpoint(role)
    urls = parse_base_urls(endpoint.base_url)
    if len(urls) > 1:  # several replicas: each call goes to the least-loaded one
        from trirole.endpoints import pooled_chat_model

        return pooled_chat_model(urls, lambda url: _chat_openai(settings, endpoint, url, max_retries=0),
                                 max_retries=settings.max_retries)
    return _chat_openai(settings, endpoint, urls[0], max_retries=settings.max_retries)


def _chat_openai(settings: TriroleSettings, endpoint: RoleEndpoint, base_url: str, *, max_retries: int) -> BaseChatModel:
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        http_async_client=httpx.AsyncClient(timeout=settings.request_timeout_s),
        base_url=base_url,
        model=endpoint.model,
        api_key=settings.api_key,
        temperature=endpoint.temperature,
        max_completion_tokens=endpoint.max_completion_tokens,
        timeout=settings.request_timeout_s,
        max_retries=max_retries,
        # Qwen3's template reads this; other templates ignore unknown kwargs.
        extra_body={"chat_template_kwargs": {"enable_thinking": settings.enable_thinking}},
        stream_usage=True,
    )


class TokenCounter(Protocol):
    """Counts the tokens of a chat prompt as the model will see it. Async, because the
    exact count is an HTTP call and evaluation runs many tasks in one event loop."""

    async def acount(self, messages: Sequence[BaseMessage]) -> int: ...


class HeuristicTokenCounter:
    """A conservative estimate for servers without ``/tokenize``: one token per three
    characters (BPE tokenizers average about four on English and code) plus the chat
    template's few tokens per message. Overestimating keeps prompts within budget."""

    chars_per_token = 3.0
    tokens_per_message = 6

    def count(self, messages: Sequence[BaseMessage]) -> int:
        return sum(math.ceil(len(_text(m)) / self.chars_per_token) + self.tokens_per_message for m in messages)

    async def acount(self, messages: Sequence[BaseMessage]) -> int:
        return self.count(messages)


class ServerTokenCounter:
    """Exact counts from vLLM's ``POST /tokenize`` with the chat template applied.

    Falls back to `HeuristicTokenCounter` for good (with ``exact = False``) when the
    server has no such endpoint, and for one call when it cannot be reached. Recent
    prompts are cached: the router and the agent count the same prompt in one step.
    """

    def __init__(self, base_url: str, model: str, *, timeout_s: float = 30.0, cache_size: int = 256) -> None:
        # Replicas serve one model with one tokenizer: the first one counts for all.
        self.url = server_root(parse_base_urls(base_url)[0]) + "/tokenize"
        self.model = model
        self.exact = True
        self.timeout_s = timeout_s
        self._fallback = HeuristicTokenCounter()
        self._cache: OrderedDict[str, int] = OrderedDict()
        self._cache_size = cache_size
        self._clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def _client(self) -> httpx.AsyncClient:
        """One pooled client per event loop (an httpx client is bound to the loop it
        first ran in); it goes away with its loop."""
        loop = asyncio.get_running_loop()
        if loop not in self._clients:
            self._clients[loop] = httpx.AsyncClient(timeout=self.timeout_s)
        return self._clients[loop]

    async def acount(self, messages: Sequence[BaseMessage]) -> int:
        if not self.exact:
            return self._fallback.count(messages)
        payload = {"model": self.model, "messages": convert_to_openai_messages(list(messages)),
                   "add_generation_prompt": True}
        key = hashlib.sha1(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        try:
            response = await self._client().post(self.url, json=payload)
        except httpx.HTTPError:
            return self._fallback.count(messages)
        if response.status_code in (404, 405):
            self.exact = False
            return self._fallback.count(messages)
        response.raise_for_status()
        tokens = int(response.json()["count"])
        self._cache[key] = tokens
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return tokens


def _text(message: BaseMessage) -> str:
    content: Any = message.content
    if isinstance(content, str):
        return content
    return " ".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)
