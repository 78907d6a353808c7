#!/usr/bin/env python3
"""Quantization reference bytes produced by llama.cpp's own model quantizer.

Builds a small synthetic llama GGUF (F32) whose blk.0.attn_q.weight starts with ROWS hand-made
rows of N_PER_ROW floats (gaussians of several scales, outliers, zeros, constants, ...), quantizes
it with `llama_model_quantize` (pure = true, so every 2-D weight gets the target type; no
imatrix), reads the quantized tensor back with gguf-py and writes, for each type T:
  tests/fixtures/quant/llamacpp_<t>.src.f32   ROWS x N_PER_ROW little-endian f32 (the input rows)
  tests/fixtures/quant/llamacpp_<t>.q.bin     the ROWS quantized rows exactly as llama.cpp wrote them
  tests/fixtures/quant/llamacpp_manifest.json row descriptions, sizes, sha256, provenance
Without an imatrix, llama.cpp's quantize_<type>() calls quantize_row_<type>_ref() on the rows
(see tools/README.md), and each row is quantized independently, so the first ROWS rows of the
tensor are a self-contained fixture.

Usage: gen_quant_fixtures.py --vocab-gguf .../ggml-vocab-llama-spm.gguf
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os

import numpy as np
import gguf
import llama_cpp as L

import gen_synthetic_llama as syn
import llamacpp_ref

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), ".."))
OUT = os.path.join(ROOT, "tests", "fixtures", "quant")
CACHE = os.path.join(ROOT, "tests", "fixtures", "_cache")
N_PER_ROW = 512
TENSOR = "blk.0.attn_q.weight"
SHAPE = syn.Shape(dim=N_PER_ROW, n_layers=1, n_heads=8, n_kv_heads=8, ffn=512, vocab=512, ctx=512, tied=True)

# type name -> (llama ftype whose default type it is, ggml type id, row function used by llama.cpp)
TYPES = {
    "q2_k": (L.LLAMA_FTYPE_MOSTLY_Q2_K, 10, "quantize_row_q2_K_ref"),
    "q3_k": (L.LLAMA_FTYPE_MOSTLY_Q3_K_S, 11, "quantize_row_q3_K_ref"),
    "q4_k": (L.LLAMA_FTYPE_MOSTLY_Q4_K_S, 12, "quantize_row_q4_K_ref"),
    "q5_k": (L.LLAMA_FTYPE_MOSTLY_Q5_K_S, 13, "quantize_row_q5_K_ref"),
    "q6_k": (L.LLAMA_FTYPE_MOSTLY_Q6_K, 14, "quantize_row_q6_K_ref"),
    "q8_0": (L.LLAMA_FTYPE_MOSTLY_Q8_0, 8, "quantize_row_q8_0_ref"),
    "q4_0": (L.LLAMA_FTYPE_MOSTLY_Q4_0, 2, "quantize_row_q4_0_ref"),
    "q5_0": (L.LLAMA_FTYPE_MOSTLY_Q5_0, 6, "quantize_row_q5_0_ref"),
}


def source_rows(seed: int = 7) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    n = N_PER_ROW
    g = lambda s: rng.standard_normal(n) * s  # noqa: E731
    rows: list[tuple[str, np.ndarray]] = [
        ("gaussian std 1", g(1.0)),
        ("gaussian std 0.02", g(0.02)),
        ("gaussian std 30", g(30.0)),
        ("gaussian std 1e-3", g(1e-3)),
        ("uniform [-1, 1)", rng.uniform(-1, 1, n)),
        ("gaussian mean 2 std 0.5 (all positive)", 2.0 + g(0.5)),
        ("gaussian std 1, varying per 16-element group", g(1.0) * np.repeat(rng.uniform(0.05, 3.0, n // 16), 16)),
        ("gaussian std 0.1 + 0.3", 0.3 + g(0.1)),
    ]
    out = g(1.0)
    out[[3, 100, 301, 480]] = [50.0, -40.0, 25.0, -60.0]
    rows.append(("gaussian std 1 with outliers 50/-40/25/-60", out))
    rows.append(("all zeros", np.zeros(n)))
    rows.append(("constant 0.75", np.full(n, 0.75)))
    rows.append(("all negative -|N(0,1)|", -np.abs(g(1.0))))
    sparse = g(1.0)
    sparse[rng.uniform(size=n) < 0.95] = 0.0
    rows.append(("sparse (95% zeros)", sparse))
    half = g(1.0)
    half[:256] = 0.0
    half[288:320] = 0.0
    rows.append(("first 256 zero, one 32-block zero, rest N(0,1)", half))
    rows.append(("gaussian std 1000", g(1000.0)))
    rows.append(("gaussian std 1e-6", g(1e-6)))
    data = np.stack([r for _, r in rows]).astype(np.float32)
    return data, [d for d, _ in rows]


def build_source_model(path: str, vocab_gguf: str, src: np.ndarray) -> None:
    vocab = syn.subset_vocab(syn.read_spm_vocab(vocab_gguf), SHAPE.vocab)
    tensors = syn.make_weights(SHAPE, len(vocab.tokens), 3, np.float32)
    for i, (name, arr) in enumerate(tensors):
        if name == TENSOR:
            arr = arr.copy()
            arr[: src.shape[0]] = src
            tensors[i] = (name, arr)
    syn.write_gguf(path, "quant-source", SHAPE, vocab, tensors, 0)


def quantize(src: str, dst: str, ftype: int) -> None:
    llamacpp_ref.init_backend()
    p = L.llama_model_quantize_default_params()
    p.ftype = ftype
    p.nthread = 1
    p.pure = True
    rc = L.llama_model_quantize(src.encode(), dst.encode(), p)
    if rc != 0:
        raise RuntimeError(f"llama_model_quantize -> {dst} returned {rc}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vocab-gguf", required=True)
    a = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    os.makedirs(CACHE, exist_ok=True)
    src, desc = source_rows()
    src_path = os.path.join(CACHE, "quant-source-f32.gguf")
    build_source_model(src_path, a.vocab_gguf, src)
    manifest = {
        "provenance": llamacpp_ref.provenance(quantize_params="llama_model_quantize_default_params(), pure=true, "
                                              "nthread=1, no imatrix"),
        "rows": len(desc), "n_per_row": N_PER_ROW, "row_descriptions": desc,
        "source_tensor": TENSOR, "types": {},
    }
    for t, (ftype, type_id, fn) in TYPES.items():
        dst = os.path.join(CACHE, f"quant-source-{t}.gguf")
        quantize(src_path, dst, ftype)
        r = gguf.GGUFReader(dst)
        tensor = next(x for x in r.tensors if x.name == TENSOR)
        if int(tensor.tensor_type) != type_id:
            raise RuntimeError(f"{t}: {TENSOR} came out as {tensor.tensor_type.name}")
        block, type_size = gguf.GGML_QUANT_SIZES[tensor.tensor_type]
        row_bytes = N_PER_ROW // block * type_size
        q = np.asarray(tensor.data).reshape(-1)[: len(desc) * row_bytes].tobytes()
        deq = gguf.quants.dequantize(np.frombuffer(q, dtype=np.uint8).reshape(len(desc), row_bytes),
                                     tensor.tensor_type)
        rel_err = [float(np.linalg.norm(deq[i] - src[i]) / max(np.linalg.norm(src[i]), 1e-30))
                   for i in range(len(desc))]
        with open(os.path.join(OUT, f"llamacpp_{t}.src.f32"), "wb") as f:
            f.write(src.astype("<f4").tobytes())
        with open(os.path.join(OUT, f"llamacpp_{t}.q.bin"), "wb") as f:
            f.write(q)
        manifest["types"][t] = {
            "ggml_type": type_id, "ggml_type_name": tensor.tensor_type.name, "llama_ftype": ftype,
            "row_function": fn, "block_size": block, "block_bytes": type_size, "row_bytes": row_bytes,
            "src_file": f"llamacpp_{t}.src.f32", "q_file": f"llamacpp_{t}.q.bin",
            "q_sha256": hashlib.sha256(q).hexdigest(),
            "dequant_rel_l2_error_per_row (gguf-py dequantize)": rel_err,
        }
        print(f"{t}: {len(q)} bytes, max rel err {max(e for e in rel_err if e == e):.4f}")
    with open(os.path.join(OUT, "llamacpp_manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
