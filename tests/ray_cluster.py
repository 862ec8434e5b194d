"""A local Ray cluster (head node only) for tests and benchmarks, owned by its `with` block.

Start it ONLY inside a private network namespace (`unshare -n`, then `ip link set lo up`):
elsewhere Ray binds the machine's interface address, and tests must stay on loopback.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def local_ray_cluster(num_cpus: int, *, port: int = 6379, timeout_s: float = 180) -> Iterator[str]:
    """A Ray head with `num_cpus` CPUs on 127.0.0.1; yields its address, stops it after."""
    # Short: Ray puts unix sockets under it (107-byte limit); private: no other cluster's files.
    temp = tempfile.mkdtemp(prefix="rt", dir="/tmp")
    head = subprocess.Popen(
        [str(Path(sys.executable).parent / "ray"), "start", "--head", "--block", "--port", str(port),
         "--node-ip-address", "127.0.0.1", "--num-cpus", str(num_cpus), "--include-dashboard", "false",
         "--disable-usage-stats", "--temp-dir", temp],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout_s
        while not list(Path(temp).glob("session_*/sockets/raylet")):  # the node is up
            if head.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Ray head did not start (exit code {head.poll()}); logs in {temp}")
            time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGTERM)  # its own session: the head and what it started
        try:
            head.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()
        shutil.rmtree(temp, ignore_errors=True)
