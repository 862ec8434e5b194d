"""The paradigms an evaluation can compare, by name.

Each name is a graph builder plus settings overrides: the scaffold's ablations are the
same graph with a role switched off, not new graphs.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from trirole.graphs import PARADIGMS

Variant = tuple[Callable[..., Any], Mapping[str, Any]]

VARIANTS: dict[str, Variant] = {
    **{name: (builder, {}) for name, builder in PARADIGMS.items()},
    "scaffold-no-summarizer": (PARADIGMS["scaffold"], {"use_summarizer": False}),
    "scaffold-no-corrector": (PARADIGMS["scaffold"], {"use_corrector": False}),
    "scaffold-corrector-history": (PARADIGMS["scaffold"], {"corrector_sees_history": True}),
}


def resolve_paradigms(names: str | list[str]) -> list[str]:
    """`names` (a list or a comma-separated string) checked against `VARIANTS`,
    duplicates dropped, order kept. Raises ValueError naming the known ones."""
    if isinstance(names, str):
        names = [n for n in (part.strip() for part in names.split(",")) if n]
    if not names:
        raise ValueError(f"no paradigms given; choose from {', '.join(VARIANTS)}")
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown paradigm(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    return list(dict.fromkeys(names))
