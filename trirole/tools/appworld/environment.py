"""`AppWorldEnvironment`: the trirole `Environment` protocol over AppWorld's HTTP server.

Agent code runs in the AppWorld server's process (its IPython shell, with AppWorld's
safety checks), never in trirole's. One server holds one task world at a time, so
environments of one process sharing a server take turns: `reset` waits until the
previous episode on that server is closed (see ``queue_timeout_s``).
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from pathlib import Path

from trirole.parsing import clip_middle
from trirole.state import ExecutionResult, TaskSpec
from trirole.tools.appworld import data
from trirole.tools.appworld.client import AppWorldClient
from trirole.tools.appworld.errors import (
    LIST_FIX,
    AppWorldError,
    AppWorldServerError,
    AppWorldUnknownTask,
    AppWorldUnreachable,
)
from trirole.tools.appworld.output import literal_answer, parse_failure, stored_answer
from trirole.tools.appworld.reference import app_references, COMPLETION_HINT, reference_text
from trirole.tools.base import EnvironmentInfo, Evaluation

# url -> the environment whose episode holds that server (one world per server).
_holders: dict[str, int] = {}
_holders_lock = threading.Lock()


def _record_for(url: str):
    """The server record (any name) of the server at `url`, if trirole started it."""
    from trirole.paths import home_subdir
    from trirole.serving.process import read_record

    for path in sorted(home_subdir("servers").glob("*.json")):
        record = read_record(path.stem)
        if record is not None and record.url.rstrip("/") == url and record.extra.get("kind") == "appworld-environment":
            return record
    return None


def _release(url: str, owner: int) -> None:
    with _holders_lock:
        if _holders.get(url) == owner:
            del _holders[url]


class AppWorldEnvironment:
    """AppWorld tasks through ``appworld serve environment``.

    url: the server; default: the running recorded one (``trirole env serve appworld``),
        started here when there is none and `autostart` is true.
    root: the server's data root when `url` is given and the server is local (lets
        unknown task ids be caught before the server is asked); found from the record
        otherwise.
    experiment_name: AppWorld's output folder (``<root>/experiments/outputs/<name>``).
    random_seed, max_interactions, max_api_calls_per_interaction: AppWorld's episode
        settings (its defaults: 100, 1000, 1000).
    timeout_s: AppWorld's limit for one code execution (its ``timeout_seconds``).
    max_observation_chars: long outputs are clipped keeping head and tail.
    queue_timeout_s: how long `reset` waits for another episode on the same server.
    """

    name = "appworld"

    def __init__(self, url: str | None = None, *, autostart: bool = True, root: str | None = None,
                 experiment_name: str = "trirole", random_seed: int | None = 100,
                 max_interactions: int = 1000, max_api_calls_per_interaction: int = 1000,
                 timeout_s: float = 100, max_observation_chars: int = 3000,
                 queue_timeout_s: float = 1800) -> None:
        self.url = url.rstrip("/") if url else None
        self.autostart = autostart
        self.root = Path(root).expanduser().resolve() if root else None
        self.experiment_name = experiment_name
        self.random_seed = random_seed
        self.max_interactions = max_interactions
        self.max_api_calls_per_interaction = max_api_calls_per_interaction
        self.timeout_s = timeout_s
        self.max_observation_chars = max_observation_chars
        self.queue_timeout_s = queue_timeout_s
        self.task_id: str | None = None
        self.completed = False
        self._client: AppWorldClient | None = None
        self._log_path: str | None = None
        self._isolation = ""  # the server's, when trirole started it (see serve_appworld)
        self._finalizer: weakref.finalize | None = None

    # -- connection -------------------------------------------------------------------
    async def _connect(self) -> AppWorldClient:
        if self._client is not None:
            return self._client
        if self.url is None:
            record = await asyncio.to_thread(self._find_or_start)
            self.url = record.url
        else:
            record = _record_for(self.url)
        if record is not None:
            self._log_path = record.log_path
            self._isolation = record.extra.get("isolation", "")
            if self.root is None and record.extra.get("root"):
                self.root = Path(record.extra["root"])
        self._client = AppWorldClient(self.url, timeout_s=self.timeout_s + 120, log_path=self._log_path)
        return self._client

    def _find_or_start(self):
        """The recorded server (checked against the data root asked for), else a new one."""
        from trirole.serving.process import read_record
        from trirole.tools.appworld.server import serve_appworld

        if self.autostart:
            return serve_appworld(root=self.root)  # reuses a running one when its data root fits
        record = read_record("appworld")
        if record is None:
            raise AppWorldUnreachable(
                "no AppWorld environment server is running (and autostart=False); "
                "start one with `trirole env serve appworld`, or pass url=..."
            )
        wanted = self.root or data.user_root()
        if wanted is not None and record.extra.get("root") and Path(record.extra["root"]) != wanted:
            raise AppWorldServerError(
                f"the running AppWorld server ({record.url}) serves {record.extra['root']}, not {wanted}; "
                "stop it with `trirole env stop appworld` and start it again"
            )
        return record

    async def _hold_server(self) -> None:
        """Wait until no other environment of this process has an episode on the server."""
        owner, url = id(self), self.url
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.queue_timeout_s
        while True:
            with _holders_lock:
                holder = _holders.get(url)
                if holder is None or holder == owner:
                    _holders[url] = owner
                    break
            if loop.time() > deadline:
                raise AppWorldServerError(
                    f"the AppWorld server at {url} stayed busy with another episode for {self.queue_timeout_s:.0f} s "
                    "(a server runs one task at a time); run AppWorld tasks one after another or raise queue_timeout_s"
                )
            await asyncio.sleep(0.2)
        if self._finalizer is None or not self._finalizer.alive:
            self._finalizer = weakref.finalize(self, _release, url, owner)

    def _let_go(self) -> None:
        if self._finalizer is not None:
            self._finalizer()  # releases the server, once
            self._finalizer = None

    # -- protocol -----------------------------------------------------------------------
    async def reset(self, task: TaskSpec) -> EnvironmentInfo:
        task_id = str((task or {}).get("task_id") or "").strip()
        if not task_id:
            raise AppWorldUnknownTask(f"an AppWorld task needs a task_id (task['task_id']); {LIST_FIX}")
        client = await self._connect()
        if self.root is not None and not data.task_exists(task_id, self.root):
            raise data.unknown_task(task_id, self.root)
        if self.task_id is not None:
            await self._close_episode()
        await self._hold_server()
        try:
            out = await client.initialize(
                task_id,
                experiment_name=self.experiment_name,
                random_seed=self.random_seed,
                max_interactions=self.max_interactions,
                max_api_calls_per_interaction=self.max_api_calls_per_interaction,
                timeout_seconds=int(self.timeout_s),
            )
        except AppWorldServerError as exc:
            self._let_go()
            if self.root is None:
                raise AppWorldServerError(f"{exc} (is {task_id!r} a task of that server's data? {LIST_FIX})") from exc
            raise
        except BaseException:
            self._let_go()
            raise
        self.task_id = task_id
        self.completed = False
        supervisor = out.get("supervisor") or {}
        context = {key: supervisor.get(key, "") for key in ("first_name", "last_name", "email", "phone_number")}
        return EnvironmentInfo(instruction=out.get("instruction", ""), context=context,
                               reference=reference_text(), completion_hint=COMPLETION_HINT,
                               apps=app_references(), isolation=self._isolation)

    def _active(self) -> tuple[AppWorldClient, str]:
        if self._client is None or self.task_id is None:
            raise AppWorldError("no AppWorld episode is active: call reset(task) first")
        return self._client, self.task_id

    async def execute(self, code: str) -> ExecutionResult:
        client, task_id = self._active()
        output = await client.execute(task_id, code)
        error, error_type, error_message = parse_failure(output)
        result: ExecutionResult = {"code": code, "output": clip_middle(output.rstrip("\n"), self.max_observation_chars),
                                   "error": error}
        if error:
            result["error_type"] = error_type
            result["error_message"] = error_message
        self.completed = await client.task_completed(task_id)
        result["task_completed"] = self.completed
        if self.completed:
            known, answer = False, None
            if self.root is not None:
                known, answer = stored_answer(self.root / "experiments" / "outputs" / self.experiment_name
                                              / "tasks" / task_id / "dbs" / "supervisor.jsonl")
            if not known:
                known, answer = literal_answer(code)
            if known:
                result["answer"] = answer
        return result

    async def evaluate(self) -> Evaluation | None:
        client, task_id = self._active()
        if self.root is not None and not data.has_ground_truth(task_id, self.root):
            return None
        out = await client.evaluate(task_id)
        passes, failures = out.get("passes") or [], out.get("failures") or []
        return Evaluation(
            success=bool(out.get("success")),
            passed=[p.get("requirement", "") for p in passes],
            failed=[{"requirement": f.get("requirement", ""), "trace": f.get("trace", ""), "label": f.get("label")}
                    for f in failures],
            details={"task_id": task_id, "difficulty": out.get("difficulty"), "num_tests": out.get("num_tests"),
                     "num_passed": len(passes), "num_failed": len(failures),
                     "pass_labels": [p.get("label") for p in passes], "experiment_name": self.experiment_name},
        )

    async def _close_episode(self) -> None:
        task_id, self.task_id = self.task_id, None
        try:
            if task_id is not None and self._client is not None:
                await self._client.close(task_id)
        except AppWorldError:
            pass  # the server is gone or re-initialised: nothing left to release there
        finally:
            self._let_go()

    async def close(self) -> None:
        """End the episode on the server (idempotent) and drop the connection."""
        await self._close_episode()
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
