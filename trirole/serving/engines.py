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
    # Two compute threads on two cores and more: llama.cpp's threads spin only while they
    # compute, and the harness's share of the CPU is small beside the model's.
    llama = LlamaServerOptions(threads=max(1, min(cpu.cores, 8)))
    dtype = vllm_dtype(cpu)
    if engine == "vllm":
        return EmbeddedChoice("vllm", f"vLLM's CPU build as asked, in {dtype} on this CPU", llama, dtype)
    if engine == "llama.cpp":
        return EmbeddedChoice("llama.cpp", "llama.cpp as asked", llama, dtype)
    # auto: llama.cpp on every CPU measured so far (docs/results.md): on a CPU without bf16
    # instructions it generated many times vLLM's tokens per second on the demo's workload;
    # on one with bf16 vLLM's best measured figure (28 tokens/s per request) is below what
    # llama.cpp decodes here without it.
    why = (f"llama.cpp (the faster engine for a CPU of this kind: {'with' if cpu.bf16 else 'without'} bf16 "
           f"instructions; measured in docs/results.md)")
    return EmbeddedChoice("llama.cpp", why, llama, dtype)
