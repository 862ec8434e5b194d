"""Robust reading of model answers: thinking blocks out, the code action in.

Small models wrap code in odd ways: a ``<think>`` block before it (Qwen3 without a
reasoning parser), a second fence with example output after it, a fence the model never
closed because it ran out of tokens. None of these may break extraction, and text
inside ``<think>`` is never executed.
"""

from __future__ import annotations

import ast
import re

_THINK_BLOCK = re.compile(r"<think>.*?(?:</think>|\Z)", re.DOTALL | re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</think>", re.IGNORECASE)
# A fence: ``` or ~~~, an optional language tag, the body, then the closing fence or
# the end of the text (an unclosed fence after a truncated generation).
_FENCE = re.compile(r"^[ \t]*(```|~~~)[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:^[ \t]*\1[ \t]*$|\Z)", re.DOTALL | re.MULTILINE)
_PYTHON_TAGS = {"python", "py", "python3", "ipython", "pycon"}
_ACTION_NODES = (ast.Call, ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Import, ast.ImportFrom,
                 ast.For, ast.While, ast.If, ast.With, ast.FunctionDef, ast.Try)


def strip_thinking(text: str) -> str:
    """`text` without reasoning: closed ``<think>`` blocks, an unclosed one (thinking cut
    off by the token limit), and everything before a stray ``</think>`` (templates that
    open the block in the prompt)."""
    text = _THINK_BLOCK.sub("", text or "")
    closes = list(_THINK_CLOSE.finditer(text))
    if closes:
        text = text[closes[-1].end():]
    return text.strip()


def extract_code(text: str) -> str | None:
    """The Python code action in a model answer, or ``None`` if it has none.

    Python-tagged fences win; untagged fences count when there is no tagged one; fences
    in other languages (json, text, bash) are examples, not actions. Several Python
    fences are joined in order, as one action. An answer with no fence counts only if
    the whole answer is valid Python that does something.
    """
    answer = strip_thinking(text)
    blocks = [(tag.lower(), body) for _, tag, body in _FENCE.findall(answer)]
    chosen = [body for tag, body in blocks if tag in _PYTHON_TAGS] or [body for tag, body in blocks if not tag]
    code = "\n\n".join(body.strip("\n") for body in chosen if body.strip())
    if code:
        return code
    if not blocks and _is_bare_code(answer):
        return answer
    return None


def _is_bare_code(text: str) -> bool:
    if not text:
        return False
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return False
    return any(isinstance(node, _ACTION_NODES) for node in ast.walk(tree))


def clip_middle(text: str, max_chars: int) -> str:
    """`text` cut to `max_chars`, keeping head and tail (errors sit at the end, headers
    at the start) with a marker that says how much was cut."""
    if max_chars <= 0 or len(text) <= max_chars:
        return text
    marker = "\n... [{} characters cut] ...\n"
    keep = max(max_chars - len(marker.format(len(text))), 0)
    head, tail = keep * 2 // 3, keep - keep * 2 // 3
    cut = len(text) - head - tail
    return text[:head] + marker.format(cut) + (text[-tail:] if tail else "")
