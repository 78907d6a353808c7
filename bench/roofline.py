#!/usr/bin/env python3
"""Decode roofline: weight bytes read per generated token vs measured memory bandwidth.

Bytes per decode step = every tensor a one-token forward pass reads: all layer weights and
norms, the output head, and one row of token_embd.weight (the whole of it when the model has
no output.weight, i.e. the embedding is tied and doubles as the output head). Tensor sizes
come from `wasm-chord info --json`. roofline tok/s = read bandwidth / bytes per token.
Bandwidth and both engines' tg come from one bench/roofline.sh raw directory, measured
interleaved round by round. Standard library only.

Usage: roofline.py --wasm-chord BIN --raw RAW_DIR MODEL...
"""

from __future__ import annotations

import argparse
import json
import os
import re
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


def read_json(path: str):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError):
        return None


def tg_of(engine: str, rows) -> float | None:
    """The decode tok/s of one run file (None: no usable result)."""
    if not rows:
        return None
    samples = compare_table.llamacpp_samples(rows) if engine == "llamacpp" else compare_table.wasmchord_samples(rows)
    xs = [x for test, v in samples.items() if test.startswith("tg") for x in v]
    return max(xs) if xs else None


def membw_of(path: str) -> float | None:
    try:
        with open(path) as f:
            m = re.search(r"read GB/s=([0-9.]+)", f.read())
    except OSError:
        return None
    return float(m.group(1)) if m else None


def failures(raw: str) -> dict[str, str]:
    """{run name: 'rc N'} from the FAILED lines of settings.txt."""
    out = {}
    try:
        with open(os.path.join(raw, "settings.txt")) as f:
            for line in f:
                m = re.match(r"FAILED (\S+) rc=(\d+)", line)
                if m:
                    out[m.group(1)] = m.group(2)
    except OSError:
        pass
    return out


def rounds(raw: str, name: str, t: int) -> list[int]:
    pat = re.compile(rf"^membw_{re.escape(name)}_t{t}_r(\d+)\.txt$")
    return sorted(int(m.group(1)) for f in os.listdir(raw) if (m := pat.match(f)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wasm-chord", required=True, help="wasm-chord binary (for `info --json`)")
    ap.add_argument("--raw", required=True, help="bench/results/raw/roofline_<stamp> of bench/roofline.sh")
    ap.add_argument("models", nargs="+")
    a = ap.parse_args()

    failed = failures(a.raw)
    cpu = read_json(os.path.join(a.raw, "cpu.json")) or {}
    print(f"# Decode roofline — {os.path.basename(os.path.normpath(a.raw))}\n")
    if cpu:
        print(f"CPU: {cpu.get('model')} ({cpu.get('threads')} threads available)\n")
    print("Per round: `bench/membw.c` read bandwidth (AVX2 streaming sum over 1 GiB, best of 5), then")
    print("llama-bench tg, then wasm-chord bench tg, on the same model and thread count. Bytes per token =")
    print("all layer weights + output head + one token_embd row (all of token_embd when tied).")
    print("roofline tok/s = best bandwidth / bytes per token. Each engine: its best tg of the rounds, that")
    print("as % of the roofline, and in brackets the range of the per-round % (round tg / round roofline).\n")
    print("| model | MB read / token | threads | GB/s (best; range) | roofline tok/s | llama.cpp tg | % roofline | wasm-chord tg | % roofline | wasm-chord / llama.cpp |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    threads = sorted({int(m.group(1)) for f in os.listdir(a.raw) if (m := re.match(r"^membw_.+_t(\d+)_r\d+\.txt$", f))})
    for path in a.models:
        if not os.path.exists(path):
            print(f"roofline.py: skipping missing {path}", file=sys.stderr)
            continue
        info = json.loads(subprocess.run([a.wasm_chord, "info", "--json", path], check=True,
                                         capture_output=True, text=True).stdout)
        per_tok, _ = decode_bytes(info)
        name = os.path.basename(path).removesuffix(".gguf")
        for t in threads:
            rs = rounds(a.raw, name, t)
            if not rs:
                continue
            bws = {r: membw_of(os.path.join(a.raw, f"membw_{name}_t{t}_r{r}.txt")) for r in rs}
            good_bw = [b for b in bws.values() if b]
            if not good_bw:
                continue
            best_bw = max(good_bw)
            roof = best_bw * 1e9 / per_tok
            cells = []
            best_tg = {}
            for engine in ("llamacpp", "wasmchord"):
                tgs, fracs, crashes = [], [], []
                for r in rs:
                    run = f"{engine}_{name}_t{t}_r{r}"
                    if run in failed:
                        crashes.append(f"r{r} rc {failed[run]}")
                    v = tg_of(engine, read_json(os.path.join(a.raw, run + ".json")))
                    if v is not None:
                        tgs.append(v)
                        if bws[r]:
                            fracs.append(100 * v * per_tok / (bws[r] * 1e9))
                if not tgs:
                    cells += [f"failed: {', '.join(crashes)}" if crashes else "—", "—"]
                    continue
                best_tg[engine] = max(tgs)
                note = f" (failed: {', '.join(crashes)})" if crashes else ""
                cells += [f"{max(tgs):.2f}{note}", f"{100 * max(tgs) / roof:.0f}% [{min(fracs):.0f}–{max(fracs):.0f}]"]
            ratio = (f"{best_tg['wasmchord'] / best_tg['llamacpp']:.2f}"
                     if len(best_tg) == 2 else "—")
            print(f"| {name} | {per_tok / 1e6:.1f} | {t} | {best_bw:.1f}; {min(good_bw):.1f}–{best_bw:.1f} | "
                  f"{roof:.1f} | {' | '.join(cells)} | {ratio} |")
    with open(os.path.join(a.raw, "settings.txt")) as f:
        print("\nSettings:\n```\n" + f.read().strip() + "\n```")


if __name__ == "__main__":
    main()
