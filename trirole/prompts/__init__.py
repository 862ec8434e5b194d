"""Prompts are data: one template file per message, overridable per name.

Templates use ``string.Template`` placeholders (``${name}``) because prompts are full of
code and JSON, whose braces would fight ``str.format``. Override any template by passing
``prompts={"corrector_system": "..."}`` (text) or a folder of ``NAME.md`` files to a graph
builder; the rest keep their defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from string import Template
from typing import Mapping


def default_prompt_names() -> list[str]:
    return sorted(p.name[:-3] for p in resources.files(__package__).iterdir() if p.name.endswith(".md"))


@dataclass(frozen=True)
class Prompts:
    """The prompt templates of a graph, by name."""

    templates: Mapping[str, str] = field(default_factory=dict)

    def examples(self, role: str) -> list[tuple[str, str]]:
        """The worked examples of `role` as (request, reply) pairs: the templates
        ``<role>_example_request`` and ``<role>_example_reply``, each holding one example
        or several separated by `EXAMPLE_SEPARATOR` lines, paired in order. None when
        either is missing or empty (the default)."""
        names = (f"{role}_example_request", f"{role}_example_reply")
        if not all(self.templates.get(name, "").strip() for name in names):
            return []
        requests, replies = (split_examples(self.render(name)) for name in names)
        return list(zip(requests, replies, strict=True))  # paired by `check_examples` when loaded

    def render(self, name: str, **values: object) -> str:
        """The template `name` filled with `values`; a missing value is an error, not a blank."""
        try:
            template = self.templates[name]
        except KeyError:
            raise KeyError(f"no prompt template {name!r}; known: {sorted(self.templates)}") from None
        try:
            return Template(template).substitute({k: "" if v is None else str(v) for k, v in values.items()})
        except KeyError as exc:
            raise KeyError(f"prompt template {name!r} needs a value for {exc.args[0]!r}") from None


EXAMPLE_SEPARATOR = "=== next example ==="
"""A line of its own between two worked examples in an ``*_example_request`` or
``*_example_reply`` template (`Prompts.examples`)."""


def split_examples(text: str) -> list[str]:
    """`text`'s examples: the parts between `EXAMPLE_SEPARATOR` lines, stripped."""
    parts, current = [], []
    for line in text.splitlines():
        if line.strip() == EXAMPLE_SEPARATOR:
            parts.append("\n".join(current).strip())
            current = []
        else:
            current.append(line)
    parts.append("\n".join(current).strip())
    return parts


OPTIONAL_PLACEHOLDERS = {"agent_task": {"reference"}, "corrector_user": {"reference"}}
"""Values a template is given that its default does not show: an override of the task
message (the agent's, the corrector's) may carry the reference, and then the system
prompt need not (BFCL's single-turn prompts do so)."""


def load_prompts(overrides: Mapping[str, str] | str | Path | None = None) -> Prompts:
    """The default templates with `overrides` applied (a mapping of texts, or a folder of ``NAME.md``)."""
    package = resources.files(__package__)
    templates = {name: (package / f"{name}.md").read_text(encoding="utf-8") for name in default_prompt_names()}
    if isinstance(overrides, (str, Path)):
        folder = Path(overrides)
        if not folder.is_dir():
            raise ValueError(f"prompt folder {folder} does not exist; pass a folder of NAME.md files")
        overrides = {p.stem: p.read_text(encoding="utf-8") for p in folder.glob("*.md")}
    unknown = set(overrides or {}) - set(templates)
    if unknown:
        raise ValueError(f"unknown prompt names {sorted(unknown)}; known: {sorted(templates)}")
    for name, text in (overrides or {}).items():
        check_placeholders(name, text, allowed=placeholders(templates[name]) | OPTIONAL_PLACEHOLDERS.get(name, set()))
    templates.update(overrides or {})
    check_examples(templates)
    return Prompts(templates)


def check_examples(templates: Mapping[str, str]) -> None:
    """Every ``*_example_request`` template holds as many examples as its reply template
    (an example without its reply would teach the model the wrong thing), with none empty."""
    for name in templates:
        if not name.endswith("_example_request"):
            continue
        reply = name[: -len("request")] + "reply"
        requests, replies = split_examples(templates[name]), split_examples(templates.get(reply, ""))
        if requests == replies == [""]:  # no examples (the default)
            continue
        if len(requests) != len(replies) or not all(requests + replies):
            raise ValueError(f"prompt templates {name!r} and {reply!r} must hold the same number of worked examples, "
                             f"none empty, separated by lines {EXAMPLE_SEPARATOR!r} (they hold "
                             f"{sum(map(bool, requests))} and {sum(map(bool, replies))}); fix the overrides")


def substitutes(names: Mapping[str, str]) -> dict[str, str]:
    """Overrides that put bundled templates in the place of others: ``{"agent_system":
    "bfcl_system"}`` -> the text of ``bfcl_system`` as ``agent_system``."""
    package = resources.files(__package__)
    return {name: (package / f"{own}.md").read_text(encoding="utf-8") for name, own in names.items()}


def placeholders(text: str) -> set[str]:
    """The ``${name}`` / ``$name`` placeholders of a template."""
    return set(Template(text).get_identifiers())


def check_placeholders(name: str, text: str, *, allowed: set[str]) -> None:
    """An override may use any of its default template's placeholders (the values the
    graph fills in) and no other: a typo would otherwise fail mid-run."""
    template = Template(text)
    shown = ", ".join(f"${{{p}}}" for p in sorted(allowed)) or "none"
    if not template.is_valid():
        raise ValueError(f"prompt override {name!r} has a '$' that is not a placeholder (write $$ for a literal $); "
                         f"its placeholders are: {shown}")
    extra = placeholders(text) - allowed
    if extra:
        raise ValueError(f"prompt override {name!r} uses unknown placeholders "
                         f"{', '.join(f'${{{p}}}' for p in sorted(extra))}; its placeholders are: {shown}")
