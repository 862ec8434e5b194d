"""Where trirole keeps what is slow to rebuild: virtual environments, model checkpoints,
generated task packs, server records and logs. Outside the project folder on purpose
(``langgraph dev`` reloads on every write inside it), and shared by every clone.

``TRIROLE_HOME`` overrides the location (default: the user cache folder, platformdirs'
``user_cache_dir("trirole")``, i.e. ``~/.cache/trirole`` on Linux).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator

import filelock
import platformdirs


def trirole_home() -> Path:
    home = Path(os.environ.get("TRIROLE_HOME") or platformdirs.user_cache_path("trirole"))
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
    lock = filelock.FileLock(path, thread_local=False)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        if waiting_message:
            print(waiting_message, flush=True)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def try_lease(path: Path) -> filelock.FileLock | None:
    """A cross-process lease on `path`, taken without waiting: the held lock (release it,
    or it goes with the process however it ends), or None when another holder has it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lease = filelock.FileLock(path, thread_local=False)
    try:
        lease.acquire(timeout=0)
    except filelock.Timeout:
        return None
    return lease
