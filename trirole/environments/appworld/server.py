"""Start, find and stop the local AppWorld environment server.

It runs AppWorld's own FastAPI app (``appworld.serve.environment:app``, what
``appworld serve environment`` runs) from the AppWorld venv with uvicorn, bound to
127.0.0.1 only, as trirole changes it (``server_app/trirole_appworld_app.py``): without
the route that executes code, with routes that make one API call of agent code at a time
(agent code itself runs in trirole's python sandbox). Its data root (``APPWORLD_ROOT``) is the official data when the user set
``APPWORLD_ROOT``, else trirole's offline task pack.

A server holds one task world at a time, so it serves one episode at a time across every
process of the machine: whoever runs episodes on it holds its lease (a file lock,
`lease_server`). The named server of ``trirole env serve appworld`` is recorded under the
name ``appworld`` (see `trirole.serving.process`) so any process can find it; it is reused
only while its lease is free. Servers an evaluation, a run or a test session starts for
itself (`appworld_servers`) are private: owned by it, and stopped when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Iterator

import filelock
import httpx

from trirole.paths import home_subdir, logs_dir, try_lease
from trirole.serving.process import (
    ServerRecord,
    Spawned,
    free_port,
    probe,
    read_record,
    reuse_or_start,
    spawn,
    stop_server,
    wait_ready,
    write_record,
)
from trirole.environments.appworld.data import check_root, default_root, user_root
from trirole.environments.appworld.errors import AppWorldServerError
from trirole.environments.appworld.install import ensure_appworld_env, is_installed, venv_dir
from trirole.environments.appworld.stage import new_stage, remove_stage, write_stage_record
from trirole.environments.isolation import appworld_server_command, check_isolation, minimal_env, sandbox_uid

RECORD_NAME = "appworld"
APP = "trirole_appworld_app:app"
APP_DIR = Path(__file__).with_name("server_app")
"""The folder of the server's app module (its only file), on the server's ``--app-dir``."""


def _is_appworld(response: httpx.Response) -> bool:
    try:
        return str(response.json().get("message", "")).startswith("Welcome to AppWorld Server")
    except (ValueError, AttributeError):
        return False


def is_serving(url: str, timeout_s: float = 5.0) -> bool:
    """Whether an AppWorld server answers at `url` (a dead one is replaced by its owner)."""
    try:
        return _is_appworld(httpx.get(url.rstrip("/") + "/", timeout=timeout_s))
    except httpx.HTTPError:
        return False


def lease_path(url: str) -> Path:
    """The lock file of the server at `url`: whoever holds it runs episodes on that server."""
    return home_subdir("locks") / ("appworld-lease-" + re.sub(r"[^\w.-]", "_", url.rstrip("/").split("//")[-1]) + ".lock")


def lease_server(url: str) -> filelock.FileLock | None:
    """The server's cross-process lease, taken without waiting; None when another episode
    (of this or another process) holds it."""
    return try_lease(lease_path(url))


def _spawn(name: str, root: str | os.PathLike | None, port: int | None, *, owned: bool,
           isolation: str = "bwrap") -> tuple[Spawned, dict]:
    """Start an AppWorld server process (not yet ready) on 127.0.0.1 and say what it serves.

    It serves a stage of its own (`trirole.environments.appworld.stage`), never the data root,
    and starts from a minimal environment. `isolation`: ``bwrap`` confines it (it holds the
    world agent code must reach only through its APIs) to a view of its venv and stage only,
    as a uid of its own with limits (see
    `trirole.environments.isolation.appworld_server_command`); ``process`` only when asked for."""
    data_root = check_root(root) if root is not None else default_root()
    venv = ensure_appworld_env()
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    uid = sandbox_uid() if check_isolation(isolation) == "bwrap" else None
    stage = new_stage(port, uid)
    command = [str(venv / "bin" / "python"), "-m", "uvicorn", APP, "--app-dir", str(APP_DIR),
               "--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    home = "/tmp"
    if isolation == "bwrap":
        command = appworld_server_command(command, stage=stage, uid=uid, app_dir=APP_DIR, die_with_parent=owned)
    else:
        home = str(stage / "experiments")
    if owned:
        _prune_logs(name)
    log_path = logs_dir() / (f"{name}-server.log" if not owned else f"{name}-{os.getpid()}-{port}.log")
    env = minimal_env(home, {"APPWORLD_ROOT": str(stage), "PYTHONUNBUFFERED": "1"})
    try:
        spawned = spawn(name, command, port=port, url=url, log_path=log_path, cwd=stage, owned=owned, env=env,
                        inherit_env=False)
    except BaseException:
        remove_stage(url, stage)
        raise
    write_stage_record(url, stage, root=data_root, uid=uid, pid=spawned.proc.pid)
    return spawned, {"root": str(data_root), "venv": str(venv), "kind": "appworld-environment",
                     "isolation": isolation, "stage": str(stage)}


def _stop(spawned: Spawned, extra: dict, timeout_s: float = 5) -> None:
    """Stop a server started here and delete its stage."""
    try:
        spawned.stop(timeout_s)
    finally:
        remove_stage(spawned.url, extra["stage"])


def _prune_logs(name: str, keep: int = 64) -> None:
    """Private servers each log to a file of their own (named in errors); keep the newest."""
    def age(path: Path) -> float:
        try:
            return -path.stat().st_mtime
        except OSError:  # pruned meanwhile by another process
            return 0.0

    for old in sorted(logs_dir().glob(f"{name}-*.log"), key=age)[keep:]:
        old.unlink(missing_ok=True)


def _ready(spawned: Spawned, timeout_s: float) -> None:
    wait_ready(spawned, f"{spawned.url}/", timeout_s=timeout_s, ready_check=_is_appworld)


def serve_appworld(port: int | None = None, root: str | os.PathLike | None = None, *,
                   name: str = RECORD_NAME, timeout_s: float = 180, isolation: str = "bwrap") -> ServerRecord:
    """The named AppWorld server (``trirole env serve appworld``): the running one recorded as
    `name`, else a new detached one on 127.0.0.1 that outlives this process.

    `port`: a free one when None. `root`: the data root (a folder holding ``data/``);
    default ``APPWORLD_ROOT`` if set, else the offline pack (built on first use).
    A running server is reused when it matches the port and root asked for; otherwise
    `AppWorldServerError` says how to stop it. Episodes on it take its lease (`lease_server`).
    `isolation`: how the server is confined (see `_spawn`).
    """
    def reuse(existing: ServerRecord) -> None:
        wanted = Path(root).expanduser().resolve() if root is not None else user_root()
        running_root = existing.extra.get("root")
        if wanted is not None and running_root and Path(running_root) != wanted:
            raise AppWorldServerError(
                f"an AppWorld server ({name}) already runs at {existing.url} with data root {running_root}, "
                f"not {wanted}; stop it first with `trirole env stop appworld`"
            )
        if port is not None and port != existing.port:
            raise AppWorldServerError(
                f"an AppWorld server ({name}) already runs at {existing.url}, not on port {port}; "
                "stop it first with `trirole env stop appworld`"
            )

    def start() -> ServerRecord:
        spawned, extra = _spawn(name, root, port, owned=False, isolation=isolation)
        _ready(spawned, timeout_s)
        record = spawned.record(extra)
        write_record(record)
        return record

    return reuse_or_start(name, start, reuse)


def named_server_for(root: Path) -> ServerRecord | None:
    """The named server if it runs and serves `root`."""
    record = read_record(RECORD_NAME)
    if record is None or Path(record.extra.get("root") or "") != Path(root):
        return None
    return record


@dataclass
class AppWorldServer:
    """A server an owner may run episodes on: its URL, data root and log. `lease` is held
    when it is the shared named server (released when the owner is done)."""

    url: str
    root: Path
    log_path: str
    owned: bool
    lease: filelock.FileLock | None = None
    isolation: str = ""  # how the server is confined (``bwrap``, ``process``; "" unknown)


@contextlib.asynccontextmanager
async def appworld_servers(size: int, root: str | os.PathLike | None = None, *, timeout_s: float = 180,
                           isolation: str = "bwrap") -> AsyncIterator[list[AppWorldServer]]:
    """`size` AppWorld servers for one owner (an evaluation, a run, a test session), one
    episode at a time each. The named server is among them only if its lease is free now;
    the others are private servers started here, owned by the caller: they are stopped
    when the block ends, however it ends, and die with this process if it is killed.

    Servers are started from the calling (event loop) thread: an owned server dies with
    the thread that started it."""
    data_root = await asyncio.to_thread(lambda: check_root(root) if root is not None else default_root())
    servers: list[AppWorldServer] = []
    spawned: list[tuple[Spawned, dict]] = []
    try:
        named = await asyncio.to_thread(named_server_for, data_root)
        if named is not None:
            lease = lease_server(named.url)
            if lease is not None:
                servers.append(AppWorldServer(url=named.url, root=data_root, log_path=named.log_path,
                                              owned=False, lease=lease, isolation=named.extra.get("isolation", "")))
        await asyncio.to_thread(ensure_appworld_env)
        for _ in range(size - len(servers)):
            spawned.append(_spawn("appworld-private", data_root, None, owned=True, isolation=isolation))
        await asyncio.gather(*(asyncio.to_thread(_ready, s, timeout_s) for s, _ in spawned))
        servers += [AppWorldServer(url=s.url, root=data_root, log_path=str(s.log_path), owned=True,
                                   isolation=isolation) for s, _ in spawned]
        yield servers
    finally:
        for server in servers:
            if server.lease is not None:
                server.lease.release(force=True)
        await asyncio.gather(*(asyncio.to_thread(_stop, s, extra) for s, extra in spawned))


@contextlib.contextmanager
def private_server(root: str | os.PathLike | None = None, *, timeout_s: float = 180,
                   isolation: str = "bwrap") -> Iterator[AppWorldServer]:
    """One private AppWorld server owned by the caller (e.g. a test session), started from
    this thread, stopped when the block ends and dying with this process."""
    spawned, extra = _spawn("appworld-private", root, None, owned=True, isolation=isolation)
    try:
        _ready(spawned, timeout_s)
        yield AppWorldServer(url=spawned.url, root=Path(extra["root"]), log_path=str(spawned.log_path), owned=True,
                             isolation=isolation)
    finally:
        _stop(spawned, extra)


def stop_appworld(name: str = RECORD_NAME, timeout_s: float = 5) -> bool:
    """Stop the named AppWorld server; True if it was running.

    SIGTERM, then SIGKILL after `timeout_s`: after uvicorn's own shutdown the interpreter can
    take 5-15 s more to tear down the loaded task worlds, and nothing is lost by cutting that
    short (AppWorld writes each episode's outputs to disk after every execution)."""
    record = read_record(name)
    stopped = stop_server(name, timeout_s=timeout_s)
    if record is not None and record.extra.get("stage"):
        remove_stage(record.url, record.extra["stage"])
    return stopped


def appworld_status(name: str = RECORD_NAME) -> dict[str, Any]:
    """What is known about the AppWorld server and installation (JSON-friendly)."""
    record = read_record(name)
    status: dict[str, Any] = {
        "name": name,
        "running": record is not None,
        "installed": is_installed(),
        "venv": str(venv_dir()),
        "appworld_root_env": os.environ.get("APPWORLD_ROOT") or None,
    }
    if record is None:
        return status
    lease = lease_server(record.url)
    if lease is not None:
        lease.release()
    status.update(url=record.url, pid=record.pid, port=record.port, root=record.extra.get("root"),
                  log_path=record.log_path, responding=probe(f"{record.url}/", _is_appworld) is None,
                  in_use=lease is None,
                  uptime_s=round(time.time() - record.started_at, 1), ready_s=record.extra.get("ready_s"))
    return status
