"""Start, find and stop long-running local servers (vLLM, AppWorld, ...).

A started server is detached from the calling process (its own session / process group),
writes stdout and stderr to a log file, and is described by a :class:`ServerRecord`
stored as JSON at ``trirole_home()/servers/<name>.json``. Any later process can find it
with :func:`read_record` and stop it with :func:`stop_server`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import httpx

from trirole.errors import TriroleError
from trirole.paths import home_subdir

__all__ = [
    "ServerRecord",
    "ServerStartError",
    "free_port",
    "port_is_free",
    "start_server",
    "read_record",
    "write_record",
    "remove_record",
    "record_path",
    "pid_alive",
    "stop_server",
    "log_tail",
]


@dataclass
class ServerRecord:
    """What trirole knows about a server it started. JSON-serialisable."""

    name: str
    pid: int
    port: int
    url: str
    log_path: str
    started_at: float
    command: list[str]
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ServerRecord":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


class ServerStartError(TriroleError, RuntimeError):
    """A server could not be started; the message says why, where its log is, and its tail."""


# --------------------------------------------------------------------------- ports

def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on `host` (chosen by the OS)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """True if nothing listens on `host:port` and it can be bound."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        if s.connect_ex((host, port)) == 0:
            return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # Like the servers themselves (uvicorn etc.): a port whose old connections are
        # only in TIME_WAIT is free.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


# --------------------------------------------------------------------------- records

def _servers_dir() -> Path:
    return home_subdir("servers")


def record_path(name: str) -> Path:
    return _servers_dir() / f"{name}.json"


def pid_alive(pid: int) -> bool:
    """True if a process with this pid exists and is not a zombie."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        state = stat.rsplit(")", 1)[1].split()[0]
        if state in ("Z", "X"):
            return False
    except (OSError, IndexError):
        pass
    return True


def write_record(record: ServerRecord) -> Path:
    path = record_path(record.name)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record.to_dict(), indent=2))
    tmp.replace(path)
    return path


def remove_record(name: str) -> None:
    record_path(name).unlink(missing_ok=True)


def _read_raw(name: str) -> ServerRecord | None:
    path = record_path(name)
    try:
        return ServerRecord.from_dict(json.loads(path.read_text()))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError):
        path.unlink(missing_ok=True)
        return None


def read_record(name: str) -> ServerRecord | None:
    """The record of server `name`, or None if there is none or its process is dead
    (a stale record is removed)."""
    path = record_path(name)
    record = _read_raw(name)
    if record is None:
        return None
    if not pid_alive(record.pid):
        path.unlink(missing_ok=True)
        return None
    return record


# --------------------------------------------------------------------------- logs

def log_tail(path: str | os.PathLike | None, lines: int = 30) -> str:
    """The last `lines` lines of a text file ('' if it does not exist)."""
    if not path:
        return ""
    try:
        with open(path, "r", errors="replace") as f:
            return "".join(deque(f, maxlen=lines)).rstrip("\n")
    except OSError:
        return ""


def _start_error(what: str, log_path: Path | str, lines: int = 30) -> ServerStartError:
    tail = log_tail(log_path, lines)
    msg = f"{what}. Log: {log_path}"
    if tail:
        msg += f"\n--- last lines of the log ---\n{tail}"
    return ServerStartError(msg)


# --------------------------------------------------------------------------- start / stop

def _kill_group(proc_pid: int, timeout_s: float) -> None:
    """SIGTERM the process group of `proc_pid`, then SIGKILL after `timeout_s`."""
    # Servers are started with start_new_session=True, so their pid is their group id;
    # that still holds after the leader died while children (e.g. vLLM's engine) live on.
    try:
        pgid = os.getpgid(proc_pid)
    except ProcessLookupError:
        pgid = proc_pid
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not pid_alive(proc_pid) and not _group_alive(pgid):
            return
        time.sleep(0.2)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (pid_alive(proc_pid) or _group_alive(pgid)):
        time.sleep(0.1)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # killpg(…, 0) succeeds for zombies too; look for a live member.
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] not in ("Z", "X"):
            return True
    return False


def start_server(
    name: str,
    command: list[str],
    *,
    port: int,
    url: str,
    ready_url: str,
    log_path: Path,
    env: dict | None = None,
    timeout_s: float = 300,
    ready_check: Callable[[httpx.Response], bool] | None = None,
    extra: dict | None = None,
    cwd: str | os.PathLike | None = None,
    poll_interval_s: float = 1.0,
) -> ServerRecord:
    """Start `command` detached, wait until `ready_url` answers 200 (and `ready_check`
    accepts the response), write and return its record.

    `env` entries are added to the current environment. Raises :class:`ServerStartError`
    if the port is taken, the command cannot be run, the process exits while starting,
    or it is not ready within `timeout_s` (then it is killed).
    """
    if not port_is_free(port):
        raise ServerStartError(
            f"port {port} is taken (something already listens on 127.0.0.1:{port}); "
            f"pass --port or stop it"
        )
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    full_env = dict(os.environ)
    if env:
        full_env.update({k: str(v) for k, v in env.items()})
    log = open(log_path, "ab")
    try:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting {name}: {command}\n".encode())
        log.flush()
        try:
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=full_env,
                cwd=cwd,
                start_new_session=True,
            )
        except OSError as e:
            raise ServerStartError(f"could not run {command[0]!r} for server {name!r}: {e}") from e
    finally:
        log.close()

    started_at = time.time()
    deadline = time.monotonic() + timeout_s
    last_problem = "no answer yet"
    try:
        with httpx.Client(timeout=5.0) as client:
            while True:
                code = proc.poll()
                if code is not None:
                    raise _start_error(f"server {name!r} exited with code {code} while starting", log_path)
                try:
                    resp = client.get(ready_url)
                    if resp.status_code == 200 and (ready_check is None or ready_check(resp)):
                        break
                    last_problem = f"{ready_url} answered {resp.status_code}"
                except httpx.HTTPError as e:
                    last_problem = f"{ready_url}: {type(e).__name__}"
                if time.monotonic() > deadline:
                    raise _start_error(
                        f"server {name!r} was not ready after {timeout_s:.0f} s ({last_problem}); stopped it",
                        log_path,
                    )
                time.sleep(poll_interval_s)
    except BaseException:
        # Not ready (or the caller was interrupted): leave no half-started server behind,
        # including children that outlived the leader.
        if proc.poll() is None or _group_alive(proc.pid):
            _kill_group(proc.pid, 10)
        proc.poll()
        raise

    record = ServerRecord(
        name=name,
        pid=proc.pid,
        port=port,
        url=url,
        log_path=str(log_path),
        started_at=started_at,
        command=list(command),
        extra=dict(extra or {}, ready_s=round(time.time() - started_at, 2)),
    )
    write_record(record)
    return record


def stop_server(name: str, timeout_s: float = 20, *, pid: int | None = None) -> bool:
    """Stop server `name` (SIGTERM to its process group, SIGKILL after `timeout_s`) and
    remove its record. True if a running server was stopped.

    With `pid`, stop only that server: if the record now names another process (someone
    restarted it), the record is left alone and only `pid`'s process group is stopped."""
    record = _read_raw(name)
    if pid is not None and (record is None or record.pid != pid):
        was_alive = pid_alive(pid)
        if was_alive or _group_alive(pid):
            _kill_group(pid, timeout_s)
        return was_alive
    if record is None:
        return False
    was_alive = pid_alive(record.pid)
    # Also when the leader is gone: its children may still hold the port.
    if was_alive or _group_alive(record.pid):
        _kill_group(record.pid, timeout_s)
    remove_record(name)
    return was_alive
