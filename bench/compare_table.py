#!/usr/bin/env python3
"""Markdown table from one bench/compare_llamacpp.sh run directory (bench/results/raw/<stamp>/).

Reads llamacpp_<model>_t<T>_r<round>.json (llama-bench -o json) and
wasmchord_<model>_t<T>_r<round>.json (wasm-chord bench --json), pools the per-repetition
tokens/s samples of all rounds per (model, threads, test, engine) and prints
mean ± sample sd and the ratio wasm-chord / llama.cpp. Standard library only.

Usage: compare_table.py RAW_DIR > compare.md
"""

from __future__ import annotations

import glob
import json
import os
import re
import statistics
import sys
from collections import defaultdict

NAME = re.compile(r"^(llamacpp|wasmchord)_(.+)_t(\d+)_r(\d+)\.json$")


def llamacpp_samples(rows: list[dict]) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for r in rows:
        test = f"tg{r['n_gen']}" if r["n_gen"] > 0 else f"pp{r['n_prompt']}"
        out[test] = [float(x) for x in r["samples_ts"]]
    return out


def wasmchord_samples(rows: list[dict]) -> dict[str, list[float]]:
    return {r["test"]: [float(x) for x in r.get("samples_ts", [r["tokens_per_s"]])] for r in rows}


LLAMACPP_SETTINGS = ("build_commit", "repack", "flash_attn", "type_k", "type_v", "n_batch", "n_ubatch",
                     "load_mode", "poll", "cpu_strict")


def collect(raw: str, llamacpp_settings: set | None = None):
    """{(model, threads, test): {engine: [samples]}} and the wasm-chord ISA per model; adds the
    distinct llama-bench settings (LLAMACPP_SETTINGS) to `llamacpp_settings` if given."""
    data: dict[tuple, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    isa: dict[str, str] = {}
    for path in sorted(glob.glob(os.path.join(raw, "*.json"))):
        m = NAME.match(os.path.basename(path))
        if not m:
            continue
        engine, model, threads = m.group(1), m.group(2), int(m.group(3))
        try:
            with open(path) as f:
                rows = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            print(f"compare_table.py: skipping {path}: {e}", file=sys.stderr)
            continue
        if engine == "llamacpp":
            samples = llamacpp_samples(rows)
            if llamacpp_settings is not None:
                llamacpp_settings.update(tuple((k, r.get(k)) for k in LLAMACPP_SETTINGS if k in r) for r in rows)
        else:
            samples = wasmchord_samples(rows)
            if rows:
                isa[model] = rows[0].get("isa", "?")
        for test, xs in samples.items():
            data[(model, threads, test)][engine].extend(xs)
    return data, isa


def failed_runs(raw: str) -> dict[tuple, list[str]]:
    """{(engine, model, threads): ["r<round> rc <code>", ...]} from settings.txt's FAILED lines
    (a crashed or timed-out run: rc 124 is a timeout, 128+N a signal N)."""
    out: dict[tuple, list[str]] = defaultdict(list)
    try:
        with open(os.path.join(raw, "settings.txt")) as f:
            for line in f:
                m = re.match(r"FAILED (llamacpp|wasmchord)_(.+)_t(\d+)_r(\d+) rc=(\d+)", line)
                if m:
                    out[(m.group(1), m.group(2), int(m.group(3)))].append(f"r{m.group(4)} rc {m.group(5)}")
    except OSError:
        pass
    return out


def fmt(xs: list[float], failures: list[str] | None = None) -> str:
    if not xs:
        return f"failed: {', '.join(failures)}" if failures else "—"
    note = f" (failed: {', '.join(failures)})" if failures else ""
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    return f"{statistics.fmean(xs):.2f} ± {sd:.2f}{note}"


def test_order(test: str) -> tuple:
    return (0 if test.startswith("pp") else 1, int(test[2:]) if test[2:].isdigit() else 0)


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    raw = sys.argv[1]
    ll_settings: set = set()
    data, isa = collect(raw, ll_settings)
    failed = failed_runs(raw)
    settings = ""
    if os.path.exists(os.path.join(raw, "settings.txt")):
        with open(os.path.join(raw, "settings.txt")) as f:
            settings = f.read().strip()
    cpu = {}
    if os.path.exists(os.path.join(raw, "cpu.json")):
        with open(os.path.join(raw, "cpu.json")) as f:
            cpu = json.load(f)

    print(f"# wasm-chord vs llama.cpp — {os.path.basename(os.path.normpath(raw))}\n")
    if cpu:
        feats = " ".join(k for k, v in cpu.get("features", {}).items() if v)
        print(f"CPU: {cpu.get('model')} ({cpu.get('threads')} threads available; {feats})\n")
    print("Tokens/s, mean ± sample sd over all repetitions of all interleaved rounds;")
    print("ratio = wasm-chord / llama.cpp (> 1: wasm-chord is faster).\n")
    print("| model | threads | test | llama.cpp t/s | wasm-chord t/s | wasm-chord isa | ratio |")
    print("| --- | ---: | ---: | ---: | ---: | --- | ---: |")
    for key in sorted(data, key=lambda k: (k[0], k[1], test_order(k[2]))):
        model, threads, test = key
        ll, wc = data[key].get("llamacpp", []), data[key].get("wasmchord", [])
        ratio = f"{statistics.fmean(wc) / statistics.fmean(ll):.2f}" if ll and wc else "—"
        ll_f, wc_f = failed.get(("llamacpp", model, threads)), failed.get(("wasmchord", model, threads))
        print(f"| {model} | {threads} | {test} | {fmt(ll, ll_f)} | {fmt(wc, wc_f)} | {isa.get(model, '?')} | {ratio} |")
    for st in sorted(ll_settings):
        print("\nllama-bench reported: " + ", ".join(f"{k}={v}" for k, v in st))
    if settings:
        print("\nSettings:\n```\n" + settings + "\n```")


if __name__ == "__main__":
    main()
