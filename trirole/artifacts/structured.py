"""Structured values inside an observation: JSON and Python reprs, parsed, at any depth.

Tools print dicts and lists (AppWorld prints indented JSON, Python prints reprs), often
among plain lines. `structured_blocks` finds each balanced ``{...}``/``[...]`` span and
parses it with `json` or `ast.literal_eval` (never `eval`); `walk` visits every dict in
it with its path, so a secret three levels down is found like one at the top.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any, Iterator

MAX_FAILED_SPANS = 200  # bounds the parsing work on text full of brackets that are not literals
SCAN_WORK_PER_CHAR = 20  # bounds the bracket matching: at most this many characters scanned per character
_SPECIAL = re.compile(r"[\"'\\\[\]{}()]")


def _span_end(text: str, start: int) -> int | None:
    """The index after the bracket closing the one at `start`, skipping quoted strings."""
    depth, quote, escaped_at = 0, "", -1
    for match in _SPECIAL.finditer(text, start):
        ch = match.group()
        if match.start() == escaped_at:  # the character after a backslash
            continue
        if quote:
            if ch == "\\":
                escaped_at = match.end()
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
            if depth == 0:
                return match.end()
    return None


def parse_literal(text: str) -> Any:
    """`text` as JSON or a Python literal; raises ValueError when it is neither."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
        raise ValueError(str(exc)) from exc


def structured_blocks(text: str) -> Iterator[tuple[Any, int, int]]:
    """Every parseable dict or list in `text`, outermost first, with its span."""
    i, failed, work = 0, 0, SCAN_WORK_PER_CHAR * len(text) + 100_000
    while i < len(text) and failed < MAX_FAILED_SPANS and work > 0:
        starts = [p for p in (text.find("{", i), text.find("[", i)) if p >= 0]
        if not starts:
            return
        start = min(starts)
        end = _span_end(text, start)
        work -= (end or len(text)) - start
        if end is not None:
            try:
                value = parse_literal(text[start:end])
            except ValueError:
                failed += 1
            else:
                if isinstance(value, (dict, list)):
                    yield value, start, end
                    i = end
                    continue
        i = start + 1


def walk(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[dict, tuple[str, ...]]]:
    """Every dict inside `value` (itself included) with the keys leading to it."""
    if isinstance(value, dict):
        yield value, path
        for key, item in value.items():
            yield from walk(item, (*path, str(key)))
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from walk(item, path)
