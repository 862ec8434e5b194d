"""How long a prompt is, as the model will see it.

`ServerTokenCounter` gets exact sizes from the server: vLLM's ``/tokenize`` applies the chat
template itself; llama.cpp's server renders it with ``/apply-template`` and counts the text
with its ``/tokenize``. It falls back to `HeuristicTokenCounter`, a conservative estimate, on
servers without either.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import weakref
from collections import OrderedDict
from typing import Any, Protocol, Sequence

import httpx
from langchain_core.messages import BaseMessage, convert_to_openai_messages

from trirole.settings import parse_base_urls


def server_root(base_url: str) -> str:
    """``http://host:port`` of an OpenAI base URL (``.../v1``): vLLM serves ``/tokenize`` there."""
    url = base_url.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


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
    """Exact counts from the server's ``POST /tokenize`` with the chat template applied
    (vLLM's in one call; llama.cpp's server, whose ``/tokenize`` takes text, in two).

    Falls back to `HeuristicTokenCounter` for good (with ``exact = False``) when the
    server has no such endpoint, and for one call when it cannot be reached. Recent
    prompts are cached: the router and the agent count the same prompt in one step.
    """

    def __init__(self, base_url: str, model: str, *, timeout_s: float = 30.0, cache_size: int = 256) -> None:
        # Replicas serve one model with one tokenizer: the first one counts for all.
        self.root = server_root(parse_base_urls(base_url)[0])
        self.url = self.root + "/tokenize"
        self.model = model
        self.exact = True
        self.llama_cpp = False  # the server's /tokenize takes text (llama.cpp's), learnt from its first answer
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
            tokens = await (self._count_llama_cpp(payload) if self.llama_cpp else self._count_vllm(payload))
        except httpx.HTTPError:
            return self._fallback.count(messages)
        if tokens is None:
            self.exact = False
            return self._fallback.count(messages)
        self._cache[key] = tokens
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return tokens


    async def _count_vllm(self, payload: dict) -> int | None:
        response = await self._client().post(self.url, json=payload)
        if response.status_code in (404, 405):
            return None
        response.raise_for_status()
        body = response.json()
        if "count" not in body and "tokens" in body:  # llama.cpp's server: it wants text
            self.llama_cpp = True
            return await self._count_llama_cpp(payload)
        return int(body["count"])

    async def _count_llama_cpp(self, payload: dict) -> int | None:
        """The chat rendered by the server's own template, tokenized as the server
        tokenizes a prompt (special tokens added and parsed)."""
        client = self._client()
        rendered = await client.post(self.root + "/apply-template", json={"messages": payload["messages"]})
        if rendered.status_code in (404, 405):
            return None
        rendered.raise_for_status()
        response = await client.post(self.url, json={"content": rendered.json()["prompt"], "add_special": True,
                                                     "parse_special": True})
        response.raise_for_status()
        return len(response.json()["tokens"])


def _text(message: BaseMessage) -> str:
    content: Any = message.content
    if isinstance(content, str):
        return content
    return " ".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)
