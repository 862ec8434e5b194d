"""Chat models of the roles, and the preflight of their endpoints.

- `make_chat_model`: a langchain-openai `ChatOpenAI` for one role, with timeouts,
  retries and Qwen3's thinking switch (a `PooledChatModel` over several replicas).
- `check_endpoint`: a preflight that turns "connection refused" and "model not found"
  into errors that say what to do.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx
from langchain_core.language_models import BaseChatModel

from trirole.backend.errors import EndpointUnreachable, ModelNotFound
from trirole.backend.replicas import check_replicas, pooled_chat_model
from trirole.settings import RoleEndpoint, TriroleSettings, parse_base_urls


def check_endpoint(base_url: str, model: str, *, timeout_s: float = 10.0) -> list[str]:
    """The models served at `base_url`; raises if it is unreachable or lacks `model`.
    Several replicas (``URL1,URL2``): each is checked, see `trirole.backend.replicas.check_replicas`."""
    urls = parse_base_urls(base_url)
    if len(urls) > 1:
        return check_replicas(urls, model, lambda url, name: check_endpoint(url, name, timeout_s=timeout_s))
    url = base_url.rstrip("/") + "/models"
    try:
        response = httpx.get(url, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise EndpointUnreachable(
            f"cannot reach the model endpoint {base_url} ({type(exc).__name__}: {exc}). "
            "Start the local server with `trirole model serve`, or point the setting `base_url` at a running "
            "OpenAI-compatible server (vLLM: `vllm serve MODEL`)."
        ) from exc
    if response.status_code != 200:
        raise EndpointUnreachable(not_an_api(base_url, f"answered HTTP {response.status_code} for /models, not a "
                                                       "model list"))
    served = [entry.get("id", "") for entry in response.json().get("data", [])]
    if model not in served:
        raise ModelNotFound(
            f"model {model!r} is not served at {base_url}; it serves {served}. "
            f"Set the setting `model` to {served[0] if served else 'a served name'}."
        )
    return served


def not_an_api(base_url: str, answer: str) -> str:
    """What to say when `base_url` gave `answer` where an OpenAI-compatible API answers:
    the one message for a base URL that is not one (most often a server's root without
    its ``/v1``), from the command line's preflight and from a Python run alike."""
    url = base_url.rstrip("/")
    fix = f"{url}/v1" if not urlsplit(url).path.endswith("/v1") else "the server's OpenAI-compatible base URL"
    return (f"{url} {answer}: it is not an OpenAI-compatible base URL (vLLM's and most servers' end in /v1); "
            f"set the setting `base_url` to {fix}")


def describe_model_error(exc: BaseException, endpoint: RoleEndpoint) -> str:
    """One line that says what went wrong with a model call and how to fix it. Settings
    are named as ``the setting `NAME``` (a Python caller's words); the command line shows
    its flags instead (`trirole.cli.flag_names`)."""
    import openai

    if isinstance(exc, openai.APIConnectionError):
        return (f"cannot reach the model endpoint {endpoint.base_url}: {exc}. "
                "Start it with `trirole model serve`, or point the setting `base_url` at a running server.")
    if isinstance(exc, openai.NotFoundError) and endpoint.model not in str(exc):  # the path, not the model
        return not_an_api(endpoint.base_url, "answered HTTP 404 for /chat/completions")
    if isinstance(exc, openai.NotFoundError):
        return (f"model {endpoint.model!r} was not found at {endpoint.base_url} ({str(exc).rstrip('.')}); "
                "set the setting `model` to a served name (`GET BASE_URL/models` lists them)")
    return f"model call failed: {type(exc).__name__}: {exc}"


# vLLM: "... maximum context length is 4096 tokens ..."; llama.cpp's server: "request (9000
# tokens) exceeds the available context size (8192 tokens), try increasing it".
_SERVER_CONTEXT = re.compile(r"(?:maximum (?:context|model) length is|available context size \()\s*(\d+)",
                             re.IGNORECASE)


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

    Several comma-separated base URLs (replicas of one model, see `trirole.backend.replicas`)
    give a model that sends each call to the least-loaded replica.

    It gets an async HTTP client of its own: langchain-openai's default one is cached
    process-wide per base URL and bound to the event loop it first ran in, so a second
    event loop (the next test, a second ``asyncio.run``) would find it closed. Use the
    model in one event loop (`Resources` builds one per loop).
    """
    endpoint = settings.endpoint(role)
    urls = parse_base_urls(endpoint.base_url)
    if len(urls) > 1:  # several replicas: each call goes to the least-loaded one
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
