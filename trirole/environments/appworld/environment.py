"""`AppWorldEnvironment`: the trirole `Environment` protocol over AppWorld's HTTP server.

Agent code runs in the AppWorld server's process (its IPython shell, with AppWorld's
safety checks), never in trirole's. One server holds one task world at a time, so
an episode holds the server's cross-process lease (`trirole.environments.appworld.server.lease_server`)
from `reset` to `close`: environments of any process sharing a server take turns (see
``queue_timeout_s``). A server that answers for another task, or whose episode was reset
underneath, raises `AppWorldEpisodeLost`: an infrastructure error, not the agent's failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from pathlib import Path

from trirole.parsing import clip_middle
from trirole.state import ExecutionResult, TaskSpec
from trirole.environments.appworld import data, stage
from trirole.environments.appworld.client import AppWorldClient
from trirole.environments.appworld.errors import (
    LIST_FIX,
    AppWorldEpisodeLost,
    AppWorldError,
    AppWorldServerError,
    AppWorldUnknownTask,
    AppWorldUnreachable,
)
from trirole.environments.appworld.output import literal_answer, parse_failure, stored_answer
from trirole.environments.appworld.scoring import score_task
from trirole.environments.appworld.reference import app_references, COMPLETION_HINT, reference_text
from trirole.environments.base import EnvironmentInfo, Evaluation

# A variable set in the episode's shell at `reset`: gone when the world was re-initialised.
_TOKEN_NAME = "trirole_episode_token"
_LOST_SIGNS = ("The active task world is", "has not been initialized")


def _named_record_for(url: str):
    """The named server's record when `url` is that server (for its log)."""
    from trirole.serving.process import read_record
    from trirole.environments.appworld.server import RECORD_NAME

    record = read_record(RECORD_NAME)
    return record if record is not None and record.url.rstrip("/") == url else None


class AppWorldEnvironment:
    """AppWorld tasks through ``appworld serve environment``.

    url: the server; default: the named one (``trirole env serve appworld``) while its
        lease is free, else (with `autostart`) a private server started here, owned by
        this environment and stopped by `close`.
    root: the server's data root when `url` is given and the server is local (lets
        unknown task ids be caught before the server is asked); found from the record
        otherwise.
    experiment_name: AppWorld's output folder (``<root>/experiments/outputs/<name>``);
        default: one of this environment's own (``trirole/<random>``): AppWorld empties
        the folder of a task when it starts it, so two episodes of one task at once
        (on two servers) must not share it.
    random_seed, max_interactions, max_api_calls_per_interaction: AppWorld's episode
        settings (its defaults: 100, 1000, 1000).
    timeout_s: AppWorld's limit for one code execution (its ``timeout_seconds``).
    max_observation_chars: long outputs are clipped keeping head and tail.
    queue_timeout_s: how long `reset` waits for another episode on the same server.
    lease: take the server's lease for each episode; False only when the caller holds
        it for this environment (the evaluation's server pool does).
    log_path: the server's log (named in errors); found for the named server.
    """

    name = "appworld"

    def __init__(self, url: str | None = None, *, autostart: bool = True, root: str | None = None,
                 experiment_name: str | None = None, random_seed: int | None = 100,
                 max_interactions: int = 1000, max_api_calls_per_interaction: int = 1000,
                 timeout_s: float = 100, max_observation_chars: int = 3000,
                 queue_timeout_s: float = 1800, lease: bool = True, log_path: str | None = None,
                 isolation: str = "bwrap") -> None:
        self.url = url.rstrip("/") if url else None
        self.autostart = autostart
        self.root = Path(root).expanduser().resolve() if root else None
        self.experiment_name = experiment_name or f"trirole/{uuid.uuid4().hex[:12]}"
        self.random_seed = random_seed
        self.max_interactions = max_interactions
        self.max_api_calls_per_interaction = max_api_calls_per_interaction
        self.timeout_s = timeout_s
        self.max_observation_chars = max_observation_chars
        self.queue_timeout_s = queue_timeout_s
        self.task_id: str | None = None
        self.completed = False
        self.lease = lease
        self._client: AppWorldClient | None = None
        self._log_path: str | None = log_path
        # How the server confines agent code: the one started here, or as its record says.
        self.isolation = isolation
        self._episode_lease = None  # the server's lease while an episode runs
        self._servers: contextlib.AsyncExitStack | None = None  # a server this environment owns
        self._token: str | None = None
        # The server's stage (trirole started it; `trirole.environments.appworld.stage`), else None:
        # a server started elsewhere serves its data root itself and evaluates in place.
        self._stage: dict | None = None
        self._server_pid: int | None = None

    # -- connection -------------------------------------------------------------------
    async def _connect(self) -> AppWorldClient:
        if self._client is not None:
            return self._client
        if self.url is None:
            await self._find_or_start()
        elif self._log_path is None:
            record = await asyncio.to_thread(_named_record_for, self.url)
            if record is not None:
                self._log_path = record.log_path
                self.isolation = record.extra.get("isolation", "")
                if self.root is None and record.extra.get("root"):
                    self.root = Path(record.extra["root"])
        self._stage = await asyncio.to_thread(stage.read_stage_record, self.url)
        if self._stage is not None and self.root is None:
            self.root = Path(self._stage["root"])
        self._client = AppWorldClient(self.url, timeout_s=self.timeout_s + 120, log_path=self._log_path)
        return self._client

    async def _find_or_start(self) -> None:
        """The named server while its lease is free, else a private one owned by this
        environment (with `autostart`). Either is this environment's until `close`."""
        from trirole.serving.process import read_record
        from trirole.environments.appworld.server import RECORD_NAME, appworld_servers

        if self.autostart:
            self._servers = contextlib.AsyncExitStack()
            (server,) = await self._servers.enter_async_context(
                appworld_servers(1, self.root, isolation=self.isolation))
            self.url, self.root, self._log_path, self.lease = server.url, server.root, server.log_path, False
            return
        record = await asyncio.to_thread(read_record, RECORD_NAME)
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
        self.url, self._log_path = record.url.rstrip("/"), record.log_path
        self.isolation = record.extra.get("isolation", "")
        if self.root is None and record.extra.get("root"):
            self.root = Path(record.extra["root"])

    async def _hold_server(self) -> None:
        """Wait until no other episode (of any process) runs on the server: take its lease."""
        from trirole.environments.appworld.server import lease_server

        if not self.lease or self._episode_lease is not None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.queue_timeout_s
        while (lease := lease_server(self.url)) is None:
            if loop.time() > deadline:
                raise AppWorldServerError(
                    f"the AppWorld server at {self.url} stayed busy with another episode for {self.queue_timeout_s:.0f} s "
                    "(a server runs one task at a time); run AppWorld tasks one after another or raise queue_timeout_s"
                )
            await asyncio.sleep(0.2)
        self._episode_lease = lease

    def _let_go(self) -> None:
        lease, self._episode_lease = self._episode_lease, None
        if lease is not None:
            lease.release(force=True)

    async def _lost(self, exc: AppWorldServerError, task_id: str) -> AppWorldError:
        """`exc` as `AppWorldEpisodeLost` when the server no longer holds this episode's
        task world (it answers for another task, or was reset or closed underneath)."""
        lost = any(sign in str(exc) for sign in _LOST_SIGNS)
        if not lost and self._client is not None:
            try:  # the cheapest call that fails exactly when the active world is not ours
                await self._client.task_completed(task_id)
            except AppWorldServerError:
                lost = True
        if not lost:
            return exc
        return AppWorldEpisodeLost(
            f"the AppWorld server at {self.url} no longer holds the episode of task {task_id!r} (another client "
            f"initialised or closed a task world on it); the episode is void, rerun it "
            f"(`trirole eval --retry-errors`). Cause: {exc}")

    async def _call(self, task_id: str, method, *args):
        try:
            return await method(task_id, *args)
        except AppWorldServerError as exc:
            raise await self._lost(exc, task_id) from exc

    async def _check_episode(self, task_id: str) -> None:
        """Raise `AppWorldEpisodeLost` unless the server's world is still this episode's
        (same task AND not re-initialised since: the token set at `reset` is still there)."""
        if self._token is None:
            return
        output = await self._call(task_id, self._client.execute, f"print({_TOKEN_NAME})")
        if self._token not in output:
            raise AppWorldEpisodeLost(
                f"the episode of task {task_id!r} on the AppWorld server at {self.url} was reset underneath "
                "(another client initialised the same task there); the episode is void, rerun it "
                "(`trirole eval --retry-errors`)")

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
            out = await self._initialize(client, task_id)
        except AppWorldServerError as exc:
            self._let_go()
            if self.root is None:
                raise AppWorldServerError(f"{exc} (is {task_id!r} a task of that server's data? {LIST_FIX})") from exc
            raise
        except BaseException:
            self._let_go()
            raise
        if str(out.get("task_id") or task_id) != task_id:
            self._let_go()
            raise AppWorldEpisodeLost(f"the AppWorld server at {self.url} initialised task {out.get('task_id')!r}, "
                                      f"not {task_id!r}")
        self.task_id = task_id
        self.completed = False
        token = uuid.uuid4().hex
        await self._call(task_id, client.execute, f"{_TOKEN_NAME} = {token!r}")
        self._token = token
        supervisor = out.get("supervisor") or {}
        context = {key: supervisor.get(key, "") for key in ("first_name", "last_name", "email", "phone_number")}
        return EnvironmentInfo(instruction=out.get("instruction", ""), context=context,
                               reference=reference_text(), completion_hint=COMPLETION_HINT,
                               apps=app_references(), isolation=self.isolation)

    async def _initialize(self, client: AppWorldClient, task_id: str) -> dict:
        """Start the task's world on the server. On a staged server: the task alone, without
        its ground truth, placed in the stage only until the server has loaded it."""
        options = dict(experiment_name=self.experiment_name, random_seed=self.random_seed,
                       max_interactions=self.max_interactions,
                       max_api_calls_per_interaction=self.max_api_calls_per_interaction,
                       timeout_seconds=int(self.timeout_s))
        if self._stage is None:
            return await client.initialize(task_id, **options)
        where = self._stage["stage"]
        await self._stop_strays()  # nothing an earlier episode left may watch this one start
        await asyncio.to_thread(stage.clear_outputs, await self._live_stage())
        await asyncio.to_thread(stage.stage_task, where, self.root, task_id)
        try:
            return await client.initialize(task_id, load_ground_truth=False, **options)
        finally:
            await asyncio.to_thread(stage.unstage, where)

    async def _stop_strays(self) -> int:
        """Stop the processes agent code left in the server's sandbox (a fork loop), so
        the next step runs normally; the number stopped."""
        if self._stage is None or self._stage.get("uid") is None or await self._server() is None:
            return 0
        return await asyncio.to_thread(stage.stop_strays, self._stage["uid"], self._server_pid)

    async def _outputs_full(self) -> bool:
        """Whether the confined server's outputs tmpfs is (nearly) full."""
        if self._stage is None or await self._server() is None:
            return False
        folder = stage.live_stage(self._stage, self._server_pid) / "experiments"
        try:
            fs = await asyncio.to_thread(os.statvfs, folder)
        except OSError:
            return False
        return fs.f_bavail * fs.f_frsize < 32 * 1024 * 1024

    async def _server(self) -> int | None:
        """The host pid of the confined server (found once), or None."""
        if self._server_pid is None and self._stage is not None and self._stage.get("uid") is not None:
            self._server_pid = await asyncio.to_thread(stage.server_pid, self._stage["pid"], self._stage["uid"])
        return self._server_pid

    async def _live_stage(self) -> Path:
        """The stage as the running server sees it. A confined server that is gone (killed,
        crashed) raises `AppWorldServerError`, an environment failure (``env_error``, which an
        evaluation heals by replacing the server), not a file error from ``/proc``."""
        server = await self._server()
        if self._stage.get("uid") is not None and (server is None or not os.path.isdir(f"/proc/{server}/root")):
            raise AppWorldServerError(f"the AppWorld server at {self.url} is gone (its process ended); an "
                                      "evaluation replaces it, a run needs a new one (`trirole env serve appworld`)")
        return stage.live_stage(self._stage, server)

    async def _collect(self) -> Path | None:
        """The episode's outputs copied from the stage into the data root (None: not staged)."""
        if self._stage is None or self.task_id is None or self.root is None:
            return None
        return await asyncio.to_thread(stage.collect_outputs, await self._live_stage(),
                                       self.root, self.experiment_name, self.task_id)

    def _active(self) -> tuple[AppWorldClient, str]:
        if self._client is None or self.task_id is None:
            raise AppWorldError("no AppWorld episode is active: call reset(task) first")
        return self._client, self.task_id

    async def execute(self, code: str) -> ExecutionResult:
        client, task_id = self._active()
        try:
            output = await self._call(task_id, client.execute, code)
        except AppWorldServerError:
            if not await self._outputs_full():
                raise
            # The code filled the outputs' space, so AppWorld could not save the state.
            output = "Execution failed. Traceback:\nOSError: [Errno 28] No space left on device"
        if await self._outputs_full():
            await asyncio.to_thread(stage.clear_outputs, await self._live_stage(),
                                    keep=(self.experiment_name, task_id, self._stage.get("uid")))
            await self._call(task_id, client.execute, "pass")  # AppWorld saves the episode's state again
            output = output.rstrip("\n") + ("\n[the environment's disk space was used up: the files the code wrote "
                                             "were removed]\n")
        stopped = await self._stop_strays()
        if stopped:
            output = output.rstrip("\n") + (f"\n[{stopped} processes the code started were stopped: "
                                             "the environment runs no processes of yours between steps]\n")
        error, error_type, error_message = parse_failure(output)
        result: ExecutionResult = {"code": code, "output": clip_middle(output.rstrip("\n"), self.max_observation_chars),
                                   "error": error}
        if error:
            result["error_type"] = error_type
            result["error_message"] = error_message
        self.completed = await self._call(task_id, client.task_completed)
        result["task_completed"] = self.completed
        if self.completed:
            known, answer = False, None
            if self.root is not None:
                outputs = await self._collect() or (self.root / "experiments" / "outputs" / self.experiment_name
                                                    / "tasks" / task_id)
                known, answer = stored_answer(outputs / "dbs" / "supervisor.jsonl")
            if not known:
                known, answer = literal_answer(code)
            if known:
                result["answer"] = answer
        return result

    async def evaluate(self) -> Evaluation | None:
        client, task_id = self._active()
        if self.root is not None and not data.has_ground_truth(task_id, self.root):
            return None
        await self._check_episode(task_id)
        if self._stage is not None:  # in a process of its own, on the saved outputs
            await self._collect()
            out = await asyncio.to_thread(score_task, self.root, self.experiment_name, task_id)
        else:
            out = await self._call(task_id, client.evaluate)
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
        try:
            await self._collect()  # for AppWorld's own evaluation of the run (--check-appworld)
        except (OSError, AppWorldServerError):
            pass  # the server is gone: nothing left to collect
        task_id, self.task_id, self._token = self.task_id, None, None
        try:
            if task_id is not None and self._client is not None:
                await self._client.close(task_id)
        except AppWorldError:
            pass  # the server is gone or re-initialised: nothing left to release there
        finally:
            self._let_go()

    async def close(self) -> None:
        """End the episode on the server (idempotent), drop the connection, and stop the
        server this environment started for itself."""
        try:
            await self._close_episode()
            if self._client is not None:
                client, self._client = self._client, None
                await client.aclose()
        finally:
            if self._servers is not None:
                servers, self._servers = self._servers, None
                self.url = None
                await servers.aclose()
