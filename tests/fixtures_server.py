"""The real local model server for tests marked ``@pytest.mark.server``.

`vllm_server` starts the embedded SmolLM2-135M-Instruct on vLLM's CPU build once per test
session (under the record name ``model-test`` on a free port, so a user's own ``model``
server is left alone), yields its :class:`~trirole.serving.ServerRecord` and stops it at
the end. ``record.url`` is the OpenAI base URL (``.../v1``), ``record.extra["model"]`` the
model name.

Several pytest sessions at once (engineers sharing a machine) share one test server:
``serve()`` lets one of them start it while the others wait and reuse it, each session
holds a lease file, and the last session to finish stops it.

The first run on a fresh machine installs the vLLM venv (~4 min) and builds the checkpoint
(~1 min) under ``trirole_home()``; later sessions only start the server (~1 min, more on a
busy machine). Deselect with ``-m "not server"``.
"""

from __future__ import annotations

import os

import pytest

TEST_RECORD_NAME = "model-test"


def _live_leases(lease_dir) -> list:
    from trirole.serving.process import pid_alive

    live = []
    for lease in lease_dir.iterdir():
        try:
            alive = pid_alive(int(lease.name))
        except ValueError:
            alive = False
        if alive:
            live.append(lease)
        else:
            lease.unlink(missing_ok=True)
    return live


@pytest.fixture(scope="session")
def vllm_server():
    from trirole.paths import home_subdir
    from trirole.serving import serve, stop_server
    from trirole.serving.local_model import serve_lock

    lease_dir = home_subdir("servers", f"{TEST_RECORD_NAME}.users")
    lease = lease_dir / str(os.getpid())
    lease.touch()
    try:
        record = serve(name=TEST_RECORD_NAME, quiet=True)  # starts it, or reuses a running one
    except BaseException:
        lease.unlink(missing_ok=True)
        raise
    try:
        yield record
    finally:
        with serve_lock(TEST_RECORD_NAME):
            lease.unlink(missing_ok=True)
            if not _live_leases(lease_dir):
                stop_server(TEST_RECORD_NAME, pid=record.pid)
