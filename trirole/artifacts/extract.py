"""Everything in one observation worth keeping: secrets in every shape, records, short responses.

Passes, most specific first (the first name a value is found under wins):
1. structured: JSON/Python literals parsed at any depth; a secret-named field is a
   secret, a dict with id fields is a record;
2. code: values the executed code bound to a credential and printed bare (`code.py`);
3. text: ``key: value`` / ``key=value`` (quoted or not; headers, environment lines,
   keyword arguments), sentences that name the value ("Your verification code is
   482913."), ``Bearer ...``, JWT- and API-key-shaped strings.
"""

from __future__ import annotations

import ast
import json
import re
import warnings
from typing import Any, Iterator

from trirole.artifacts.code import printed_secrets
from trirole.artifacts.keys import credible_secret, is_id_key, secret_kind
from trirole.artifacts.structured import parse_literal, structured_blocks, walk
from trirole.state import Artifact

# Fields that say which record (or which account) a dict is, in the order they are shown.
LABEL_FIELDS = ("account_name", "app", "app_name", "service", "name", "title", "full_name", "first_name",
                "last_name", "username", "email", "subject", "file_path", "path", "phone_number", "description")
MAX_LABELS = 3
MAX_LABEL_CHARS = 60
MAX_RECORDS = 2000  # per observation: a runaway listing cannot blow up the state

_KEY_VALUE = re.compile(
    r"""(?<![\w.])-{0,2}(?P<key>[A-Za-z_][\w.-]{0,60}?)["']?[ \t]*(?P<sep>:(?!=)|=>|=(?!=)|->)[ \t]*"""
    r"""(?P<value>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|[^\s,;&)\]}'"]+)""")
# A sentence naming a secret: anchored on the word (code, password, ...); the words before it
# say which kind ("password reset code"), the value follows ("is", ":", quoted or not).
_SENTENCE = re.compile(
    r"""\b(?P<word>code|password|passcode|pin|otp|token|key|secret)s?\b(?P<owner>[ \t]+for[ \t]+[\w.@-]+)?"""
    r"""(?:[ \t]+(?:is|was|will[ \t]+be|reads))?[ \t]*[:=]?[ \t]*"""
    r"""(?:["'`“](?P<quoted>[^"'`”\n]+)["'`”]|(?P<bare>[^\s"'`]+?))(?=[.,;!?)]*(?:\s|$))""", re.IGNORECASE)
_BARE_CODE_CONTEXT = re.compile(r"verif|reset|one[- ]time|otp|confirm|security|2fa|login|sign[- ]in|passcode", re.I)
_BEARER = re.compile(r"\bBearer[ \t]+(?P<value>[A-Za-z0-9\-._~+/]{8,}=*)")
_JWT = re.compile(r"\beyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{4,}")
_API_KEY_SHAPES = re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}|\bghp_[A-Za-z0-9]{20,}|\bxox[abp]-[\w-]{10,}"
                             r"|\bAKIA[0-9A-Z]{16}\b")
_TRACEBACK_FILE = re.compile(r'^\s*File "[^"]*", line \d+')
_AUTH_SCHEME = re.compile(r"^(?:Bearer|Basic|Token|JWT)[ \t]+", re.I)


def scalar(value: Any) -> str | None:
    """A field value as the exact text the agent would type, or None if not a scalar."""
    if isinstance(value, bool) or value is None or isinstance(value, (dict, list, tuple)):
        return None
    return value if isinstance(value, str) else str(value)


def record_text(record: dict, parent: str = "") -> str:
    """A compact rendering of a record's identifying fields: ids, then a few labels."""
    ids = [(k, v) for k, v in record.items() if is_id_key(str(k)) and scalar(v) is not None]
    labels = [(k, record[k]) for k in LABEL_FIELDS if k in record and scalar(record[k])][:MAX_LABELS]
    parts = [f"{k}={scalar(v)}" for k, v in ids]
    for key, value in labels:
        text = scalar(value) or ""
        text = text if len(text) <= MAX_LABEL_CHARS else text[:MAX_LABEL_CHARS - 1] + "…"
        parts.append(f"{key}={json.dumps(text, ensure_ascii=False)}")
    return (f"{parent}: " if parent and ids and ids[0][0] == "id" else "") + " ".join(parts)


def _unquote(text: str) -> tuple[str, bool]:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                value = parse_literal(text) if text[0] == '"' else ast.literal_eval(text)
                return (value if isinstance(value, str) else text[1:-1]), True
            except ValueError:
                return text[1:-1], True
    return text, False


def _without_traceback_source(text: str) -> str:
    """The text without the source lines a traceback quotes (the code, not its output:
    ``login(password='wrong')`` there is a guess, not a credential)."""
    lines, out, skip = text.splitlines(), [], 0
    for line in lines:
        if skip:
            skip -= 1
            if line.strip() and set(line.strip()) <= set("^~ "):
                continue
            if not _TRACEBACK_FILE.match(line):
                continue
        if _TRACEBACK_FILE.match(line):
            skip = 2
            continue
        out.append(line)
    return "\n".join(out)


class _Found:
    def __init__(self, step: int, source: str) -> None:
        self.step, self.source = step, source
        self.items: dict[str, Artifact] = {}

    def secret(self, name: str, kind: str, value: str, how: str, context: str = "") -> None:
        value = _AUTH_SCHEME.sub("", value) if kind in ("access_token", "refresh_token") else value
        if not value.strip():
            return
        artifact: Artifact = {"name": name, "kind": kind, "value": value, "step": self.step,
                              "source": f"{self.source}, {how}", "last_seen": self.step}
        if context:
            artifact["record"] = context
        self.items.setdefault(f"secret:{value}", artifact)

    def record(self, record: dict, parent: str) -> None:
        ids = [(k, scalar(v)) for k, v in record.items() if is_id_key(str(k)) and scalar(v) is not None]
        if not ids or len(self.items) > MAX_RECORDS:
            return
        name, value = ids[0]
        name = f"{parent}.{name}" if parent and name == "id" else name
        key = f"record:{name}={value}"
        self.items.pop(key, None)  # seen again later in the same output: keep the latest order
        self.items[key] = {"name": name, "kind": "record", "value": value or "", "step": self.step,
                           "source": self.source, "record": record_text(record, parent), "last_seen": self.step}

    def text_record(self, name: str, value: str, line: str) -> None:
        """An id in plain text (``song_id=12 title="..."``): its line is its record."""
        if len(self.items) <= MAX_RECORDS:
            self.items.setdefault(f"record:{name}={value}", {
                "name": name, "kind": "record", "value": value, "step": self.step, "source": self.source,
                "record": line, "last_seen": self.step})


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def _structured(found: _Found, text: str) -> list[tuple[int, int]]:
    """Secrets and records of every structured block; the text passes then read the
    blocks' strings decoded (an email body's "reset code is: b49c83d" line)."""
    spans = []
    for block, start, end in structured_blocks(text):
        spans.append((start, end))
        for record, path in walk(block):
            parent = path[-1] if path else ""
            context = record_text({k: v for k, v in record.items() if not secret_kind(str(k))})
            for key, value in record.items():
                kind = secret_kind(str(key))
                if kind and scalar(value) is not None and credible_secret(scalar(value) or "", quoted=True):
                    found.secret(str(key), kind, scalar(value) or "", f"field {'.'.join((*path, str(key)))}", context)
                elif isinstance(value, str):
                    _shapes(found, value, str(key))
            if not any(secret_kind(str(k)) for k in record):
                found.record(record, parent)
        for string in _strings(block):
            if len(string) > 12 and any(ch.isspace() for ch in string.strip()):
                _text(found, string)
            else:
                _shapes(found, string)  # a token in a list
    return spans


def _line(text: str, start: int, end: int) -> tuple[int, str]:
    """The start of the line holding ``text[start:end]``, and that line."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    return line_start, text[line_start:line_end if line_end >= 0 else len(text)]


def _text(found: _Found, text: str) -> None:
    """The plain-text passes: key/value pairs, sentences, shapes."""
    _key_values(found, text)
    _sentences(found, text)
    _shapes(found, text)


def _key_values(found: _Found, text: str) -> None:
    """``key: value`` and ``key=value``: logs, headers, environment lines, keyword arguments."""
    pos = 0
    while (match := _KEY_VALUE.search(text, pos)) is not None:
        key, raw = match.group("key").strip("\"'"), match.group("value")
        kind = secret_kind(key)
        line_start, line = _line(text, match.start(), match.end())
        if not kind:
            # Not a secret: look again inside the value (``Cookie: sessionid=...``).
            pos = match.start("value") if match.start("value") > match.start() else match.end()
            if is_id_key(key) and raw[:1] not in "\"'" and re.fullmatch(r"-?\w{1,40}", raw):
                found.text_record(key, raw, line.strip()[:200])
            continue
        value, quoted = _unquote(raw)
        if not quoted and match.group("sep") == ":" and not text[line_start:match.start()].strip(" \t-*#>"):
            # `key: value` opening a line (a log, YAML, a header): the value is the rest of the line.
            value = line[match.start("value") - line_start:].strip().rstrip(",;")
            if value[:1] in "\"'":
                value, quoted = _unquote(value)
            else:
                quoted = " " in value or (kind in ("access_token", "refresh_token") and bool(_AUTH_SCHEME.match(value)))
        elif not quoted:
            value = value.rstrip(".:")
        if credible_secret(_AUTH_SCHEME.sub("", value), quoted=quoted):
            found.secret(key, kind, value, f"text `{match.group('key')}{match.group('sep')}`")
        pos = match.end()


def _sentences(found: _Found, text: str) -> None:
    """Sentences that name a value: ``Your verification code is 482913.``,
    ``The password for venmo is "x y".``"""
    for match in _SENTENCE.finditer(text):
        line_start, line = _line(text, match.start(), match.end())
        noun = " ".join([*re.findall(r"[A-Za-z][\w-]*", text[line_start:match.start()])[-3:], match.group("word")])
        kind = secret_kind(noun)
        value = match.group("quoted") or match.group("bare") or ""
        digits = bool(re.fullmatch(r"\d{4,12}", value))
        if not kind and match.group("word").lower() == "code" and digits and _BARE_CODE_CONTEXT.search(line):
            kind = "verification_code"  # "Use code 771204 to sign in."
        if kind and credible_secret(value, quoted=bool(match.group("quoted")) or digits):
            found.secret(secret_name(noun), kind, value, "a sentence", (match.group("owner") or "").strip())


def _shapes(found: _Found, text: str, context: str = "") -> None:
    """Values whose shape alone says they are secrets, whatever names them (`context`:
    the field that held them, e.g. ``venmo`` in ``{"venmo": "eyJ..."}``)."""
    for match in _BEARER.finditer(text):
        found.secret("bearer", "access_token", match.group("value"), "a Bearer header", context)
    for match in _JWT.finditer(text):
        found.secret("token", "access_token", match.group(0), "a JWT-shaped string", context)
    for match in _API_KEY_SHAPES.finditer(text):
        found.secret("api_key", "api_key", match.group(0), "an API-key-shaped string", context)


def secret_name(noun: str) -> str:
    """`Your verification code` -> ``verification_code``."""
    parts = [w for w in re.split(r"\W+", noun.lower()) if w and w not in ("your", "the", "a", "an", "my", "new", "is")]
    return "_".join(parts[-3:]) or "secret"


def _uses(code: str, step: int) -> dict[str, Artifact]:
    """Use marks: the ids the executed code passed (``song_id=4``) or wrote as literals.
    `merge_artifacts` applies them to the records they name; they are not stored."""
    try:
        tree = ast.parse(code or "")
    except (SyntaxError, ValueError):
        return {}
    marks: dict[str, Artifact] = {}
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg and isinstance(node.value, ast.Constant):
            skip.add(id(node.value))
            if is_id_key(node.arg) and scalar(node.value.value) is not None:
                value = scalar(node.value.value) or ""
                marks[f"use:{node.arg}={value}"] = {"name": node.arg, "kind": "use", "value": value,
                                                   "source": "", "step": step, "used_at": step}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and id(node) not in skip and not isinstance(node.value, bool) \
                and isinstance(node.value, (int, str)) and 0 < len(str(node.value)) <= 40 \
                and not any(ch.isspace() for ch in str(node.value)):
            value = str(node.value)
            marks.setdefault(f"use:*={value}", {"name": "", "kind": "use", "value": value, "source": "",
                                                "step": step, "used_at": step})
    return marks


def extract_artifacts(text: str, *, step: int, source: str, code: str = "",
                      max_response_chars: int = 600) -> dict[str, Artifact]:
    """What to keep from one observation, keyed for `merge_artifacts`.

    `code` is the code that printed `text` (when known): it finds secrets printed bare
    and marks the records whose ids it used. Secrets are keyed by value (``secret:V``),
    records by their id (``record:song_id=4``); a short whole structured response is
    kept too (``api_response``).
    """
    found = _Found(step, source)
    text = _without_traceback_source(text or "")
    spans = _structured(found, text)
    for name, kind, value, how in printed_secrets(code, text):
        found.secret(name, kind, value, how)
    # Outside the blocks (their keys were read structurally, their strings decoded).
    masked = list(text)
    for start, end in spans:
        masked[start:end] = [ch if ch == "\n" else " " for ch in text[start:end]]
    _text(found, "".join(masked))
    body = text.strip()
    if body and len(body) <= max_response_chars and body[0] in "[{" and body[-1] in "]}":
        found.items.setdefault(f"response:{body}", {"name": "api_response", "kind": "api_response", "value": body,
                                                    "source": source, "step": step, "last_seen": step})
    if code:
        found.items.update(_uses(code, step))
    return found.items
