"""Datasets an evaluation runs over: python task files and AppWorld splits.

A dataset name is ``python`` (the bundled python tasks), an AppWorld split (``dev``,
``test`` in the offline pack; ``train``, ``dev``, ``test_normal``, ``test_challenge`` in
the official data, or any split the data root holds), a path to a ``.json``/``.jsonl``
python task file, or BFCL categories (``bfcl:simple_python``, ``bfcl:single-turn``,
``bfcl:multi-turn``; see `trirole.environments.bfcl.data`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trirole.errors import TriroleError

PYTHON = "python"
APPWORLD_SPLITS = ("dev", "test", "train", "test_normal", "test_challenge")


class DatasetError(TriroleError, ValueError):
    """An unknown or unreadable dataset; the message lists what is known."""


class UnknownDataset(DatasetError):
    """No dataset has this name (a usage error: the command line exits 2)."""


@dataclass(frozen=True)
class EvalTask:
    """One task of a dataset.

    id: the task id the environment knows.
    env: ``python`` or ``appworld``.
    difficulty: 1..3 when the data says (None otherwise).
    scenario: the group scenario goal completion counts over: AppWorld's
        ``<scenario>_<n>`` prefix; a python task is its own scenario.
    """

    id: str
    env: str
    difficulty: int | None = None
    scenario: str = ""


@dataclass(frozen=True)
class Dataset:
    """Tasks of one environment, and the environment options they need.

    prompts: prompt templates the environment's tasks use instead of the general ones,
        by name (``{"agent_system": "bfcl_system"}``: BFCL's own system prompt).
    """

    name: str
    env: str
    tasks: tuple[EvalTask, ...]
    env_options: dict[str, Any] = field(default_factory=dict)
    prompts: dict[str, str] = field(default_factory=dict)


def _bundled_python_tasks() -> Path:
    from trirole.environments import python_tasks

    finder = getattr(python_tasks, "bundled_tasks_path", None)
    return Path(finder()) if finder else Path(python_tasks.BUNDLED_TASKS)


def _python_dataset(name: str, path: Path) -> Dataset:
    from trirole.environments.python_tasks import TaskFileError, load_python_tasks

    try:
        tasks = load_python_tasks(path)
    except TaskFileError as exc:
        raise DatasetError(f"dataset {name!r}: {exc}") from None
    return Dataset(name=name, env=PYTHON, env_options={"tasks": str(path.resolve())},
                   tasks=tuple(EvalTask(id=t["id"], env=PYTHON, difficulty=t.get("difficulty"), scenario=t["id"])
                               for t in tasks))


def appworld_scenario(task_id: str) -> str:
    """AppWorld task ids are ``<scenario>_<n>``: the tasks of one scenario share the prefix."""
    head, sep, tail = task_id.rpartition("_")
    return head if sep and tail.isdigit() else task_id


def _appworld_dataset(split: str, root: str | None) -> Dataset:
    from trirole.environments.appworld import AppWorldError, list_tasks, task_metadata

    try:
        ids = list_tasks(split, root)
        tasks = tuple(EvalTask(id=i, env="appworld", difficulty=task_metadata(i, root).get("difficulty"),
                               scenario=appworld_scenario(i)) for i in ids)
    except AppWorldError as exc:
        raise DatasetError(f"dataset {split!r}: {exc}") from None
    options = {"root": str(root)} if root else {}
    return Dataset(name=split, env="appworld", tasks=tasks, env_options=options)


def _bfcl_dataset(name: str) -> Dataset:
    from trirole.environments.bfcl.data import ids, parse_categories
    from trirole.environments.bfcl.errors import BfclError

    try:
        categories = parse_categories(name)
    except BfclError as exc:
        raise UnknownDataset(f"dataset {name!r}: {exc}") from None
    try:
        task_ids = ids(categories)
    except BfclError as exc:
        raise DatasetError(f"dataset {name!r}: {exc}") from None
    # BFCL's entries are independent: each is its own scenario.
    from trirole.environments.bfcl.data import is_multi_turn
    from trirole.environments.bfcl.environment import SINGLE_TURN_PROMPTS

    single_turn = not any(is_multi_turn(c) for c in categories)
    return Dataset(name=name, env="bfcl", tasks=tuple(EvalTask(id=i, env="bfcl", scenario=i) for i in task_ids),
                   prompts=dict(SINGLE_TURN_PROMPTS) if single_turn else {})


def known_names() -> list[str]:
    return [PYTHON, *APPWORLD_SPLITS, "bfcl:CATEGORY", "bfcl:single-turn", "bfcl:multi-turn"]


def load_dataset(name: str, *, appworld_root: str | None = None) -> Dataset:
    """The dataset called `name` (see the module docstring). Raises `DatasetError`."""
    name = (name or "").strip()
    if name.startswith("bfcl:"):
        return _bfcl_dataset(name)
    if name == PYTHON:
        path = _bundled_python_tasks()
        if not path.is_file():
            raise DatasetError(f"the bundled python tasks are missing ({path}); pass a task file path instead")
        return _python_dataset(name, path)
    path = Path(name).expanduser()
    if path.suffix in (".json", ".jsonl"):
        if not path.is_file():
            raise UnknownDataset(f"no task file {path}; give an existing .json/.jsonl python task file")
        return _python_dataset(name, path)
    if name in APPWORLD_SPLITS:
        return _appworld_dataset(name, appworld_root)
    other_splits = _other_appworld_splits(appworld_root)
    if name in other_splits:
        return _appworld_dataset(name, appworld_root)
    known = ", ".join(known_names() + sorted(set(other_splits) - set(APPWORLD_SPLITS)))
    raise UnknownDataset(f"unknown dataset {name!r}; known: {known}, or a path to a .json/.jsonl python task file")


def _other_appworld_splits(root: str | None) -> list[str]:
    """Splits of an explicit AppWorld data root (the argument or ``APPWORLD_ROOT``) beyond
    the usual names. The offline pack is not probed: building it is not a side effect an
    unknown name should have."""
    try:
        from trirole.environments.appworld import AppWorldError, available_datasets
        from trirole.environments.appworld.data import user_root

        explicit = root or user_root()
        return available_datasets(explicit) if explicit else []
    except (ImportError, AppWorldError, OSError):
        return []
