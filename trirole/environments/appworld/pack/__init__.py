"""trirole's offline AppWorld task pack: a generated APPWORLD_ROOT (``data/``) built on AppWorld's
own engine, for machines that cannot download the official data.

`ensure_pack()` runs the generator (the package ``trirole_pack`` in this folder) with the
AppWorld venv's python into ``trirole_home()/appworld/pack-seed<seed>`` and returns that root.
The result is cached under a stamp holding a hash of the generator's sources and the seed;
nothing generated is committed. See README.md here for the world, the tasks and how they are
verified.

This module runs in trirole's process and never imports appworld; ``trirole_pack`` runs in the
AppWorld venv and never imports trirole.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from trirole.paths import file_lock, trirole_home
from trirole.environments.appworld.errors import AppWorldError
from trirole.environments.appworld.install import ensure_appworld_env

PACK_DIR = Path(__file__).resolve().parent
# The generator is the top-level package `trirole_pack` (in PACK_DIR), run with `python -m` in the
# AppWorld venv with PYTHONPATH=PACK_DIR. Not `-m trirole.environments.appworld.pack...`: importing
# `trirole` runs trirole/__init__.py, which needs langgraph and pydantic 2, absent from that venv.
# Not installed into the venv either: the source tree stays the one copy that runs (no stale
# install after an edit) and the shared AppWorld venv is left as AppWorld installed it.
GENERATOR_PACKAGE = "trirole_pack"
GENERATOR_DIR = PACK_DIR / GENERATOR_PACKAGE
# verify.py only reads packs; every other source file decides what the generator writes.
NOT_GENERATOR_SOURCES = {"verify.py"}  # relative to GENERATOR_DIR
STAMP_NAME = ".trirole_pack.json"
PACK_FORMAT = 1  # bump when the layout changes in a way the sources do not show

__all__ = ["ensure_pack", "pack_dir", "source_files", "source_hash", "appworld_python", "run_generator", "run_verifier",
           "PackBuildError"]


class PackBuildError(AppWorldError):
    """Generating the offline task pack failed (the message carries the generator's output)."""


def source_files() -> dict[str, Path]:
    """The generator's sources (solutions included) by path relative to GENERATOR_DIR, sorted."""
    files = {path.relative_to(GENERATOR_DIR).as_posix(): path for path in GENERATOR_DIR.rglob("*.py")}
    return {name: files[name] for name in sorted(files) if name not in NOT_GENERATOR_SOURCES}


def source_hash() -> str:
    """The cache key of a built pack: the pack format and every generator source, by relative path."""
    digest = hashlib.sha256(f"format={PACK_FORMAT}\n".encode())
    for name, path in source_files().items():
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def pack_dir(seed: int = 0) -> Path:
    return trirole_home() / "appworld" / f"pack-seed{seed}"


def appworld_python() -> Path:
    """The AppWorld venv's python (installed on first use)."""
    python = Path(ensure_appworld_env()) / "bin" / "python"
    if not python.exists():
        raise PackBuildError(f"no AppWorld venv python at {python}; install AppWorld first "
                             "(`trirole env serve appworld` installs it)")
    return python


def _read_stamp(root: Path) -> dict | None:
    try:
        return json.loads((root / STAMP_NAME).read_text())
    except (OSError, ValueError):
        return None


def _subprocess_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PYTHONPATH"] = str(PACK_DIR)  # makes `trirole_pack` (and only it) importable; see above
    env["PYTHONSAFEPATH"] = "1"  # `-m` would also put the working directory first on sys.path
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # keep __pycache__ out of the source folder
    return env


def run_generator(root: str | os.PathLike, seed: int = 0, *, limit: int | None = None,
                  python: str | os.PathLike | None = None, timeout_s: float = 900) -> subprocess.CompletedProcess:
    """Run the generator into `root` (its data/ is replaced). Raises PackBuildError on failure."""
    python = Path(python) if python else appworld_python()
    command = [str(python), "-m", f"{GENERATOR_PACKAGE}.generate", "--root", str(root), "--seed", str(seed)]
    if limit is not None:
        command += ["--limit", str(limit)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s,
                                env=_subprocess_env(), cwd=str(Path(root).parent), check=False)
    except subprocess.TimeoutExpired as exc:
        raise PackBuildError(f"the pack generator timed out after {timeout_s:.0f}s: {' '.join(command)}") from exc
    if result.returncode != 0:
        tail = (result.stdout + result.stderr)[-4000:]
        raise PackBuildError(f"the pack generator failed (exit {result.returncode}): {' '.join(command)}\n{tail}")
    return result


def run_verifier(root: str | os.PathLike, *, tasks: list[str] | None = None, modes: list[str] | None = None,
                 python: str | os.PathLike | None = None, timeout_s: float = 1800) -> subprocess.CompletedProcess:
    """Run the verifier on a pack (does not raise on violations: check ``returncode``, read ``stdout``)."""
    python = Path(python) if python else appworld_python()
    command = [str(python), "-m", f"{GENERATOR_PACKAGE}.verify", "--root", str(root)]
    if tasks:
        command += ["--tasks", *tasks]
    if modes:
        command += ["--modes", *modes]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout_s,
                          env=_subprocess_env(), cwd=str(Path(root).parent), check=False)


def ensure_pack(seed: int = 0, force: bool = False) -> Path:
    """The pack's root (a folder holding ``data/``), generated on first use (about 20 s).

    Regenerated when the generator's sources or the seed changed, or with `force`. Other files
    in the root (AppWorld's ``experiments/`` outputs) are kept across regenerations.
    """
    root = pack_dir(seed)
    wanted = {"seed": seed, "source_hash": source_hash(), "format": PACK_FORMAT}
    with file_lock(root.parent / f".pack-seed{seed}.lock"):
        stamp = _read_stamp(root)
        if not force and stamp is not None and {k: stamp.get(k) for k in wanted} == wanted \
                and (root / "data" / "tasks").is_dir():
            return root
        build = root.parent / f".pack-seed{seed}.build-{os.getpid()}"
        shutil.rmtree(build, ignore_errors=True)
        build.mkdir(parents=True)
        try:
            result = run_generator(build, seed)
            root.mkdir(parents=True, exist_ok=True)
            (root / STAMP_NAME).unlink(missing_ok=True)
            old = root / ".data-old"
            shutil.rmtree(old, ignore_errors=True)
            if (root / "data").exists():
                (root / "data").rename(old)
            (build / "data").rename(root / "data")
            shutil.rmtree(old, ignore_errors=True)
            summary = result.stdout.strip().splitlines()[-1:] or [""]
            (root / STAMP_NAME).write_text(json.dumps({**wanted, "python": sys.version.split()[0],
                                                       "generator_summary": summary[0]}, indent=2))
        finally:
            shutil.rmtree(build, ignore_errors=True)
    return root
