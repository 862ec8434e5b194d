"""The real local model server for tests marked ``@pytest.mark.server``.

`vllm_server` starts the embedded SmolLM2-135M-Instruct on vLLM's CPU build once per test
session (under the record name ``model-test`` on a free port, so a user's own ``model``
server is left alone), yields its :class:`~trirole.serving.ServerRecord` and stops it at
the end. ``record.url`` is the OpenAI base URL (``.../v1``), ``record.extra["model"]`` the
model name.

Several pytest sessions at once (engineers sharing a machine) share one test server:
``serve()`` lets one of them start it while the others wait and reuse it, each session
holds a lease (a file lock), and the last session to finish stops it.

The first run on a fresh machine installs the vLLM venv (~4 min) and builds the checkpoint
(~1 min) under ``trirole_home()``; later sessions only start the server (~1 min, more on a
busy machine). Deselect with ``-m "not server"``.
"""

from __future__ import annotations

import os

import pytest

TEST_RECORD_NAME = "model-test"


def _live_leases(lease_dir, own) -> list:
    """The lease files of other sessions still running: each session holds a file lock on
    its own (released however the session ends, so a dead session's lease is never taken
    for a live one, whatever process now has its pid)."""
    from trirole.paths import try_lease

    live = []
    for path in lease_dir.glob("*.lock"):
        if path == own:
            continue
        held_by_nobody = try_lease(path)
        if held_by_nobody is None:
            live.append(path)
        else:
            held_by_nobody.release()
            path.unlink(missing_ok=True)
    return live


@pytest.fixture(scope="session")
def vllm_server():
    from trirole.paths import home_subdir, try_lease
    from trirole.serving import serve, stop_server
    from trirole.serving.local_model import serve_lock

    lease_dir = home_subdir("servers", f"{TEST_RECORD_NAME}.users")
    own = lease_dir / f"{os.getpid()}.lock"
    lease = try_lease(own)
    try:
        record = serve(name=TEST_RECORD_NAME, quiet=True)  # starts it, or reuses a running one
    except BaseException:
        lease.release()
        raise
    try:
        yield record
    finally:
        with serve_lock(TEST_RECORD_NAME):
            lease.release()
            own.unlink(missing_ok=True)
            if not _live_leases(lease_dir, own):
                stop_server(TEST_RECORD_NAME, pid=record.pid)
