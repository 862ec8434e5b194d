"""Deterministic extraction of values that must survive compression verbatim.

Three Roles found that summaries lose access tokens and credentials, and the agent then
fails. trirole does not trust the summarizer with them: this module pulls them out of
every observation with patterns, the state keeps them, and the agent's prompt shows them
verbatim whatever the summary says.
"""

from __future__ import annotations

import re

from trirole.state import Artifact

# Field names whose values are secrets or handles the agent will need again.
_SECRET_KEYS = r"access_token|refresh_token|token|api_key|apikey|secret|password|passcode|otp|verification_code|session_id"
_ID_KEYS = r"\w*_id|id"
_KEY_VALUE = re.compile(
    r"""(?P<quote>['"]?)(?P<key>""" + _SECRET_KEYS + "|" + _ID_KEYS + r""")(?P=quote)\s*[:=]\s*"""
    r"""(?:(?P<q2>['"])(?P<sval>[^'"\n]{1,500})(?P=q2)|(?P<nval>-?\d{1,20})\b)""",
    re.IGNORECASE,
)
_JWT = re.compile(r"\beyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}\b")


def _kind(key: str) -> str:
    key = key.lower()
    if "password" in key or key in {"passcode", "otp", "verification_code"}:
        return "password"
    if "token" in key or key in {"api_key", "apikey", "secret", "session_id"}:
        return "access_token"
    return "id"


def extract_artifacts(text: str, *, step: int, source: str, max_response_chars: int = 600) -> dict[str, Artifact]:
    """Artifacts in one observation, keyed by ``name=value``.

    Secrets and ids are found as ``key: value`` pairs (JSON, dict reprs, keyword
    arguments) and JWT-shaped tokens. A whole observation that is a short structured API
    response (JSON or a dict/list repr, at most `max_response_chars`) is kept too.
    """
    found: dict[str, Artifact] = {}

    def add(name: str, kind: str, value: str) -> None:
        found.setdefault(f"{name}={value}", {"kind": kind, "name": name, "value": value,
                                             "source": source, "step": step})

    for match in _KEY_VALUE.finditer(text or ""):
        key = match.group("key")
        value = match.group("sval") if match.group("sval") is not None else match.group("nval")
        if not value:
            continue
        add(key, _kind(key), value)
    for match in _JWT.finditer(text or ""):
        add("token", "access_token", match.group(0))
    body = (text or "").strip()
    if body and len(body) <= max_response_chars and body[0] in "[{" and body[-1] in "]}":
        add("api_response", "api_response", body)
    return found


def format_artifacts(artifacts: dict[str, Artifact], *, max_response_chars_total: int) -> str:
    """The artifacts block of the agent's prompt.

    Every secret and id is listed, always, verbatim. Whole API responses are listed
    newest first while they fit in `max_response_chars_total`; older ones stay in the
    state and in the full message history.
    """
    if not artifacts:
        return ""
    values = [a for a in artifacts.values() if a["kind"] != "api_response"]
    responses = sorted((a for a in artifacts.values() if a["kind"] == "api_response"),
                       key=lambda a: a["step"], reverse=True)
    lines = [f"- {a.get('name', a['kind'])} ({a['kind']}, {a['source']}): {a['value']}"
             for a in sorted(values, key=lambda a: a["step"])]
    budget = max_response_chars_total
    for response in responses:
        if len(response["value"]) > budget:
            continue
        budget -= len(response["value"])
        lines.append(f"- API response ({response['source']}):\n  {response['value']}")
    return "\n".join(lines)

