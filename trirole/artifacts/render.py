"""The artifact block of the agent's prompt: every secret, then the records that fit.

Secrets are always listed, verbatim, whatever the budget. Records (an id with the fields
that say what it is) and short API responses share `max_chars`: the most recently seen or
used first, so an old listing the agent never used again leaves the block (it stays in the
state and in the full message history).
"""

from __future__ import annotations

from trirole.artifacts.keys import SECRET_KINDS
from trirole.state import Artifact

OMITTED_NOTE_CHARS = 90
SECRETS_HEADER = "Secrets (exact values; type them exactly as shown):"
RECORDS_HEADER = "Records and short API responses (used by the code or newest first):"


def is_secret(artifact: Artifact) -> bool:
    return artifact.get("kind") in SECRET_KINDS


def touched(artifact: Artifact) -> int:
    """The last step the agent saw or used this artifact."""
    return max(artifact.get("last_seen", artifact.get("step", 0)), artifact.get("used_at", -1))


def _secret_line(artifact: Artifact) -> str:
    context = f" [{artifact['record']}]" if artifact.get("record") else ""
    return f"- {artifact.get('name') or artifact['kind']}{context} ({artifact.get('source', '')}): {artifact['value']}"


def _other_line(artifact: Artifact) -> str:
    if artifact.get("kind") == "api_response":
        return f"- API response ({artifact.get('source', '')}):\n  {artifact['value']}"
    record = artifact.get("record") or f"{artifact.get('name', 'id')}={artifact['value']}"
    used = f", used at step {artifact['used_at']}" if "used_at" in artifact else ""
    return f"- {record} (step {artifact.get('last_seen', artifact.get('step', 0))}{used})"


def format_artifacts(artifacts: dict[str, Artifact], *, max_chars: int | None = None,
                     max_response_chars_total: int = 1500) -> str:
    """The artifact block: every secret, then records and responses within `max_chars`
    (None: no limit), responses within `max_response_chars_total` of that."""
    if not artifacts:
        return ""
    items = list(artifacts.values())
    secrets = [_secret_line(a) for a in sorted((a for a in items if is_secret(a)), key=lambda a: a.get("step", 0))]
    ranked = sorted((a for a in items if not is_secret(a) and a.get("kind") != "use"),
                    key=lambda a: ("used_at" in a, touched(a)), reverse=True)  # stable: listing order kept
    # The whole block stays within max_chars; secrets are never dropped, so records get what they leave.
    fixed = sum(len(line) + 1 for line in secrets) + 2 * len(SECRETS_HEADER) + OMITTED_NOTE_CHARS
    budget = None if max_chars is None else max_chars - fixed
    responses_left, shown, omitted = max_response_chars_total, [], 0
    for artifact in ranked:
        line = _other_line(artifact)
        if artifact.get("kind") == "api_response":
            if len(artifact["value"]) > responses_left:
                omitted += 1
                continue
            responses_left -= len(artifact["value"])
        if budget is not None and len(line) + 1 > budget:
            omitted += 1
            continue
        if budget is not None:
            budget -= len(line) + 1
        shown.append(line)
    lines = []
    if secrets:
        lines += [SECRETS_HEADER, *secrets]
    if shown:
        lines += [RECORDS_HEADER, *shown]
    if omitted:
        lines.append(f"- ({omitted} older records and responses are not shown; the full history has them)")
    return "\n".join(lines)


def artifact_chars(prompt_budget_tokens: int, share: float, chars_per_token: float) -> int:
    """The characters the non-secret part of the block may take: `share` of the prompt
    budget, converted with the token counter's characters-per-token rule."""
    return int(prompt_budget_tokens * share * chars_per_token)
