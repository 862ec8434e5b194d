"""AppWorld's own virtual environment.

AppWorld 0.1.3.post1 pins pydantic 1 (trirole's stack needs pydantic 2), so it lives in
``trirole_home()/appworld-env`` and trirole only talks to its HTTP environment server.
``appworld install`` unpacks the app implementations into the package; it works offline.
"""

from __future__ import annotations

import os
from pathlib import Path

from trirole.paths import trirole_home
from trirole.environments.appworld.errors import AppWorldNotInstalled

VENV_NAME = "appworld-env"
APPWORLD_VERSION = "0.1.3.post1"

# appworld pins most of its stack itself; these two it leaves open-ended although it
# depends on them: AppWorld builds an IPython shell for every task it starts (trirole runs
# agent code in its own sandbox instead, but the pack's verify.py runs that shell), and
# pendulum is the frozen clock of every task.
REQUIREMENTS = [
    f"appworld=={APPWORLD_VERSION}",
    "ipython>=8.18,<10",
    "pendulum>=3.0,<4",
]

# `appworld install` (unpack the apps) is idempotent but rewrites ~3 s of files; skip it
# when the apps are already there.
_UNPACK_IF_NEEDED = (
    "# unpack AppWorld's apps (appworld install) unless they are there\n"
    "import os, appworld\n"
    "apps = os.path.join(os.path.dirname(appworld.__file__), 'apps', 'supervisor', 'apis.py')\n"
    "if os.path.exists(apps):\n"
    "    print('appworld apps already unpacked')\n"
    "else:\n"
    "    import subprocess, sys\n"
    "    subprocess.run([os.path.join(os.path.dirname(sys.executable), 'appworld'), 'install'], check=True)\n"
)
POST_INSTALL = [["{python}", "-c", _UNPACK_IF_NEEDED]]


def venv_dir() -> Path:
    return trirole_home() / VENV_NAME


def appworld_python() -> Path:
    return venv_dir() / "bin" / "python"


def appworld_bin() -> Path:
    return venv_dir() / "bin" / "appworld"


def download_fix(root: str = "DIR") -> str:
    """How to get the official data into `root`, and how to do without it."""
    return (
        f"to get the official AppWorld data (needs internet): `{appworld_bin()} download data --root {root}`, "
        f"then `export APPWORLD_ROOT={root}`; or unset APPWORLD_ROOT to use trirole's offline task pack"
    )


def installs_disabled() -> bool:
    return os.environ.get("TRIROLE_NO_INSTALL", "").strip().lower() in ("1", "true", "yes", "on")


def is_installed(venv: Path | None = None) -> bool:
    """True if the venv has a python, appworld, and the unpacked apps."""
    venv = venv or venv_dir()
    if not (venv / "bin" / "python").exists():
        return False
    return any(venv.glob("lib/python3*/site-packages/appworld/apps/supervisor/apis.py"))


def ensure_appworld_env() -> Path:
    """The AppWorld venv, installed on first use (about 1 min, needs PyPI).

    With ``TRIROLE_NO_INSTALL=1`` nothing is installed: an existing, complete venv is
    returned, else `AppWorldNotInstalled` says how to install it.
    """
    venv = venv_dir()
    if installs_disabled():
        if is_installed(venv):
            return venv
        raise AppWorldNotInstalled(
            f"AppWorld is not installed (no complete venv at {venv}) and TRIROLE_NO_INSTALL is set; "
            "unset TRIROLE_NO_INSTALL and run `trirole env serve appworld` (installs it on first use, "
            f"about 1 min, needs PyPI), or set it up by hand: `python -m venv {venv} && "
            f"{venv}/bin/pip install appworld=={APPWORLD_VERSION} && {venv}/bin/appworld install`"
        )
    from trirole.serving.venvs import VenvInstallError, ensure_venv

    try:
        venv = ensure_venv(VENV_NAME, REQUIREMENTS, post_install=POST_INSTALL,
                           title=f"installing AppWorld (appworld=={APPWORLD_VERSION}) into {venv} on first use "
                                 "(1-2 minutes, 230 MB, needs PyPI)")
    except VenvInstallError as exc:
        raise AppWorldNotInstalled(f"could not install AppWorld: {exc}") from exc
    if not is_installed(venv):
        raise AppWorldNotInstalled(
            f"the AppWorld venv at {venv} is incomplete (apps not unpacked); run `{venv}/bin/appworld install`"
        )
    return venv
