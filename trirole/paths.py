"""Where trirole keeps what is slow to rebuild: virtual environments, model checkpoints,
generated task packs, server records and logs. Outside the project folder on purpose
(``langgraph dev`` reloads on every write inside it), and shared by every clone.

``TRIROLE_HOME`` overrides the location (default ``~/.cache/trirole``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Iterator


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


@contextlib.contextmanager
def file_lock(path: Path, waiting_message: str | None = None) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created with its folder), across processes: one
    installer, builder or server starter at a time. `waiting_message` is printed when
    another process holds the lock, before waiting for it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting_message:
                print(waiting_message, flush=True)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
