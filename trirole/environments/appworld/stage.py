"""An AppWorld server's stage: the only data the server ever sees (agent code sees none of
it: it runs in the python sandbox and reaches the world through the server's APIs).

Every AppWorld server trirole starts serves a stage of its own (its ``APPWORLD_ROOT``),
never the data root:

- ``data/`` (read-only inside the sandbox) is empty but while an episode starts: `stage_task`
  places that one task's ``specs.json`` and ``dbs/``, the base databases and the API docs
  there (no ``ground_truth/``, no other task), the server loads them into memory when it
  initialises the task (without its ground truth), and `unstage` empties the folder again
  before the episode's first step;
- ``experiments/`` (writable by the server's uid) receives the episode's outputs, which
  `collect_outputs` copies into the data root's ``experiments/outputs`` (regular files
  only, never following a link the server's uid may have planted) where AppWorld's
  evaluator, in a process of its own (`trirole.environments.appworld.scoring`), reads them with
  the ground truth.

Each server's stage is recorded under ``$TRIROLE_HOME/appworld-stages/`` by its port, so
any process running an episode on that server finds it (`read_stage_record`).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import stat
from pathlib import Path
from typing import Any

from trirole.paths import home_subdir

_STAGES = "appworld-stages"


def _port_of(url: str) -> str:
    return url.rstrip("/").rsplit(":", 1)[-1]


def _record_path(url: str) -> Path:
    return home_subdir(_STAGES) / f"server-{_port_of(url)}.json"


def _prune() -> None:
    """Delete the stages of servers that died without stopping (a killed evaluation)."""
    for record in home_subdir(_STAGES).glob("server-*.json"):
        try:
            found = json.loads(record.read_text())
            os.kill(int(found["pid"]), 0)
        except ProcessLookupError:
            record.unlink(missing_ok=True)
            shutil.rmtree(found.get("stage", ""), ignore_errors=True)
        except (OSError, ValueError, KeyError, TypeError):
            continue


def new_stage(port: int, uid: int | None) -> Path:
    """A fresh, empty stage for the server on `port` (its ``experiments/`` owned by `uid`)."""
    _prune()
    stage = home_subdir(_STAGES) / f"{port}-{secrets.token_hex(4)}"
    (stage / "data").mkdir(parents=True)
    (stage / "experiments" / "outputs").mkdir(parents=True)
    for folder in (stage, stage / "data"):
        folder.chmod(0o755)
    if uid is not None:
        for folder in (stage / "experiments", stage / "experiments" / "outputs"):
            os.chown(folder, uid, uid)
    return stage


def write_stage_record(url: str, stage: Path, *, root: Path, uid: int | None, pid: int) -> None:
    """Record the stage of the server at `url` (`root`: the data root it serves)."""
    record = {"url": url.rstrip("/"), "stage": str(stage), "root": str(root), "uid": uid, "pid": pid}
    path = _record_path(url)
    tmp = path.with_suffix(f".{secrets.token_hex(4)}.tmp")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, path)


def read_stage_record(url: str) -> dict[str, Any] | None:
    """The stage record of the server at `url`, or None (not started by trirole, or gone)."""
    try:
        record = json.loads(_record_path(url).read_text())
    except (OSError, ValueError):
        return None
    if record.get("url") != url.rstrip("/") or not Path(record.get("stage", "")).is_dir():
        return None
    return record


def remove_stage(url: str, stage: str | os.PathLike) -> None:
    """Forget the stage of a stopped server and delete it."""
    record = _record_path(url)
    try:
        if json.loads(record.read_text()).get("stage") == str(stage):
            record.unlink()
    except (OSError, ValueError):
        pass
    shutil.rmtree(stage, ignore_errors=True)


# -- one episode's data ---------------------------------------------------------------------------
def _clear(folder: Path) -> None:
    for child in folder.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def _place_tree(source: Path, target: Path) -> None:
    """`source`'s files at `target`: hard links where possible (the stage's ``data/`` is
    read-only inside the sandbox), else copies."""
    if source.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)
        except OSError:
            shutil.copy2(source, target)
        return
    for path in source.rglob("*"):
        if path.is_file():
            _place_tree(path, target / path.relative_to(source))


def stage_task(stage: str | os.PathLike, root: str | os.PathLike, task_id: str) -> None:
    """Place task `task_id` of data root `root` in the stage, without its ground truth."""
    data, source = Path(stage) / "data", Path(root) / "data"
    _clear(data)
    task = source / "tasks" / task_id
    _place_tree(task / "specs.json", data / "tasks" / task_id / "specs.json")
    _place_tree(task / "dbs", data / "tasks" / task_id / "dbs")
    for shared in ("base_dbs", "api_docs"):
        if (source / shared).exists():
            _place_tree(source / shared, data / shared)
    for path in data.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


def unstage(stage: str | os.PathLike) -> None:
    """Empty the stage's ``data/`` (the server holds the task in memory now)."""
    _clear(Path(stage) / "data")


# -- the episode's outputs ------------------------------------------------------------------------
_NOFOLLOW_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW


def _copy_regular(dir_fd: int, target: Path, budget: list[int]) -> None:
    """Copy the regular files and folders under `dir_fd` to `target`, by file descriptor
    and never through a link (the server's uid could plant links to anything trirole can read)."""
    target.mkdir(parents=True, exist_ok=True)
    for name in os.listdir(dir_fd):
        try:
            info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISDIR(info.st_mode):
            try:
                child = os.open(name, _NOFOLLOW_DIR, dir_fd=dir_fd)
            except OSError:
                continue
            try:
                _copy_regular(child, target / name, budget)
            finally:
                os.close(child)
        elif stat.S_ISREG(info.st_mode) and info.st_size <= budget[0]:
            try:
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
            except OSError:
                continue
            with os.fdopen(fd, "rb") as source, open(target / name, "wb") as out:
                shutil.copyfileobj(source, out)
            budget[0] -= (target / name).stat().st_size


def collect_outputs(stage: str | os.PathLike, root: str | os.PathLike, experiment: str, task_id: str,
                    *, max_bytes: int = 512 * 1024 * 1024) -> Path:
    """Copy the episode's outputs from the stage to
    ``<root>/experiments/outputs/<experiment>/tasks/<task_id>`` (replacing what was there)
    and return that folder. At most `max_bytes` are copied (AppWorld writes ~60 KB)."""
    relative = Path("experiments", "outputs", *Path(experiment).parts, "tasks", task_id)
    target = Path(root) / relative
    shutil.rmtree(target, ignore_errors=True)
    fd = os.open(stage, _NOFOLLOW_DIR)
    try:
        for part in relative.parts:
            try:
                next_fd = os.open(part, _NOFOLLOW_DIR, dir_fd=fd)
            except OSError:
                target.mkdir(parents=True, exist_ok=True)
                return target
            os.close(fd)
            fd = next_fd
        _copy_regular(fd, target, [max_bytes])
    finally:
        os.close(fd)
    return target


def clear_outputs(stage: str | os.PathLike) -> None:
    """Remove every output in the stage (of earlier episodes).

    Everything under ``experiments/`` is the server's uid's to change (it could
    put a link to any folder in place of ``outputs``), so each entry is looked at without
    following links: a link is unlinked, a folder removed by `shutil.rmtree`, which never
    follows links (and refuses one put in its place meanwhile)."""
    experiments = Path(stage) / "experiments"
    for name in os.listdir(experiments):
        path = experiments / name
        try:
            if stat.S_ISDIR(os.lstat(path).st_mode):
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError:
            continue


def live_stage(record: dict[str, Any], server: int | None) -> Path:
    """The stage as the confined server (host pid `server`) sees it: its ``experiments/``
    is a tmpfs of the sandbox's own, reached through ``/proc/<pid>/root``; unconfined
    (no uid of its own), the host folder itself."""
    if record.get("uid") is None or server is None:
        return Path(record["stage"])
    return Path(f"/proc/{server}/root{record['stage']}")


# -- the server's process -----------------------------------------------------------------------------
def server_pid(bwrap_pid: int, uid: int | None) -> int | None:
    """The host pid of the server bubblewrap (`bwrap_pid`) confines: its first process
    running as `uid`."""
    import psutil

    try:
        children = psutil.Process(bwrap_pid).children(recursive=True)
    except psutil.Error:
        return None
    mine = []
    for child in children:
        try:
            if uid is None or child.uids().real == uid:
                mine.append((child.create_time(), child.pid))
        except psutil.Error:
            continue
    return min(mine)[1] if mine else None
