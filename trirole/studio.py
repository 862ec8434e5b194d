"""Module-level compiled graphs for ``langgraph dev`` and LangGraph Studio.

``langgraph.json`` at the repository root names one graph per paradigm from this module:
``scaffold``, ``react``, ``base`` and ``multi-agent`` (the variable ``multi_agent``; the
server reads variables from the module's namespace, so all four are built at import).
They are compiled once, with default settings and no checkpointer (the API server adds
its own). Each run owns its environment episode and closes it when it ends or pauses: a
run resumed after an interrupt starts a fresh episode of the same task (the rule in
`trirole.episode.Episode`).

Every `TriroleSettings` field is the graphs' context schema: Studio shows it as an
editable form, and a REST run sets it with ``"context": {...}`` (or
``"config": {"configurable": {...}}``). The defaults' model endpoint comes from

1. ``TRIROLE_BASE_URL`` / ``TRIROLE_MODEL`` (what the tests and CI set), else
2. the recorded local server of ``trirole model serve`` (its record file, read without
   any network call: importing this module never talks to a server), else
3. `TriroleSettings`' own defaults (``http://127.0.0.1:8000/v1``).

The endpoint is resolved when the module is imported, i.e. when ``langgraph dev``
starts: restart it (or edit ``base_url``/``model`` in Studio) after starting a model
server elsewhere. ``TRIROLE_TOOLS`` (``module:attribute`` specs, comma-separated) gives
the graphs your own tools (`trirole.environments.user_tools`), loaded then too; a run cannot
change them.
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any

from trirole.settings import TriroleSettings

BASE_URL_ENV = "TRIROLE_BASE_URL"
MODEL_ENV = "TRIROLE_MODEL"
TOOLS_ENV = "TRIROLE_TOOLS"

# Graph id in langgraph.json (= the paradigm's name in trirole.graphs.PARADIGMS) -> variable here.
STUDIO_GRAPHS = {"scaffold": "scaffold", "react": "react", "base": "base", "multi-agent": "multi_agent"}


def studio_settings(environ: dict[str, str] | None = None) -> TriroleSettings:
    """Default settings for the Studio graphs: the environment's or the recorded local
    model server's endpoint, and the environment's tools; nothing else changed."""
    environ = os.environ if environ is None else environ
    base_url, model = environ.get(BASE_URL_ENV, ""), environ.get(MODEL_ENV, "")
    if not (base_url and model):
        record = _recorded_server()
        if record is not None:
            base_url = base_url or record.url
            model = model or record.extra.get("model", "")
    tools = tuple(spec.strip() for spec in environ.get(TOOLS_ENV, "").split(",") if spec.strip())
    updates = {k: v for k, v in {"base_url": base_url, "model": model, "tools": tools}.items() if v}
    return replace(TriroleSettings(), **updates)


def _recorded_server() -> Any:
    """The local server's record if its process is alive. A file read and a pid check:
    `find_local_server` would also ask the server over HTTP, which import must not do."""
    try:
        from trirole.serving import DEFAULT_RECORD_NAME, read_record
    except ImportError:  # the serving extras are optional for Studio
        return None
    try:
        return read_record(DEFAULT_RECORD_NAME)
    except (OSError, ValueError):
        return None


def build_studio_graph(graph_id: str, settings: TriroleSettings | None = None):
    """One paradigm's graph as Studio runs it (also handy to embed elsewhere)."""
    from trirole.graphs import PARADIGMS

    if graph_id not in PARADIGMS:
        raise LookupError(f"paradigm {graph_id!r} is not in trirole.graphs.PARADIGMS "
                          f"(it has {sorted(PARADIGMS)}); langgraph.json names it")
    return PARADIGMS[graph_id](settings=settings or studio_settings(), name=graph_id)


_SETTINGS = studio_settings()
scaffold = build_studio_graph("scaffold", _SETTINGS)
react = build_studio_graph("react", _SETTINGS)
base = build_studio_graph("base", _SETTINGS)
multi_agent = build_studio_graph("multi-agent", _SETTINGS)
