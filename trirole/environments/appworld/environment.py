"""`AppWorldEnvironment`: the trirole `Environment` protocol over AppWorld's HTTP server.

Agent code runs in trirole's python sandbox (`trirole.environments.python_sandbox`: under
bubblewrap, no network, no files of the user's, its own pid namespace and uid), never in
the AppWorld server and never in trirole's process. Its ``apis.<app>.<api>(...)`` calls
cross the sandbox's private channel as one host function (``_sandbox_setup.py`` builds
``apis`` from it) to this environment, which forwards each to the server's
``/trirole/call`` route (``server_app/trirole_appworld_app.py``): the server holds the task's world (its
databases, in memory) and runs only trirole's code, one API call at a time, so agent code
can neither read the world's memory nor bypass its APIs. After each step the server logs
it and saves the world's state (``/trirole/end_step``), which the evaluator scores later
in a process of its own.

One server holds one task world at a time, so an episode holds the server's cross-process
lease (`trirole.environments.appworld.server.lease_server`) from `reset` to `close`:
environments of any process sharing a server take turns (see ``queue_timeout_s``). A
server that answers for another task, or whose episode was reset underneath (each call
carries the episode's token), raises `AppWorldEpisodeLost`: an infrastructure error, not
the agent's failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
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
from trirole.environments.appworld.output import SUCCESS, literal_answer, stored_answer
from trirole.environments.appworld.scoring import score_task
from trirole.environments.appworld.reference import app_references, COMPLETION_HINT, reference_text
from trirole.environments.base import EnvironmentInfo, Evaluation
from trirole.environments.functions import HostFunction
from trirole.environments.python_sandbox import PythonSandbox


class AppWorldApiError(Exception):
    """An API call of agent code failed in the world (JSON ``{type, message}``): the
    sandbox raises it in the agent's code as AppWorld's shell would."""


_LOST_SIGNS = ("The active task world is", "has not been initialized")
_RESET_SIGN = "episode token mismatch"  # (the server's word for a world re-initialised underneath)
# The sandbox's setup code (read once: file reads must stay off the event loop).
_SETUP = Path(__file__).with_name("_sandbox_setup.py").read_text()
# The host function agent code's API calls cross as (removed from its globals by the setup code).
_CALL = "_appworld_call"


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
    timeout_s: the limit for one step of agent code in the sandbox (the time its API calls
        take not counted) and for one API call (AppWorld's ``timeout_seconds``).
    max_observation_chars: long outputs are clipped keeping head and tail.
    memory_limit_mb: the sandbox's address-space limit.
    queue_timeout_s: how long `reset` waits for another episode on the same server.
    lease: take the server's lease for each episode; False only when the caller holds
        it for this environment (the evaluation's server pool does).
    log_path: the server's log (named in errors); found for the named server.
    isolation: how agent code is confined: ``bwrap`` (default: the python sandbox under
        bubblewrap, and the server confined too) or ``process`` (both plain processes;
        agent code can then reach the host's files and network as trirole's user).
    """

    name = "appworld"

    def __init__(self, url: str | None = None, *, autostart: bool = True, root: str | None = None,
                 experiment_name: str | None = None, random_seed: int | None = 100,
                 max_interactions: int = 1000, max_api_calls_per_interaction: int = 1000,
                 timeout_s: float = 100, max_observation_chars: int = 3000,
                 queue_timeout_s: float = 1800, lease: bool = True, log_path: str | None = None,
                 isolation: str = "bwrap", memory_limit_mb: int = 1024) -> None:
        self.url = url.rstrip("/") if url else None
        self.autostart = autostart
        self.root = Path(root).expanduser().resolve() if root else None
        self.experiment_name = experiment_name or f"trirole/{uuid.uuid4().hex[:12]}"
        self.random_seed = random_seed
        self.max_interactions = max_interactions
        self.max_api_calls_per_interaction = max_api_calls_per_interaction
        self.timeout_s = timeout_s
        self.max_observation_chars = max_observation_chars
        self.memory_limit_mb = memory_limit_mb
        self.queue_timeout_s = queue_timeout_s
        self.task_id: str | None = None
        self.completed = False
        self.lease = lease
        self._client: AppWorldClient | None = None
        self._log_path: str | None = log_path
        # How agent code is confined (the sandbox's), and the server started here.
        self.isolation = isolation
        self._sandbox: PythonSandbox | None = None  # the episode's, where agent code runs
        self._lost_call: BaseException | None = None  # an API call the server failed (not the agent's code)
        self._episode_lease = None  # the server's lease while an episode runs
        self._servers: contextlib.AsyncExitStack | None = None  # a server this environment owns
        self._token: str | None = None
        self._steps = 0  # the episode's steps (AppWorld's interactions)
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
        if _RESET_SIGN in str(exc):
            return AppWorldEpisodeLost(
                f"the episode of task {task_id!r} on the AppWorld server at {self.url} was reset underneath "
                "(another client initialised the same task there); the episode is void, rerun it "
                "(`trirole eval --retry-errors`)")
        return AppWorldEpisodeLost(
            f"the AppWorld server at {self.url} no longer holds the episode of task {task_id!r} (another client "
            f"initialised or closed a task world on it); the episode is void, rerun it "
            f"(`trirole eval --retry-errors`). Cause: {exc}")

    async def _call(self, task_id: str, method, *args):
        try:
            return await method(task_id, *args)
        except AppWorldServerError as exc:
            raise await self._lost(exc, task_id) from exc

    async def _check_episode(self, task_id: str) -> bool:
        """Whether the episode's task is completed; `AppWorldEpisodeLost` unless the server's
        world is still this episode's (same task AND not re-initialised since: it holds the
        token given at `reset`)."""
        return bool((await self._call(task_id, self._client.state, self._token)).get("task_completed"))

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
        self._steps = 0
        self._token = uuid.uuid4().hex
        try:
            world = await self._call(task_id, client.begin, self._token)
        except AppWorldServerError as exc:
            if "HTTP 404" not in str(exc):
                raise
            raise AppWorldServerError(
                f"the AppWorld server at {self.url} has no route for trirole's API calls (it was not started by "
                "trirole, which runs agent code in its own sandbox and AppWorld's server without code execution); "
                "start one with `trirole env serve appworld`") from exc
        await self._start_sandbox(task_id, world)
        supervisor = out.get("supervisor") or {}
        context = {key: supervisor.get(key, "") for key in ("first_name", "last_name", "email", "phone_number")}
        return EnvironmentInfo(instruction=out.get("instruction", ""), context=context,
                               reference=reference_text(), completion_hint=COMPLETION_HINT,
                               apps=app_references(), isolation=self.isolation)

    async def _start_sandbox(self, task_id: str, world: dict) -> None:
        """A fresh python sandbox for the episode, whose ``apis`` reach this world."""
        setup = _SETUP + f"\n_appworld_setup(__import__('json').loads({json.dumps(world)!r}))\n"
        if self._sandbox is not None:
            await self._sandbox.close()
        call = HostFunction(name=_CALL, call=self._api_call, timeout_s=self.timeout_s,
                            parameters=tuple({"name": name, "kind": "POSITIONAL_OR_KEYWORD"}
                                             for name in ("app_name", "api_name", "arguments")))
        self._sandbox = PythonSandbox(step_timeout_s=self.timeout_s, memory_limit_mb=self.memory_limit_mb,
                                      max_observation_chars=self.max_observation_chars, isolation=self.isolation,
                                      host_functions=[call], setup_code=setup)
        await self._sandbox.reset({"instruction": f"AppWorld task {task_id}"})

    async def _api_call(self, arguments: dict) -> object:
        """One API call of agent code, run by the server in the episode's world: its result,
        or `AppWorldApiError` (the agent's to handle). A call the server could not run at
        all (gone, or the episode lost) is kept and raised after the step."""
        client, task_id = self._active()
        try:
            out = await self._call(task_id, client.api_call, self._token, str(arguments.get("app_name")),
                                   str(arguments.get("api_name")), dict(arguments.get("arguments") or {}))
        except AppWorldError as exc:
            self._lost_call = self._lost_call or exc
            raise
        if "error" in out:
            raise AppWorldApiError(json.dumps(out["error"]))
        return out.get("result")

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
        await asyncio.to_thread(stage.clear_outputs, await self._live_stage())
        await asyncio.to_thread(stage.stage_task, where, self.root, task_id)
        try:
            return await client.initialize(task_id, load_ground_truth=False, **options)
        finally:
            await asyncio.to_thread(stage.unstage, where)

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
        """Run `code` in the episode's sandbox (its API calls reach the server's world), then
        have the server log the step and save the world's state."""
        client, task_id = self._active()
        self._lost_call = None
        if self._steps >= self.max_interactions:  # AppWorld's own limit and message
            message = f"Maximum number of executions ({self.max_interactions}) reached."
            ran: ExecutionResult = {"code": code, "output": f"Exception: {message}", "error": True,
                                    "error_type": "Exception", "error_message": message}
        else:
            ran = await self._sandbox.execute(code)
        if self._lost_call is not None:  # the server failed a call: the episode is void, not the agent's fault
            raise self._lost_call
        self._steps += 1
        output = ran["output"].rstrip("\n") or ("" if ran["error"] else SUCCESS)
        self.completed = await self._call(task_id, client.end_step, self._token, code, output)
        result: ExecutionResult = {"code": code, "output": clip_middle(output, self.max_observation_chars),
                                   "error": ran["error"], "calls": ran.get("calls") or []}
        if ran["error"]:
            result["error_type"] = ran.get("error_type", "Exception")
            result["error_message"] = ran.get("error_message", "")
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
        sandbox, self._sandbox = self._sandbox, None
        try:
            if sandbox is not None:
                await sandbox.close()
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
