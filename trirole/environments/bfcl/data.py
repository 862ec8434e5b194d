"""BFCL's categories and entries, read from the installed ``bfcl-eval`` package.

Nothing is copied into the repository: entries, function docs and ground truth are read
from ``bfcl_eval/data`` of BFCL's own venv (`trirole.environments.bfcl.install`), in trirole's
process. Agent code never sees these files (the sandbox binds only the multi-turn
classes' sources).

Dataset names: ``bfcl:CATEGORY`` (e.g. ``bfcl:simple_python``), the groups
``bfcl:single-turn`` and ``bfcl:multi-turn``, or several joined by commas
(``bfcl:simple_python,multiple``).
"""

from __future__ import annotations

import ast
import functools
import json
from pathlib import Path
from typing import Any

from trirole.environments.bfcl.errors import BfclError, BfclUnknownTask

__all__ = ["BfclError", "BfclUnknownTask", "entries", "entry", "ground_truth", "ids", "parse_categories"]

PREFIX = "bfcl:"
VERSION = "BFCL_v4"

SINGLE_TURN = ("simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance",
               "live_simple", "live_multiple", "live_parallel", "live_parallel_multiple",
               "live_irrelevance", "live_relevance")
MULTI_TURN = ("multi_turn_base", "multi_turn_miss_func", "multi_turn_miss_param", "multi_turn_long_context")
GROUPS = {"single-turn": SINGLE_TURN, "multi-turn": MULTI_TURN}
RELEVANCE = ("irrelevance", "live_irrelevance", "live_relevance")
"""Categories BFCL scores by whether a call was made at all (they have no ground truth)."""

NOT_RUNNABLE = {
    "simple_java": "its functions are Java and BFCL checks Java syntax; trirole's agent writes Python",
    "simple_javascript": "its functions are JavaScript and BFCL checks JavaScript syntax; trirole's agent writes Python",
    "web_search": "its functions search the web (SerpAPI) and this machine has no network for agent code",
    "web_search_base": "its functions search the web (SerpAPI) and this machine has no network for agent code",
    "web_search_no_snippet": "its functions search the web (SerpAPI) and this machine has no network for agent code",
    "memory": "its memory backends need embedding models (sentence-transformers, faiss) not installed here",
    "memory_kv": "its memory categories run as multi-session prerequisite chains trirole does not replay",
    "memory_vector": "its memory backends need embedding models (sentence-transformers, faiss) not installed here",
    "memory_rec_sum": "its memory categories run as multi-session prerequisite chains trirole does not replay",
    "format_sensitivity": "it measures how a model copes with different answer formats in BFCL's prompt; "
                          "trirole's agent always answers with Python code actions",
    "multi_turn_composite": "BFCL v4 ships no data for it",
}


def is_multi_turn(category: str) -> bool:
    return category.startswith("multi_turn")


def category_of(task_id: str) -> str:
    """The category of an entry id: ``simple_python_3`` -> ``simple_python``,
    ``live_simple_0-0-0`` -> ``live_simple``."""
    head, sep, tail = task_id.rpartition("_")
    if not sep or not tail[:1].isdigit():
        raise BfclUnknownTask(f"{task_id!r} is not a BFCL entry id (CATEGORY_N, e.g. simple_python_0); "
                              "list them with `trirole env tasks bfcl --dataset bfcl:single-turn`")
    return head


def parse_categories(name: str) -> list[str]:
    """The categories a dataset name stands for; `BfclError` (one line) for a category
    that does not exist or cannot run here, saying why."""
    body = name[len(PREFIX):] if name.startswith(PREFIX) else name
    categories: list[str] = []
    for part in (p.strip() for p in body.split(",")):
        key = part.replace("_", "-") if part.replace("_", "-") in GROUPS else part
        if key in GROUPS:
            categories += GROUPS[key]
        elif part in SINGLE_TURN or part in MULTI_TURN:
            categories.append(part)
        elif part in NOT_RUNNABLE:
            raise BfclError(f"BFCL category {part!r} cannot run here: {NOT_RUNNABLE[part]}; "
                            f"runnable: {', '.join(SINGLE_TURN + MULTI_TURN)} (or bfcl:single-turn, bfcl:multi-turn)")
        else:
            raise BfclError(f"unknown BFCL category {part!r}; runnable: {', '.join(SINGLE_TURN + MULTI_TURN)}, "
                            "or the groups bfcl:single-turn, bfcl:multi-turn")
    return list(dict.fromkeys(categories))


def data_dir() -> Path:
    """``bfcl_eval/data`` of BFCL's venv, installed on first use."""
    from trirole.environments.bfcl.install import ensure_bfcl_env, package_dir

    package = package_dir(ensure_bfcl_env())
    if package is None:  # ensure_bfcl_env checked it
        raise BfclError("the BFCL venv has no bfcl_eval package")
    return package / "data"


def _lines(path: Path) -> list[dict[str, Any]]:
    try:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, ValueError) as exc:
        raise BfclError(f"cannot read BFCL's data file {path}: {exc}; reinstall BFCL by removing "
                        f"{path.parents[3]} (it is rebuilt on first use)") from None


@functools.lru_cache(maxsize=None)
def _category_entries(category: str) -> dict[str, dict[str, Any]]:
    entries = _lines(data_dir() / f"{VERSION}_{category}.json")
    if is_multi_turn(category):
        entries = [_with_functions(entry) for entry in entries]
    return {entry["id"]: entry for entry in entries}


def entries(category: str) -> list[dict[str, Any]]:
    """Every entry of `category`, in BFCL's order."""
    return list(_category_entries(category).values())


def entry(task_id: str) -> dict[str, Any]:
    """The entry `task_id` (multi-turn: with its ``function`` docs and ``missed_function``
    docs per turn, as BFCL fills them in)."""
    category = category_of(task_id)
    parse_categories(category)
    found = _category_entries(category).get(task_id)
    if found is None:
        raise BfclUnknownTask(f"BFCL category {category} has no entry {task_id!r}; list them with "
                              f"`trirole env tasks bfcl --dataset bfcl:{category}`")
    return found


@functools.lru_cache(maxsize=None)
def _ground_truth(category: str) -> dict[str, Any]:
    return {item["id"]: item["ground_truth"]
            for item in _lines(data_dir() / "possible_answer" / f"{VERSION}_{category}.json")}


def ground_truth(task_id: str) -> Any:
    """BFCL's possible answer of `task_id` (single-turn: per call, per parameter, the
    allowed values; multi-turn: per turn, call strings); None for relevance categories."""
    category = category_of(task_id)
    if category in RELEVANCE:
        return None
    return _ground_truth(category)[task_id]


# Which file of ``multi_turn_func_doc`` documents each class (BFCL's
# MULTI_TURN_FUNC_DOC_FILE_MAPPING) and which module holds it (CLASS_FILE_PATH_MAPPING).
CLASS_FILES = {
    "GorillaFileSystem": "gorilla_file_system", "MathAPI": "math_api", "MessageAPI": "message_api",
    "TwitterAPI": "posting_api", "TicketAPI": "ticket_api", "TradingBot": "trading_bot",
    "TravelAPI": "travel_booking", "VehicleControlAPI": "vehicle_control",
}
STATELESS_CLASSES = ("MathAPI",)


@functools.lru_cache(maxsize=None)
def class_docs(class_name: str) -> tuple[dict[str, Any], ...]:
    return tuple(_lines(data_dir() / "multi_turn_func_doc" / f"{CLASS_FILES[class_name]}.json"))


def _with_functions(item: dict[str, Any]) -> dict[str, Any]:
    """A multi-turn entry with its function docs, as BFCL's
    ``populate_test_cases_with_predefined_functions`` fills them in: every doc of the
    involved classes, minus the held-back ones, which go to ``missed_function`` by turn."""
    item = dict(item)
    functions = [dict(doc) for name in item["involved_classes"] for doc in class_docs(name)]
    missed: dict[str, list[dict[str, Any]]] = {}
    for turn, names in (item.get("missed_function") or {}).items():
        missed[turn] = []
        for name in names:
            for index, doc in enumerate(functions):
                if doc["name"] == name:
                    missed[turn].append(functions.pop(index))
                    break
    item["function"] = functions
    item["missed_function"] = missed
    return item


def instruction_of(item: dict[str, Any], turn: int = 0) -> str:
    """The user's message(s) of one turn ("" for a turn that only adds functions)."""
    messages = item["question"][turn] if turn < len(item["question"]) else []
    return "\n".join(m["content"] for m in messages if m.get("role") == "user").strip()


def system_of(item: dict[str, Any]) -> str:
    """A system message some live entries carry in their first turn ("" if none)."""
    messages = item["question"][0] if item["question"] else []
    return "\n".join(m["content"] for m in messages if m.get("role") == "system").strip()


def ids(categories: list[str]) -> list[str]:
    return [task_id for category in categories for task_id in _category_entries(category)]


def literal(text: str) -> Any:
    """A Python literal of BFCL's data (ground-truth call arguments)."""
    return ast.literal_eval(text)
