"""How agent code is confined: the bubblewrap (``bwrap``) command lines.

One process runs model-written code: the python sandbox's worker (every environment's
agent code runs there, AppWorld's included). Beside it, AppWorld's environment server
holds the task's world and runs only trirole's code (one API call of agent code at a
time), confined all the same. Each runs under bubblewrap (Debian's ``bubblewrap``, as
Flatpak and Anthropic's sandbox-runtime do) or, only when asked for explicitly, as a plain
process.

The python worker (`python_worker_command`) gets its own network namespace (no network,
not even loopback), pid, ipc and uts namespaces and session; a read-only view of only what
the interpreter needs (``/usr``, ``/lib*``, a few ``/etc`` files, the interpreter's prefix);
no home, no project, no other processes; a private size-limited tmpfs as its working
directory; and it dies with trirole. As root it keeps only the capabilities to drop to an
unprivileged uid of its own (the worker does that before any agent code runs), because
Linux never enforces the process limit for uid 0.

The AppWorld server (`appworld_server_command`) shares trirole's network (trirole reaches
it on loopback; agent code cannot: the worker has no network) and sees only the system
folders, its own venv and interpreter, its app module and its stage: one episode's task
(no ground truth) and its outputs; it runs as a uid of its own with limits, like the
worker.

Both start from `minimal_env`: nothing of the user's environment reaches them.
"""

from __future__ import annotations

import functools
import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Mapping, Sequence

from trirole.settings import ISOLATIONS, Isolation
from trirole.environments.base import EnvironmentFailure


SCRATCH = "/scratch"
"""The worker's working directory inside the sandbox (a private tmpfs)."""
WORKER_PATH = "/sandbox/worker.py"
"""Where the worker script is bound (read-only) inside the sandbox."""
LAUNCHER_PATH = "/sandbox/launch.py"
"""Where the server launcher (`_server_launcher.py`) is bound inside the sandbox."""
APP_DIR_PATH = "/sandbox/app"
"""Where the server's app folder (its ``--app-dir``) is bound inside the sandbox."""
_LAUNCHER = Path(__file__).with_name("_server_launcher.py")
SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"
"""PATH of every process that runs agent code (never the user's)."""
# Limits of an environment server (AppWorld's): its own address space (AppWorld's server
# with a task loaded maps about 0.5 GB), processes and threads of its uid (it runs about
# 10 threads), one file's size.
SERVER_MEMORY_MB = 3072
SERVER_MAX_PROCESSES = 64
SERVER_MAX_FILE_MB = 256

# System folders the interpreter may need; symlinks (merged /usr) are recreated as symlinks.
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# /etc pieces: the dynamic loader's cache and config, the time zone, Debian's alternatives
# (symlinks in /usr/bin point there). Nothing with users, hosts or credentials.
_ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime", "/etc/alternatives")


class IsolationUnavailable(EnvironmentFailure):
    """The isolation asked for cannot run here (bubblewrap missing or broken)."""


def check_isolation(isolation: str) -> str:
    """`isolation` if it is known; else ValueError naming the choices."""
    if isolation not in ISOLATIONS:
        raise ValueError(f"isolation must be one of {', '.join(ISOLATIONS)} (got {isolation!r})")
    return isolation


def find_bwrap(bwrap: str = "bwrap") -> str:
    """The bubblewrap executable's path; `IsolationUnavailable` naming the fix if missing."""
    found = shutil.which(bwrap)
    if found is None:
        raise IsolationUnavailable(
            f"agent code runs under bubblewrap but {bwrap!r} was not found: install it with "
            f"`apt-get install bubblewrap` (or `make setup`), or set isolation=\"process\" to run it unconfined")
    return found


@functools.cache
def interpreter_prefix(python: str) -> tuple[str, str]:
    """The real path of `python` and its installation prefix (``sys.base_prefix``: a
    virtual environment's python is a symlink to its base interpreter, and the worker
    runs with the standard library only, so the venv itself is never needed)."""
    real = os.path.realpath(shutil.which(python) or python)
    if real == os.path.realpath(sys.executable):
        return real, os.path.realpath(sys.base_prefix)
    try:
        out = subprocess.run([real, "-S", "-c", "import sys; print(sys.base_prefix)"], capture_output=True,
                             text=True, timeout=30, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        raise EnvironmentFailure(f"cannot start the python sandbox: its interpreter {python!r} "
                                f"does not run ({exc})") from None
    return real, os.path.realpath(out)


def _system_binds(prefix: str) -> list[str]:
    args: list[str] = []
    for path in _SYSTEM_DIRS:
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            args += ["--ro-bind", path, path]
    for path in _ETC_FILES:
        args += ["--ro-bind-try", path, path]
    if not any(prefix == d or prefix.startswith(d + "/") for d in _SYSTEM_DIRS):
        # Its parents are created traversable: under /root (pyenv), a missing or 0700
        # parent would hide the standard library from the worker's unprivileged uid.
        parents = [str(p) for p in reversed(Path(prefix).parents) if str(p) != "/"]
        args += [arg for parent in parents for arg in ("--perms", "0755", "--dir", parent)]
        args += ["--ro-bind", prefix, prefix]
    return args


@functools.cache  # a process's id maps do not change
def _mapped_ids(path: str) -> list[tuple[int, int]]:
    """The id ranges (first, last) this process's user namespace maps (all when unknown)."""
    try:
        rows = [line.split() for line in Path(path).read_text().splitlines()]
    except OSError:
        return [(0, 2**32 - 2)]
    return [(int(row[0]), int(row[0]) + int(row[2]) - 1) for row in rows if len(row) == 3]


def sandbox_uid() -> int | None:
    """An unprivileged uid (and gid) for one worker when trirole runs as root, else None.

    Its own uid, not ``nobody``: the process limit counts processes per uid across the
    whole machine, and a uid no other process has cannot signal anything outside. Drawn
    from the ids this user namespace maps (in a rootless container only 65536 may be)."""
    if os.geteuid() != 0:
        return None
    ranges = [(max(u0, g0, 1000), min(u1, g1, 2**31 - 1)) for u0, u1 in _mapped_ids("/proc/self/uid_map")
              for g0, g1 in _mapped_ids("/proc/self/gid_map")]
    first, last = max(ranges, key=lambda r: r[1] - r[0], default=(1000, 1000))
    if last < first:
        raise IsolationUnavailable("no unprivileged uid is mapped in this user namespace to run agent code as; "
                                   "run trirole as a non-root user, or set isolation=\"process\"")
    if last >= 1_000_000:  # clear of the uids real users get, when the namespace allows
        first = max(first, 1_000_000)
    return first + secrets.randbelow(last - first + 1)


def _read_only_binds(binds: Mapping[str, str]) -> list[str]:
    """``--ro-bind`` arguments for `binds`, their parents created traversable (bwrap makes
    missing parents 0700, which the worker's own uid could not enter)."""
    args: list[str] = []
    for inside, host in binds.items():
        parents = [str(p) for p in reversed(Path(inside).parents) if str(p) != "/"]
        args += [arg for parent in parents for arg in ("--perms", "0755", "--dir", parent)]
        args += ["--ro-bind", host, inside]
    return args


def python_worker_command(python: str, worker: str | os.PathLike, worker_args: Sequence[str], *,
                          scratch_mb: int, bwrap: str = "bwrap", ro_binds: Mapping[str, str] | None = None) -> list[str]:
    """The bubblewrap command that runs ``python -s -S -P -u WORKER ARGS`` confined (see
    the module docstring), with `scratch_mb` MB of private scratch space as its cwd and
    `ro_binds` (sandbox path -> host path, files or folders) visible read-only."""
    bwrap_path = find_bwrap(bwrap)
    real_python, prefix = interpreter_prefix(python)
    command = [bwrap_path, "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
               "--unshare-cgroup-try", "--hostname", "sandbox", "--die-with-parent", "--new-session"]
    if os.geteuid() == 0:
        # bwrap keeps every capability for root; keep only those the worker needs to drop
        # to its own uid (after which it holds none).
        command += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        command += ["--unshare-user", "--disable-userns"]
    command += _system_binds(prefix)
    command += ["--dev", "/dev", "--proc", "/proc",
                "--ro-bind", str(worker), WORKER_PATH,
                *_read_only_binds(ro_binds or {}),
                "--perms", "1777", "--size", str(scratch_mb * 1024 * 1024), "--tmpfs", SCRATCH,
                "--chdir", SCRATCH,
                real_python, "-s", "-S", "-P", "-u", WORKER_PATH, *worker_args]
    return command


def minimal_env(home: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The whole environment of a process that runs agent code: built from nothing, so no
    variable of the user's (API keys, tokens, cloud credentials) reaches agent code.
    `extra` adds what the environment itself needs (e.g. ``APPWORLD_ROOT``)."""
    return {"PATH": SANDBOX_PATH, "HOME": home, "TMPDIR": home, "LANG": "C.UTF-8", "PYTHONHASHSEED": "0",
            **(extra or {})}


def _with_parents(path: str) -> list[str]:
    """bwrap arguments creating `path`'s parents traversable (under /root a missing or
    0700 parent would hide it from an unprivileged uid)."""
    parents = [str(p) for p in reversed(Path(path).parents) if str(p) != "/"]
    return [arg for parent in parents for arg in ("--perms", "0755", "--dir", parent)]


def appworld_server_command(command: Sequence[str], *, stage: str | os.PathLike, uid: int | None,
                            app_dir: str | os.PathLike, bwrap: str = "bwrap", die_with_parent: bool = False,
                            tmp_mb: int = 256,
                            outputs_mb: int = 512,
                            memory_mb: int = SERVER_MEMORY_MB, nproc: int = SERVER_MAX_PROCESSES) -> list[str]:
    """`command` (AppWorld's server, ``VENV/bin/python -m uvicorn APP --app-dir APP_DIR ...``)
    under bubblewrap.

    It sees only what it needs to run: the system folders and the interpreter (as the
    python worker), its own venv read-only, its app folder (`app_dir`, read-only, as the
    ``--app-dir`` it is given), its stage (`stage`, see
    `trirole.environments.appworld.stage`: ``data/`` read-only, holding one episode's task
    without its ground truth while the episode starts; ``experiments/`` writable, its
    outputs, a size-limited tmpfs) and a private size-limited /tmp. No home, no project, no data root, no other
    task, no other run's outputs. The host's network (it serves trirole on loopback); its
    own pid, ipc and uts namespaces. It starts through `_server_launcher.py`, which sets
    its limits (`memory_mb` of address space, `nproc` processes and threads, one file at
    most `SERVER_MAX_FILE_MB`) and, as root, drops to `uid` (a uid of its own, see
    `sandbox_uid`) before the server runs.

    Not ``--new-session``: the server is stopped through its process group. A private
    server, owned by its evaluation, dies with it (`die_with_parent`)."""
    confined = [find_bwrap(bwrap), "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                "--hostname", "sandbox"]
    if os.geteuid() == 0:  # only what the launcher needs to drop to its uid (it then holds none)
        confined += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        confined += ["--unshare-user", "--disable-userns"]
    if die_with_parent:
        confined.append("--die-with-parent")
    # The venv's bin/python by its real folder (it must stay the one that runs, or its
    # site-packages are lost); the interpreter it links to, by its prefix.
    python = os.path.join(os.path.realpath(Path(command[0]).parent), Path(command[0]).name)
    _, prefix = interpreter_prefix(python)
    venv = os.path.realpath(Path(python).parent.parent)
    stage = os.path.realpath(stage)
    # The private /tmp first: bwrap mounts in order, and a later tmpfs would hide whatever
    # was bound under /tmp before it (a TRIROLE_HOME or an interpreter there: the venv's
    # python was "No such file or directory").
    confined += ["--perms", "1777", "--size", str(tmp_mb * 1024 * 1024), "--tmpfs", "/tmp"]
    confined += _system_binds(prefix)
    confined += [*_with_parents(venv), "--ro-bind", venv, venv]
    confined += ["--dev", "/dev", "--proc", "/proc",
                 "--perms", "0755", "--dir", "/sandbox", "--ro-bind", str(_LAUNCHER), LAUNCHER_PATH,
                 "--ro-bind", os.path.realpath(app_dir), APP_DIR_PATH]  # (read by the server's uid)
    # Its outputs on a size-limited tmpfs of its own: agent code cannot fill the host's disk
    # (trirole reads them through /proc/<server pid>/root, see `stage.live_stage`).
    confined += [*_with_parents(stage), "--bind", stage, stage,
                 "--ro-bind", os.path.join(stage, "data"), os.path.join(stage, "data"),
                 "--perms", "1777", "--size", str(outputs_mb * 1024 * 1024), "--tmpfs", os.path.join(stage, "experiments"),
                 "--chdir", stage]
    config = json.dumps({"memory_mb": memory_mb, "nproc": nproc, "nofile": 1024, "fsize_mb": SERVER_MAX_FILE_MB,
                         "uid": uid})
    if command[1] != "-m":
        raise ValueError(f"the server command must be PYTHON -m MODULE ... (got {command!r})")
    args = list(command[2:])
    if "--app-dir" in args:  # the app folder as the sandbox shows it
        args[args.index("--app-dir") + 1] = APP_DIR_PATH
    return [*confined, python, LAUNCHER_PATH, config, *args]
