"""Recorded function calls: what one code action called, in call order.

One record per call a code action made to a recorded function, whether it ran in the
trirole process (a user's tool bridged out of the sandbox, `trirole.environments.functions`) or
inside the sandbox (a benchmark's functions marked by setup code with
``__trirole_record__``): ``{"name", "arguments", "result", "error", "latency_ms"}``
(`trirole.state.CallRecord`). Arguments are in keyword form: positional ones are bound
to their parameter names. `call_string` renders a record the way BFCL writes calls.
"""

from __future__ import annotations

from typing import Any

from trirole.state import CallRecord

__all__ = ["CallRecord", "call_string", "call_strings"]


def call_string(record: CallRecord | dict[str, Any]) -> str:
    """BFCL's form of a call: ``name(a=1, b='x')``, values as Python reprs, in the
    order the record holds them (the function's parameter order)."""
    arguments = ", ".join(f"{name}={value!r}" for name, value in (record.get("arguments") or {}).items())
    return f"{record['name']}({arguments})"


def call_strings(records: list[CallRecord] | list[dict[str, Any]]) -> list[str]:
    """`call_string` of each record, in order."""
    return [call_string(record) for record in records]
