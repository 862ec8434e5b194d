"""Start, find and stop long-running local servers (vLLM, AppWorld, ...).

Two kinds of servers. A *named* server (`start_server`: ``trirole model serve``,
``trirole env serve``) is detached, outlives the command that started it, and is described
by a :class:`ServerRecord` at ``trirole_home()/servers/<name>.json`` so any later process
can find it (`read_record`, `reuse_or_start`) and stop it (`stop_server`). An *owned*
server (`spawn(owned=True)` + `wait_ready`) belongs to the process that started it, has
no record, and dies with it (PR_SET_PDEATHSIG), however that process ends.

Processes are identified by pid AND start time (psutil), so a record left by a server that
died, after a reboot or pid reuse, never makes trirole signal an unrelated process.
"""

from __future__ import annotations

import contextlib
import ctypes
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
import psutil

from trirole.errors import TriroleError
from trirole.paths import file_lock, home_subdir

__all__ = [
    "ServerRecord",
    "ServerStartError",
    "free_port",
    "port_is_free",
    "start_server",
    "spawn",
    "wait_ready",
    "probe",
    "reuse_or_start",
    "record_process",
    "available_memory_gib",
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
    create_time: float | None = None  # the process's start time: with the pid, its identity

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


def _create_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None


def _same_process(pid: int, create_time: float | None) -> psutil.Process | None:
    """The live process `pid` if it is the one started at `create_time` (a pid alone can
    belong to another process after a reboot or pid reuse); None otherwise."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        if create_time is not None and abs(proc.create_time() - create_time) > 0.05:
            return None
        return proc
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    """True if a process with this pid exists and is not a zombie."""
    return pid > 0 and _same_process(pid, None) is not None


def record_process(record: ServerRecord) -> psutil.Process | None:
    """The live process of `record`, identified by its pid AND its start time."""
    return _same_process(record.pid, record.create_time)


def write_record(record: ServerRecord) -> Path:
    path = record_path(record.name)
    tmp = path.with_suffix(f".json.{os.getpid()}.tmp")
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
    """The record of server `name`, or None if there is none or its process is gone
    (a stale record, also one whose pid now belongs to another process, is removed)."""
    record = _read_raw(name)
    if record is None:
        return None
    if record_process(record) is None:
        remove_record(name)
        return None
    return record


def available_memory_gib() -> float:
    """Memory available for new processes without swapping (psutil's ``available``)."""
    return psutil.virtual_memory().available / 2**30


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

def _group(pgid: int) -> list[psutil.Process]:
    """The live members of process group `pgid` (a server and children that outlived it)."""
    members = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid and proc.status() != psutil.STATUS_ZOMBIE:
                members.append(proc)
        except (ProcessLookupError, psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return members


def _stop_processes(leader: psutil.Process | None, pgid: int | None, timeout_s: float) -> None:
    """SIGTERM the leader, its children and its process group; SIGKILL what is left after
    `timeout_s`. `pgid` only when the group is known to be the server's (see stop_server)."""
    procs: dict[int, psutil.Process] = {}
    if leader is not None:
        try:
            procs.update({p.pid: p for p in [leader, *leader.children(recursive=True)]})
        except psutil.NoSuchProcess:
            pass
    if pgid is not None:
        procs.update({p.pid: p for p in _group(pgid)})
    for proc in procs.values():
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.terminate()
    _, alive = psutil.wait_procs(list(procs.values()), timeout=timeout_s)
    for proc in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(alive, timeout=5)


_PR_SET_PDEATHSIG = 1


def _die_with_owner_hook() -> Callable[[], None]:
    """A `preexec_fn`: the child gets SIGKILL when the thread that started it dies
    (Linux's PR_SET_PDEATHSIG), so an owned server never outlives its owner, even one
    killed with SIGKILL. prctl is looked up here, before the fork: the child only calls it."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def die_with_owner() -> None:  # pragma: no cover - runs in the child between fork and exec
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)

    return die_with_owner


@dataclass
class Spawned:
    """A started server process that is not (yet) known to be ready."""

    name: str
    proc: subprocess.Popen
    create_time: float | None
    port: int
    url: str
    log_path: Path
    command: list[str]
    started_at: float

    def stop(self, timeout_s: float = 10) -> None:
        """Stop it and every process of its group (idempotent)."""
        leader = _same_process(self.proc.pid, self.create_time)
        # The group is the server's while its leader lives or no other process took its pid.
        group_ours = leader is not None or _create_time(self.proc.pid) is None
        _stop_processes(leader, self.proc.pid if group_ours else None, timeout_s)
        with contextlib.suppress(Exception):
            self.proc.wait(timeout=1)

    def record(self, extra: dict | None = None) -> ServerRecord:
        return ServerRecord(name=self.name, pid=self.proc.pid, port=self.port, url=self.url,
                            log_path=str(self.log_path), started_at=self.started_at, command=self.command,
                            extra=dict(extra or {}, ready_s=round(time.time() - self.started_at, 2)),
                            create_time=self.create_time)


def spawn(name: str, command: list[str], *, port: int, url: str, log_path: Path, env: dict | None = None,
          cwd: str | os.PathLike | None = None, owned: bool = False, inherit_env: bool = True) -> Spawned:
    """Start `command` in its own session, output to `log_path`. `owned`: the server dies
    with the calling thread (call it from the thread that lives as long as the owner,
    e.g. the event loop's; not from a short-lived worker thread). `env` is added to this
    process's environment, or with ``inherit_env=False`` is the whole environment (a
    server that runs agent code must not see the user's variables)."""
    if not port_is_free(port):
        raise ServerStartError(
            f"port {port} is taken (something already listens on 127.0.0.1:{port}); "
            f"pass --port or stop it"
        )
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    full_env = dict(os.environ) if inherit_env else {}
    if env:
        full_env.update({k: str(v) for k, v in env.items()})
    with open(log_path, "ab") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting {name}: {command}\n".encode())
        log.flush()
        try:
            proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    env=full_env, cwd=cwd, start_new_session=True,
                                    preexec_fn=_die_with_owner_hook() if owned else None)
        except OSError as e:
            raise ServerStartError(f"could not run {command[0]!r} for server {name!r}: {e}") from e
    return Spawned(name=name, proc=proc, create_time=_create_time(proc.pid), port=port, url=url,
                   log_path=log_path, command=list(command), started_at=time.time())


def probe(url: str, check: Callable[[httpx.Response], bool] | None = None, timeout_s: float = 5.0,
          client: httpx.Client | None = None) -> str | None:
    """The one readiness check of every server trirole starts: None when `url` answers 200
    and `check` accepts the answer, else what is wrong."""
    try:
        resp = (client or httpx).get(url, timeout=timeout_s)
    except httpx.HTTPError as e:
        return f"{url}: {type(e).__name__}"
    if resp.status_code != 200:
        return f"{url} answered {resp.status_code}"
    if check is not None and not check(resp):
        return f"{url} answered, but not as the expected server"
    return None


def wait_ready(spawned: Spawned, ready_url: str, *, timeout_s: float = 300,
               ready_check: Callable[[httpx.Response], bool] | None = None, poll_interval_s: float = 1.0) -> None:
    """Wait until `ready_url` passes `probe`. Raises :class:`ServerStartError` (after
    stopping it) if it exits or is not ready within `timeout_s`; stops it on any interruption."""
    deadline = time.monotonic() + timeout_s
    try:
        with httpx.Client() as client:
            while True:
                code = spawned.proc.poll()
                if code is not None:
                    raise _start_error(f"server {spawned.name!r} exited with code {code} while starting",
                                       spawned.log_path)
                problem = probe(ready_url, ready_check, client=client)
                if problem is None:
                    return
                if time.monotonic() > deadline:
                    raise _start_error(f"server {spawned.name!r} was not ready after {timeout_s:.0f} s "
                                       f"({problem}); stopped it", spawned.log_path)
                time.sleep(poll_interval_s)
    except BaseException:
        # Not ready (or the caller was interrupted): leave no half-started server behind,
        # including children that outlived the leader.
        spawned.stop(10)
        raise


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
    """Start `command` detached (it outlives this process), wait until `ready_url` answers
    200 (and `ready_check` accepts the response), write and return its record.

    `env` entries are added to the current environment. Raises :class:`ServerStartError`
    if the port is taken, the command cannot be run, the process exits while starting,
    or it is not ready within `timeout_s` (then it is killed).
    """
    spawned = spawn(name, command, port=port, url=url, log_path=log_path, env=env, cwd=cwd)
    wait_ready(spawned, ready_url, timeout_s=timeout_s, ready_check=ready_check, poll_interval_s=poll_interval_s)
    record = spawned.record(extra)
    write_record(record)
    return record


def reuse_or_start(name: str, start: Callable[[], ServerRecord], reuse: Callable[[ServerRecord], None],
                   waiting_message: str | None = None) -> ServerRecord:
    """The one "reuse the running server or start one" path: under the cross-process lock
    of `name`, the live recorded server (after `reuse` accepted it; it raises to refuse),
    else `start()`'s. Concurrent callers start one server; the others reuse it."""
    with file_lock(home_subdir("locks") / f"serve-{name}.lock", waiting_message):
        existing = read_record(name)
        if existing is not None:
            reuse(existing)
            return existing
        return start()


def stop_server(name: str, timeout_s: float = 20, *, pid: int | None = None) -> bool:
    """Stop server `name` (SIGTERM to it, its children and its process group, SIGKILL after
    `timeout_s`) and remove its record. True if a running server was stopped. A record
    whose pid now belongs to another process (its start time differs) is only removed:
    that process is never signalled.

    With `pid`, stop only that server: if the record now names another process (someone
    restarted it), the record is left alone."""
    record = _read_raw(name)
    if record is None or (pid is not None and record.pid != pid):
        return False
    leader = record_process(record)
    group_ours = leader is not None or _create_time(record.pid) is None
    # Also when the leader is gone: its children may still hold the port.
    _stop_processes(leader, record.pid if group_ours else None, timeout_s)
    remove_record(name)
    return leader is not None
