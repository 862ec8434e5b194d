"""BFCL's ground truth as code actions, for the oracle (`trirole.evals.oracle`).

Single-turn: BFCL's possible answer lists, per call and per parameter, the values it
accepts (``""``: the parameter may be omitted). One call per listed call, with one value
per parameter chosen so that BFCL's AST checker accepts it: a parameter whose allowed
values include ``""`` is omitted unless the schema requires it, parameters the schema does
not have are dropped, otherwise the first value that is not ``""`` is taken (the same
choice inside dict values, also those in lists), and ``[]`` where the list is empty. Relevance entries have no
ground truth: any call is right (one call with placeholder values of the schema's types);
irrelevance entries: no call. Multi-turn: per turn, BFCL's ground-truth call strings.
Each answer ends with ``complete_task()``; a multi-turn entry has one code action per turn.
"""

from __future__ import annotations

from typing import Any

from trirole.environments.bfcl import data


def choose(allowed: list[Any], *, required: bool) -> tuple[bool, Any]:
    """(include?, value) for one parameter's allowed values."""
    if not allowed:
        return True, []
    if "" in allowed and not required:
        return False, None
    for value in allowed:
        if value != "":
            return True, _chosen(value)
    return True, ""


def _chosen(value: Any) -> Any:
    """Inside a dict value, each key's allowed values are a list too (BFCL's nested form)."""
    if isinstance(value, dict):
        out = {}
        for key, allowed in value.items():
            if isinstance(allowed, list):
                include, chosen = choose(allowed, required=True)
                if include:
                    out[key] = chosen
            else:
                out[key] = allowed
        return out
    if isinstance(value, list):  # a list of dicts holds the nested form in each item
        return [_chosen(item) for item in value]
    return value


_PLACEHOLDERS = {"string": "x", "integer": 1, "float": 1.0, "number": 1.0, "boolean": True, "array": [],
                 "tuple": [], "dict": {}, "object": {}}


def _call(name: str, arguments: dict[str, Any]) -> str:
    return f"{name}(" + ", ".join(f"{key}={value!r}" for key, value in arguments.items()) + ")"


def single_turn_calls(item: dict[str, Any], truth: Any, category: str) -> list[str]:
    """The calls of one single-turn entry's oracle answer."""
    docs = {doc["name"]: doc for doc in item["function"]}
    if category in ("irrelevance", "live_irrelevance"):
        return []
    if category == "live_relevance":
        doc = item["function"][0]
        parameters = doc.get("parameters") or {}
        properties = parameters.get("properties") or {}
        return [_call(doc["name"], {p: _PLACEHOLDERS.get(properties[p].get("type"), "x")
                                    for p in parameters.get("required") or [] if p in properties})]
    calls = []
    for expected in truth:
        ((name, parameters),) = expected.items()
        schema = (docs.get(name) or {}).get("parameters") or {}
        properties, required = schema.get("properties") or {}, set(schema.get("required") or [])
        arguments = {}
        for parameter, allowed in parameters.items():
            if properties and parameter not in properties:
                continue
            include, value = choose(allowed, required=parameter in required)
            if include:
                arguments[parameter] = value
        calls.append(_call(name, arguments))
    return calls


def turn_codes(task_id: str) -> list[str]:
    """The oracle's code action of each turn of `task_id`."""
    item, category = data.entry(task_id), data.category_of(task_id)
    truth = data.ground_truth(task_id)
    if data.is_multi_turn(category):
        return ["\n".join([*calls, "complete_task()"]) for calls in truth]
    return ["\n".join([*single_turn_calls(item, truth, category), "complete_task()"])]
