"""Start, find and stop the local AppWorld environment server.

It runs AppWorld's own FastAPI app (``appworld.serve.environment:app``, what
``appworld serve environment`` runs) from the AppWorld venv with uvicorn, bound to
127.0.0.1 only: the server executes arbitrary Python, and ``appworld serve`` would bind
0.0.0.0. Its data root (``APPWORLD_ROOT``) is the official data when the user set
``APPWORLD_ROOT``, else trirole's offline task pack. The server is recorded under the
name ``appworld`` (see `trirole.serving.process`), so any process can find and reuse it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import httpx

from trirole.paths import file_lock, home_subdir, logs_dir
from trirole.serving.process import ServerRecord, free_port, read_record, record_path, start_server, stop_server
from trirole.tools.appworld.data import check_root, default_root, user_root
from trirole.tools.appworld.errors import AppWorldServerError
from trirole.tools.appworld.install import ensure_appworld_env, is_installed, venv_dir
from trirole.tools.isolation import appworld_server_command, check_isolation

RECORD_NAME = "appworld"
APP = "appworld.serve.environment:app"


def _lock(name: str):
    """One starter per record name at a time, across processes."""
    return file_lock(home_subdir("locks") / f"server-{name}.lock")


def _is_appworld(response: httpx.Response) -> bool:
    try:
        return str(response.json().get("message", "")).startswith("Welcome to AppWorld Server")
    except (ValueError, AttributeError):
        return False


def serve_appworld(port: int | None = None, root: str | os.PathLike | None = None, *,
                   name: str = RECORD_NAME, timeout_s: float = 180, isolation: str = "bwrap") -> ServerRecord:
    """The running AppWorld server recorded as `name`, else a new one on 127.0.0.1.

    `port`: a free one when None. `root`: the data root (a folder holding ``data/``);
    default ``APPWORLD_ROOT`` if set, else the offline pack (built on first use).
    A running server is reused when it matches the port and root asked for; otherwise
    `AppWorldServerError` says how to stop it. `isolation`: ``bwrap`` confines the server
    (it runs agent code) to a read-only view of the host except its data root (see
    `trirole.tools.isolation.appworld_server_command`); ``process`` only when asked for.
    """
    with _lock(name):
        existing = read_record(name)
        if existing is not None:
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
            return existing

        data_root = check_root(root) if root is not None else default_root()
        venv = ensure_appworld_env()
        port = port or free_port()
        url = f"http://127.0.0.1:{port}"
        command = [str(venv / "bin" / "python"), "-m", "uvicorn", APP,
                   "--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
        if check_isolation(isolation) == "bwrap":  # its outputs go under the data root
            command = appworld_server_command(command, writable=[data_root])
        return start_server(
            name, command, port=port, url=url, ready_url=f"{url}/",
            log_path=logs_dir() / f"{name}-server.log",
            env={"APPWORLD_ROOT": str(data_root), "PYTHONUNBUFFERED": "1"},
            timeout_s=timeout_s, ready_check=_is_appworld, cwd=data_root,
            extra={"root": str(data_root), "venv": str(venv), "kind": "appworld-environment",
                   "isolation": isolation},
        )


def pool_names(size: int, name: str = RECORD_NAME) -> list[str]:
    """Record names of a pool of `size` servers: the main one, then ``<name>-pool-<i>``."""
    return [name] + [f"{name}-pool-{i}" for i in range(1, size)]


def serve_appworld_pool(size: int, root: str | os.PathLike | None = None, *,
                        name: str = RECORD_NAME) -> list[ServerRecord]:
    """`size` AppWorld servers on the same data, started in parallel (running ones reused).

    An AppWorld server holds one task world at a time, so concurrent episodes need one
    server each; evaluation gives each of its workers its own.
    """
    from concurrent.futures import ThreadPoolExecutor

    main = serve_appworld(root=root, name=name)  # first alone: it may build the offline pack
    data_root = main.extra.get("root") or root
    with ThreadPoolExecutor(max_workers=max(size - 1, 1)) as pool:
        rest = list(pool.map(lambda n: serve_appworld(root=data_root, name=n), pool_names(size, name)[1:]))
    return [main, *rest]


def stop_appworld(name: str = RECORD_NAME, timeout_s: float = 5) -> bool:
    """Stop the recorded AppWorld server and the pool servers started beside it; True if
    any was running.

    SIGTERM, then SIGKILL after `timeout_s`: after uvicorn's own shutdown the interpreter can
    take 5-15 s more to tear down the loaded task worlds, and nothing is lost by cutting that
    short (AppWorld writes each episode's outputs to disk after every execution)."""
    pooled = sorted(p.stem for p in record_path(name).parent.glob(f"{name}-pool-*.json"))
    return any([stop_server(n, timeout_s=timeout_s) for n in (name, *pooled)])


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
    responding = False
    try:
        responding = _is_appworld(httpx.get(f"{record.url}/", timeout=5.0))
    except httpx.HTTPError:
        pass
    status.update(url=record.url, pid=record.pid, port=record.port, root=record.extra.get("root"),
                  log_path=record.log_path, responding=responding,
                  uptime_s=round(time.time() - record.started_at, 1), ready_s=record.extra.get("ready_s"))
    return status
