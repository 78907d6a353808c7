#!/usr/bin/env python3
"""llama.cpp's results that do not depend on its float summation order, for bit-for-bit checks
on any x86 host (tests/fixtures/ref/NAME[SUFFIX].layer0.json):

  keys    layer 0's keys after RoPE (graph tensor Kcur-0, last node of that name) for every
          position of a prompt: attention norm, the K projection (its rows of a fused attn_qkv),
          per-head key norm, RoPE with its frequency factors and attention factor. No attention
          sum comes before them, and ggml's RoPE and RMS norm are scalar code.
  first   all logits of one-token prompts: attention over a single position is that position's
          value times exactly 1, so the whole forward pass (the fused gate/up split, query
          scaling, ...) is free of attention's lane order.

Quantized weights dot quantized activations in integer arithmetic and the same per-block float
steps on AVX2 and AVX-512 builds, so these values are bit-exact for Q4_K_M models; F32 weights
are summed in the ISA's lane order (compare with a tolerance).

Usage: gen_layer0_fixtures.py MODEL.gguf [...] [--n-ctx 1024 --suffix .ctx1024]
"""

from __future__ import annotations

import argparse
import os

import llamacpp_ref as R
from gen_ref_fixtures import REF, rel, write_json

PROMPT = "The quick brown fox jumps over the lazy dog"
FIRST_TOKENS = 3  # BOS and the next two ids of the prompt, each alone


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--n-ctx", type=int, default=2048)
    ap.add_argument("--suffix", default="")
    a = ap.parse_args()
    for path in a.models:
        name = os.path.splitext(os.path.basename(path))[0]
        cap = R.Capture(["Kcur"])
        m = R.Model(path, n_ctx=a.n_ctx, capture=cap)
        ids = m.tokenize(PROMPT, True, False)
        m.clear()
        m.decode(ids, 0, [i == len(ids) - 1 for i in range(len(ids))])
        keys = cap.got["Kcur-0"][-1]
        first = []
        for t in ids[:FIRST_TOKENS]:
            first.append({"id": t, "logits": [R.f32(x) for x in m.last_logits([t])]})
        m.close()
        write_json(os.path.join(REF, f"{name}{a.suffix}.layer0.json"),
                   {"model": name, "model_file": rel(path), "provenance": R.provenance(), "n_ctx": a.n_ctx,
                    "ids": ids, "keys_name": "Kcur-0", "keys": [R.f32(x) for x in keys], "first": first})


if __name__ == "__main__":
    main()
