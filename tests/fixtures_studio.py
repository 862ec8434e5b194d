"""A real ``langgraph dev`` serving the repository's langgraph.json, for tests marked
``studio``: on a free loopback port, its log and its ``.langgraph_api/`` store in a
temporary folder outside the watched project, stopped afterwards.

It runs with ``--no-reload`` (other people edit this checkout while tests run; a reload
would drop the server's in-memory threads) and without ``--allow-blocking`` (the graphs
make no blocking calls in the event loop).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "langgraph.json"
START_TIMEOUT_S = 180


@dataclass
class DevServer:
    """A running ``langgraph dev``: its base URL, its process id and its log."""

    url: str
    pid: int
    log_path: Path


@contextlib.contextmanager
def serve_langgraph_dev(workdir: Path, *, env: dict[str, str], config: Path = CONFIG) -> Iterator[DevServer]:
    """A ``langgraph dev`` serving `config` with environment `env`, its log and store in
    `workdir`; stopped (its whole process group) when the block ends."""
    from trirole.serving import free_port

    port = free_port()
    langgraph = Path(sys.executable).with_name("langgraph")
    log_path = workdir / "server.log"
    with log_path.open("wb") as log:  # cwd: its .langgraph_api/ store goes there, not into the project
        process = subprocess.Popen(
            [str(langgraph), "dev", "--no-browser", "--no-reload", "--port", str(port),
             "--config", str(config)], cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"langgraph dev exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/ok", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"langgraph dev did not answer /ok in {START_TIMEOUT_S} s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield DevServer(url=url, pid=process.pid, log_path=log_path)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextlib.contextmanager
def langgraph_dev(workdir: Path, *, base_url: str, model: str) -> Iterator[str]:
    """The base URL of a `langgraph dev` of the repository's graphs whose default endpoint is
    `base_url`/`model` (TRIROLE_BASE_URL/TRIROLE_MODEL, as `trirole.studio` reads them)."""
    env = {**os.environ, "TRIROLE_BASE_URL": base_url, "TRIROLE_MODEL": model, "LANGSMITH_TRACING": "false"}
    with serve_langgraph_dev(workdir, env=env) as server:
        yield server.url
