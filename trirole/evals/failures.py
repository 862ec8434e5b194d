"""Why a pair failed, from its results record and its trace (pure functions over dicts).

Classes, first match wins:
    timeout, context_overflow, model_error, environment_error, harness_error: how the
        run ended (the record's status);
    premature_completion: the agent declared the task complete, the evaluation failed;
    unevaluated: completed, but the task has no checker;
    lost_credential: an auth/token error after a summarization, or a credential-shaped
        literal in failing code that no observation or prompt ever showed;
    repetition_loop: the same code (fingerprint) run REPEAT_K times, or the same error
        signature REPEAT_K times in a row;
    api_misuse:<ErrorType>: the run ran out of steps with failures; the most common error
        type of its last failures;
    step_budget: it ran out of steps without failing executions.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from trirole.artifacts import extract_artifacts
from trirole.repetition import code_fingerprint, error_signature

REPEAT_K = 3
LAST_FAILURES = 3

_AUTH_ERROR = re.compile(
    r"\b(401|403|unauthori[sz]ed|unauthenticated|authenticat\w*|access[_ ]?token|invalid (?:token|credentials?|"
    r"password)|not logged in|login required|(?:token|session) (?:has )?expired|expired token|forbidden)\b",
    re.IGNORECASE)
_CREDENTIAL_LITERAL = re.compile(
    r"""(?:access_token|refresh_token|token|api_key|apikey|password|secret)['"]?\s*[=:]\s*(['"])([^'"\n]{8,})\1""",
    re.IGNORECASE)
_JWT = re.compile(r"\beyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}\b")
_STATUS_CLASSES = {"timeout": "timeout", "context_overflow": "context_overflow", "model_error": "model_error",
                   "env_error": "environment_error", "error": "harness_error"}


def _executions(trace: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in trace if r.get("type") == "execution"]


def execution_result(execution: dict[str, Any]) -> dict[str, Any]:
    """An execution trace line as the `ExecutionResult` the repetition helpers read."""
    lines = [line for line in (execution.get("output") or "").splitlines() if line.strip()]
    message = lines[-1].split(":", 1)[-1].strip() if lines else ""
    return {"error": bool(execution.get("error")), "error_type": execution.get("error_type") or "Error",
            "error_message": message}


def is_auth_error(execution: dict[str, Any]) -> bool:
    return bool(execution.get("error")) and bool(_AUTH_ERROR.search(execution.get("output") or ""))


def lost_credential(trace: list[dict[str, Any]]) -> bool:
    """An auth error after the first summarization, or failing code using a credential
    literal that never appeared in an observation or a prompt (a mangled copy)."""
    summarized = False
    seen_text: dict[str, None] = {}  # an ordered set: every prompt repeats the system message
    for record in trace:
        if record.get("type") == "model_call":
            summarized = summarized or record.get("role") == "summarizer"
            seen_text.update(dict.fromkeys(str(m.get("content", "")) for m in record.get("messages") or []
                                           if m.get("role") in ("system", "user", "human")))
        elif record.get("type") == "execution":
            if summarized and is_auth_error(record):
                return True
            if record.get("error") and _unknown_credential(record.get("code") or "", seen_text):
                return True
            seen_text[record.get("output") or ""] = None
    return False


def _unknown_credential(code: str, seen_text: dict[str, None]) -> bool:
    literals = [m.group(2) for m in _CREDENTIAL_LITERAL.finditer(code)] + _JWT.findall(code)
    if not literals:
        return False
    seen = {a["value"] for text in seen_text for a in extract_artifacts(text, step=0, source="").values()}
    everything = "\n".join(seen_text)
    return any(value not in seen and value not in everything for value in literals)


def repetition_loop(trace: list[dict[str, Any]], k: int = REPEAT_K) -> bool:
    """The same code run `k` times, or the same error signature `k` times in a row."""
    executions = _executions(trace)
    fingerprints = Counter(code_fingerprint(e.get("code") or "") for e in executions)
    if fingerprints and max(fingerprints.values()) >= k:
        return True
    run, previous = 0, None
    for execution in executions:
        signature = error_signature(execution_result(execution)) if execution.get("error") else ""
        run = run + 1 if signature and signature == previous else (1 if signature else 0)
        previous = signature
        if run >= k:
            return True
    return False


def api_misuse(trace: list[dict[str, Any]]) -> str | None:
    """``api_misuse:<ErrorType>`` by the most common type of the last failures (ties: the latest)."""
    failures = [e for e in _executions(trace) if e.get("error")][-LAST_FAILURES:]
    if not failures:
        return None
    types = [e.get("error_type") or "Error" for e in failures]
    counts = Counter(types)
    best = max(counts.values())
    return "api_misuse:" + next(t for t in reversed(types) if counts[t] == best)


def classify_failure(record: dict[str, Any], trace: list[dict[str, Any]]) -> str | None:
    """The failure class of one pair (see the module docstring); None if it succeeded."""
    if record.get("success") is True:
        return None
    status = record.get("status") or "error"
    if status in _STATUS_CLASSES:
        return _STATUS_CLASSES[status]
    if status == "completed":
        return "unevaluated" if record.get("success") is None else "premature_completion"
    if lost_credential(trace):
        return "lost_credential"
    if repetition_loop(trace):
        return "repetition_loop"
    return api_misuse(trace) or "step_budget"


def failure_counts(classified: list[tuple[dict[str, Any], str | None]]) -> dict[str, dict[str, int]]:
    """Counts of failure classes per paradigm from ``(record, class)`` pairs."""
    counts: dict[str, Counter] = {}
    for record, label in classified:
        bucket = counts.setdefault(record["paradigm"], Counter())
        if label is not None:
            bucket[label] += 1
    return {paradigm: dict(counter.most_common()) for paradigm, counter in counts.items()}
