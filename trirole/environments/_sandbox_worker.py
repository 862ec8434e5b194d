"""The process agent code runs in, started by ``trirole.environments.python_sandbox.PythonSandbox``.

Standalone on purpose: it imports nothing from trirole, so it runs without site-packages
and agent code cannot reach trirole's internals.

Protocol: one JSON object per line. Requests arrive on the original stdin and replies go
to a private duplicate of the original stdout. Before any agent code runs, fd 0 points at
/dev/null and fds 1 and 2 at an unnamed capture file, so nothing the agent prints (not even
a child process's output) can corrupt the protocol.

Functions (see `trirole.environments.functions` and `trirole.calls`): ``init`` may bring host
functions (``functions``: name, parameters, doc) and ``setup_code``. Each host function
becomes a stub in the agent's globals with the function's real signature; a call sends
``{"op": "call", "id", "name", "arguments"}`` on the reply channel and reads the answer,
``{"op": "answer", "id", "result"}`` or ``{"op": "answer", "id", "error"}``, from the
request channel (trirole runs the function meanwhile), and an error is raised in the
agent's code as ``ToolError``. Setup code runs in the agent's globals before any agent
code, with ``__trirole_record__(fn, name=None)`` (a wrapper that records each call of
`fn`) and ``__trirole_files__`` (read-only bound files: sandbox path -> path to open).
Host stubs are always recorded. The records of a step (name, arguments in keyword form,
result or error, latency) come back in the ``exec`` reply's ``calls``, in call order; a
recorded function called by another one (a class's method calling its sibling) is not
recorded again.

Usage: python -s -S -P -u _sandbox_worker.py CONFIG_JSON, CONFIG_JSON holding
    memory_mb (address-space limit), max_chars (output clip), cpu_s (CPU seconds over the
    worker's life), nproc (processes and threads of its uid), nofile (open files) and uid
    (drop to this uid before any agent code runs; a null limit or uid is left as it is) and
    confined (true under bubblewrap: its own uid and pid namespace).
"""

import _thread
import ast
import builtins
import functools
import gc
import inspect
import io
import json
import linecache
import mmap
import os
import resource
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback

_WORKER_FILE = os.path.abspath(__file__)
# A print loop writes to the capture file until the step times out: cap its size so it
# cannot fill the disk first (CPython ignores SIGXFSZ, so a write past it raises OSError).
_MAX_FILE_BYTES = 128 * 1024 * 1024
_MAX_ANSWER_CHARS = 1_000_000
_MAX_TRACEBACK_FRAMES = 8
# After a step, the sandbox is restarted when less than this is left for the next one.
_MIN_FREE_SCRATCH = 1024 * 1024
_MIN_FREE_MEMORY = 32 * 1024 * 1024
# Records of one step: each value (arguments, result) is cut past this many characters
# of JSON, and past _MAX_RECORDED_CHARS in all only names and errors are kept, so a
# loop of calls cannot outgrow the reply channel's line limit.
_MAX_RECORD_VALUE_CHARS = 64 * 1024
_MAX_RECORDED_CHARS = 16 * 1024 * 1024
# A host function call's arguments cross as one line, which trirole reads up to a limit.
_MAX_ARGUMENTS_CHARS = 8 * 1024 * 1024


class ToolError(Exception):
    """A function trirole runs for the agent's code (a tool) failed or timed out."""


class _Shown:
    """A default value as its text (the real one lives with the function, in trirole)."""

    def __init__(self, text):
        self.text = text

    def __repr__(self):
        return self.text


def _json_value(value, limit=_MAX_RECORD_VALUE_CHARS):
    """`value` as a JSON value for a record (reprs for what JSON cannot hold), or its
    JSON text cut to `limit` characters when it is longer."""
    try:
        text = json.dumps(value)
    except (TypeError, ValueError, RecursionError):
        try:
            text = json.dumps(value, default=repr)
        except (TypeError, ValueError, RecursionError):
            text = json.dumps(repr(value))
    if len(text) > limit:
        return clip(text, limit)
    return json.loads(text)


def _keyword_form(bound):
    """The arguments of a bound call by parameter name, ``**kwargs`` spread out."""
    arguments = {}
    for name, value in bound.arguments.items():
        kind = bound.signature.parameters[name].kind
        if kind is inspect.Parameter.VAR_KEYWORD:
            arguments.update(value)
        elif kind is inspect.Parameter.VAR_POSITIONAL:
            arguments[name] = list(value)
        else:
            arguments[name] = value
    return arguments


def _set_limit(which, value):
    _, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, value))


def clip(text, limit, hidden=0):
    """`text` with its middle cut to `limit` chars; `hidden` chars were already cut."""
    if len(text) + hidden <= limit:
        return text
    head = text[: limit // 2]
    tail = text[len(text) - (limit - len(head)):] if limit > len(head) else ""
    cut = len(text) - len(head) - len(tail) + hidden
    return f"{head}\n[... {cut} characters cut ...]\n{tail}"


class Worker:
    def __init__(self, memory_mb, max_chars, confined=False, nproc=None):
        self.pid = os.getpid()
        self.nproc = nproc or 64
        self.pid_text = str(self.pid)
        self.confined = confined
        self.memory_mb = memory_mb
        self.max_chars = max_chars
        self.cells = 0
        self.completed = False
        self.answer = None
        self.namespace = {}
        self.input_files = {}
        self.calls = []  # this step's records
        self.recorded_chars = 0
        self.call_lock = threading.Lock()  # one call on the channel at a time
        self.calling = False  # host functions answer only while a request is served
        self.call_id = 0
        self.local = threading.local()  # per thread: inside a recorded call already
        self.requests = os.fdopen(os.dup(0), "r", encoding="utf-8")
        self.replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        # In memory, not in the working directory: a full scratch folder must not silence
        # the agent's output (the file size limit still caps it).
        self.capture = (os.fdopen(os.memfd_create("trirole-capture"), "w+b") if hasattr(os, "memfd_create")
                        else tempfile.TemporaryFile(dir="."))
        self.out = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8",
                                    errors="backslashreplace", write_through=True)
        self.stdin = open(os.devnull, encoding="utf-8")
        self._redirect()

    def _redirect(self):
        """Point fds 1-2 and sys.std* back at the capture (agent code may have moved them)."""
        os.dup2(self.capture.fileno(), 1)
        os.dup2(self.capture.fileno(), 2)
        sys.stdout = sys.stderr = self.out
        sys.stdin = self.stdin

    def _take_output(self):
        """What was printed since the last call, head and tail only if it is long."""
        try:
            self.out.flush()
        except (OSError, ValueError):
            pass
        fd = self.capture.fileno()
        size = os.fstat(fd).st_size
        window = 4 * self.max_chars  # bytes enough for max_chars characters of any width
        if size <= 2 * window:
            text, hidden = os.pread(fd, size, 0).decode("utf-8", "replace"), 0
        else:  # read only the ends; the count of cut characters is then approximate (bytes)
            head = os.pread(fd, window, 0).decode("utf-8", "ignore")
            tail = os.pread(fd, window, size - window).decode("utf-8", "ignore")
            text, hidden = head + tail, size - 2 * window
        self.capture.truncate(0)
        self.capture.seek(0)
        return text, hidden

    def complete_task(self, answer=None):
        """Declare the task done with your final `answer` (JSON-serialisable)."""
        try:
            encoded = json.dumps(answer)
        except (TypeError, ValueError, RecursionError):
            encoded = json.dumps(repr(answer))
        if len(encoded) > _MAX_ANSWER_CHARS:
            raise ValueError(f"the answer is too large ({len(encoded)} chars as JSON); "
                             f"pass at most {_MAX_ANSWER_CHARS} chars")
        # A snapshot: later changes to the object don't change the recorded answer.
        self.answer = json.loads(encoded)
        self.completed = True

    def _write_input_files(self):
        for name, text in self.input_files.items():  # the task's input files
            with open(os.path.basename(name), "w", encoding="utf-8") as handle:
                handle.write(text)

    def _free_full_scratch(self):
        """Confined: when the step left the working directory (a size-limited tmpfs of the
        sandbox's own) full, remove what is in it and put the task's input files back, so
        the next step can write files again; a note for the agent, or ""."""
        try:
            fs = os.statvfs(".")
            if not self.confined or fs.f_bavail * fs.f_frsize >= _MIN_FREE_SCRATCH:
                return ""
            for name in os.listdir("."):
                if os.path.isdir(name) and not os.path.islink(name):
                    shutil.rmtree(name, ignore_errors=True)
                else:
                    os.unlink(name)
            self._write_input_files()
        except OSError:
            pass
        return ("\n[the working directory was full: the files in it were removed (the task's input files are "
                "back); your variables are kept]\n")

    def init(self, request):
        self.namespace = {"__name__": "__main__", "__builtins__": builtins,
                          "context": request.get("context") or {}, "complete_task": self.complete_task,
                          "ToolError": ToolError, "__trirole_record__": self.record,
                          "__trirole_files__": dict(request.get("bound_files") or {})}
        self.input_files = dict(request.get("files") or {})
        self._write_input_files()
        for spec in request.get("functions") or []:
            self.namespace[spec["name"]] = self._host_stub(spec)
        setup = request.get("setup_code") or ""
        if setup:
            linecache.cache["<setup>"] = (len(setup), None, setup.splitlines(True), "<setup>")
            self._redirect()
            self.calling = True
            try:
                exec(compile(setup, "<setup>", "exec"), self.namespace)
            except BaseException as exc:
                self._end_forked_child(exc)
                trace, _ = self._describe(exc, hidden=(_WORKER_FILE,))
                return {"ok": False, "setup_error": trace}
            finally:
                with self.call_lock:
                    self.calling = False
                self._redirect()
                self._take_output()
        self.calls, self.recorded_chars = [], 0
        return {"ok": True}

    # -- recorded functions and host functions -------------------------------------------
    def record(self, fn, name=None):
        """`fn` wrapped so that each call is recorded (name, arguments by parameter name,
        result or error, latency) in the step's ``calls``. `name`: the name recorded
        (default: the function's own)."""
        if not callable(fn):
            raise TypeError(f"__trirole_record__ needs a callable, got {type(fn).__name__}")
        name = name or getattr(fn, "__name__", None) or repr(fn)
        try:
            signature = inspect.signature(fn)
        except (TypeError, ValueError):
            signature = None

        @functools.wraps(fn)
        def recorded(*args, **kwargs):
            if getattr(self.local, "inside", False):
                return fn(*args, **kwargs)
            try:
                arguments = _keyword_form(signature.bind(*args, **kwargs))
            except (AttributeError, TypeError):  # no signature, or a wrong call: fn raises its own error
                arguments = {**({"args": list(args)} if args else {}), **kwargs}
            return self._recorded_call(name, arguments, lambda: fn(*args, **kwargs))

        return recorded

    def _recorded_call(self, name, arguments, run):
        if getattr(self.local, "inside", False):  # called by a recorded function: not the agent's call
            return run()
        self.local.inside = True
        started = time.perf_counter()
        try:
            result = run()
        except BaseException as exc:
            self._append_record(name, arguments, None, f"{type(exc).__name__}: {exc}", started)
            raise
        finally:
            self.local.inside = False
        self._append_record(name, arguments, result, None, started)
        return result

    def _append_record(self, name, arguments, result, error, started):
        latency_ms = round((time.perf_counter() - started) * 1000, 3)
        record = {"name": name, "arguments": _json_value(arguments), "result": _json_value(result),
                  "error": error, "latency_ms": latency_ms}
        size = len(json.dumps(record))
        if self.recorded_chars + size > _MAX_RECORDED_CHARS:
            record.update(arguments={}, result=None)
            record["error"] = (error or "") + " [arguments and result not kept: this step's records are too large]"
            size = len(json.dumps(record))
        self.recorded_chars += size
        self.calls.append(record)

    def _host_stub(self, spec):
        """The agent's side of a host function: its signature, its docstring, a call over
        the channel."""
        name = spec["name"]
        parameters = [inspect.Parameter(p["name"], getattr(inspect.Parameter, p["kind"]),
                                        default=_Shown(p["default"]) if "default" in p else inspect.Parameter.empty)
                      for p in spec.get("parameters") or []]
        signature = inspect.Signature(parameters)

        def stub(*args, **kwargs):
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError as exc:
                raise TypeError(f"{name}(): {exc}") from None
            arguments = _keyword_form(bound)
            return self._recorded_call(name, arguments, lambda: self._host_call(name, arguments))

        stub.__name__ = stub.__qualname__ = name
        stub.__doc__ = spec.get("doc") or None
        stub.__signature__ = signature
        stub.__module__ = "tools"
        return stub

    def _host_call(self, name, arguments):
        """Ask trirole to run host function `name`; its result, or ToolError."""
        if os.getpid() != self.pid:
            raise RuntimeError(f"{name}() can only be called from the sandbox's main process, "
                               f"not from a child process")
        try:
            payload = json.dumps(arguments, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"the arguments of {name}() must be JSON values (str, int, float, bool, None, "
                            f"lists and dicts of them): {exc}") from None
        if len(payload) > _MAX_ARGUMENTS_CHARS:
            raise ValueError(f"the arguments of {name}() are {len(payload)} characters of JSON; at most "
                             f"{_MAX_ARGUMENTS_CHARS} may cross")
        with self.call_lock:
            if not self.calling:
                raise RuntimeError(f"{name}() can only be called while a step runs (not from a thread "
                                   f"still running after its step ended)")
            self.call_id += 1
            call_id = self.call_id
            self.replies.write(f'{{"op": "call", "id": {call_id}, "name": {json.dumps(name)}, '
                               f'"arguments": {payload}}}\n')
            self.replies.flush()
            answer = self.requests.readline()
        if not answer:  # trirole is gone
            os._exit(0)
        answer = json.loads(answer)
        if answer.get("op") != "answer" or answer.get("id") != call_id:
            raise RuntimeError(f"the sandbox's channel is out of step (expected the answer to call {call_id})")
        if answer.get("error") is not None:
            raise ToolError(answer["error"])
        return answer.get("result")

    def _run_cell(self, code):
        self.cells += 1
        filename = f"<cell-{self.cells}>"
        # Registered so tracebacks show the agent's source lines.
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        tree = ast.parse(code, filename)
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        exec(compile(tree, filename, "exec"), self.namespace)
        if last is not None:
            value = eval(compile(last, filename, "eval"), self.namespace)
            if value is not None:
                self.out.write(repr(value) + "\n")

    def _describe(self, exc, hidden=(_WORKER_FILE, "<setup>")):
        """Traceback text (agent frames only: not those of files `hidden`) and the error message."""
        if isinstance(exc, SyntaxError):
            lines = traceback.format_exception_only(type(exc), exc)
        else:
            tb = exc.__traceback__
            while tb is not None and tb.tb_frame.f_code.co_filename == _WORKER_FILE:
                tb = tb.tb_next
            described = traceback.TracebackException(type(exc), exc, tb)
            # Frames of the worker itself (a host function's stub raising ToolError) and of
            # the environment's setup code (its functions raising the environment's errors) too.
            described.stack = traceback.StackSummary.from_list(
                [frame for frame in described.stack
                 if frame.filename not in hidden][-_MAX_TRACEBACK_FRAMES:])
            lines = list(described.format())
        message = str(exc)
        if isinstance(exc, MemoryError) and not message:
            message = f"the code ran out of memory (limit {self.memory_mb} MB)"
        return "".join(lines), message

    def _end_forked_child(self, error):
        """A process the agent's code forked (os.fork) that got back here must not serve
        requests too: it would answer in the worker's place."""
        if os.getpid() != self.pid:
            os._exit(1 if error is not None else 0)

    def _can_start_thread(self):
        try:
            _thread.start_new_thread(int, ())
            return True
        except RuntimeError:  # can't start new thread: the process limit is used up
            return False

    def _others_running(self):
        """Confined: how many processes but bubblewrap's init (pid 1) and the worker run in
        the sandbox's pid namespace (a cheap look before the costlier thread probe)."""
        try:
            return sum(name.isdigit() and name not in ("1", self.pid_text) for name in os.listdir("/proc"))
        except OSError:
            return self.nproc

    def _end_runaway_processes(self):
        """Confined (its own uid and pid namespace): when the agent's processes used up the
        process limit, stop them all, else no thread could start again (a fork loop sustains
        itself: each copy that fails to fork frees a slot another copy takes). Checked after
        a failed step and before a step while other processes run. A note for the agent's
        output, or ""."""
        if not self.confined or self._can_start_thread() or not self._others_running():
            return ""  # (no thread may also mean no memory left: `_unhealthy` sees to that)
        return self._stop_others("the sandbox's process limit was used up")

    def _stop_others(self, why):
        # Again until none is left (a copy in the middle of forking may outlive one round),
        # for five seconds at most (a loaded machine slows the copies' deaths).
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.kill(-1, signal.SIGKILL)  # every process this uid may signal, except the worker
            except ProcessLookupError:  # none left
                pass
            self._reap_zombies()
            if not self._others_running():
                break
            time.sleep(0.005)
        return f"\n[{why}: every other process in it was stopped]\n"

    def _reap_zombies(self):
        """Collect dead children (os.fork without os.wait, a fork loop, Popen objects the
        agent keeps): until collected, zombies count against the process limit and no new
        thread could start. A child a subprocess/multiprocessing Popen tracks is collected
        through its Popen (poll), so that object still learns how it ended. Confined, the
        worker is its sandbox's subreaper (every orphan becomes its child): the number of
        children still alive is the number of other processes in the sandbox."""
        zombies, alive = [], 0
        for children in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{children}/children", encoding="ascii") as handle:
                    pids = [int(pid) for pid in handle.read().split()]
            except OSError:
                continue
            for pid in pids:
                try:
                    with open(f"/proc/{pid}/stat", "rb") as handle:
                        state = handle.read().rsplit(b")", 1)[1].split()[0]
                except (OSError, IndexError):
                    continue
                if state == b"Z":
                    zombies.append(pid)
                else:
                    alive += 1
        if not zombies:
            return alive
        tracked = {getattr(o, "pid", None): o for o in gc.get_objects()
                   if type(o).__name__ == "Popen" and getattr(o, "returncode", 0) is None}
        for pid in zombies:
            try:
                if pid in tracked and hasattr(tracked[pid], "poll"):
                    tracked[pid].poll()
                else:
                    os.waitpid(pid, os.WNOHANG)
            except (ChildProcessError, OSError, ValueError):
                pass
        return alive

    def _unhealthy(self, error):
        """Why ordinary code could not run in the next step, or "" (confined only): no
        thread can start, or (after a MemoryError) memory is used up. The host then
        restarts the sandbox and tells the agent."""
        if not self.confined or error is None:
            return ""
        if isinstance(error, MemoryError):
            try:
                mmap.mmap(-1, _MIN_FREE_MEMORY).close()
            except (OSError, ValueError, MemoryError):
                return f"its memory was used up (limit {self.memory_mb} MB)"
        if not self._can_start_thread():
            return "no thread could start (the process or memory limit stayed used up)"
        return ""

    def execute(self, request):
        code = request["code"]
        # Those that died since the last step; and what an earlier step left running (a
        # fork loop in the background) must not keep this step from starting threads.
        others = self._reap_zombies()
        others = others if self.confined else 0
        # Half the limit or more: a fork loop still running (it may not have hit the limit yet).
        stopped = (self._stop_others("processes left running filled half the sandbox's process limit")
                   if others >= self.nproc // 2
                   else self._end_runaway_processes() if others else "")
        self._redirect()
        self.calls, self.recorded_chars = [], 0
        error = None
        self.calling = True
        try:
            self._run_cell(code)
        except BaseException as exc:  # SystemExit and KeyboardInterrupt are the agent's errors too
            error = exc
        self._end_forked_child(error)
        with self.call_lock:  # after a call a thread has in flight; later ones are refused
            self.calling = False
        if error is not None and not stopped:
            stopped = self._end_runaway_processes()
        self._reap_zombies()
        self._redirect()
        text, hidden = self._take_output()
        text += stopped + self._free_full_scratch()
        reply = {"error": error is not None, "completed": self.completed, "answer": self.answer,
                 "calls": self.calls}
        if error is not None:
            trace, message = self._describe(error)
            if text and not text.endswith("\n"):
                text += "\n"
            text += trace
            reply.update(error_type=type(error).__name__, error_message=message)
        reply["output"] = clip(text, self.max_chars, hidden)
        unhealthy = self._unhealthy(error)
        if unhealthy:
            reply["restart"] = unhealthy
        return reply

    def state(self, request):
        """The episode's saved state for scoring: the agent's global variables that are
        plain data (what JSON can carry), each as JSON; the rest is left out."""
        saved = {}
        for name, value in list(self.namespace.items()):
            if name.startswith("_") or name in ("context", "complete_task"):
                continue
            try:
                saved[name] = json.dumps(value)
            except (TypeError, ValueError, RecursionError):
                continue
        return {"state": saved}

    def check(self, request):
        """Run the task's checker on the answer and a saved state (`state`: global variables
        as JSON) in this worker's fresh namespace: the checker's worker is started for it
        and never ran agent code, so nothing the agent changed (builtins included) can
        sway it."""
        namespace = dict(self.namespace)
        namespace.update({name: json.loads(value) for name, value in (request.get("state") or {}).items()})
        self._redirect()
        self.calling = True
        try:
            exec(compile(request["checker"], "<checker>", "exec"), namespace)
            result = namespace["check"](request.get("answer"))
        except BaseException as exc:
            self._end_forked_child(exc)
            return {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            with self.call_lock:
                self.calling = False
            self._redirect()
            self._take_output()
        if isinstance(result, tuple):
            return {"success": bool(result[0]), "message": str(result[1]) if len(result) > 1 else ""}
        return {"success": bool(result), "message": ""}

    def serve(self):
        handlers = {"init": self.init, "exec": self.execute, "state": self.state, "check": self.check}
        while True:
            line = self.requests.readline()  # (not `for line in`: host calls read this channel too)
            if not line:
                return
            try:
                request = json.loads(line)
                reply = handlers[request["op"]](request)
            except Exception:
                reply = {"internal_error": traceback.format_exc()}
            self.replies.write(json.dumps(reply) + "\n")
            self.replies.flush()


def _drop_privileges(uid):
    """Become `uid` (no groups, no capabilities left): as root, Linux enforces no process
    limit and the worker could signal anything its pid namespace shows."""
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def _become_subreaper():
    """Orphans of the agent's processes become the worker's children (not bubblewrap's
    init's): it then sees and collects every process of its sandbox among its children."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (ImportError, OSError, AttributeError):
        pass


def main():
    config = json.loads(sys.argv[1])
    _set_limit(resource.RLIMIT_AS, config["memory_mb"] * 1024 * 1024)
    _set_limit(resource.RLIMIT_FSIZE, _MAX_FILE_BYTES)
    for which, key in ((resource.RLIMIT_CPU, "cpu_s"), (resource.RLIMIT_NPROC, "nproc"),
                       (resource.RLIMIT_NOFILE, "nofile")):
        if config.get(key) is not None:
            _set_limit(which, config[key])
    if config.get("uid") is not None:
        _drop_privileges(config["uid"])
    if config.get("confined"):
        _become_subreaper()
    # Confined: a uid of its own (or bubblewrap's user namespace) in its own pid namespace,
    # so "every process this uid may signal" is the sandbox's own processes.
    Worker(config["memory_mb"], config["max_chars"], confined=bool(config.get("confined")),
           nproc=config.get("nproc")).serve()


if __name__ == "__main__":
    main()
