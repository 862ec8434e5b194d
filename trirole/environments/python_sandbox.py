"""A stateful Python sandbox: agent code runs in a worker subprocess, like notebook cells.

The worker (``_sandbox_worker.py``) keeps one globals dict across executions and talks to
this class over its stdin/stdout, one JSON object per line. By default it runs under
bubblewrap (`trirole.environments.isolation`: no network, no view of the host beyond the
interpreter, its own pid namespace and uid, a private size-limited scratch folder as its
working directory); with ``isolation="process"``, asked for explicitly, it is a plain
process in its own session and a fresh temporary directory. Either way: a minimal
environment, no site-packages (standard library only) and limits on memory, CPU time,
processes, open files and file size. A refusal is an exception the agent reads; a step
that runs too long, or a worker that dies, costs the agent its variables, never trirole
its process.

Functions (`trirole.environments.functions`, `trirole.calls`): ``host_functions`` are functions the
agent's code calls by name that run in trirole's process (a user's tools: where their
credentials and network are), each call a request over the worker's private JSON-lines
channel, answered within the function's timeout, its failure raised in the agent's code as
``ToolError``. ``setup_code`` runs in the agent's globals before any agent code of an
episode (and again after a restart), e.g. to define a benchmark's functions inside the
sandbox; ``bind_files`` makes host files or folders readable (read-only) at a path inside
the sandbox for it, listed in ``__trirole_files__`` (sandbox path -> the path to open;
with ``isolation="process"`` the host path, since there is no mount namespace). Setup code
marks functions as recorded with ``__trirole_record__(fn, name=None)``; host functions are
always recorded. Each execution's recorded calls come back in ``ExecutionResult["calls"]``.
``tools`` are a user's own tools (`trirole.environments.user_tools`: LangChain tools, callables,
MCP clients), offered as host functions; the MCP servers among them are started at each
reset and stopped at the next reset or at close.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any, Mapping

from trirole.state import ExecutionResult, TaskSpec
from trirole.environments.base import EnvironmentFailure, EnvironmentInfo, Evaluation
from trirole.environments.functions import DEFAULT_TOOL_TIMEOUT_S, HostFunction, check_host_functions, functions_reference
from trirole.environments.isolation import (SCRATCH, WORKER_PATH, check_isolation, minimal_env, python_worker_command,
                                     sandbox_uid)
from trirole.environments.python_tasks import load_python_tasks, validate_python_tasks
from trirole.environments.user_tools import Toolbox

log = logging.getLogger(__name__)

_WORKER = Path(__file__).with_name("_sandbox_worker.py")
# -s -S: no site-packages (standard library only; trirole is not importable even when
# installed). -P: the worker's folder is not on sys.path. Not -I: it would also ignore
# PYTHONHASHSEED; the environment is built from scratch instead, so nothing leaks in.
_FLAGS = ("-s", "-S", "-P", "-u")
_START_TIMEOUT_S = 30.0
_MIN_MEMORY_MB = 64  # the interpreter alone maps ~30 MB of address space
_LINE_LIMIT = 64 * 1024 * 1024  # replies carry clipped output and an answer of at most ~1 MB
# Processes and threads (per uid; only enforced for a non-root uid, see isolation) and
# open files: a fork loop or fd leak fails with an OSError instead of starving the host.
_MAX_PROCESSES = 64
_MAX_OPEN_FILES = 256
# CPU seconds over a worker's life, in steps' worth: the wall-time limit stops one step,
# this stops CPU burnt by children the agent leaves running between steps.
_CPU_STEPS = 20
# A host function's result crosses as one JSON line; past this it is refused with a clear error.
_MAX_RESULT_CHARS = 16 * 1024 * 1024
# Where bound files may not go: the interpreter's view, the kernel's, the scratch folder.
_RESERVED_MOUNTS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/proc", "/dev",
                    SCRATCH, WORKER_PATH)


class _WorkerDied(Exception):
    pass


class PythonSandbox:
    """The ``python`` environment (see `trirole.environments.base.Environment`).

    tasks: a ``.json``/``.jsonl`` task file or a list of task dicts (see
        `trirole.environments.python_tasks`); `reset` looks a task's ``task_id`` up in them.
    step_timeout_s: wall time of one execution, not counting the time host functions take
        (each call has its own timeout); past it the worker is killed and restarted.
    memory_limit_mb: the worker's address-space limit.
    max_observation_chars: an execution's output is clipped (head and tail) to this.
    python: the interpreter that runs the worker.
    isolation: ``bwrap`` (default: confined by bubblewrap, which must be installed) or
        ``process`` (a plain subprocess; agent code can then reach the host's files and
        network as trirole's user). Never downgraded silently.
    scratch_limit_mb: the size of the working directory (``bwrap``: a private tmpfs).
    bwrap: the bubblewrap executable (name on PATH or path).
    host_functions: name -> `HostFunction` (or a sequence of them): functions the agent's
        code calls that run in trirole's process; listed in the reference.
    tool_timeout_s: the time limit of one host function call, unless the function sets its own.
    setup_code: Python source (standard library only) run in the agent's globals at each
        reset and restart, before any agent code; a failure fails the reset.
    bind_files: sandbox path (absolute) -> host file or folder, readable inside the sandbox
        (read-only; the worker runs as its own uid, so they must be world-readable).
    tools: a user's tools (a `Toolbox` or the list it takes), offered like host functions.
    """

    name = "python"

    def __init__(self, *, tasks: str | Path | list[dict[str, Any]] | None = None, step_timeout_s: float = 30.0,
                 memory_limit_mb: int = 1024, max_observation_chars: int = 3000,
                 python: str = sys.executable, isolation: str = "bwrap", scratch_limit_mb: int = 256,
                 bwrap: str = "bwrap", host_functions: Mapping[str, HostFunction] | list[HostFunction] | None = None,
                 tool_timeout_s: float = DEFAULT_TOOL_TIMEOUT_S, setup_code: str = "",
                 bind_files: Mapping[str, str | Path] | None = None, tools: Toolbox | list[Any] | None = None
                 ) -> None:
        if tasks is None:
            self._tasks = None
        elif isinstance(tasks, (str, Path)):
            self._tasks = {t["id"]: t for t in load_python_tasks(tasks)}
        else:
            self._tasks = {t["id"]: t for t in validate_python_tasks(tasks, "the tasks option")}
        if step_timeout_s <= 0 or memory_limit_mb < _MIN_MEMORY_MB or max_observation_chars < 1 \
                or scratch_limit_mb < 1:
            raise ValueError(f"PythonSandbox needs step_timeout_s > 0, memory_limit_mb >= {_MIN_MEMORY_MB}, "
                             f"max_observation_chars >= 1 and scratch_limit_mb >= 1 (got {step_timeout_s}, "
                             f"{memory_limit_mb}, {max_observation_chars}, {scratch_limit_mb})")
        if tool_timeout_s <= 0:
            raise ValueError(f"PythonSandbox needs tool_timeout_s > 0 (got {tool_timeout_s})")
        self.isolation = check_isolation(isolation)
        self._own_functions = check_host_functions(host_functions)
        self.toolbox = tools if isinstance(tools, Toolbox) else Toolbox(tools or [])
        self.host_functions = self._merged_functions(self.toolbox.functions)
        self._tool_servers: contextlib.AsyncExitStack | None = None  # the episode's MCP servers
        self.tool_timeout_s = float(tool_timeout_s)
        self.setup_code = setup_code or ""
        self.bind_files = _check_bind_files(bind_files)
        self._bound: dict[str, Path] = {}  # bind_files resolved at reset
        self.scratch_limit_mb = int(scratch_limit_mb)
        self.bwrap = bwrap
        self.step_timeout_s = float(step_timeout_s)
        self.memory_limit_mb = int(memory_limit_mb)
        self.max_observation_chars = int(max_observation_chars)
        self.python = python
        self._proc: asyncio.subprocess.Process | None = None
        self._workdir: str | None = None
        self._context: dict[str, Any] | None = None  # None until the first reset
        self._checker: str | None = None
        self._files: dict[str, str] = {}
        self._completed = False
        self._answer: Any = None
        self._lock = asyncio.Lock()

    async def __aenter__(self) -> "PythonSandbox":
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    # -- the Environment protocol ---------------------------------------------------------
    async def reset(self, task: TaskSpec) -> EnvironmentInfo:
        """A fresh worker, namespace and working directory for `task`.

        A ``task_id`` found in the sandbox's tasks brings that task's instruction, context
        (the given ``context`` overrides its keys) and checker. Raises ValueError for an
        unknown id or an empty instruction.
        """
        instruction, context, checker, files = self._resolve(task)
        try:
            json.dumps(context)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"the task's context must be JSON-serialisable: {exc}") from None
        async with self._lock:
            await self._shutdown()
            self._context, self._checker, self._files = context, checker, files
            self._completed, self._answer = False, None
            # Off the event loop: filesystem calls block it (and `langgraph dev` rejects them).
            self._bound = await asyncio.to_thread(_resolved, self.bind_files)
            await self._open_tools()
            self._workdir = await asyncio.to_thread(tempfile.mkdtemp, prefix="trirole-sandbox-")
            try:
                await self._start_worker()
            except BaseException:
                await self._shutdown()
                raise
        return EnvironmentInfo(instruction=instruction, context=context, reference=self._reference(context),
                               completion_hint="complete_task(answer)", isolation=self.isolation)

    async def execute(self, code: str) -> ExecutionResult:
        """Run `code` in the episode's namespace; errors, timeouts and crashes are results."""
        async with self._lock:
            await self._ensure_worker()
            try:
                reply = await self._roundtrip({"op": "exec", "code": code}, self.step_timeout_s)
            except TimeoutError:
                await self._restart()
                return self._failure(code, "TimeoutError",
                                     f"the code ran longer than the {self.step_timeout_s:g} s step limit and was "
                                     f"stopped; the sandbox restarted, so {self._lost_on_restart()}")
            except _WorkerDied as died:
                await self._restart()
                return self._failure(code, "WorkerCrashed",
                                     f"the Python process running the code died ({died}), e.g. out of memory, "
                                     f"out of CPU time or os._exit(); the sandbox restarted, so "
                                     f"{self._lost_on_restart()}")
            if reply.get("restart"):  # the next step could not run ordinary code: start afresh
                await self._restart()
                reply["output"] += (f"\n[{reply['restart']}: the sandbox restarted, so "
                                    f"{self._lost_on_restart()}]\n")
        if reply["completed"]:
            self._completed, self._answer = True, reply["answer"]
        result: ExecutionResult = {"code": code, "output": reply["output"], "error": reply["error"],
                                   "task_completed": self._completed, "answer": self._answer,
                                   "calls": reply.get("calls") or []}
        if reply["error"]:
            result["error_type"], result["error_message"] = reply["error_type"], reply["error_message"]
        return result

    async def evaluate(self) -> Evaluation | None:
        """Run the task's checker on the answer and the episode's saved state (its global
        variables that are plain data), in a fresh worker (``None``: no checker)."""
        if self._checker is None:
            return None
        details = {"answer": self._answer}
        if not self._completed:
            return Evaluation(success=False, failed=[{"check": "completed", "message": "complete_task was never called"}],
                              details=details)
        async with self._lock:
            await self._ensure_worker()
            try:  # the episode's saved state: its global variables that are plain data
                state = (await self._roundtrip({"op": "state"}, self.step_timeout_s))["state"]
            except (TimeoutError, _WorkerDied):
                await self._restart()
                state = {}
            # Scored in a worker of its own that never ran agent code (the agent's could
            # have changed builtins the checker relies on), on the answer and that state.
            agent_worker, self._proc = self._proc, None
            try:
                await self._start_worker()
                reply = await self._roundtrip({"op": "check", "checker": self._checker, "answer": self._answer,
                                               "state": state}, self.step_timeout_s)
            except TimeoutError:
                reply = {"error": f"TimeoutError: the checker ran longer than {self.step_timeout_s:g} s"}
            except _WorkerDied as died:
                reply = {"error": f"WorkerCrashed: the checker's process died ({died})"}
            finally:
                await self._kill()
                self._proc = agent_worker
        if "error" in reply:
            return Evaluation(success=False, failed=[{"check": "checker", "message": reply["error"]}], details=details)
        details["message"] = reply["message"]
        if reply["success"]:
            return Evaluation(success=True, passed=["checker"], details=details)
        return Evaluation(success=False, failed=[{"check": "checker", "message": reply["message"] or "check failed"}],
                          details=details)

    async def close(self) -> None:
        """Kill the worker and remove the working directory. Safe to call twice."""
        await self._shutdown()

    # -- the user's tools -----------------------------------------------------------------
    def _merged_functions(self, tools: Mapping[str, HostFunction]) -> dict[str, HostFunction]:
        clash = set(tools) & set(self._own_functions)
        if clash:
            raise ValueError(f"tools and host_functions both define {sorted(clash)}; rename one")
        return {**self._own_functions, **tools}

    async def _open_tools(self) -> None:
        """The episode's tools, its MCP servers started (stopped by `_close_tools`)."""
        if not self.toolbox.clients:
            return
        stack = contextlib.AsyncExitStack()
        try:
            tools = await stack.enter_async_context(self.toolbox.open())
            self.host_functions = self._merged_functions(tools)
        except BaseException:
            await stack.aclose()
            raise
        self._tool_servers = stack

    async def _close_tools(self) -> None:
        stack, self._tool_servers = self._tool_servers, None
        if stack is not None:
            try:
                await stack.aclose()
            except Exception:  # stopping a server must not mask how the episode ended
                log.warning("stopping the episode's MCP servers failed", exc_info=True)

    # -- the worker -----------------------------------------------------------------------
    def _lost_on_restart(self) -> str:
        if self.isolation == "bwrap":  # the scratch tmpfs lives as long as the sandbox
            return "all variables and files you wrote were reset (the task's input files are back)"
        return "all variables were reset (files in the working directory remain)"

    def _resolve(self, task: TaskSpec) -> tuple[str, dict[str, Any], str | None, dict[str, str]]:
        task_id = task.get("task_id") or ""
        given_context = dict(task.get("context") or {})
        if task_id and self._tasks is not None:
            if task_id not in self._tasks:
                known = list(self._tasks)
                shown = ", ".join(known[:10]) + (f", ... ({len(known)} in all)" if len(known) > 10 else "")
                raise ValueError(f"unknown python task id {task_id!r}; known ids: {shown}")
            found = self._tasks[task_id]
            return found["instruction"], {**found["context"], **given_context}, found["checker"], found["files"]
        instruction = task.get("instruction") or ""
        if not instruction.strip():
            raise ValueError("the task has no instruction (and no task_id found in the sandbox's tasks)")
        return instruction, given_context, None, {}

    def _reference(self, context: dict[str, Any]) -> str:
        keys = ", ".join(f"`{key}`" for key in context) or "none for this task"
        lines = [
            "## Python sandbox",
            "- Your code runs in a persistent Python process: variables, functions and imports stay defined "
            "between steps, like notebook cells. The value of a final bare expression is printed.",
            "- Only the Python standard library is available.",
            f"- `context`: a dict with the task's input values (keys: {keys}).",
        ]
        if self._files:
            lines.append(f"- Input files in the working directory: {', '.join(sorted(self._files))}.")
        if self.isolation == "bwrap":
            lines.append(f"- No network; the only writable folder is the working directory ({SCRATCH}, "
                         f"{self.scratch_limit_mb} MB).")
        lines += [
            "- `complete_task(answer)`: call it with your final answer (JSON-serialisable: numbers, strings, "
            "lists, dicts) to finish the task.",
            f"- Limits: {self.step_timeout_s:g} s per step, {self.memory_limit_mb} MB of memory, "
            f"{_MAX_PROCESSES} processes and threads; output is clipped to {self.max_observation_chars} characters.",
        ]
        functions = functions_reference(self.host_functions, default_timeout_s=self.tool_timeout_s)
        return "\n".join(lines) + "\n" + ("\n" + functions if functions else "")

    async def _start_worker(self) -> None:
        if self._workdir is None:  # closed while a call was in flight
            raise EnvironmentFailure("the python sandbox was closed; call reset(task) to start a new episode")
        # Off the event loop: the uid comes from /proc's id maps (read once per process).
        uid = await asyncio.to_thread(sandbox_uid) if self.isolation == "bwrap" else None
        config = json.dumps({"memory_mb": self.memory_limit_mb, "max_chars": self.max_observation_chars,
                             "cpu_s": max(60, int(self.step_timeout_s * _CPU_STEPS)), "nofile": _MAX_OPEN_FILES,
                             # as root without a uid of its own the limit would count root's processes
                             "nproc": _MAX_PROCESSES if self.isolation == "bwrap" else None,
                             "uid": uid,
                             "confined": self.isolation == "bwrap"})
        if self.isolation == "bwrap":  # the host folder (bwrap's cwd) stays empty
            home = SCRATCH
            # Off the event loop: the first call for an interpreter asks it for its prefix.
            command = await asyncio.to_thread(python_worker_command, self.python, _WORKER, [config],
                                              scratch_mb=self.scratch_limit_mb, bwrap=self.bwrap,
                                              ro_binds={inside: str(host) for inside, host in self._bound.items()})
        else:
            home, command = self._workdir, [self.python, *_FLAGS, str(_WORKER), config]
        env = minimal_env(home)  # nothing of the user's environment
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, cwd=self._workdir, env=env, start_new_session=True, limit=_LINE_LIMIT,
            )
        except OSError as exc:
            raise EnvironmentFailure(f"cannot start the python sandbox ({command[0]!r}): {exc}") from exc
        proc = self._proc
        bound = {inside: inside if self.isolation == "bwrap" else str(host) for inside, host in self._bound.items()}
        try:
            reply = await self._roundtrip({"op": "init", "context": self._context, "files": self._files,
                                           "functions": [f.describe() for f in self.host_functions.values()],
                                           "setup_code": self.setup_code, "bound_files": bound},
                                          _START_TIMEOUT_S + self.step_timeout_s)
        except (TimeoutError, _WorkerDied, EnvironmentFailure) as exc:
            await self._kill()
            stderr = await proc.stderr.read() if proc.stderr is not None else b""
            detail = stderr.decode("utf-8", "replace").strip()[-2000:] or str(exc) or type(exc).__name__
            if self.isolation == "bwrap" and detail.startswith("bwrap:"):
                detail += (" (bubblewrap cannot set up its sandbox here, e.g. in a container without the "
                           "rights to create namespaces; allow them, or set isolation=\"process\" to run agent "
                           "code unconfined)")
            raise EnvironmentFailure(f"the python sandbox worker ({self.isolation}: {self.python} {_WORKER.name}) "
                                    f"did not start: {detail}") from None
        if reply.get("setup_error"):
            await self._kill()
            raise EnvironmentFailure(f"the sandbox's setup code failed: {reply['setup_error'].strip()}")

    async def _ensure_worker(self) -> None:
        if self._context is None:
            raise EnvironmentFailure("the python sandbox has no episode; call reset(task) first")
        if self._workdir is None:
            raise EnvironmentFailure("the python sandbox is closed; call reset(task) to start a new episode")
        if self._proc is None:  # a cancelled call killed it mid-request
            await self._start_worker()

    async def _restart(self) -> None:
        await self._kill()
        await self._start_worker()

    async def _roundtrip(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send one request and wait for its reply, answering the host function calls the
        worker makes meanwhile. `timeout` counts the worker's own time, not the calls'
        (each has its own limit). Raises TimeoutError or `_WorkerDied`."""
        proc = self._proc
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        loop = asyncio.get_running_loop()
        reply = None
        try:
            async with asyncio.timeout(timeout) as budget:  # (not wait_for: it can lose a cancellation on 3.11)
                await _send(proc, message)
                while True:
                    try:
                        line = await proc.stdout.readline()
                        reply = json.loads(line) if line else None
                        if line and not isinstance(reply, dict):
                            raise ValueError(f"a reply that is not a JSON object: {line[:80]!r}")
                    except ValueError as exc:  # a line over the limit, or not JSON: the channel is broken
                        raise _WorkerDied(f"its channel broke: {exc}") from None
                    if reply is None:
                        break
                    if reply.get("op") != "call":
                        break
                    deadline, started = budget.when(), loop.time()
                    budget.reschedule(None)
                    answer = await self._answer_call(reply)
                    budget.reschedule(None if deadline is None else deadline + loop.time() - started)
                    await _send(proc, answer)
                    reply = None
        except (BrokenPipeError, ConnectionResetError):
            reply = None
        except BaseException:
            # Cancelled (or timed out) mid-request: the reply would arrive out of turn later.
            await asyncio.shield(self._kill())
            raise
        if reply is None:
            raise _WorkerDied(_exit_description(await proc.wait()))
        if "internal_error" in reply:
            raise EnvironmentFailure(f"the python sandbox worker failed: {reply['internal_error']}")
        return reply

    async def _answer_call(self, request: dict[str, Any]) -> dict[str, Any]:
        """Run the host function the worker asks for: the answer carries its JSON result
        or the error the agent's code will raise as ``ToolError``."""
        name = request.get("name")
        answer: dict[str, Any] = {"op": "answer", "id": request.get("id")}
        function = self.host_functions.get(name)  # type: ignore[arg-type]
        if function is None:
            return {**answer, "error": f"NameError: no function named {name!r} is offered to this sandbox"}
        timeout = function.timeout_s or self.tool_timeout_s
        try:
            async with asyncio.timeout(timeout) as limit:
                result = await function.call(dict(request.get("arguments") or {}))
        except TimeoutError as exc:
            if limit.expired():
                return {**answer, "error": f"TimeoutError: {name}() did not return within its {timeout:g} s "
                                           f"limit and was abandoned"}
            return {**answer, "error": f"TimeoutError: {exc}"}
        except Exception as exc:  # the tool's failure is the agent's to handle
            return {**answer, "error": f"{type(exc).__name__}: {exc}"}
        try:
            encoded = json.dumps(result, allow_nan=False)
        except (TypeError, ValueError, RecursionError) as exc:
            return {**answer, "error": f"TypeError: {name}() returned a value that cannot cross as JSON ({exc}); "
                                       f"its result must be str, int, float, bool, None, or lists and dicts of them"}
        if len(encoded) > _MAX_RESULT_CHARS:
            return {**answer, "error": f"ValueError: {name}() returned {len(encoded)} characters of JSON, more than "
                                       f"the {_MAX_RESULT_CHARS} a result may have"}
        return {**answer, "result": result}

    async def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:  # the whole group: children the agent started die with the worker
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if proc.stdin is not None:
            proc.stdin.close()
        await proc.wait()

    async def _shutdown(self) -> None:
        await self._kill()
        await self._close_tools()
        if self._workdir is not None:
            await asyncio.to_thread(shutil.rmtree, self._workdir, ignore_errors=True)
            self._workdir = None

    def _failure(self, code: str, error_type: str, message: str) -> ExecutionResult:
        return {"code": code, "output": f"{error_type}: {message}", "error": True, "error_type": error_type,
                "error_message": message, "task_completed": self._completed, "answer": self._answer}

    def __repr__(self) -> str:
        return (f"PythonSandbox(step_timeout_s={self.step_timeout_s:g}, memory_limit_mb={self.memory_limit_mb}, "
                f"isolation={self.isolation!r})")


async def _send(proc: asyncio.subprocess.Process, message: dict[str, Any]) -> None:
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(message).encode() + b"\n")
    await proc.stdin.drain()


def _check_bind_files(bind_files: Mapping[str, str | Path] | None) -> dict[str, Path]:
    """Sandbox path -> host path; ValueError naming a sandbox path that cannot be used."""
    checked: dict[str, Path] = {}
    for inside, host in (bind_files or {}).items():
        path = PurePosixPath(inside)
        if not path.is_absolute() or ".." in path.parts or str(path) == "/":
            raise ValueError(f"bind_files: {inside!r} must be an absolute path inside the sandbox, e.g. /data/x.py")
        if any(str(path) == r or str(path).startswith(r + "/") for r in _RESERVED_MOUNTS):
            raise ValueError(f"bind_files: {inside!r} is reserved for the sandbox itself; pick a path such as "
                             f"/data/{path.name}")
        checked[str(path)] = Path(host)
    return checked


def _resolved(bind_files: Mapping[str, Path]) -> dict[str, Path]:
    """The host paths' real paths; ValueError naming one that does not exist (filesystem
    calls: run off the event loop)."""
    resolved = {inside: host.resolve() for inside, host in bind_files.items()}
    for inside, host in resolved.items():
        if not host.exists():
            raise ValueError(f"bind_files: the host path {str(bind_files[inside])!r} (for {inside!r}) does not exist")
    return resolved


def _exit_description(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by signal {signal.Signals(-returncode).name}, exit code {returncode}"
        except ValueError:
            return f"killed by signal {-returncode}, exit code {returncode}"
    return f"exit code {returncode}"
