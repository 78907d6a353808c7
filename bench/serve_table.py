#!/usr/bin/env python3
"""The markdown table of bench/compare_serve.sh from its raw directory.

Raw files, per model NAME, round R and engine E (llama or wasm-chord): NAME.rR.E.json
(serve_load.py --json), .failed (why the run failed), .load (1-min load average before the load
run), .rss_kb (the server's peak RSS); E.missing (why the engine did not run); meta.txt.
Per engine and concurrency: the best round's tokens/s with the range over rounds, that round's
TTFT and inter-token latency p50 / p99, and the failed + short requests summed over rounds.
Usage: serve_table.py RAW_DIR
"""

import glob
import json
import os
import re
import sys

ENGINES = [("llama", "llama-server"), ("wasm-chord", "wasm-chord serve")]


def read(path):
    with open(path) as f:
        return f.read().strip()


def fmt(v, digits=1):
    return "—" if v is None else f"{v:.{digits}f}"


def main(raw):
    meta = dict(line.split(": ", 1) for line in read(os.path.join(raw, "meta.txt")).splitlines())
    runs = {}  # (model, engine) -> list of (round, report or None, failure or None, rss_kb)
    loads = []
    for f in sorted(glob.glob(os.path.join(raw, "*.r*.*.server.log"))):
        m = re.match(r"(.+)\.r(\d+)\.(llama|wasm-chord)\.server\.log$", os.path.basename(f))
        if not m:
            continue
        model, rnd, engine = m.group(1), int(m.group(2)), m.group(3)
        base = f[: -len(".server.log")]
        report = failure = rss = None
        if os.path.exists(base + ".json") and os.path.getsize(base + ".json") > 0:
            try:
                report = json.loads(read(base + ".json"))
            except ValueError:
                failure = "unreadable serve_load.py output"
        if os.path.exists(base + ".failed"):
            failure = read(base + ".failed")
        if os.path.exists(base + ".load"):
            loads.append(float(read(base + ".load")))
        if os.path.exists(base + ".rss_kb") and read(base + ".rss_kb"):
            rss = int(read(base + ".rss_kb"))
        runs.setdefault((model, engine), []).append((rnd, report, failure, rss))

    print("# OpenAI-compatible servers under load: llama-server vs wasm-chord serve\n")
    print(f"CPU: {meta.get('cpu', '?')}, {meta.get('cores', '?')} cores. "
          f"wasm-chord {meta.get('commit', '?')}; {meta.get('llama.cpp', 'llama.cpp ?')}.")
    load_range = f"{min(loads):.2f}-{max(loads):.2f}" if loads else "—"
    print(f"Load average (1 min) before the load runs: {load_range}; "
          f"before all: {meta.get('load_before', '?')}; after all: {meta.get('load_after', '?')}.\n")
    print(f"Settings: {meta.get('settings', '?')}; {meta.get('llama-server flags', '')}. "
          "Streaming requests, temperature 0, ignore_eos; tokens/s = generated tokens of "
          "all requests / wall time of the level (bench/serve_load.py). Best round by tokens/s, "
          "range over rounds in brackets; TTFT and ITL (inter-token latency) of that round in ms; "
          "failed = failed + short requests over all rounds.\n")
    for engine, label in ENGINES:
        missing = os.path.join(raw, f"{engine}.missing")
        if os.path.exists(missing):
            print(f"- **{label}: not run** — {read(missing)}")
    models = sorted({m for m, _ in runs})
    for model in models:
        print(f"\n## {model}\n")
        for engine, label in ENGINES:
            for rnd, _, failure, _ in sorted(runs.get((model, engine), [])):
                if failure:
                    print(f"- {label}, round {rnd}: **failed** — {failure}")
            rss = [r for _, _, _, r in runs.get((model, engine), []) if r]
            if rss:
                print(f"- {label}: peak RSS {max(rss) / 1024:.0f} MiB")
        print()
        print("| conc | engine | tok/s | TTFT p50 | TTFT p99 | ITL p50 | ITL p99 | failed | wasm-chord / llama |")
        print("|---|---|---|---|---|---|---|---|---|")
        levels = sorted({lv["concurrency"] for (m, _), rs in runs.items() if m == model
                         for _, rep, _, _ in rs if rep for lv in rep["levels"]})
        for c in levels:
            best = {}
            for engine, label in ENGINES:
                lvs = [lv for _, rep, _, _ in runs.get((model, engine), []) if rep
                       for lv in rep["levels"] if lv["concurrency"] == c]
                if not lvs:
                    continue
                top = max(lvs, key=lambda lv: lv["tokens_per_s"] or 0)
                best[engine] = top["tokens_per_s"]
                tps = [lv["tokens_per_s"] or 0 for lv in lvs]
                bad = sum(lv["failed"] + lv["short"] for lv in lvs)
                total = sum(lv["requests"] for lv in lvs)
                ratio = ""
                if engine == "wasm-chord" and best.get("llama") and top["tokens_per_s"]:
                    ratio = f"{top['tokens_per_s'] / best['llama']:.2f}"
                print(f"| {c} | {label} | {fmt(top['tokens_per_s'])} ({fmt(min(tps))}-{fmt(max(tps))}) | "
                      f"{fmt(top['ttft_ms_p50'])} | {fmt(top['ttft_ms_p99'])} | {fmt(top['itl_ms_p50'], 2)} | "
                      f"{fmt(top['itl_ms_p99'], 2)} | {bad}/{total} | {ratio} |")


if __name__ == "__main__":
    main(sys.argv[1])
