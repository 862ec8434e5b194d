"""trirole's summarizer and isolated corrector as middleware for LangChain's `create_agent`.

The same pure cores as the scaffold's nodes (`summarize`, `correct_code`, the repetition
rules and the artifact extractor), applied to a tool-calling agent's message list::

    from langchain.agents import create_agent
    from trirole.middleware import TriroleCorrectorMiddleware, TriroleSummarizerMiddleware

    agent = create_agent(model, tools=[run_python], middleware=[
        TriroleSummarizerMiddleware(model, max_tokens=3000),
        TriroleCorrectorMiddleware(model, tools=["run_python"]),
    ])
    await agent.ainvoke({"messages": [("user", "What is 17 * 23?")]})

The cores are async: ``ainvoke``/``astream`` is the supported path. A sync ``invoke``
runs them in a private event loop.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, Awaitable, Callable, Coroutine, Mapping, Sequence, TypeVar

from langchain.agents.middleware.types import AgentMiddleware, AgentState
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, BaseMessage, HumanMessage, RemoveMessage, ToolMessage
from langgraph.graph.message import REMOVE_ALL_MESSAGES
from langgraph.prebuilt.tool_node import ToolCallRequest
from langgraph.runtime import Runtime
from langgraph.types import Command

from trirole.artifacts import artifact_chars, extract_artifacts, format_artifacts
from trirole.backend import HeuristicTokenCounter, TokenCounter
from trirole.nodes.corrector import correct_code, corrector_prompt, describe_error
from trirole.nodes.summarizer import summarize
from trirole.prompts import Prompts, load_prompts
from trirole.repetition import code_fingerprint, correction_reason, error_signature
from trirole.settings import TriroleSettings, settings_from_mapping
from trirole.state import Artifact, Attempt, ExecutionResult, merge_artifacts

T = TypeVar("T")

SUMMARY_SOURCE = "summarization"  # how LangChain's SummarizationMiddleware marks its summary message
SUMMARY_PREFIX = "Here is a summary of the conversation to date:\n\n"
_ERROR_LINE = re.compile(r"^(?P<type>[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt))(?::\s*(?P<message>.*))?$")


def _run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run an async core from a sync hook (no loop runs in that thread during ``invoke``)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    coro.close()
    raise RuntimeError("a sync agent call inside a running event loop: use ainvoke/astream")


def _text(message: BaseMessage) -> str:
    return message.content if isinstance(message.content, str) else str(message.content)


def _is_summary(message: BaseMessage) -> bool:
    return message.additional_kwargs.get("lc_source") == SUMMARY_SOURCE


def _task_text(messages: Sequence[BaseMessage]) -> str:
    """The task: the first user message that is not a summary."""
    return next((_text(m) for m in messages if isinstance(m, HumanMessage) and not _is_summary(m)), "")


class TriroleSummarizerMiddleware(AgentMiddleware[AgentState, Any]):
    """Compresses older messages with trirole's summarizer when they exceed a token budget.

    Before each model call, when the messages count more than `max_tokens`, everything
    between the task (the first user message, kept verbatim) and the last `keep_messages`
    messages is folded into one summary message, LangChain-style (``lc_source:
    "summarization"``). Tokens, passwords and ids found by `extract_artifacts` in the
    folded messages are listed verbatim under the summary, whatever the summary says,
    and carried from one summary to the next (in the message's ``additional_kwargs``).
    A tool call and its results are never split.

    Args:
        model: the summarizer's chat model (the agent's own, in trirole's setting).
        max_tokens: compress when the messages count more than this.
        keep_messages: recent messages kept verbatim.
        token_counter: a trirole `TokenCounter` (default: the conservative heuristic;
            ``ServerTokenCounter(base_url, model)`` gives vLLM's exact counts).
        prompts: overrides of trirole's prompt templates (``summarizer_system``/``_user``).
        summary_budget: the summarizer prompt's own budget (default `max_tokens`).
        artifact_share: the share of `max_tokens` the kept values may take (every secret
            is kept whatever it costs; records fill the rest, newest or last used first).
    """

    def __init__(self, model: BaseChatModel, *, max_tokens: int, keep_messages: int = 6,
                 token_counter: TokenCounter | None = None, prompts: Mapping[str, str] | str | None = None,
                 summary_budget: int | None = None, artifact_share: float = TriroleSettings.artifact_share) -> None:
        super().__init__()
        if max_tokens < 1 or keep_messages < 0:
            raise ValueError("max_tokens must be >= 1 and keep_messages >= 0")
        if not 0.0 < artifact_share <= 0.9:
            raise ValueError(f"artifact_share must be in (0, 0.9] (got {artifact_share})")
        self.artifact_share = artifact_share
        self.model, self.max_tokens, self.keep_messages = model, max_tokens, keep_messages
        self.token_counter = token_counter or HeuristicTokenCounter()
        self.prompts: Prompts = load_prompts(prompts)
        self.summary_budget = summary_budget or max_tokens

    def before_model(self, state: AgentState, runtime: Runtime) -> dict[str, Any] | None:
        return _run_sync(self._compress(state["messages"]))

    async def abefore_model(self, state: AgentState, runtime: Runtime) -> dict[str, Any] | None:
        return await self._compress(state["messages"])

    async def _compress(self, messages: list[AnyMessage]) -> dict[str, Any] | None:
        if await self.token_counter.acount(messages) <= self.max_tokens:
            return None
        task_end = next((i + 1 for i, m in enumerate(messages) if isinstance(m, HumanMessage)
                         and not _is_summary(m)), 0)
        head, body = messages[:task_end], messages[task_end:]
        previous = [m for m in body if _is_summary(m)]
        body = [m for m in body if not _is_summary(m)]
        cutoff = _safe_cutoff(body, len(body) - self.keep_messages)
        if cutoff <= 0:
            return None  # nothing old enough to fold: the recent messages alone are over budget
        folded, recent = body[:cutoff], body[cutoff:]

        artifacts: dict[str, Artifact] = {}
        previous_summary = ""
        for message in previous:
            artifacts = merge_artifacts(artifacts, message.additional_kwargs.get("trirole_artifacts"))
            previous_summary = message.additional_kwargs.get("trirole_summary", previous_summary)
        codes = {call.get("id"): (call.get("args") or {}).get("code") for m in folded
                 for call in getattr(m, "tool_calls", None) or []}
        # Steps continue after the previous summary's, so recency ranks across compressions.
        base = 1 + max((a.get("last_seen", a.get("step", 0)) for a in artifacts.values()), default=-1)
        for index, message in enumerate(folded):
            if not isinstance(message, AIMessage):  # observations carry the values, as in the scaffold
                code = codes.get(getattr(message, "tool_call_id", None))
                artifacts = merge_artifacts(artifacts, extract_artifacts(
                    _text(message), step=base + index, source=f"{message.type} message {index}",
                    code=code if isinstance(code, str) else ""))

        summary, usage = await summarize(self.model, _task_text(messages), previous_summary,
                                         [_with_tool_calls(m) for m in folded], self.prompts,
                                         self.token_counter, self.summary_budget)
        kept = format_artifacts(artifacts, max_response_chars_total=1500, max_chars=artifact_chars(
            self.max_tokens, self.artifact_share, HeuristicTokenCounter.chars_per_token))
        content = SUMMARY_PREFIX + summary + (f"\n\nValues to keep verbatim:\n{kept}" if kept else "")
        summary_message = HumanMessage(content=content, additional_kwargs={
            "lc_source": SUMMARY_SOURCE, "trirole_summary": summary, "trirole_artifacts": artifacts,
            "trirole_usage": usage})
        return {"messages": [RemoveMessage(id=REMOVE_ALL_MESSAGES), *head, summary_message, *recent]}


def _safe_cutoff(messages: Sequence[BaseMessage], cutoff: int) -> int:
    """`cutoff` moved back so that no tool result is kept without the call that asked for it."""
    cutoff = max(0, min(cutoff, len(messages)))
    while 0 < cutoff < len(messages) and isinstance(messages[cutoff], ToolMessage):
        cutoff -= 1
    return cutoff


def _with_tool_calls(message: BaseMessage) -> BaseMessage:
    """An AI message with its tool calls written out, so the summary knows what was run."""
    if isinstance(message, AIMessage) and message.tool_calls:
        calls = "\n".join(f"[tool call] {c['name']}({c['args']})" for c in message.tool_calls)
        return AIMessage(content=f"{_text(message)}\n{calls}".strip())
    return message


class TriroleCorrectorMiddleware(AgentMiddleware[AgentState, Any]):
    """Rewrites a code-running tool call with trirole's isolated corrector before it runs.

    A call is reviewed when trirole's routing rules say so: its code repeats an earlier
    failed call (or the previous call exactly), the same error came back
    ``repeated_error_k`` times, or the previous code call failed (``correction_policy``).
    The corrector sees only the task (the first user message), the reference (the tool's
    description plus `reference`), the code and the last error: no conversation. The
    revised code runs instead, and the tool's message starts with the revision, so the
    agent learns what actually ran.

    Args:
        model: the corrector's chat model (the agent's own, in trirole's setting).
        tools: names of the tools that run code (default: any tool called with `code_arg`).
        code_arg: the argument that holds the code.
        reference: extra reference material for the corrector (API docs, helpers).
        settings: `TriroleSettings` (or a mapping of its fields) for the routing rules:
            ``correction_policy``, ``correction_after_n``, ``repetition_similarity``,
            ``repeated_error_k``; its ``prompt_budget`` bounds the corrector's prompt.
        token_counter, prompts: as for `TriroleSummarizerMiddleware`.
    """

    def __init__(self, model: BaseChatModel, *, tools: Sequence[str] | None = None, code_arg: str = "code",
                 reference: str = "", settings: TriroleSettings | Mapping[str, Any] | None = None,
                 token_counter: TokenCounter | None = None, prompts: Mapping[str, str] | str | None = None) -> None:
        super().__init__()
        self.model, self.code_arg, self.reference = model, code_arg, reference
        self.tool_names = None if tools is None else frozenset(tools)
        self.settings = settings if isinstance(settings, TriroleSettings) \
            else settings_from_mapping(settings or {}, where="settings=")
        self.token_counter = token_counter or HeuristicTokenCounter()
        self.prompts: Prompts = load_prompts(prompts)

    def wrap_tool_call(self, request: ToolCallRequest,
                       handler: Callable[[ToolCallRequest], ToolMessage | Command]) -> ToolMessage | Command:
        revision = _run_sync(self._revise(request))
        if revision is None:
            return handler(request)
        return self._annotate(handler(self._rewritten(request, revision["code"])), revision)

    async def awrap_tool_call(self, request: ToolCallRequest,
                              handler: Callable[[ToolCallRequest], Awaitable[ToolMessage | Command]]
                              ) -> ToolMessage | Command:
        revision = await self._revise(request)
        if revision is None:
            return await handler(request)
        return self._annotate(await handler(self._rewritten(request, revision["code"])), revision)

    def runs_code(self, call: Mapping[str, Any]) -> bool:
        if self.tool_names is not None and call.get("name") not in self.tool_names:
            return False
        return isinstance((call.get("args") or {}).get(self.code_arg), str)

    async def _revise(self, request: ToolCallRequest) -> dict[str, Any] | None:
        """The corrector's revision of this call's code and why, or ``None`` to run it as is."""
        call = request.tool_call
        if not self.runs_code(call):
            return None
        code = call["args"][self.code_arg]
        messages = (request.state or {}).get("messages", []) if isinstance(request.state, Mapping) else []
        attempts, last_result = self.attempts(messages)
        reason = correction_reason(code, attempts, last_result, self.settings)
        if not reason:
            return None
        description = getattr(request.tool, "description", "") or ""
        reference = "\n\n".join(p for p in (f"Tool `{call['name']}`: {description}" if description else "",
                                           self.reference) if p) or "(none)"
        prompt = corrector_prompt(instruction=_task_text(messages), reference=reference, code=code, reason=reason,
                                  error=describe_error(last_result), prompts=self.prompts)
        revised, usage = await correct_code(self.model, prompt, self.token_counter, self.settings.prompt_budget)
        if not revised or revised.strip() == code.strip():
            return None
        return {"code": revised, "original_code": code, "reason": reason, "usage": usage}

    def attempts(self, messages: Sequence[BaseMessage]) -> tuple[list[Attempt], ExecutionResult | None]:
        """The code calls that already ran (those with a tool result), as trirole attempts,
        and the last one's result."""
        results = {m.tool_call_id: m for m in messages if isinstance(m, ToolMessage)}
        attempts: list[Attempt] = []
        last: ExecutionResult | None = None
        for message in messages:
            for call in getattr(message, "tool_calls", None) or []:
                if not self.runs_code(call) or call.get("id") not in results:
                    continue
                code = call["args"][self.code_arg]
                last = tool_result(code, results[call["id"]])
                attempts.append({"step": len(attempts) + 1, "fingerprint": code_fingerprint(code),
                                 "error_signature": error_signature(last), "corrected": False})
        return attempts, last

    def _rewritten(self, request: ToolCallRequest, code: str) -> ToolCallRequest:
        call = request.tool_call
        return request.override(tool_call={**call, "args": {**call["args"], self.code_arg: code}})

    def _annotate(self, result: ToolMessage | Command, revision: dict[str, Any]) -> ToolMessage | Command:
        if not isinstance(result, ToolMessage):
            return result
        note = self.prompts.render("observation_revision", code=revision["code"])
        content = note + result.content if isinstance(result.content, str) else result.content
        metadata = {**result.response_metadata, "trirole_correction": revision}
        return result.model_copy(update={"content": content, "response_metadata": metadata})


def tool_result(code: str, message: ToolMessage) -> ExecutionResult:
    """A tool message read as an execution result: failed when the tool says so
    (``status="error"``) or its last line is an exception line (how a traceback ends)."""
    output = _text(message)
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    match = _ERROR_LINE.match(lines[-1]) if lines else None
    result: ExecutionResult = {"code": code, "output": output, "error": message.status == "error" or match is not None}
    if result["error"]:
        result["error_type"] = match.group("type") if match else "ToolError"
        result["error_message"] = (match.group("message") or "") if match else output.strip()[-300:]
    return result
