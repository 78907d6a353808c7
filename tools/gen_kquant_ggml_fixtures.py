#!/usr/bin/env python3
"""k-quant reference bytes and dot products straight from ggml's C functions.

Run with the reference venv:  /root/refvenv/bin/python tools/gen_kquant_ggml_fixtures.py
Loads the libggml-base / libggml-cpu shipped inside llama-cpp-python (see tools/README.md for
the version) with ctypes and calls, on fixed inputs:
  quantize_row_{q2,q3,q4,q5,q6,q8}_K_ref    (ggml-base: what llama_model_quantize uses without imatrix)
  ggml_vec_dot_{q2..q6}_K_q8_K_generic      (ggml-cpu: the scalar, non-SIMD dot products)
Writes to tests/fixtures/quant/:
  ggml_kquant.src.f32   N_BLOCKS x 256 f32 weights input (one distribution per block, see BLOCKS)
  ggml_<t>.q.bin        quantize_row_<t>_ref(ggml_kquant.src.f32), t in q2_k..q6_k
  ggml_act.src.f32      N_BLOCKS x 256 f32 activations (gaussian)
  ggml_q8_k.q.bin       quantize_row_q8_K_ref(ggml_act.src.f32)
  ggml_<t>.dot.f32      N_BLOCKS f32: entry k-1 = ggml_vec_dot_<t>_q8_K_generic over the first
                        k blocks of ggml_<t>.q.bin and ggml_q8_k.q.bin
  ggml_<t>.dot_native.f32  the same through ggml_vec_dot_<t>_q8_K (this machine's SIMD path),
                        for the SIMD kernels' tests
  ggml_kquant_manifest.json  provenance and block descriptions
libggml-cpu is built with -march=native, so the compiler may have contracted the generic dot
products' float ops into FMAs: the Rust tests compare them with a tolerance (and report exactness).
Deterministic (fixed seed), about 20 KB in total.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import os

import numpy as np
import llama_cpp

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), ".."))
OUT = os.path.join(ROOT, "tests", "fixtures", "quant")
LIB = os.path.join(os.path.dirname(llama_cpp.__file__), "lib")
QK_K = 256
SEED = 1122
# name -> (block bytes, C type name)
TYPES = {"q2_k": (84, "q2_K"), "q3_k": (110, "q3_K"), "q4_k": (144, "q4_K"),
         "q5_k": (176, "q5_K"), "q6_k": (210, "q6_K")}
Q8K_BYTES = 292


def weight_blocks(rng: np.random.Generator) -> tuple[np.ndarray, list[str]]:
    g = lambda s: rng.standard_normal(QK_K) * s  # noqa: E731
    blocks: list[tuple[str, np.ndarray]] = [
        ("gaussian std 1", g(1.0)),
        ("gaussian std 0.02 with outliers", g(0.02)),
        ("gaussian std 1 scaled per 16-group by U(0.02, 3)", g(1.0) * np.repeat(rng.uniform(0.02, 3.0, 16), 16)),
        ("all positive: 1.5 + N(0, 0.3)", 1.5 + g(0.3)),
        ("all negative: -|N(0, 1)|", -np.abs(g(1.0))),
        ("sparse: 90% zeros, one all-zero 32-group", g(1.0)),
        ("uniform [-4, 4)", rng.uniform(-4.0, 4.0, QK_K)),
        ("gaussian std 1e-4, constant 16-group", g(1e-4)),
    ]
    b1 = blocks[1][1]
    b1[[5, 77, 200]] = [0.9, -1.2, 0.4]
    b5 = blocks[5][1]
    b5[rng.uniform(size=QK_K) < 0.9] = 0.0
    b5[64:96] = 0.0
    blocks[7][1][32:48] = 3e-4
    return np.stack([b for _, b in blocks]).astype(np.float32), [d for d, _ in blocks]


def main() -> None:
    base = ctypes.CDLL(os.path.join(LIB, "libggml-base.so"))
    cpu = ctypes.CDLL(os.path.join(LIB, "libggml-cpu.so"))
    cpu.ggml_cpu_init()  # fills the f16 -> f32 table the dot products read
    rng = np.random.default_rng(SEED)
    src, desc = weight_blocks(rng)
    act = rng.standard_normal((len(desc), QK_K)).astype(np.float32)
    n_blocks = len(desc)
    os.makedirs(OUT, exist_ok=True)

    def quantize(cname: str, x: np.ndarray, block_bytes: int) -> bytes:
        x = np.ascontiguousarray(x.reshape(-1), dtype=np.float32)
        out = ctypes.create_string_buffer(block_bytes * (x.size // QK_K))
        fn = getattr(base, f"quantize_row_{cname}_ref")
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
        fn.restype = None
        fn(x.ctypes.data, out, x.size)
        return out.raw

    def write(name: str, data: bytes) -> str:
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
        return hashlib.sha256(data).hexdigest()

    manifest: dict = {
        "provenance": {
            "llama_cpp_python": llama_cpp.__version__,
            "libraries": "libggml-base.so (quantize_row_*_ref), libggml-cpu.so (ggml_vec_dot_*_q8_K_generic)",
            "seed": SEED,
        },
        "n_blocks": n_blocks,
        "block_descriptions": desc,
        "files": {},
    }
    manifest["files"]["ggml_kquant.src.f32"] = write("ggml_kquant.src.f32", src.astype("<f4").tobytes())
    manifest["files"]["ggml_act.src.f32"] = write("ggml_act.src.f32", act.astype("<f4").tobytes())
    q8 = quantize("q8_K", act, Q8K_BYTES)
    manifest["files"]["ggml_q8_k.q.bin"] = write("ggml_q8_k.q.bin", q8)
    q8_buf = ctypes.create_string_buffer(q8, len(q8))

    for t, (block_bytes, cname) in TYPES.items():
        q = quantize(cname, src, block_bytes)
        manifest["files"][f"ggml_{t}.q.bin"] = write(f"ggml_{t}.q.bin", q)
        q_buf = ctypes.create_string_buffer(q, len(q))
        for suffix, fname in (("dot", f"ggml_vec_dot_{cname}_q8_K_generic"), ("dot_native", f"ggml_vec_dot_{cname}_q8_K")):
            dot = getattr(cpu, fname)
            dot.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_float), ctypes.c_size_t, ctypes.c_void_p,
                            ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
            dot.restype = None
            dots = np.zeros(n_blocks, dtype="<f4")
            for k in range(1, n_blocks + 1):
                s = ctypes.c_float(0.0)
                dot(k * QK_K, ctypes.byref(s), 0, ctypes.addressof(q_buf), 0, ctypes.addressof(q8_buf), 0, 1)
                dots[k - 1] = s.value
            manifest["files"][f"ggml_{t}.{suffix}.f32"] = write(f"ggml_{t}.{suffix}.f32", dots.tobytes())
        print(f"{t}: {len(q)} bytes, dots {dots[0]:.6g} .. {dots[-1]:.6g}")

    with open(os.path.join(OUT, "ggml_kquant_manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
