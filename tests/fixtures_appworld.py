"""The real AppWorld environment server for tests marked ``@pytest.mark.appworld``.

`appworld_server` starts ``appworld.serve.environment`` from AppWorld's own venv once per
test session, as a private server owned by the test session (no record: a user's own
``appworld`` server is left alone, and the server dies with the session however it ends),
on a free port, with the default data root: ``APPWORLD_ROOT`` when set (the official
data), else trirole's offline task pack. It stops the server at the end.

`isolated_home` is a TRIROLE_HOME of the test's own (its named servers, locks and logs),
sharing the slow-to-build AppWorld venv and offline pack with the real one.

The first run on a fresh machine installs the AppWorld venv (~1 min, PyPI) and builds
the pack; later runs only start the server (a few seconds).
Deselect with ``-m "not appworld"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class AppWorldTestServer:
    url: str
    root: Path
    task_id: str
    log_path: str
    isolation: str


def _first_task(root: Path) -> str:
    from trirole.environments.appworld.data import available_datasets, list_tasks

    datasets = available_datasets(root)
    for dataset in ["dev", "train", *datasets]:
        if dataset in datasets:
            ids = list_tasks(dataset, root=root)
            if ids:
                return ids[0]
    ids = sorted(p.name for p in (root / "data" / "tasks").iterdir() if (p / "specs.json").is_file())
    if not ids:
        pytest.skip(f"no AppWorld tasks under {root / 'data' / 'tasks'}")
    return ids[0]


def _appworld_root() -> Path:
    from trirole.environments.appworld import AppWorldDataMissing, AppWorldNotInstalled, ensure_appworld_env
    from trirole.environments.appworld.data import default_root

    try:
        ensure_appworld_env()
    except AppWorldNotInstalled as exc:
        pytest.skip(f"AppWorld is not installed: {exc}")
    try:
        return default_root()
    except AppWorldDataMissing as exc:
        pytest.skip(f"no AppWorld data: {exc}")


@pytest.fixture(scope="session")
def appworld_server():
    from trirole.environments.appworld.server import private_server

    root = _appworld_root()
    with private_server(root) as server:
        yield AppWorldTestServer(url=server.url, root=server.root, task_id=_first_task(root),
                                 log_path=server.log_path, isolation=server.isolation)


@pytest.fixture
def isolated_home(tmp_path, monkeypatch):
    """A TRIROLE_HOME of the test's own, with the real one's AppWorld venv and pack."""
    from trirole.paths import trirole_home
    from trirole.environments.appworld.install import venv_dir

    _appworld_root()  # built (or skipped) in the real home first
    real = trirole_home()
    home = tmp_path / "home"
    home.mkdir()
    for name in ("appworld", venv_dir().name):
        if (real / name).exists():
            (home / name).symlink_to((real / name).resolve())
    monkeypatch.setenv("TRIROLE_HOME", str(home))
    return home
