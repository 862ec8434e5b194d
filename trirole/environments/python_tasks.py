"""Task files for the python sandbox: ``.json`` (a list of tasks) or ``.jsonl`` (one per line).

A task is an object with
    id: a unique non-empty string.
    instruction: what the agent must do (non-empty string).
    context: optional dict of input values, shown to the agent as the ``context`` dict.
    checker: optional Python source defining ``check(answer)``, returning a bool or
        ``(bool, message)``; it runs inside the sandbox and may read the agent's variables.
    difficulty: optional 1, 2 or 3.
    files: optional object of input files, plain file name -> text content; they are
        placed in the sandbox's working directory before the agent's first step.

Every problem is reported up front, with the file, the line or index, and the fix.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any, Iterable

from trirole.errors import TriroleError

BUNDLED_TASKS = Path(__file__).parent / "data" / "python_tasks.jsonl"
"""The small offline task set shipped with trirole."""

_KEYS = ("id", "instruction", "context", "checker", "difficulty", "files")


class TaskFileError(TriroleError, ValueError):
    """A task file (or task list) is malformed; the message says where and how to fix it."""


def load_python_tasks(path: str | Path) -> list[dict[str, Any]]:
    """The tasks of a ``.json`` or ``.jsonl`` file, validated (see the module docstring).

    Each returned task has all six keys (``context`` and ``files`` ``{}``, ``checker`` and
    ``difficulty`` ``None`` when absent). Raises `TaskFileError`.
    """
    path = Path(path)
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TaskFileError(f"{name}: cannot read the task file ({exc}); check the path") from exc
    if path.suffix == ".jsonl":
        items = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                where = f"{name} line {number}"
                items.append((where, _parse_json(line, where, "each line must be one JSON object", one_line=True)))
        return _validated(items, name)
    if path.suffix == ".json":
        data = _parse_json(text, name, "the file must be one JSON list of task objects")
        if not isinstance(data, list):
            raise TaskFileError(f"{name}: expected a JSON list of task objects, got {type(data).__name__}; "
                                f"wrap the tasks in [...] (or use .jsonl, one task per line)")
        return _validated(((f"{name} index {i}", item) for i, item in enumerate(data)), name)
    raise TaskFileError(f"{name}: unsupported file type {path.suffix!r}; use .json (a list) or .jsonl (one task a line)")


def validate_python_tasks(tasks: Iterable[Any], source: str = "tasks") -> list[dict[str, Any]]:
    """In-memory tasks validated like a file's (labelled ``{source} index N``)."""
    return _validated(((f"{source} index {i}", item) for i, item in enumerate(tasks)), source)


def _parse_json(text: str, where: str, hint: str, one_line: bool = False) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if one_line:  # `where` already names the line
            raise TaskFileError(f"{where} column {exc.colno}: invalid JSON ({exc.msg}); {hint}") from None
        raise TaskFileError(f"{where} line {exc.lineno} column {exc.colno}: invalid JSON ({exc.msg}); {hint}") from None


def _validated(items: Iterable[tuple[str, Any]], source: str) -> list[dict[str, Any]]:
    tasks: list[dict[str, Any]] = []
    first_seen: dict[str, str] = {}
    for where, item in items:
        task = _validated_task(item, where)
        if task["id"] in first_seen:
            raise TaskFileError(f"{where}: duplicate id {task['id']!r} (first at {first_seen[task['id']]}); "
                                f"ids must be unique")
        first_seen[task["id"]] = where
        tasks.append(task)
    if not tasks:
        raise TaskFileError(f"{source}: contains no tasks; add at least one task object")
    return tasks


def _validated_task(item: Any, where: str) -> dict[str, Any]:
    def fail(problem: str) -> TaskFileError:
        return TaskFileError(f"{where}: {problem}")

    if not isinstance(item, dict):
        raise fail(f"expected a task object with 'id' and 'instruction', got {type(item).__name__}")
    unknown = sorted(set(item) - set(_KEYS))
    if unknown:
        raise fail(f"unknown keys {unknown}; a task has only {list(_KEYS)}")
    if "id" not in item:
        raise fail("missing 'id' (each task needs a unique non-empty string 'id')")
    if not isinstance(item["id"], str) or not item["id"].strip():
        raise fail(f"'id' must be a non-empty string (got {item['id']!r})")
    if "instruction" not in item:
        raise fail("missing 'instruction' (each task needs a non-empty string 'instruction')")
    if not isinstance(item["instruction"], str) or not item["instruction"].strip():
        raise fail(f"'instruction' must be a non-empty string (got {item['instruction']!r})")
    context = item.get("context", {})
    if not isinstance(context, dict):
        raise fail(f"'context' must be an object of input values, got {type(context).__name__}")
    difficulty = item.get("difficulty")
    if difficulty is not None and (type(difficulty) is not int or difficulty not in (1, 2, 3)):
        raise fail(f"'difficulty' must be 1, 2 or 3 (got {difficulty!r})")
    checker = item.get("checker")
    if checker is not None:
        _check_checker(checker, fail)
    files = item.get("files", {})
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise fail("'files' must be an object of file name -> text content")
    for name in files:
        if not name or "/" in name or "\\" in name or name.startswith("."):
            raise fail(f"'files' name {name!r} must be a plain file name (no folder, not hidden)")
    return {"id": item["id"], "instruction": item["instruction"], "context": context,
            "checker": checker, "difficulty": difficulty, "files": files}


def _check_checker(checker: Any, fail: Any) -> None:
    """Compile the checker now so a broken one fails at load time, not after a whole episode."""
    if not isinstance(checker, str):
        raise fail(f"'checker' must be a string of Python source defining check(answer), got {type(checker).__name__}")
    try:
        tree = ast.parse(checker, "<checker>")
        compile(tree, "<checker>", "exec")
    except SyntaxError as exc:
        raise fail(f"'checker' does not compile (SyntaxError at checker line {exc.lineno}: {exc.msg}); "
                   f"fix its Python source") from None
    defines_check = any(
        isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "check"
        or isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "check" for t in node.targets)
        for node in tree.body
    )
    if not defines_check:
        raise fail("'checker' does not define check(answer); add `def check(answer):` returning a bool "
                   "or (bool, message)")
