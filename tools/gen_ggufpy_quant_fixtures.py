#!/usr/bin/env python3
"""Per-type quantization fixtures from the PyPI `gguf` package (gguf-py).

Run with the reference venv:  /root/refvenv/bin/python tools/gen_ggufpy_quant_fixtures.py
Writes to tests/fixtures/quant/, for every type gguf-py can dequantize
(F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K Q3_K Q4_K Q5_K Q6_K):
  <type>.bin      N_BLOCKS raw blocks: random bytes, with every f16 scale field
                  (d, m, dmin) overwritten by a sane finite value
  <type>.f32      gguf.quants.dequantize(<type>.bin), little-endian f32
and for the types gguf-py can quantize (F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0):
  <type>.src.f32  gaussian input with a few outliers and one all-zero block
  <type>.q.bin    gguf.quants.quantize(<type>.src.f32)
Block types get N_BLOCKS blocks; the float types get N_FLOATS elements.
Q8_1 and Q8_K are not in gguf-py; the Rust tests check them by formula.
Output is deterministic (fixed seed); total size is a few KB.
(tools/gen_quant_fixtures.py is the llama.cpp-based generator of the
llamacpp_<type>.* fixtures; this script only uses gguf-py.)
"""

from __future__ import annotations

import os

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), ".."))
OUT = os.path.join(ROOT, "tests", "fixtures", "quant")
N_BLOCKS = 8
N_FLOATS = 256
SEED = 20241122

# type -> byte offsets of the f16 scale fields inside one block (ggml layouts)
F16_FIELDS: dict[T, tuple[int, ...]] = {
    T.Q4_0: (0,),        # d, qs[16]
    T.Q4_1: (0, 2),      # d, m, qs[16]
    T.Q5_0: (0,),        # d, qh[4], qs[16]
    T.Q5_1: (0, 2),      # d, m, qh[4], qs[16]
    T.Q8_0: (0,),        # d, qs[32]
    T.Q2_K: (80, 82),    # scales[16], qs[64], d, dmin
    T.Q3_K: (108,),      # hmask[32], qs[64], scales[12], d
    T.Q4_K: (0, 2),      # d, dmin, scales[12], qs[128]
    T.Q5_K: (0, 2),      # d, dmin, scales[12], qh[32], qs[128]
    T.Q6_K: (208,),      # ql[128], qh[64], scales[16], d
}
QUANTIZABLE = [T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0]


def sane_f16(rng: np.random.Generator, n: int) -> np.ndarray:
    """Finite f16 scales, magnitudes 2^-12 .. 2^1, random sign."""
    mag = np.exp2(rng.uniform(-12.0, 1.0, n))
    sign = np.where(rng.uniform(size=n) < 0.5, -1.0, 1.0)
    return (mag * sign).astype(np.float16)


def random_blocks(rng: np.random.Generator, t: T) -> np.ndarray:
    block, size = gguf.GGML_QUANT_SIZES[t]
    raw = rng.integers(0, 256, size=(N_BLOCKS, size), dtype=np.uint8)
    for off in F16_FIELDS[t]:
        raw[:, off:off + 2] = sane_f16(rng, N_BLOCKS).view(np.uint8).reshape(N_BLOCKS, 2)
    return raw


def random_floats(rng: np.random.Generator, t: T) -> np.ndarray:
    x = rng.standard_normal(N_FLOATS).astype(np.float32) * np.float32(3.0)
    x[:4] = [0.0, -0.0, 1e-30, -65504.0]
    if t == T.F32:
        return x.view(np.uint8).reshape(1, -1)
    if t == T.F16:
        return x.astype(np.float16).view(np.uint8).reshape(1, -1)
    return gguf.quants.quantize(x, T.BF16).reshape(1, -1)


def source(rng: np.random.Generator, t: T) -> np.ndarray:
    n = N_FLOATS if t in (T.F16, T.BF16) else N_BLOCKS * gguf.GGML_QUANT_SIZES[t][0]
    x = rng.standard_normal(n).astype(np.float32)
    x[5] = 9.5           # outliers
    x[40] = -7.25
    x[64:96] = 0.0       # one all-zero 32-block
    x[100:132] *= 1e-3   # one tiny-scale block
    return x


def write(name: str, data: np.ndarray) -> None:
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(np.ascontiguousarray(data).tobytes())


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(SEED)
    total = 0
    for t in [T.F32, T.F16, T.BF16, *F16_FIELDS]:
        name = t.name.lower()
        raw = random_floats(rng, t) if t in (T.F32, T.F16, T.BF16) else random_blocks(rng, t)
        deq = gguf.quants.dequantize(raw, t).astype("<f4").reshape(-1)
        write(f"{name}.bin", raw)
        write(f"{name}.f32", deq)
        total += raw.nbytes + deq.nbytes
        line = f"{name}: {raw.nbytes} bytes -> {deq.size} f32"
        if t in QUANTIZABLE:
            x = source(rng, t)
            q = np.asarray(gguf.quants.quantize(x.reshape(1, -1), t)).view(np.uint8).reshape(-1)
            write(f"{name}.src.f32", x.astype("<f4"))
            write(f"{name}.q.bin", q)
            total += x.nbytes + q.nbytes
            back = gguf.quants.dequantize(q.reshape(1, -1), t).reshape(-1)
            rmse = float(np.sqrt(np.mean((back - x) ** 2)))
            line += f"; quantized {x.size} f32 -> {q.nbytes} bytes, rmse {rmse:.6f}"
        print(line)
    print(f"total {total} bytes in {OUT}")


if __name__ == "__main__":
    main()
