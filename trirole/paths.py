"""Where trirole keeps what is slow to rebuild: virtual environments, model checkpoints,
generated task packs, server records and logs. Outside the project folder on purpose
(``langgraph dev`` reloads on every write inside it), and shared by every clone.

``TRIROLE_HOME`` overrides the location (default ``~/.cache/trirole``).
"""

from __future__ import annotations

import os
from pathlib import Path


def trirole_home() -> Path:
    home = Path(os.environ.get("TRIROLE_HOME") or Path.home() / ".cache" / "trirole")
    home.mkdir(parents=True, exist_ok=True)
    return home


def home_subdir(*parts: str) -> Path:
    """A folder under `trirole_home()`, created on first use."""
    path = trirole_home().joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def logs_dir() -> Path:
    return home_subdir("logs")
