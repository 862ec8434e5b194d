"""Where AppWorld's data lives, and what is in it, read straight from the files.

A data root is a folder holding ``data/`` in AppWorld's layout (``data/tasks/<id>/``,
``data/datasets/<split>.txt``, ``data/api_docs/``). It is, first to last:
``APPWORLD_ROOT`` when the user set it (the official data, downloaded with internet), or
trirole's offline task pack (``trirole.environments.appworld.pack.ensure_pack()``).
Nothing here imports AppWorld: it runs in trirole's own process.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from trirole.environments.appworld.errors import (
    LIST_FIX,
    AppWorldDataMissing,
    AppWorldError,
    AppWorldUnknownDataset,
    AppWorldUnknownTask,
)
from trirole.environments.appworld.install import download_fix

OFFICIAL_DATASETS = ("train", "dev", "test_normal", "test_challenge")


def user_root() -> Path | None:
    """``APPWORLD_ROOT`` if the user set it (not checked)."""
    value = os.environ.get("APPWORLD_ROOT", "").strip()
    return Path(value).expanduser().resolve() if value else None


def check_root(root: str | os.PathLike, *, source: str = "") -> Path:
    """`root` as an absolute path, after checking it holds ``data/tasks``."""
    root = Path(root).expanduser().resolve()
    if not (root / "data" / "tasks").is_dir():
        where = f"{source}={root}" if source else str(root)
        raise AppWorldDataMissing(f"no AppWorld data: {where} has no data/tasks folder; {download_fix(str(root))}")
    return root


def pack_root() -> Path:
    """The offline task pack's root, built on first use."""
    try:
        from trirole.environments.appworld.pack import ensure_pack
    except ImportError as exc:
        raise AppWorldDataMissing(
            f"trirole's offline AppWorld task pack is not available ({exc}); "
            f"set APPWORLD_ROOT to a folder with the official data instead: {download_fix()}"
        ) from exc
    return check_root(ensure_pack(), source="offline pack")


def default_root() -> Path:
    """``APPWORLD_ROOT`` if set (checked), else the offline pack."""
    root = user_root()
    if root is not None:
        return check_root(root, source="APPWORLD_ROOT")
    return pack_root()


def current_root() -> Path:
    """The root of the running AppWorld server if there is one, else `default_root()`."""
    from trirole.serving.process import read_record

    record = read_record("appworld")
    if record is not None and record.extra.get("root"):
        return Path(record.extra["root"])
    return default_root()


def _resolve(root: str | os.PathLike | None) -> Path:
    return check_root(root) if root is not None else current_root()


def available_datasets(root: str | os.PathLike | None = None) -> list[str]:
    folder = _resolve(root) / "data" / "datasets"
    return sorted(p.stem for p in folder.glob("*.txt")) if folder.is_dir() else []


def list_tasks(dataset: str, root: str | os.PathLike | None = None) -> list[str]:
    """The task ids of split `dataset` (``data/datasets/<dataset>.txt``; official splits:
    train, dev, test_normal, test_challenge). Tags (``id:tag``) are dropped as AppWorld does."""
    base = _resolve(root)
    path = base / "data" / "datasets" / f"{dataset}.txt"
    if not path.is_file():
        known = ", ".join(available_datasets(base)) or "none"
        raise AppWorldUnknownDataset(f"no dataset {dataset!r} in {base / 'data' / 'datasets'}; available: {known}")
    ids = (line.strip() for line in path.read_text().splitlines())
    return [line.split(":")[0].strip() for line in ids if line]


def task_dir(task_id: str, root: str | os.PathLike | None = None) -> Path:
    return _resolve(root) / "data" / "tasks" / task_id


def task_exists(task_id: str, root: str | os.PathLike | None = None) -> bool:
    return bool(task_id) and "/" not in task_id and (task_dir(task_id, root) / "specs.json").is_file()


def has_ground_truth(task_id: str, root: str | os.PathLike | None = None) -> bool:
    return (task_dir(task_id, root) / "ground_truth" / "metadata.json").is_file()


def unknown_task(task_id: str, root: Path | None) -> AppWorldUnknownTask:
    where = f" in {root / 'data' / 'tasks'}" if root is not None else ""
    return AppWorldUnknownTask(f"unknown AppWorld task id {task_id!r}{where}; {LIST_FIX}")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise AppWorldError(f"cannot read {path}: {exc}") from exc


def task_metadata(task_id: str, root: str | os.PathLike | None = None) -> dict[str, Any]:
    """What the data says about a task without running it: instruction, datetime and
    the ground truth's metadata (``difficulty``, and what else the data holds)."""
    base = _resolve(root)
    if not task_exists(task_id, base):
        raise unknown_task(task_id, base)
    folder = base / "data" / "tasks" / task_id
    specs = _read_json(folder / "specs.json")
    meta = _read_json(folder / "ground_truth" / "metadata.json")
    return {
        "task_id": task_id,
        "instruction": specs.get("instruction", ""),
        "datetime": specs.get("datetime"),
        "difficulty": meta.get("difficulty"),
        **{k: v for k, v in meta.items() if k != "difficulty"},
    }
