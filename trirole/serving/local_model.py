"""The local model server: the embedded default (SmolLM2-135M-Instruct on the CPU, served by
llama.cpp's server or vLLM's CPU build, whichever `trirole.serving.engines` picks) or, on a
GPU machine, the user's own ``vllm serve`` with a published preset.

Embedded default, all cached under ``trirole_home()``::

    llama-cpp-env/, engines/          llama.cpp's engine (`trirole.serving.llama_cpp`)
    vllm-env/, models/                vLLM's engine (`trirole.serving.vllm_cpu`)
    servers/model.json                the running server's record (serve / stop / status)
    logs/model.log                    its log

``serve()`` starts it detached and returns a :class:`ServerRecord` whose ``url`` is the
OpenAI base URL (``http://127.0.0.1:PORT/v1``) and whose ``extra["model"]`` is the served
model name; :func:`find_local_server` finds it again from any process.
"""

from __future__ import annotations

import shlex
import shutil
import time
from pathlib import Path
from typing import Mapping, Sequence

import httpx

from trirole.errors import TriroleError
from trirole.paths import file_lock, home_subdir, logs_dir
from trirole.serving.cpu import cpu_features
from trirole.serving.engines import ENGINE_CHOICES, EmbeddedChoice, UnknownEngineError, embedded_choice
from trirole.serving.llama_cpp import (LLAMA_MEMORY_GIB, ensure_f16_gguf, ensure_llama_env, ensure_llama_server,
                                       f16_gguf_dir, llama_installed, llama_server_command, server_dir)
from trirole.serving.process import (
    ServerRecord,
    ServerStartError,
    available_memory_gib,
    free_port,
    port_is_free,
    read_record,
    reuse_or_start,
    start_server,
    stop_server,
)
from trirole.serving.setup_progress import SetupProgress
from trirole.serving.venvs import read_stamp, venv_path, venv_python
from trirole.serving.vllm_cpu import (EMBEDDED_MAX_MODEL_LEN, EMBEDDED_MODEL_NAME, EMBEDDED_TOOL_CALL_PARSER,
                                      VLLM_ENV_NAME, VLLM_MEMORY_GIB, CheckpointBuildError,
                                      checkpoint_dir, embedded_command, embedded_env, ensure_checkpoint,
                                      ensure_vllm_env, vllm_installed)
from trirole.settings import PRESETS

__all__ = [
    "EMBEDDED_MODEL_NAME",
    "EMBEDDED_MEMORY_GIB",
    "DEFAULT_RECORD_NAME",
    "ServeError",
    "EngineOptionError",
    "InsufficientMemoryError",
    "CheckpointBuildError",
    "ensure_vllm_env",
    "ensure_checkpoint",
    "preset_command",
    "command_line",
    "check_memory",
    "mem_available_gib",
    "serve",
    "serve_lock",
    "embedded_installed",
    "status",
    "stop",
    "find_local_server",
]

DEFAULT_RECORD_NAME = "model"
DEFAULT_PORT = 8000  # vLLM's own default, and trirole.settings.DEFAULT_BASE_URL's port
# What the embedded server needs in MemAvailable before it starts, on the engine that needs most.
EMBEDDED_MEMORY_GIB = max(VLLM_MEMORY_GIB, LLAMA_MEMORY_GIB)
EMBEDDED_READY_TIMEOUT_S = 900.0  # ~1 min alone, several on a busy shared machine
PRESET_READY_TIMEOUT_S = 1800.0  # a first `vllm serve` of an 8B model downloads 16 GB



class ServeError(TriroleError, RuntimeError):
    """`trirole model serve` cannot go on (e.g. another model already runs, no `vllm`)."""


class EngineOptionError(ServeError):
    """An option the chosen engine does not take (e.g. ``--vllm`` with llama.cpp)."""


class InsufficientMemoryError(ServeError):
    """Not enough free RAM to start the embedded model."""


def serve_lock(name: str = DEFAULT_RECORD_NAME, quiet: bool = True):
    """Held by :func:`serve` while it checks for and starts server `name` (so concurrent
    callers start one server and the others reuse it); hold it to stop one safely."""
    return file_lock(home_subdir("locks") / f"serve-{name}.lock", None if quiet else
                     f"waiting for another trirole process that is starting server {name!r} ...")


# --------------------------------------------------------------------------- commands

def preset_command(*, model: str | None, preset: str | None, port: int, host: str = "127.0.0.1",
                   vllm: str | None = None, served_model_name: str | None = None,
                   extra_args: Sequence[str] = (), require_vllm: bool = True) -> list[str]:
    """The user's own ``vllm serve MODEL <preset args> --host H --port P`` (GPU machines)."""
    args: list[str] = []
    if preset is not None:
        if preset not in PRESETS:
            raise ServeError(f"unknown preset {preset!r}; choose one of {', '.join(sorted(PRESETS))}")
        args = list(PRESETS[preset].vllm_args)
        model = model or PRESETS[preset].model
    if not model:
        raise ServeError("no model given: pass --model (a Hugging Face id or path) or --preset")
    exe = vllm or shutil.which("vllm")
    if exe is None:
        if require_vllm:
            raise ServeError(
                "no `vllm` on PATH: install vLLM (GPU build) in this environment or pass "
                "--vllm /path/to/vllm; without --model trirole serves its embedded CPU model"
            )
        exe = "vllm"
    elif vllm and require_vllm and not (Path(vllm).exists() or shutil.which(vllm)):
        raise ServeError(f"--vllm {vllm}: no such executable")
    cmd = [str(exe), "serve", model, *args]
    if served_model_name:
        cmd += ["--served-model-name", served_model_name]
    cmd += ["--host", host, "--port", str(port), *extra_args]
    return cmd


def command_line(command: Sequence[str], env: dict[str, str] | None = None) -> str:
    """`command` as one shell line, with `env` assignments in front."""
    prefix = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
    return (prefix + " " if prefix else "") + shlex.join(command)


# --------------------------------------------------------------------------- memory

def mem_available_gib() -> float | None:
    return available_memory_gib()


def check_memory(need_gib: float = EMBEDDED_MEMORY_GIB, available_gib: float | None = None) -> None:
    """Raise :class:`InsufficientMemoryError` unless MemAvailable >= `need_gib`."""
    available = mem_available_gib() if available_gib is None else available_gib
    if available is not None and available < need_gib:
        raise InsufficientMemoryError(
            f"not enough memory to start the embedded model: it needs about {need_gib:.1f} GiB "
            f"free RAM, {available:.1f} GiB is available (available memory); "
            f"stop other programs or serve a model elsewhere and point base_url at it"
        )


# --------------------------------------------------------------------------- serve

def _answers(record: ServerRecord, timeout_s: float = 5.0) -> list[str] | None:
    """The model ids the recorded server lists, or None if it does not answer."""
    try:
        resp = httpx.get(record.url.rstrip("/") + "/models", timeout=timeout_s)
        if resp.status_code != 200:
            return None
        return [m.get("id") for m in resp.json().get("data", [])]
    except (httpx.HTTPError, ValueError, AttributeError):
        return None


def _lists(name: str):
    def check(resp: httpx.Response) -> bool:
        try:
            return name in [m.get("id") for m in resp.json().get("data", [])]
        except (ValueError, AttributeError):
            return False
    return check


def _default_port(host: str, name: str = DEFAULT_RECORD_NAME) -> int:
    """8000 (what settings.DEFAULT_BASE_URL expects) for the user's server when free, else
    (and for other record names, e.g. tests') a port the OS picks."""
    check_host = _url_host(host)
    if name == DEFAULT_RECORD_NAME and port_is_free(DEFAULT_PORT, check_host):
        return DEFAULT_PORT
    return free_port(check_host)


def _url_host(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


def embedded_installed(engine: str = "auto") -> bool:
    """Whether the embedded server on `engine` starts without installing or building
    anything first (``make demo`` says so on a first run)."""
    choice = embedded_choice(cpu_features(), engine)
    return llama_installed(cpu_features()) if choice.engine == "llama.cpp" else vllm_installed()


def embedded_first_use(engine: str = "auto") -> str:
    """What starting the embedded server on `engine` will install or build first ("" when
    everything is cached)."""
    return "" if embedded_installed(engine) else embedded_choice(cpu_features(), engine).first_use


def _embedded_launch(choice: EmbeddedChoice, *, port: int, host: str, served: str, extra_args: Sequence[str],
                     env: Mapping[str, str] | None, install: bool) -> tuple[list[str], dict[str, str], dict]:
    """The command, environment and record fields of the embedded server on `choice`'s
    engine. `install`: build what is missing first (else the command names where the
    pieces will be, for a dry run)."""
    if choice.engine == "llama.cpp":
        cpu = cpu_features()
        if install:
            venv = ensure_llama_env()
            binary, gguf = ensure_llama_server(cpu, venv), ensure_f16_gguf(venv)
        else:
            binary, gguf = server_dir(cpu) / "llama-server", f16_gguf_dir() / "model-f16.gguf"
        cmd = llama_server_command(binary=binary, gguf=gguf, port=port, host=host, served_model_name=served,
                                   options=choice.llama, extra_args=extra_args)
        return cmd, dict(env or {}), {"gguf": str(gguf), "context": choice.llama.context}
    venv = ensure_vllm_env() if install else venv_path(VLLM_ENV_NAME)
    checkpoint = ensure_checkpoint(venv) if install else checkpoint_dir()
    cmd = embedded_command(python=venv_python(venv), checkpoint=checkpoint, port=port, host=host,
                           served_model_name=served, dtype=choice.vllm_dtype, extra_args=extra_args)
    return cmd, {**embedded_env(), **(env or {})}, {"checkpoint": str(checkpoint), "context": EMBEDDED_MAX_MODEL_LEN,
                                                     "tool_call_parser": EMBEDDED_TOOL_CALL_PARSER}


def serve(
    model: str | None = None,
    preset: str | None = None,
    port: int | None = None,
    host: str = "127.0.0.1",
    dry_run: bool = False,
    served_model_name: str | None = None,
    vllm: str | None = None,
    extra_args: Sequence[str] = (),
    *,
    engine: str = "auto",
    env: Mapping[str, str] | None = None,
    name: str = DEFAULT_RECORD_NAME,
    timeout_s: float | None = None,
    quiet: bool = False,
) -> ServerRecord | list[str]:
    """Start (or reuse) the local model server and return its record.

    Without `model`/`preset`: the embedded SmolLM2-135M-Instruct on the CPU, on `engine`
    (``auto``: the faster one for this CPU, `trirole.serving.engines.embedded_choice`;
    ``llama.cpp`` or ``vllm``), built or installed on first use. With them: the user's
    ``vllm serve``. `dry_run` prints the exact command and returns it (a list) without
    installing or starting anything. The default port is 8000 when free, else one the OS
    picks. `name` is the record name (``model`` for the user's server; tests use another).
    `env`: environment of the embedded server over its engine's (e.g. vLLM's thread count,
    as ``benchmarks/local_model.py`` compares them); `extra_args` go after trirole's own
    (a later option wins on both engines).
    """
    say = (lambda msg: None) if quiet else (lambda msg: print(msg, flush=True))
    if engine not in ENGINE_CHOICES:
        raise UnknownEngineError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINE_CHOICES)}")
    embedded = preset is None and (model is None or model == EMBEDDED_MODEL_NAME)
    choice: EmbeddedChoice | None = None
    if embedded:
        served = served_model_name or EMBEDDED_MODEL_NAME
        wanted_model = EMBEDDED_MODEL_NAME
        choice = embedded_choice(cpu_features(), engine)
        if vllm is not None and choice.engine != "vllm":
            raise EngineOptionError(f"--vllm names a vLLM executable, but the embedded model is served by "
                                    f"{choice.engine}; drop --vllm, or add --engine vllm")
    else:
        if preset is not None and preset not in PRESETS:
            raise ServeError(f"unknown preset {preset!r}; choose one of {', '.join(sorted(PRESETS))}")
        if engine not in ("auto", "vllm"):
            raise EngineOptionError(f"--engine {engine} serves only the embedded model; {model or preset} is served "
                                    "by vLLM (drop --engine, or drop --model/--preset for the embedded model)")
        wanted_model = model or PRESETS[preset].model  # type: ignore[index]
        served = served_model_name or wanted_model

    if dry_run:
        p = port if port is not None else _default_port(host, name)
        if choice is not None:
            cmd, server_env, _ = _embedded_launch(choice, port=p, host=host, served=served, extra_args=extra_args,
                                                  env=env, install=False)
            say(command_line(cmd, server_env))
        else:
            cmd = preset_command(model=model, preset=preset, port=p, host=host, vllm=vllm,
                                 served_model_name=served_model_name, extra_args=extra_args,
                                 require_vllm=False)
            say(command_line(cmd))
        return cmd

    def reuse(existing: ServerRecord) -> None:
        listed = _answers(existing)
        running = existing.extra.get("model")
        if listed is None:
            raise ServeError(
                f"server {name!r} (pid {existing.pid}, {existing.url}) is running but does not "
                f"answer; stop it first: trirole model stop   (log: {existing.log_path})"
            )
        same = served in listed and existing.extra.get("source_model", running) == wanted_model
        if not same:
            raise ServeError(
                f"server {name!r} already serves {running!r} at {existing.url}; "
                f"stop it first (trirole model stop) to serve {wanted_model!r}"
            )
        if port is not None and port != existing.port:
            raise ServeError(
                f"server {name!r} already serves {running!r} on port {existing.port}; "
                f"stop it first (trirole model stop) to serve it on port {port}"
            )
        running_engine = existing.extra.get("engine", "vllm")
        if embedded and engine != "auto" and engine != running_engine:
            raise ServeError(
                f"server {name!r} already serves {running!r} on {running_engine}; "
                f"stop it first (trirole model stop) to serve it on {engine}"
            )
        say(f"reusing the running server {name!r} (pid {existing.pid}, {running_engine}): {existing.url} "
            f"model {running}")
        existing.extra["reused"] = True

    def start() -> ServerRecord:
        check_host = _url_host(host)
        if port is not None and not port_is_free(port, check_host):
            raise ServerStartError(
                f"port {port} is taken (something already listens on {check_host}:{port}); "
                f"pass --port or stop it"
            )
        log_path = logs_dir() / f"{name}.log"
        p = port if port is not None else _default_port(host, name)
        if choice is not None:
            check_memory(LLAMA_MEMORY_GIB if choice.engine == "llama.cpp" else VLLM_MEMORY_GIB)
            say(f"engine: {choice.why}")
            t0 = time.monotonic()
            cmd, server_env, fields = _embedded_launch(choice, port=p, host=host, served=served,
                                                       extra_args=extra_args, env=env, install=True)
            server_env = server_env or None
            timeout = timeout_s or EMBEDDED_READY_TIMEOUT_S
            extra = {"model": served, "source_model": EMBEDDED_MODEL_NAME, "embedded": True,
                     "engine": choice.engine, "cpu": cpu_features().summary(),
                     "setup_s": round(time.monotonic() - t0, 2), **fields}
        else:
            cmd = preset_command(model=model, preset=preset, port=p, host=host, vllm=vllm,
                                 served_model_name=served_model_name, extra_args=extra_args)
            server_env = None
            timeout = timeout_s or PRESET_READY_TIMEOUT_S
            extra = {"model": served, "source_model": wanted_model, "embedded": False, "engine": "vllm",
                     "preset": preset}

        url = f"http://{_url_host(host)}:{p}/v1"
        vllm_expect = "about 45 s; a first start compiles the model, about 2 min"  # measured on 2 cores
        expect = ("seconds" if choice.engine == "llama.cpp" else vllm_expect) if choice is not None \
            else "a first start downloads it"
        shown = SetupProgress(name, None, 1, enabled=not quiet)
        with shown, shown.stage(f"starting {served} on {url}, waiting until it answers ({expect}; log: {log_path})",
                                log_path=log_path):
            record = start_server(
                name, cmd, port=p, url=url, ready_url=url + "/models", log_path=log_path, env=server_env,
                timeout_s=timeout, ready_check=_lists(served), extra=extra,
            )
        say(f"ready after {record.extra.get('ready_s', 0):.0f} s: {record.url} model {served}")
        return record

    # One starter per record name: a concurrent serve() waits, then reuses.
    return reuse_or_start(name, start, reuse, None if quiet else
                          f"waiting for another trirole process that is starting server {name!r} ...")


# --------------------------------------------------------------------------- status / stop

def find_local_server(name: str = DEFAULT_RECORD_NAME) -> ServerRecord | None:
    """The recorded local server if its process is alive and it answers /v1/models."""
    record = read_record(name)
    if record is None or _answers(record, timeout_s=3.0) is None:
        return None
    return record


def status(name: str = DEFAULT_RECORD_NAME) -> dict:
    """What is known about the local server: running, answering, url, model, pid, log."""
    record = read_record(name)
    if record is None:
        return {"name": name, "running": False, "answering": False,
                "installed": embedded_installed()}  # the embedded server's engine, built for this CPU
    listed = _answers(record, timeout_s=3.0)
    return {
        "name": name, "running": True, "answering": listed is not None,
        "url": record.url, "model": record.extra.get("model"), "models": listed or [],
        "engine": record.extra.get("engine", "vllm"), "cpu": record.extra.get("cpu"),
        "pid": record.pid, "port": record.port, "log_path": record.log_path,
        "uptime_s": round(time.time() - record.started_at, 1),
    }


def stop(name: str = DEFAULT_RECORD_NAME, timeout_s: float = 20) -> bool:
    """Stop the local server; True if one was running."""
    return stop_server(name, timeout_s=timeout_s)
