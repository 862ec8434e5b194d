"""BFCL's own virtual environment: ``trirole_home()/bfcl-env``.

``bfcl-eval`` pins old versions (numpy 1.26.4, tree_sitter 0.21.3, networkx 3.3, filelock
3.20.0) and pulls every provider's SDK, sentence-transformers and faiss: it cannot share
trirole's environment. What its checkers really import was measured (see
``/work/shared/notes/runtime.md``): the multi-turn classes need only ``mpmath``; the AST
checker imports every model handler (the provider SDKs), qwen-agent imports ``soundfile``
without declaring it; sentence-transformers and faiss-cpu (and torch with them) serve only
the memory categories, which trirole does not run. So: ``requirements.lock`` (bfcl-eval's
requirements minus those two, plus soundfile, every version pinned as resolved; bfcl-eval
itself is not in it), then ``bfcl-eval`` with ``--no-deps``: the venv holds exactly the
lock and bfcl-eval (``tests/test_bfcl_env.py`` compares pip's list with them), no torch,
CUDA, triton or faiss. A venv built for another lock is removed and built afresh. Measured
from nothing on 2 cores (docs/bfcl.md): 179 s, 570 MB (before this lock left bfcl-eval out:
6.4 GB). Later uses are instant (a stamp holds a hash of the lock). Data is read from the installed package.
"""

from __future__ import annotations

import os
from pathlib import Path

from trirole.paths import trirole_home
from trirole.environments.bfcl.errors import BfclNotInstalled

VENV_NAME = "bfcl-env"
BFCL_VERSION = "2026.3.23"
LOCK_FILE = Path(__file__).with_name("requirements.lock")
# Measured (docs/bfcl.md): a fresh build of the venv, its size on disk.
INSTALL_COST = "about 3 minutes, 570 MB"


def requirements() -> list[str]:
    """The pinned requirements of the venv (one ``name==version`` a line of the lock; not bfcl-eval)."""
    return [line.strip() for line in LOCK_FILE.read_text().splitlines() if line.strip() and not line.startswith("#")]


# bfcl-eval itself without its declared dependencies (see the module docstring).
POST_INSTALL = [["{python}", "-m", "pip", "install", "--no-deps", f"bfcl-eval=={BFCL_VERSION}"]]


def venv_dir() -> Path:
    return trirole_home() / VENV_NAME


def bfcl_python() -> Path:
    return venv_dir() / "bin" / "python"


def package_dir(venv: Path | None = None) -> Path | None:
    """The installed ``bfcl_eval`` package folder, or None."""
    found = sorted((venv or venv_dir()).glob("lib/python3*/site-packages/bfcl_eval/__init__.py"))
    return found[0].parent if found else None


def is_installed(venv: Path | None = None) -> bool:
    venv = venv or venv_dir()
    return (venv / "bin" / "python").exists() and package_dir(venv) is not None


def _installs_disabled() -> bool:
    return os.environ.get("TRIROLE_NO_INSTALL", "").strip().lower() in ("1", "true", "yes", "on")


def ensure_bfcl_env(*, announce: bool = True) -> Path:
    """The BFCL venv, installed on first use (needs PyPI; with `announce`, its progress is
    shown on stderr, `trirole.serving.setup_progress`).

    With ``TRIROLE_NO_INSTALL=1`` nothing is installed: a complete venv is returned, else
    `BfclNotInstalled` says how to install it."""
    from trirole.serving.venvs import VenvInstallError, ensure_venv, read_stamp, requirements_hash

    venv = venv_dir()
    wanted = requirements_hash(requirements(), POST_INSTALL)
    stamp = read_stamp(venv)
    if stamp and stamp.get("hash") == wanted and is_installed(venv):
        return venv
    if _installs_disabled():
        if is_installed(venv):
            return venv
        raise BfclNotInstalled(f"BFCL is not installed (no complete venv at {venv}) and TRIROLE_NO_INSTALL is set; "
                               f"unset it and rerun (the first use installs bfcl-eval, {INSTALL_COST}, needs PyPI)")
    try:
        venv = ensure_venv(VENV_NAME, requirements(), post_install=POST_INSTALL, exact=True, progress=announce,
                           title=f"installing BFCL (bfcl-eval=={BFCL_VERSION}) into {venv} on first use "
                                 f"({INSTALL_COST}, needs PyPI)")
    except VenvInstallError as exc:
        raise BfclNotInstalled(f"could not install BFCL: {exc}") from exc
    if not is_installed(venv):
        raise BfclNotInstalled(f"the BFCL venv at {venv} has no bfcl_eval package after installing; "
                               f"see the log under {trirole_home() / 'logs'}")
    return venv
