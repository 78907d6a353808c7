#!/usr/bin/env python3
"""Check that benchmark models load and generate the same greedy text in llama.cpp and wasm-chord.

For each model: llama.cpp (llama-cpp-python via tools/llamacpp_ref.py, f32 KV, 1 thread) decodes
N tokens greedily after a fixed prompt; `wasm-chord run --temp 0 -n N --cache-type f32` does the same. The two
generated texts are compared (random-weight models give gibberish, but deterministic gibberish;
near-ties of quantized logits may make a long continuation diverge, so the common prefix is
reported too). Exit status 1 if a model fails to load or generates nothing.

Usage: REFVENV/bin/python bench/check_models.py (a venv with llama-cpp-python, tools/README.md) --wasm-chord BIN [-n 16] MODEL...
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import llamacpp_ref  # noqa: E402

PROMPT = "The quick brown fox"


def llamacpp_greedy(path: str, n: int) -> str:
    m = llamacpp_ref.Model(path, n_ctx=256)
    try:
        toks = m.tokenize(PROMPT, add_special=True, parse_special=False)
        logits = m.last_logits(toks)
        out = b""
        pos = len(toks)
        for _ in range(n):
            t = int(np.argmax(logits))
            if t == m.eos():
                break
            out += m.piece(t, special=False)
            logits = m.decode([t], pos, [True])[0]
            pos += 1
        return out.decode("utf-8", "replace")
    finally:
        m.close()


def wasmchord_greedy(binary: str, path: str, n: int) -> str:
    # --cache-type f32: the reference context (tools/llamacpp_ref.py) has an f32 KV cache
    cmd = [binary, "run", "-m", path, "-p", PROMPT, "-n", str(n), "--temp", "0", "-t", "2", "--cache-type", "f32"]
    r = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
    if r.returncode != 0:
        raise RuntimeError(f"wasm-chord run failed: {r.stderr.strip()}")
    return r.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wasm-chord", required=True)
    ap.add_argument("-n", type=int, default=16)
    ap.add_argument("models", nargs="+")
    a = ap.parse_args()
    ok = True
    for path in a.models:
        ll = llamacpp_greedy(path, a.n)
        wc = wasmchord_greedy(a.wasm_chord, path, a.n)
        common = os.path.commonprefix([ll, wc])
        same = "identical" if ll == wc else f"common prefix {len(common)}/{len(ll)} chars"
        print(f"{os.path.basename(path)}: {same}\n  llama.cpp : {ll!r}\n  wasm-chord: {wc!r}")
        ok &= bool(ll) and bool(wc)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
