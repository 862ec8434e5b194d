"""A scripted OpenAI-compatible HTTP server: a FAKE model endpoint for unit tests.

It speaks the parts of the API trirole uses (``GET /v1/models``, ``POST
/v1/chat/completions`` with usage, ``POST /tokenize``) on loopback, answering from a
script instead of a model, with an optional fixed latency. With ``metrics=True`` it also
serves vLLM's Prometheus counters at ``GET /metrics`` (tokens counted as words; prefix-cache
hits: the words a prompt shares as a prefix with the one before it, also reported per request
as ``usage.prompt_tokens_details.cached_tokens``). Tests of the real serving
path use the real vLLM server (fixtures_server.py).
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

Responder = Callable[[list[dict]], str]
RequestResponder = Callable[[dict], "str | dict"]
"""Gets the whole request body (``messages``, ``tools``, ...); returns the reply text, or
the assistant message itself (e.g. with ``tool_calls``, each ``{"name", "arguments"}``)."""


class ScriptedOpenAIServer:
    """``with ScriptedOpenAIServer(responder) as server: server.base_url``."""

    def __init__(self, responder: Responder, *, model: str = "scripted-model", latency_s: float = 0.0,
                 tokenize: bool = True, metrics: bool = False, max_model_len: int | None = None,
                 request_responder: RequestResponder | None = None) -> None:
        self.responder, self.model, self.latency_s, self.tokenize = responder, model, latency_s, tokenize
        self.request_responder = request_responder  # wins over `responder` when given
        self.max_model_len = max_model_len  # refuse longer requests as vLLM does (HTTP 400)
        self.metrics = metrics
        self.counters = {"prompt_tokens": 0, "generation_tokens": 0, "prefix_cache_queries": 0,
                         "prefix_cache_hits": 0}
        self._last_prompt: list[str] = []
        self._lock = threading.Lock()
        self.requests: list[dict] = []
        self.tokenized: list[dict] = []  # /tokenize bodies
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, reply_id: str, text: str, calls: list[dict], usage: dict | None) -> None:
                """The reply as server-sent events, a word per chunk (``"stream": true``)."""
                def chunk(delta: dict, finish: str | None = None, **extra) -> bytes:
                    data = {"id": reply_id, "object": "chat.completion.chunk", "created": int(time.time()),
                            "model": outer.model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                            **extra}
                    return f"data: {json.dumps(data)}\n\n".encode()

                parts = [chunk({"role": "assistant", "content": ""})]
                parts += [chunk({"content": word}) for word in re.findall(r"\S+\s*|\s+", text)]
                parts += [chunk({"tool_calls": [{**call, "index": i}]}) for i, call in enumerate(calls)]
                parts.append(chunk({}, "tool_calls" if calls else "stop"))
                if usage is not None:
                    parts.append(f"data: {json.dumps({'id': reply_id, 'object': 'chat.completion.chunk', 'choices': [], 'usage': usage, 'model': outer.model})}\n\n".encode())
                parts.append(b"data: [DONE]\n\n")
                data = b"".join(parts)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/metrics" and outer.metrics:
                    data = outer.metrics_text().encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain; version=0.0.4")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                elif self.path == "/v1/models":
                    self._send(200, {"object": "list", "data": [{"id": outer.model, "object": "model"}]})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                if self.path == "/tokenize" and outer.tokenize:
                    outer.tokenized.append(body)
                    words = sum(len(str(m.get("content", "")).split()) + 4 for m in body.get("messages", []))
                    self._send(200, {"count": words, "max_model_len": 4096, "tokens": []})
                elif self.path == "/v1/chat/completions":
                    if body.get("model") != outer.model:
                        self._send(404, {"error": {"message": f"The model `{body.get('model')}` does not exist.",
                                                   "type": "NotFoundError", "code": 404}})
                        return
                    outer.requests.append(body)
                    asked = sum(len(str(m.get("content", "")).split()) for m in body["messages"])
                    reply_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or 0
                    if outer.max_model_len is not None and asked + reply_tokens > outer.max_model_len:
                        self._send(400, {"error": {"type": "BadRequestError", "code": 400, "message": (
                            f"This model's maximum context length is {outer.max_model_len} tokens. However, you "
                            f"requested {asked + reply_tokens} tokens ({asked} in the messages, {reply_tokens} in "
                            "the completion). Please reduce the length of the messages or completion.")}})
                        return
                    if outer.latency_s:
                        time.sleep(outer.latency_s)
                    reply = outer.request_responder(body) if outer.request_responder else outer.responder(body["messages"])
                    message = reply if isinstance(reply, dict) else {"content": reply}
                    text = message.get("content") or ""
                    calls = [{"id": f"call_{len(outer.requests)}_{i}", "type": "function",
                              "function": {"name": c["name"], "arguments": json.dumps(c["arguments"])}}
                             for i, c in enumerate(message.get("tool_calls") or [])]
                    prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body["messages"])
                    cached = outer.count(body["messages"], len(text.split()))
                    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(text.split()),
                             "total_tokens": prompt_tokens + len(text.split())}
                    if outer.metrics:  # as vLLM with --enable-prompt-tokens-details
                        usage["prompt_tokens_details"] = {"cached_tokens": cached}
                    reply_id = f"chatcmpl-{uuid.uuid4().hex}"  # unique per reply, as vLLM's
                    if body.get("stream"):
                        with_usage = (body.get("stream_options") or {}).get("include_usage")
                        self._stream(reply_id, text, calls, usage if with_usage else None)
                        return
                    self._send(200, {
                        "id": reply_id, "object": "chat.completion", "created": int(time.time()), "model": outer.model,
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": text or None if calls
                                                             else text, **({"tool_calls": calls} if calls else {})},
                                     "finish_reason": "tool_calls" if calls else "stop"}],
                        "usage": usage})
                else:
                    self._send(404, {"error": {"message": "not found"}})

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def count(self, messages: list[dict], generated: int) -> int:
        """Count one request in the /metrics counters; its prefix-cache hits."""
        words = [w for m in messages for w in str(m.get("content", "")).split()]
        with self._lock:
            shared = 0
            for a, b in zip(words, self._last_prompt):
                if a != b:
                    break
                shared += 1
            self._last_prompt = words
            for key, value in (("prompt_tokens", len(words)), ("generation_tokens", generated),
                               ("prefix_cache_queries", len(words)), ("prefix_cache_hits", shared)):
                self.counters[key] += value
        return shared

    def metrics_text(self) -> str:
        """The counters in Prometheus' text format, labelled as vLLM labels them."""
        with self._lock:
            counters = dict(self.counters)
        lines = []
        for key, value in counters.items():
            name = f"vllm:{key}_total"
            lines += [f"# HELP {name} scripted", f"# TYPE {name} counter",
                      f'{name}{{engine="0",model_name="{self.model}"}} {float(value)}']
        return "\n".join(lines) + "\n"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> "ScriptedOpenAIServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
