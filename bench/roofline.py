#!/usr/bin/env python3
"""Decode roofline: weight bytes read per generated token vs measured memory bandwidth.

Bytes per decode step = every tensor a one-token forward pass reads: all layer weights and
norms, the output head, and one row of token_embd.weight (the whole of it when the model has
no output.weight, i.e. the embedding is tied and doubles as the output head). Tensor sizes
come from `wasm-chord info --json`. roofline tok/s = read bandwidth / bytes per token.
The measured tg tok/s of both engines (from a bench/compare_llamacpp.sh raw directory) are
given as % of the roofline at the same thread count. Standard library only.

Usage: roofline.py --wasm-chord BIN --bw THREADS=GBPS [--bw ...] [--raw RAW_DIR] MODEL...
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare_table  # noqa: E402


def decode_bytes(info: dict) -> tuple[int, int]:
    """(bytes read per decoded token, total tensor bytes) from `wasm-chord info --json`."""
    tensors = {t["name"]: t for t in info["tensors"]}
    total = sum(t["bytes"] for t in tensors.values())
    emb = tensors.get("token_embd.weight")
    if emb is None or "output.weight" not in tensors:
        return total, total  # tied (or no) embedding: the whole matrix is the output head
    rows = emb["shape"][1] if len(emb["shape"]) > 1 else 1
    return total - emb["bytes"] + emb["bytes"] // max(rows, 1), total


def tg_means(raw: str | None) -> dict[tuple[str, int], dict[str, float]]:
    """{(model, threads): {engine: mean tg tok/s}} from a compare run directory."""
    out: dict[tuple[str, int], dict[str, float]] = {}
    if not raw:
        return out
    data, _ = compare_table.collect(raw)
    for (model, threads, test), engines in data.items():
        if test.startswith("tg"):
            for engine, xs in engines.items():
                if xs:
                    out.setdefault((model, threads), {})[engine] = sum(xs) / len(xs)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wasm-chord", required=True, help="wasm-chord binary (for `info --json`)")
    ap.add_argument("--bw", action="append", required=True, help="THREADS=GB/s, e.g. 1=11.8")
    ap.add_argument("--raw", help="bench/results/raw/<stamp> of a compare run")
    ap.add_argument("models", nargs="+")
    a = ap.parse_args()

    bw = {int(k): float(v) for k, v in (x.split("=", 1) for x in a.bw)}
    tg = tg_means(a.raw)
    print("\n## Decode roofline\n")
    print("Read bandwidth (`bench/membw.c`, AVX2 streaming sum over 1 GiB, best of 5): "
          + ", ".join(f"{t} thread{'s' if t > 1 else ''}: {g:.2f} GB/s" for t, g in sorted(bw.items())) + ".")
    print("Bytes per token = all layer weights + output head + one token_embd row "
          "(the whole token_embd when it is tied to the output head).\n")
    print("| model | weight MB read / token | threads | roofline tok/s | llama.cpp tg | % roofline | wasm-chord tg | % roofline |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for path in a.models:
        if not os.path.exists(path):
            print(f"roofline.py: skipping missing {path}", file=sys.stderr)
            continue
        info = json.loads(subprocess.run([a.wasm_chord, "info", "--json", path], check=True,
                                         capture_output=True, text=True).stdout)
        per_tok, _ = decode_bytes(info)
        name = os.path.basename(path).removesuffix(".gguf")
        for t, gbps in sorted(bw.items()):
            roof = gbps * 1e9 / per_tok
            m = tg.get((name, t), {})

            def cell(engine: str) -> str:
                v = m.get(engine)
                return ("—", "—") if v is None else (f"{v:.2f}", f"{100 * v / roof:.0f}%")

            ll, wc = cell("llamacpp"), cell("wasmchord")
            print(f"| {name} | {per_tok / 1e6:.1f} | {t} | {roof:.1f} | {ll[0]} | {ll[1]} | {wc[0]} | {wc[1]} |")


if __name__ == "__main__":
    main()
