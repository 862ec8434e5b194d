"""Reading an AppWorld episode's outcome: the answer it gave (from the code, or as the
server saved it), and the output a step that printed nothing shows (AppWorld's own).
"""

from __future__ import annotations

import ast
import re

SUCCESS = "Execution successful."


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
