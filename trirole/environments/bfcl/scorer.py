"""BFCL's checkers in BFCL's venv, as a process trirole talks to (``_scorer_main.py``).

Importing BFCL's AST checker imports every provider SDK (3-10 s here), so one scorer
process serves many episodes: an evaluation opens `shared_scorer()` for its whole run
(the environments of its pairs find it through a context variable); an environment
outside one starts a private scorer at its first evaluation and stops it at `close`.
Whoever starts a scorer owns it: `BfclScorer` is an async context manager.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import os
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Any, AsyncIterator

from trirole.paths import logs_dir
from trirole.environments.bfcl.errors import BfclScorerError

_MAIN = Path(__file__).with_name("_scorer_main.py")
_START_TIMEOUT_S = 300.0  # the first import of bfcl_eval compiles ~100 packages' bytecode
_SCORE_TIMEOUT_S = 120.0
_LINE_LIMIT = 64 * 1024 * 1024

_SHARED: contextvars.ContextVar["BfclScorer | None"] = contextvars.ContextVar("trirole_bfcl_scorer", default=None)


class BfclScorer:
    """One BFCL checker process; `score` is safe to call from concurrent tasks of one loop."""

    def __init__(self, python: str | os.PathLike | None = None) -> None:
        self._python = python
        self._proc: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()  # one exchange at a time; the first is the start-up's "ready"
        self._ready = False
        self._workdir: str | None = None
        self.log_path = logs_dir() / f"bfcl-scorer-{os.getpid()}-{id(self):x}.log"

    async def __aenter__(self) -> "BfclScorer":
        """Start the checker process without waiting for its import (seconds), so the
        caller works meanwhile: `ready` waits for it, and so does the first `score`."""
        try:
            await self._start()
        except BaseException:
            await asyncio.shield(self.aclose())
            raise
        return self

    async def _start(self) -> None:
        from trirole.environments.bfcl.install import bfcl_python, ensure_bfcl_env

        if self._python is None:
            await asyncio.to_thread(ensure_bfcl_env)
            self._python = bfcl_python()
        # BFCL creates result/score/lock folders under BFCL_PROJECT_ROOT at import.
        self._workdir = await asyncio.to_thread(tempfile.mkdtemp, prefix="trirole-bfcl-scorer-")
        env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": self._workdir, "BFCL_PROJECT_ROOT": self._workdir,
               "LANG": os.environ.get("LANG", "C.UTF-8"), "PYTHONHASHSEED": "0", "TQDM_DISABLE": "1"}
        log = open(self.log_path, "ab")
        try:
            self._proc = await asyncio.create_subprocess_exec(
                str(self._python), "-u", str(_MAIN), stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=log, cwd=self._workdir, env=env, start_new_session=True, limit=_LINE_LIMIT)
        finally:
            log.close()

    async def ready(self) -> None:
        """Wait until the started process has imported BFCL's checkers; raises
        `BfclScorerError` (the process stopped) when it cannot."""
        async with self._lock:
            await self._ready_locked()

    async def _ready_locked(self) -> None:
        if self._ready:
            return
        if self._proc is None:
            raise BfclScorerError("the BFCL checker is not running (closed)")
        try:
            reply = await self._read(_START_TIMEOUT_S)
        except BaseException:
            await asyncio.shield(self.aclose())
            raise
        if not reply.get("ready"):
            await self.aclose()
            raise BfclScorerError(f"BFCL's checker did not start; its log: {self.log_path}")
        self._ready = True

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()

    async def _read(self, timeout: float) -> dict[str, Any]:
        assert self._proc is not None and self._proc.stdout is not None
        try:
            async with asyncio.timeout(timeout):
                line = await self._proc.stdout.readline()
        except TimeoutError:
            raise BfclScorerError(f"BFCL's checker did not answer within {timeout:g} s; its log: {self.log_path}")
        if not line:
            raise BfclScorerError(f"BFCL's checker process ended; its log: {self.log_path}")
        return json.loads(line)

    async def score(self, category: str, entry_id: str, result: Any) -> dict[str, Any]:
        """BFCL's verdict on `result` (its model-result form, see ``_scorer_main``):
        ``{"valid": bool, "error": ..., "error_type": ...}``."""
        async with self._lock:
            await self._ready_locked()
            if self._proc is None or self._proc.stdin is None:
                raise BfclScorerError("the BFCL checker is not running (closed)")
            try:
                self._proc.stdin.write(json.dumps({"category": category, "id": entry_id, "result": result}).encode()
                                       + b"\n")
                await self._proc.stdin.drain()
                reply = await self._read(_SCORE_TIMEOUT_S)
            except BaseException:
                # A cancelled or failed exchange leaves a reply out of turn: the process is done.
                await asyncio.shield(self.aclose())
                raise
        if "internal_error" in reply:
            raise BfclScorerError(f"BFCL's checker failed on {entry_id}: {reply['internal_error'].strip()[-800:]}")
        return reply

    async def aclose(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
        if self._workdir is not None:
            workdir, self._workdir = self._workdir, None
            await asyncio.to_thread(shutil.rmtree, workdir, True)


@contextlib.asynccontextmanager
async def shared_scorer() -> AsyncIterator[BfclScorer]:
    """A scorer the BFCL environments started inside this block use (an evaluation's);
    the block starts while the checker still imports, see `BfclScorer.__aenter__`."""
    async with BfclScorer() as scorer:
        token = _SHARED.set(scorer)
        try:
            yield scorer
        finally:
            _SHARED.reset(token)


def current_scorer() -> BfclScorer | None:
    """The scorer of the enclosing `shared_scorer` block, if any."""
    return _SHARED.get()
