"""Separate virtual environments for heavy dependencies (vLLM, AppWorld, ...).

Each lives at ``trirole_home()/<name>``, is created with ``python -m venv`` and filled with
plain ``pip`` (not uv: the CPU torch wheel comes from pip's configured local wheel folder),
and carries a stamp file recording a hash of what was asked for. A second
:func:`ensure_venv` with the same requirements is a no-op; different requirements
reinstall into the same venv, or, with ``exact=True``, into a new one (so it holds exactly
what was asked for). Output of every step goes to ``logs_dir()/venv-<name>.log``; while
they run, each step is shown on stderr (`trirole.serving.setup_progress`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterable, Sequence

from trirole.errors import TriroleError
from trirole.paths import file_lock, home_subdir, logs_dir, trirole_home
from trirole.serving.setup_progress import SetupProgress

__all__ = [
    "VenvInstallError",
    "ensure_venv",
    "venv_path",
    "venv_python",
    "venv_bin",
    "read_stamp",
    "requirements_hash",
    "STAMP_NAME",
]

STAMP_NAME = ".trirole-stamp.json"


class VenvInstallError(TriroleError, RuntimeError):
    """Creating or filling a venv failed; the message names the venv, the step and the log."""

    def __init__(self, name: str, step: str, log_path: Path, detail: str = "", fix: str = ""):
        self.venv_name = name
        self.step = step
        self.log_path = Path(log_path)
        msg = f"installing venv {name!r} failed at step '{step}'"
        if detail:
            msg += f" ({detail})"
        msg += f". Install log: {log_path}"
        if fix:
            msg += f". {fix}"
        super().__init__(msg)


def venv_path(name: str) -> Path:
    return trirole_home() / name


def venv_bin(venv: Path) -> Path:
    return Path(venv) / "bin"


def venv_python(venv: Path) -> Path:
    return venv_bin(venv) / "python"


def requirements_hash(requirements: Sequence[str], post_install: Iterable[Sequence[str]] = ()) -> str:
    payload = json.dumps(
        {"requirements": list(requirements), "post_install": [list(c) for c in post_install]},
        sort_keys=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def read_stamp(name_or_path: str | Path) -> dict | None:
    """The stamp of a venv (by name or path), or None if it has none."""
    path = Path(name_or_path)
    if not path.is_absolute():
        path = venv_path(str(name_or_path))
    try:
        return json.loads((path / STAMP_NAME).read_text())
    except (OSError, ValueError):
        return None


def _lock(name: str, waiting_message: str | None = None):
    """One installer per venv at a time, across processes."""
    return file_lock(home_subdir("locks") / f"venv-{name}.lock", waiting_message)


def _run(step: str, argv: list[str], *, name: str, log_path: Path, env: dict, fix: str) -> float:
    t0 = time.monotonic()
    with open(log_path, "a") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} [{step}] $ {' '.join(argv)}\n")
        log.flush()
        try:
            rc = subprocess.run(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env
            ).returncode
        except OSError as e:
            log.write(f"could not run: {e}\n")
            raise VenvInstallError(name, step, log_path, str(e), fix) from e
        log.write(f"=== [{step}] exit code {rc} after {time.monotonic() - t0:.1f} s\n")
    if rc != 0:
        raise VenvInstallError(name, step, log_path, f"exit code {rc}", fix)
    return time.monotonic() - t0


def ensure_venv(
    name: str,
    requirements: list[str],
    *,
    post_install: Sequence[Sequence[str]] = (),
    python: str = sys.executable,
    exact: bool = False,
    title: str | None = None,
    progress: bool = True,
    fix: str = "",
) -> Path:
    """Create (once) the venv ``trirole_home()/<name>`` holding `requirements`.

    `post_install` commands are argv lists run after ``pip install``; ``{python}`` and
    ``{bin}`` in them are replaced by the venv's python and bin folder (a ``-c`` script whose
    first line is a comment is shown by that comment). A stamp with a hash of requirements +
    post_install makes a later call with the same arguments instant. `exact`: a venv built
    for other requirements is removed first, never updated in place (`requirements` is then
    a complete lock, whose length is shown as the packages pip will collect). `title`: the
    first line shown while installing (what, where, how long it takes); `progress`: False
    shows nothing. Raises :class:`VenvInstallError` (naming the step and the log, then `fix`:
    what the user can do) on failure; the stamp is written last, so nothing half-installed is
    reused.
    """
    venv = venv_path(name)
    wanted = requirements_hash(requirements, post_install)
    stamp = read_stamp(venv)
    if stamp and stamp.get("hash") == wanted and venv_python(venv).exists():
        return venv

    waiting = f"trirole: waiting for another trirole process that is installing {name} ..." if progress else None
    with _lock(name, waiting):
        stamp = read_stamp(venv)  # another process may have finished meanwhile
        if stamp and stamp.get("hash") == wanted and venv_python(venv).exists():
            return venv

        log_path = logs_dir() / f"venv-{name}.log"
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        env.pop("VIRTUAL_ENV", None)
        env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        env["PIP_NO_INPUT"] = "1"
        timings: dict[str, float] = {}
        t_all = time.monotonic()

        (venv / STAMP_NAME).unlink(missing_ok=True)
        if exact and venv.exists():
            shutil.rmtree(venv)
        py = venv_python(venv)
        subs = {"{python}": str(py), "{bin}": str(venv_bin(venv))}
        stages = (not py.exists()) + bool(requirements) + len(post_install)
        display = SetupProgress(name, title or f"installing {name} into {venv}", stages, enabled=progress)
        run = functools.partial(_run, name=name, log_path=log_path, env=env, fix=fix)
        with display:
            if not py.exists():
                with display.stage("create the virtual environment", log_path=log_path):
                    timings["venv"] = run("create venv", [python, "-m", "venv", str(venv)])
            if requirements:
                more = len(requirements) - 1
                shown = f"{len(requirements)} pinned requirements" if exact else \
                    requirements[0] + (f" and {more} more" if more else "")
                with display.stage(f"pip install {shown}", log_path=log_path,
                                   total=len(requirements) if exact else None):
                    timings["pip_install"] = run(
                        "pip install", [str(py), "-m", "pip", "install", "--progress-bar", "off", *requirements])
            for i, cmd in enumerate(post_install):
                argv = [_substitute(a, subs) for a in cmd]
                with display.stage(_describe(cmd), log_path=log_path):
                    timings[f"post_install_{i}"] = run(f"post-install {i + 1}: {' '.join(cmd)}", argv)
            timings["total"] = time.monotonic() - t_all

            (venv / STAMP_NAME).write_text(json.dumps({
                "name": name,
                "hash": wanted,
                "requirements": list(requirements),
                "post_install": [list(c) for c in post_install],
                "python": str(python),
                "installed_at": time.time(),
                "timings_s": {k: round(v, 2) for k, v in timings.items()},
                "log": str(log_path),
            }, indent=2))
        return venv


def _describe(command: Sequence[str]) -> str:
    """A post-install command as shown: ``python -m pip ...``, or the comment a ``-c`` script opens with."""
    if "-c" in command[:-1]:
        first = command[command.index("-c") + 1].lstrip().splitlines()[0]
        return first.lstrip("# ").strip() if first.startswith("#") else f"python -c '{first} ...'"
    return " ".join(a.replace("{python}", "python").replace("{bin}/", "") for a in command)


def _substitute(arg: str, subs: dict[str, str]) -> str:
    for key, value in subs.items():
        arg = arg.replace(key, value)
    return arg
