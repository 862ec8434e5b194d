"""Reading AppWorld's execution output.

``/execute`` returns one string: what the code printed, ``"Execution successful."`` when
it printed nothing, or ``"Execution failed. Traceback:\n..."`` (runtime exceptions with
``File "<python-input>"`` frames, syntax errors as ``Syntax error in line: ... Message:``,
unsafe code, timeouts). API failures surface as ``Exception: Response status code is
401:`` followed by the response body.
"""

from __future__ import annotations

import ast
import re

FAILED = "Execution failed. Traceback:"
SUCCESS = "Execution successful."
_EXCEPTION_LINE = re.compile(r"^(?P<type>[A-Za-z_][\w.]*)(?::\s?(?P<message>.*))?$")


def parse_failure(output: str) -> tuple[bool, str, str]:
    """``(error, error_type, error_message)`` of an ``/execute`` output."""
    index = output.find(FAILED)
    if index < 0:
        return False, "", ""
    body = output[index + len(FAILED):].strip("\n")
    lines = body.splitlines()
    if lines and lines[0].startswith("Syntax error in line"):
        message = next((line[len("Message: "):] for line in reversed(lines) if line.startswith("Message: ")), "")
        return True, "SyntaxError", message or "invalid syntax"
    if lines and lines[0].startswith("Execution timed out"):
        return True, "TimeoutError", lines[0]
    if lines and lines[0].startswith("Usage of the following"):
        return True, "UnsafeCodeError", lines[0]
    # The exception line is the first unindented line after the last frame.
    start = 0
    for i, line in enumerate(lines):
        if line.startswith("  File "):
            start = i + 1
    for i in range(start, len(lines)):
        line = lines[i]
        if not line or line[0].isspace() or line.startswith("Traceback ("):
            continue
        match = _EXCEPTION_LINE.match(line)
        if match:
            message = "\n".join([match.group("message") or "", *lines[i + 1:]]).strip()
            if message.startswith("Execution timed out"):  # AppWorld raises it as a bare Exception
                return True, "TimeoutError", message
            return True, match.group("type").rsplit(".", 1)[-1], message
        return True, "Exception", "\n".join(lines[i:]).strip()
    return True, "Exception", body.strip()


def literal_answer(code: str) -> tuple[bool, object]:
    """The literal ``answer=`` of the last ``complete_task(...)`` call in `code`, if it is
    a literal (``(True, value)``); ``(False, None)`` when there is none or it is computed."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False, None
    found: tuple[bool, object] = (False, None)
    for node in ast.walk(tree):
        name = getattr(node.func, "attr", getattr(node.func, "id", "")) if isinstance(node, ast.Call) else ""
        if name != "complete_task":
            continue
        value = next((kw.value for kw in node.keywords if kw.arg == "answer"), node.args[0] if node.args else None)
        if value is None:
            found = (True, None)
            continue
        try:
            found = (True, ast.literal_eval(value))
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            found = (False, None)
    return found


_UPDATE_TASKS = re.compile(r"^UPDATE tasks SET (?P<columns>.+?) WHERE", re.S)


def stored_answer(changes_file) -> tuple[bool, object]:
    """The answer AppWorld stored for the task, from the supervisor app's saved changes
    (``<root>/experiments/outputs/<experiment>/tasks/<id>/dbs/supervisor.jsonl``, one
    ``[sql, params, many]`` per line, rewritten after every execution); this is the value
    its evaluator sees (e.g. ``11`` comes back as ``11.0``). ``(False, None)`` if unknown."""
    import json
    from pathlib import Path

    try:
        lines = Path(changes_file).read_text().splitlines()
    except OSError:
        return False, None
    found: tuple[bool, object] = (False, None)
    for line in lines:
        try:
            sql, params, *_ = json.loads(line)
        except (ValueError, TypeError):
            continue
        match = _UPDATE_TASKS.match(sql) if isinstance(sql, str) else None
        if not match or not isinstance(params, list):
            continue
        columns = [part.split("=")[0].strip() for part in match.group("columns").split(",")]
        if "answer" in columns and columns.index("answer") < len(params):
            try:
                found = (True, json.loads(params[columns.index("answer")]))
            except (ValueError, TypeError):
                found = (True, params[columns.index("answer")])
    return found
