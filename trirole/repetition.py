"""When the agent's next code goes to the isolated corrector.

Three Roles' failure analysis found small agents stuck in loops: the same failing code,
or the same error, again and again. These pure functions detect that from the attempt
history and decide, per the configured policy, whether the corrector reviews the code.
"""

from __future__ import annotations

import difflib
import io
import re
import tokenize
from typing import Sequence

from trirole.settings import TriroleSettings
from trirole.state import Attempt, ExecutionResult

_NUMBER = re.compile(r"\b\d+(?:\.\d+)?\b")
_QUOTED = re.compile(r"(['\"]).*?\1")
_HEX_ID = re.compile(r"\b(?:0x)?[0-9a-f]{8,}\b", re.IGNORECASE)


def code_fingerprint(code: str) -> str:
    """`code` without comments, blank lines and layout, so that cosmetic edits of the
    same action compare equal."""
    try:
        tokens = [
            tok.string for tok in tokenize.generate_tokens(io.StringIO(code).readline)
            if tok.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                                tokenize.DEDENT, tokenize.ENDMARKER)
        ]
        return " ".join(tokens)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        # Broken code still gets a stable fingerprint: strip line comments and space.
        lines = (re.sub(r"\s+#.*$|^\s*#.*$", "", line).strip() for line in code.splitlines())
        return " ".join(line for line in lines if line)


def error_signature(result: ExecutionResult | None) -> str:
    """``ErrorType: message`` with numbers, quoted values and ids replaced, so that the
    same mistake on different values has one signature. ``""`` for a success."""
    if not result or not result.get("error"):
        return ""
    message = (result.get("error_message") or "").strip().splitlines()
    first = message[-1] if message else ""
    first = _HEX_ID.sub("<id>", _QUOTED.sub("<str>", first))
    first = _NUMBER.sub("<n>", first)
    return f"{result.get('error_type') or 'Error'}: {first[:200]}"


def code_similarity(a: str, b: str) -> float:
    """Similarity of two fingerprints in [0, 1] (difflib's ratio)."""
    if a == b:
        return 1.0
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    if matcher.real_quick_ratio() < 0.5:
        return matcher.real_quick_ratio()
    return matcher.ratio()


def detect_repetition(code: str, attempts: Sequence[Attempt], settings: TriroleSettings) -> str:
    """Why `code` repeats a failure, or ``""``.

    Three signals: the code is (nearly) the same as an earlier attempt that failed; it is
    exactly the previous action again, even a successful one (running it again cannot make
    progress: small models loop like this); or the last ``repeated_error_k`` attempts all
    failed with one error signature.
    """
    fingerprint = code_fingerprint(code)
    if attempts and fingerprint == attempts[-1]["fingerprint"] and not attempts[-1]["error_signature"]:
        return f"repetition: the same code as step {attempts[-1]['step']}, which already ran"
    for attempt in reversed(attempts):
        if not attempt["error_signature"]:
            continue
        similarity = code_similarity(fingerprint, attempt["fingerprint"])
        if similarity >= settings.repetition_similarity:
            return (f"repetition: the code is {similarity:.0%} similar to step {attempt['step']}'s, "
                    f"which failed with {attempt['error_signature']}")
    k = settings.repeated_error_k
    recent = [a["error_signature"] for a in attempts[-k:]]
    if k > 1 and len(recent) == k and recent[0] and len(set(recent)) == 1:
        return f"repetition: the same error {k} times in a row: {recent[0]}"
    return ""


def consecutive_failures(attempts: Sequence[Attempt]) -> int:
    count = 0
    for attempt in reversed(attempts):
        if not attempt["error_signature"]:
            break
        count += 1
    return count


def correction_reason(code: str, attempts: Sequence[Attempt], last_result: ExecutionResult | None,
                      settings: TriroleSettings) -> str:
    """Why the agent's `code` goes to the corrector before it runs, or ``""`` if it runs as is."""
    if not settings.use_corrector:
        return ""
    repetition = detect_repetition(code, attempts, settings)
    if repetition:
        return repetition
    if not (last_result and last_result.get("error")) or settings.correction_policy == "never":
        return ""
    failures = consecutive_failures(attempts)
    if settings.correction_policy == "after_n" and failures < settings.correction_after_n:
        return ""
    return f"previous execution failed ({failures} in a row): {error_signature(last_result)}"
