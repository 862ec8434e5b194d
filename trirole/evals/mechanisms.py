"""What each mechanism did in a run, read from its trace (pure functions over trace dicts).

- corrections: the corrector's calls; ``loop_corrections``: those made because the agent
  repeated itself (the corrector's prompt gives the reason, which then starts with
  "repetition", see `trirole.repetition.detect_repetition`);
- ``loops_broken``: loop corrections after which the run stopped repeating. The repeated
  attempt is the reviewed code and the error signature of the last execution before the
  correction; the loop counts as broken when the execution that ran next (the corrector's
  revision) has another code fingerprint than the reviewed code AND did not fail with that
  same error signature (it succeeded, or failed differently: a new state the agent can
  act on). Fingerprints and signatures are `trirole.repetition`'s, as the router uses them;
- summarizations: the summarizer's calls;
- ``secrets_before_summary`` / ``secrets_carried``: the secret values (tokens, passwords,
  codes: `trirole.artifacts.is_secret`) that executions (their output, or the results of
  the functions their code called) had shown before a summarization, and those of them
  present verbatim in every agent prompt that directly followed a summarization made after
  they appeared (carried through the summary by the artifact store);
- ``records_before_summary`` / ``records_carried``: the same for the ids of records (an
  order, a booking, a file's id: the state a task builds up);
- ``requests_before_summary`` / ``requests_carried``: for tasks of several user requests,
  the later requests (those that arrived in a step's output) worked on while a
  summarization was made, and those the agent's next prompt still held (their first 200
  characters, whitespace normalized) after every such summarization.

`excerpt` picks the short pieces the report shows of one run: what the corrector saw and
what it answered, the summary the agent saw.
"""

from __future__ import annotations

import json
import re
from typing import Any

from trirole.artifacts import extract_artifacts, is_secret
from trirole.evals.failures import execution_result
from trirole.parsing import clip_middle, extract_code
from trirole.repetition import code_fingerprint, error_signature

REVIEW_REASON = "Why this code is under review: "
_REVIEWED_CODE = re.compile(r"Code to review:\s*\n(```.*)", re.DOTALL)


def _last_user_text(call: dict[str, Any]) -> str:
    users = [m for m in call.get("messages") or [] if m.get("role") in ("user", "human")]
    return str(users[-1].get("content", "")) if users else ""


def _prompt_text(call: dict[str, Any]) -> str:
    return "\n".join(str(m.get("content", "")) for m in call.get("messages") or [])


def _signature(execution: dict[str, Any] | None) -> str:
    return error_signature(execution_result(execution)) if execution and execution.get("error") else ""


def correction_reason(call: dict[str, Any]) -> str:
    """The reason a corrector call gives for its review ("" if none is written)."""
    text = _last_user_text(call)
    start = text.find(REVIEW_REASON)
    return text[start + len(REVIEW_REASON):].split("\n", 1)[0].strip() if start >= 0 else ""


def _reviewed_code(call: dict[str, Any]) -> str:
    match = _REVIEWED_CODE.search(_last_user_text(call))
    return (extract_code(match.group(1)) or "") if match else ""


def mechanism_counts(trace: list[dict[str, Any]]) -> dict[str, int]:
    """The counts of the module docstring for one run's trace."""
    counts = dict.fromkeys(MECHANISM_KEYS, 0)
    last_execution: dict[str, Any] | None = None
    open_loop: tuple[str, str] | None = None  # (fingerprint of the reviewed code, last error signature)
    seen: dict[str, set[str]] = {"secrets": set(), "records": set()}
    request = ""  # the later request being worked on, if any
    pending: dict[str, set[str]] | None = None  # values to find in the next agent prompt, by kind
    carried: dict[str, dict[str, bool]] = {"secrets": {}, "records": {}, "requests": {}}
    for record in trace:
        kind, role = record.get("type"), record.get("role")
        if kind == "model_call" and role == "corrector":
            counts["corrections"] += 1
            if correction_reason(record).startswith("repetition"):
                counts["loop_corrections"] += 1
                open_loop = (code_fingerprint(_reviewed_code(record)), _signature(last_execution))
        elif kind == "model_call" and role == "summarizer":
            counts["summarizations"] += 1
            pending = {"secrets": set(seen["secrets"]), "records": set(seen["records"]),
                       "requests": {request} if request else set()}
        elif kind == "model_call" and pending is not None:  # the first prompt after a summary
            text = _prompt_text(record)
            flat = " ".join(text.split())  # requests are compared with their whitespace normalized
            for what, values in pending.items():
                for value in values:
                    carried[what][value] = carried[what].get(value, True) and value in (flat if what == "requests"
                                                                                      else text)
            pending = None
        elif kind in ("execution", "tool_call"):
            if kind == "execution" and open_loop is not None:
                fingerprint, signature = open_loop
                if code_fingerprint(record.get("code") or "") != fingerprint and (
                        not signature or _signature(record) != signature):
                    counts["loops_broken"] += 1
                open_loop = None
            shown = record.get("output") if kind == "execution" else record.get("result")
            text = shown if isinstance(shown, str) else json.dumps(shown, default=str, ensure_ascii=False)
            for artifact in extract_artifacts(text or "", step=0, source="", code=record.get("code") or "").values():
                if is_secret(artifact):
                    seen["secrets"].add(artifact["value"])
                elif artifact.get("kind") in ("record", "id") and len(str(artifact.get("value", ""))) >= 3:
                    seen["records"].add(str(artifact["value"]))
            if kind == "execution":
                request = " ".join(str(record.get("next_request") or "").split())[:200] or request
                last_execution = record
    for what in ("secrets", "records", "requests"):
        counts[f"{what}_before_summary"] = len(carried[what])
        counts[f"{what}_carried"] = sum(carried[what].values())
    return counts


MECHANISM_KEYS = ("corrections", "loop_corrections", "loops_broken", "summarizations", "secrets_before_summary",
                  "secrets_carried", "records_before_summary", "records_carried", "requests_before_summary",
                  "requests_carried")


def excerpt(trace: list[dict[str, Any]], max_chars: int = 700) -> dict[str, str]:
    """Short pieces of one run: ``corrector_prompt`` (from the reason for review on: the
    task above it is left out) and ``corrector_reply``, ``summary`` (the
    summarizer's answer the agent then saw), else ``agent_reply`` and ``observation``
    (the first step). Missing pieces are absent."""
    calls = [r for r in trace if r.get("type") == "model_call"]
    pieces: dict[str, str] = {}
    corrector = next((c for c in calls if c.get("role") == "corrector"), None)
    if corrector is not None:
        text = _last_user_text(corrector)
        start = text.find(REVIEW_REASON)
        pieces["corrector_prompt"] = clip_middle(text[start:] if start >= 0 else text, max_chars)
        pieces["corrector_reply"] = clip_middle(str(corrector.get("response") or ""), max_chars // 2)
    summary = next((c for c in calls if c.get("role") == "summarizer"), None)
    if summary is not None:
        pieces["summary"] = clip_middle(str(summary.get("response") or ""), max_chars)
    if not pieces:
        agent = next((c for c in calls if c.get("role") not in ("corrector", "summarizer")), None)
        execution = next((r for r in trace if r.get("type") == "execution"), None)
        pieces["agent_reply"] = clip_middle(str((agent or {}).get("response") or ""), max_chars)
        pieces["observation"] = clip_middle(str((execution or {}).get("output") or ""), max_chars // 2)
    return {key: text for key, text in pieces.items() if text.strip()}
