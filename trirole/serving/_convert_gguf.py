"""Write the embedded model's GGUF with its 4-bit weights dequantized to float16.

Runs INSIDE the llama.cpp virtual environment (``gguf`` and numpy are installed there) and
must not import trirole:

    <llama-env>/bin/python _convert_gguf.py --gguf <SmolLM2 Q4_1 .gguf> --out <folder>

Why: on a CPU without AVX-512 llama.cpp's prompt processing (prefill) multiplies Q4_1
weights with per-row dot products, while float16 weights go through its tiled matrix
kernels: prefill about 2x faster, and 8 requests in flight generate about 1.5x the tokens
(docs/results.md); the demo's workload is bound by prefill. The weights are the same
numbers (each Q4_1 value d * q + m, rounded to float16), as vLLM's checkpoint holds them;
vectors (norms) stay float32 as llama.cpp wants them. Every metadata key (tokenizer, chat
template, architecture) is copied unchanged.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import gguf
import numpy as np
from gguf import GGMLQuantizationType, GGUFReader, GGUFValueType, GGUFWriter

NAME = "model-f16.gguf"
KEEP = (GGMLQuantizationType.F32, GGMLQuantizationType.F16)


def convert(src: Path, out: Path) -> Path:
    reader = GGUFReader(src)
    arch = reader.fields["general.architecture"].contents()
    target = out / NAME
    writer = GGUFWriter(target, arch)
    for field in reader.fields.values():
        # GGUF.* are the reader's own (version, counts); the writer sets the architecture and file type.
        if field.name.startswith("GGUF.") or field.name in ("general.architecture", "general.file_type"):
            continue
        kind = field.types[0]
        if kind == GGUFValueType.ARRAY:
            writer.add_key_value(field.name, field.contents(), kind, sub_type=field.types[-1])
        else:
            writer.add_key_value(field.name, field.contents(), kind)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    for tensor in reader.tensors:
        if tensor.tensor_type in KEEP:
            writer.add_tensor(tensor.name, np.array(tensor.data), raw_dtype=tensor.tensor_type)
            continue
        data = gguf.quants.dequantize(tensor.data, tensor.tensor_type)
        writer.add_tensor(tensor.name, data.astype(np.float16 if data.ndim >= 2 else np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gguf", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"wrote {convert(args.gguf, args.out)}")


if __name__ == "__main__":
    main()
