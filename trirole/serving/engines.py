"""Which engine serves the embedded model, and with which settings, on this CPU.

Two engines serve SmolLM2-135M-Instruct on the CPU:

- ``llama.cpp``: llama.cpp's own server on the GGUF file (4-bit weights, its own CPU
  kernels, continuous batching), compiled for this CPU (`trirole.serving.llama_cpp`);
- ``vllm``: vLLM's CPU build on a checkpoint converted from that GGUF. vLLM is the engine
  of the GPU presets and of the paper's setting; on the CPU it stays available and tested.

``auto`` (the default) picks by what was measured side by side on the demo's own workload
(``benchmarks/local_model.py``, docs/results.md). `embedded_choice` is a pure function of
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
    # auto: llama.cpp on every CPU. Measured on the demo's BFCL workload (docs/results.md)
    # on a 2-core AVX2 CPU without bf16: 16.7 generated tokens/s against vLLM's 17.8 in
    # float32 (6.7 in bfloat16, the default before), ready in 3 s against 88 s, 2 GB of
    # memory against 4, a 15 MB build against a 3.5 GB environment; vLLM's better prefix
    # cache (91% against 81% of prompt tokens) is what keeps it level. On a CPU with bf16
    # vLLM's best measured figure (28 tokens/s per request decoding) is below what
    # llama.cpp decodes one request at here (40-70).
    why = (f"llama.cpp: on a CPU {'with' if cpu.bf16 else 'without'} bf16 instructions as fast as vLLM on the "
           "demo's workload, ready in seconds instead of minutes (docs/results.md)")
    return EmbeddedChoice("llama.cpp", why, llama, dtype)
