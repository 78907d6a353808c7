#!/usr/bin/env python3
"""Reference outputs of llama.cpp's quantizer for `wasm-chord quantize` (crates/quantize/tests).

Run with the reference venv:  /root/refvenv/bin/python tools/gen_quantize_fixtures.py
  [--llama-quantize bench/build/llamacpp/build/bin/llama-quantize]   (default: llama_model_quantize
  from llama-cpp-python; both are the same llama.cpp and give the same bytes)

Writes two small synthetic llama models (never committed: the Rust test rebuilds them bit for bit
with the same generator, see below), quantizes each with llama.cpp to every file type wasm-chord
supports plus a few option variants, and stores in tests/fixtures/quant/llamacpp_quantize.json:
the sha256 of each source and output file, and per output tensor its type and data sha256 (so a
mismatch names the first tensor that differs).

Models (8 layers, so the i_attention_wv / ffn_down layer rules of the _M mixtures matter):
  A  F32, dim 256, 4 heads, 1 KV head (n_gqa 4), ffn 320 (ffn_down rows are not whole 256-blocks:
     k-quants fall back to Q4_0/Q5_0/Q5_1/Q8_0), vocab 320, separate output.weight, and an extra
     [600 x 64] "blk.0.extra_proj.weight" (rows not whole 32-blocks: F16 fallback)
  B  F16, dim 256, 4 heads, 2 KV heads (n_gqa 2), ffn 512, vocab 256, tied embeddings (no output.weight)

Generator (mirrored in crates/quantize/tests/common/mod.rs): tensor k (in file order) of n elements,
element i: z = splitmix64((k + 1) * 0x1000000 + i); u = (z >> 40) / 2^24 (f32, exact);
v = (u - 0.5) * scale (f32); v *= 6 when z % 61 == 0 (outliers); rows r with (r * 7 + k) % 23 == 0 are 0.
scale: 2 / sqrt(n_in) (in f32) for matrices; norms are 1 + 0.2 * v and stay F32. F16 models round v to f16.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import gguf

sys.path.insert(0, os.path.dirname(__file__))

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), ".."))
OUT = os.path.join(ROOT, "tests", "fixtures", "quant", "llamacpp_quantize.json")

MODELS = {
    "A": dict(dtype="f32", dim=256, n_layer=8, n_head=4, n_head_kv=1, ffn=320, vocab=320, tied=False, extra=True),
    "B": dict(dtype="f16", dim=256, n_layer=8, n_head=4, n_head_kv=2, ffn=512, vocab=256, tied=True, extra=False),
}

FILE_TYPES = ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L",
              "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M", "Q6_K", "F16", "BF16", "F32"]

# (model, case name, file type, options)
VARIANTS = [
    ("A", "Q4_K_M-pure", "Q4_K_M", {"pure": True}),
    ("B", "Q4_K_M-pure", "Q4_K_M", {"pure": True}),
    ("A", "Q4_0-out_q8_0-emb_q4_k", "Q4_0", {"output_tensor_type": "Q8_0", "token_embedding_type": "Q4_K"}),
    ("B", "Q5_K_M-out_f16", "Q5_K_M", {"output_tensor_type": "F16"}),
]

M64 = (1 << 64) - 1


def splitmix64(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def values(k: int, rows: int, cols: int, scale: float) -> np.ndarray:
    """[rows, cols] f32 of tensor number k."""
    n = rows * cols
    i = np.arange(n, dtype=np.uint64)
    z = splitmix64(np.uint64((k + 1) * 0x1000000) + i)
    u = (z >> np.uint64(40)).astype(np.float32) * np.float32(1.0 / (1 << 24))
    v = (u - np.float32(0.5)) * np.float32(scale)
    v = np.where(z % np.uint64(61) == 0, v * np.float32(6.0), v).astype(np.float32)
    v = v.reshape(rows, cols)
    r = np.arange(rows)
    v[(r * 7 + k) % 23 == 0, :] = 0.0
    return v


def tensor_list(m: dict) -> list[tuple[str, list[int], bool]]:
    """(name, numpy shape [rows, cols] or [n], is_matrix) in file order."""
    d, kv = m["dim"], m["dim"] // m["n_head"] * m["n_head_kv"]
    t = [("token_embd.weight", [m["vocab"], d], True)]
    for i in range(m["n_layer"]):
        p = f"blk.{i}."
        t += [(p + "attn_norm.weight", [d], False),
              (p + "attn_q.weight", [d, d], True),
              (p + "attn_k.weight", [kv, d], True),
              (p + "attn_v.weight", [kv, d], True),
              (p + "attn_output.weight", [d, d], True),
              (p + "ffn_norm.weight", [d], False),
              (p + "ffn_gate.weight", [m["ffn"], d], True),
              (p + "ffn_up.weight", [m["ffn"], d], True),
              (p + "ffn_down.weight", [d, m["ffn"]], True)]
        if m["extra"] and i == 0:
            t.append((p + "extra_proj.weight", [64, 600], True))
    t.append(("output_norm.weight", [d], False))
    if not m["tied"]:
        t.append(("output.weight", [m["vocab"], d], True))
    return t


def write_model(m: dict, path: str) -> None:
    w = gguf.GGUFWriter(path, "llama")
    w.add_string("general.name", "quantize-test")
    w.add_uint32("llama.context_length", 256)
    w.add_uint32("llama.embedding_length", m["dim"])
    w.add_uint32("llama.block_count", m["n_layer"])
    w.add_uint32("llama.feed_forward_length", m["ffn"])
    w.add_uint32("llama.attention.head_count", m["n_head"])
    w.add_uint32("llama.attention.head_count_kv", m["n_head_kv"])
    w.add_float32("llama.attention.layer_norm_rms_epsilon", 1e-5)
    w.add_uint32("llama.rope.dimension_count", m["dim"] // m["n_head"])
    w.add_uint32("llama.vocab_size", m["vocab"])
    w.add_uint32("general.file_type", 0 if m["dtype"] == "f32" else 1)
    for k, (name, shape, is_matrix) in enumerate(tensor_list(m)):
        if is_matrix:
            a = values(k, shape[0], shape[1], np.float32(2.0) / np.sqrt(np.float32(shape[1])))
            if m["dtype"] == "f16":
                a = a.astype(np.float16)
        else:
            a = (np.float32(1.0) + np.float32(0.2) * values(k, 1, shape[0], 1.0)).reshape(shape[0])
        w.add_tensor(name, a)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def tensors_of(path: str) -> list[list[str]]:
    r = gguf.GGUFReader(path)
    return [[t.name, t.tensor_type.name, hashlib.sha256(t.data.tobytes()).hexdigest()] for t in r.tensors]


def quantize_py(src: str, dst: str, ftype: str, opts: dict) -> None:
    import llama_cpp as L
    import llamacpp_ref
    llamacpp_ref.init_backend()
    p = L.llama_model_quantize_default_params()
    p.ftype = getattr(L, "LLAMA_FTYPE_" + ("ALL_F32" if ftype == "F32" else "MOSTLY_" + ftype))
    p.nthread = 2
    p.pure = bool(opts.get("pure", False))
    for key in ("output_tensor_type", "token_embedding_type"):
        if key in opts:
            setattr(p, key, getattr(L, "GGML_TYPE_" + opts[key]))
    if L.llama_model_quantize(src.encode(), dst.encode(), p) != 0:
        raise RuntimeError(f"llama_model_quantize {src} {ftype} {opts} failed")


def quantize_bin(binary: str, src: str, dst: str, ftype: str, opts: dict) -> None:
    cmd = [binary]
    if opts.get("pure"):
        cmd.append("--pure")
    for key, flag in (("output_tensor_type", "--output-tensor-type"), ("token_embedding_type", "--token-embedding-type")):
        if key in opts:
            cmd += [flag, opts[key]]
    cmd += [src, dst, ftype, "2"]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--llama-quantize", help="path of llama.cpp's llama-quantize binary")
    ap.add_argument("--keep", help="directory to keep the source models and outputs in")
    a = ap.parse_args()
    tmp = a.keep or tempfile.mkdtemp(prefix="quantize-fixtures-")
    os.makedirs(tmp, exist_ok=True)
    if a.llama_quantize:
        def quantize(s, d, f, o): quantize_bin(a.llama_quantize, s, d, f, o)
        tool = "llama-quantize " + a.llama_quantize
    else:
        quantize = quantize_py
        tool = "llama_cpp.llama_model_quantize"
    try:
        import llamacpp_ref
        prov = llamacpp_ref.provenance(quantizer=tool, quantize_threads=2)
    except ImportError:
        prov = {"quantizer": tool}
    out = {"provenance": prov, "generator": "see tools/gen_quantize_fixtures.py docstring",
           "models": {}}
    cases = [(m, ft, ft, {}) for m in MODELS for ft in FILE_TYPES] + VARIANTS
    for name, m in MODELS.items():
        src = os.path.join(tmp, f"src-{name}.gguf")
        write_model(m, src)
        out["models"][name] = {"shape": m, "source_sha256": sha256_file(src), "outputs": {}}
    for name, case, ftype, opts in cases:
        src = os.path.join(tmp, f"src-{name}.gguf")
        dst = os.path.join(tmp, f"{name}-{case}.gguf")
        quantize(src, dst, ftype, opts)
        out["models"][name]["outputs"][case] = {
            "ftype": ftype, "options": opts, "sha256": sha256_file(dst), "tensors": tensors_of(dst)}
        print(f"{name} {case}: {out['models'][name]['outputs'][case]['sha256'][:16]}", flush=True)
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
