"""The real AppWorld environment server for tests marked ``@pytest.mark.appworld``.

`appworld_server` starts ``appworld.serve.environment`` from AppWorld's own venv once per
test session, under the record name ``appworld-test`` (a user's own ``appworld`` server
is left alone), on a free port, with the default data root: ``APPWORLD_ROOT`` when set
(the official data), else trirole's offline task pack. It stops the server at the end.

The first run on a fresh machine installs the AppWorld venv (~1 min, PyPI) and builds
the pack; later runs only start the server (a few seconds).
Deselect with ``-m "not appworld"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

TEST_RECORD_NAME = "appworld-test"


@dataclass
class AppWorldTestServer:
    url: str
    root: Path
    task_id: str
    record_name: str
    log_path: str
    ready_s: float | None


def _first_task(root: Path) -> str:
    from trirole.tools.appworld.data import available_datasets, list_tasks

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


@pytest.fixture(scope="session")
def appworld_server():
    from trirole.serving.process import read_record
    from trirole.tools.appworld import AppWorldDataMissing, AppWorldNotInstalled, ensure_appworld_env
    from trirole.tools.appworld.data import default_root
    from trirole.tools.appworld.server import serve_appworld, stop_appworld

    try:
        ensure_appworld_env()
    except AppWorldNotInstalled as exc:
        pytest.skip(f"AppWorld is not installed: {exc}")
    try:
        root = default_root()
    except AppWorldDataMissing as exc:
        pytest.skip(f"no AppWorld data: {exc}")
    started_here = read_record(TEST_RECORD_NAME) is None
    record = serve_appworld(root=root, name=TEST_RECORD_NAME)
    try:
        yield AppWorldTestServer(url=record.url, root=Path(record.extra["root"]), task_id=_first_task(root),
                                 record_name=TEST_RECORD_NAME, log_path=record.log_path,
                                 ready_s=record.extra.get("ready_s"))
    finally:
        if started_here:
            stop_appworld(TEST_RECORD_NAME)
