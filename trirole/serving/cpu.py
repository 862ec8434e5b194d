"""What the CPU can do, read from ``/proc/cpuinfo``: the features that decide how the
embedded model is served (`trirole.serving.engines.embedded_choice`).

Machines of one kind differ: the same cloud instance type has come with and without
AVX-512's bf16 instructions and AMX. A speed figure holds only beside these flags, so the
benchmark prints them and the server's record keeps them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CpuFeatures", "cpu_features", "RELEVANT_FLAGS"]

# The flags that matter for serving a small model on the CPU, in the order they are shown.
RELEVANT_FLAGS = ("avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "amx_bf16")


@dataclass(frozen=True)
class CpuFeatures:
    """model: the CPU's name; cores: logical CPUs this process may use; flags: every flag."""

    model: str = ""
    cores: int = 1
    flags: frozenset[str] = field(default_factory=frozenset)

    @property
    def bf16(self) -> bool:
        """Native bf16 arithmetic (AVX-512 BF16 or AMX): what makes vLLM's bf16 kernels fast."""
        return bool({"avx512_bf16", "amx_bf16"} & self.flags)

    @property
    def amx(self) -> bool:
        return "amx_tile" in self.flags

    @property
    def avx512(self) -> bool:
        return "avx512f" in self.flags

    def summary(self) -> str:
        """One line for logs and benchmark tables, e.g. ``AMD EPYC, 2 cores, avx2 fma f16c; no bf16, no AMX``."""
        shown = " ".join(flag for flag in RELEVANT_FLAGS if flag in self.flags) or "no SIMD flags read"
        return (f"{self.model or 'unknown CPU'}, {self.cores} cores, {shown}; "
                f"{'bf16' if self.bf16 else 'no bf16'}, {'AMX' if self.amx else 'no AMX'}")

    def tag(self) -> str:
        """The relevant flags as one word: code compiled for this CPU (``-march=native``) is
        keyed by it, so a machine with other flags never runs it."""
        return "-".join(flag for flag in RELEVANT_FLAGS if flag in self.flags) or "generic"


def cpu_features(cpuinfo: str | Path = "/proc/cpuinfo") -> CpuFeatures:
    """The features of this machine's CPU (empty flags where ``/proc/cpuinfo`` is missing)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        text = ""
    model, flags = "", frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key == "flags" and not flags:
            flags = frozenset(value.split())
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return CpuFeatures(model=model, cores=cores, flags=flags)
