#!/usr/bin/env python3
"""Generate the tiny synthetic F32 models and quantize them with llama.cpp's own quantizer.

For each (shape, ftype) in PLAN: gen_synthetic_llama.py writes the F32 model (seed 1) into
tests/fixtures/_cache/ (git-ignored), then `llama_model_quantize` with
`llama_model_quantize_default_params()` (only `ftype` and `nthread = 1` changed) writes
tests/fixtures/models/<shape>-<ftype>.gguf (ftype f32: the generated file itself).

Usage: quantize_tiny_models.py --vocab-gguf .../vendor/llama.cpp/models/ggml-vocab-llama-spm.gguf
       [--shapes tiny-qwen3,micro-qwen3]   (only these; other manifest entries are kept)
Needs: numpy, gguf, llama-cpp-python 0.3.36.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil

import gguf
import llama_cpp as L

import gen_synthetic_llama as syn
import llamacpp_ref

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), ".."))
CACHE = os.path.join(ROOT, "tests", "fixtures", "_cache")
MODELS = os.path.join(ROOT, "tests", "fixtures", "models")
SEED = 1

FTYPES = {
    "f16": L.LLAMA_FTYPE_MOSTLY_F16,
    "q8_0": L.LLAMA_FTYPE_MOSTLY_Q8_0,
    "q4_0": L.LLAMA_FTYPE_MOSTLY_Q4_0,
    "q4_k_m": L.LLAMA_FTYPE_MOSTLY_Q4_K_M,
    "q4_1": L.LLAMA_FTYPE_MOSTLY_Q4_1,
    "q5_1": L.LLAMA_FTYPE_MOSTLY_Q5_1,
    "q5_k_m": L.LLAMA_FTYPE_MOSTLY_Q5_K_M,
}

# What is committed (kept small: the whole tests/fixtures budget is ~10 MB).
PLAN = {
    "tiny": ["q4_k_m", "q8_0", "q4_0", "f16", "q4_1", "q5_1", "q5_k_m"],
    "tiny-mha": ["q4_k_m"],
    "tiny-untied": ["q4_k_m"],
    # other architectures: Q4_K_M at dim 256, F32 at dim 128 (gen_synthetic_llama.SHAPES)
    "tiny-llama3": ["q4_k_m"],
    "tiny-qwen3": ["q4_k_m"],
    "tiny-phi3": ["q4_k_m"],
    "micro-llama3": ["f32"],
    "micro-qwen3": ["f32"],
    "micro-phi3": ["f32"],
}


def f32_model(shape_name: str, vocab_gguf: str) -> str:
    os.makedirs(CACHE, exist_ok=True)
    path = os.path.join(CACHE, f"{shape_name}-seed{SEED}-f32.gguf")
    shape = syn.SHAPES[shape_name]
    vocab = syn.subset_vocab(syn.read_spm_vocab(vocab_gguf), shape.vocab)
    tensors = syn.make_weights(shape, len(vocab.tokens), SEED, syn.np.float32)
    extra = {"general.description": f"wasm-chord synthetic {shape.arch}, shape={shape_name} seed={SEED}"}
    syn.write_gguf(path, syn.model_name(shape_name), shape, vocab, tensors, 0, extra)
    return path


def quantize(src: str, dst: str, ftype: int) -> None:
    llamacpp_ref.init_backend()
    p = L.llama_model_quantize_default_params()
    p.ftype = ftype
    p.nthread = 1
    rc = L.llama_model_quantize(src.encode(), dst.encode(), p)
    if rc != 0:
        raise RuntimeError(f"llama_model_quantize({src} -> {dst}) returned {rc}")


def tensor_types(path: str) -> dict[str, str]:
    r = gguf.GGUFReader(path)
    return {t.name: t.tensor_type.name for t in r.tensors}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vocab-gguf", required=True)
    ap.add_argument("--shapes", help="comma-separated shapes of PLAN to (re)generate; default: all")
    a = ap.parse_args()
    os.makedirs(MODELS, exist_ok=True)
    manifest_path = os.path.join(MODELS, "manifest.json")
    manifest = {"provenance": llamacpp_ref.provenance(quantize_params="llama_model_quantize_default_params(), nthread=1"),
                "seed": SEED, "models": {}}
    shapes = a.shapes.split(",") if a.shapes else list(PLAN)
    if a.shapes and os.path.exists(manifest_path):
        with open(manifest_path) as f:
            old = json.load(f)
        # the quantizers are scalar reference code: the same bytes on any host
        manifest["provenance"], manifest["models"] = old["provenance"], old["models"]
    for shape_name in shapes:
        ftypes = PLAN[shape_name]
        src = f32_model(shape_name, a.vocab_gguf)
        for ft in ftypes:
            name = f"{shape_name}-{ft}"
            dst = os.path.join(MODELS, name + ".gguf")
            if ft == "f32":
                shutil.copyfile(src, dst)
            else:
                quantize(src, dst, FTYPES[ft])
            types = tensor_types(dst)
            manifest["models"][name] = {
                "file": f"tests/fixtures/models/{name}.gguf",
                "shape": shape_name,
                "ftype": ft,
                "geometry": {k: v for k, v in syn.SHAPES[shape_name].__dict__.items()},
                "bytes": os.path.getsize(dst),
                "tensor_types": sorted(set(types.values())),
                "tensors": types,
            }
            print(f"{dst}: {os.path.getsize(dst)} bytes, types {sorted(set(types.values()))}")
    with open(manifest_path, "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
