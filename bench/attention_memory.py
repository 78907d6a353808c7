#!/usr/bin/env python3
"""Peak memory and speed of the attention backends on long prompts.

Generates the synthetic `tiny-long` llama (dim 256, 2 layers, 4 heads / 2 KV heads, head_dim 64,
n_ctx 8192, F32 weights: attention dominates long prompts), then for each backend and prompt
length runs `wasm-chord bench -p N -n 0` (prefill in batches of -b tokens) and, if asked, a decode
test at the end of that context (`--decode`: `-n N`, i.e. N generated tokens, each attending to
all previous ones) under `/usr/bin/time -v`, and writes a markdown table of peak RSS and tok/s.

Usage (from the repository root):
  bench/attention_memory.py [--sizes 1024,2048,4096,8192] [--threads 2] [--reps 1]
                            [--backends standard,flash] [--batch 512] [--cache-type f16]
                            [--out bench/results/attention.md] [--bin target/release/wasm-chord]
Needs: a python with gguf and numpy (default bench/build/venv, see bench/make_models.sh) for the generator; builds `wasm-chord` (release) if --bin is
missing. Time: ~2-4 min on 2 cores for the default sizes (plus the release build).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = os.environ.get("REF_PY", os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench", "build", "venv", "bin", "python"))


def sh(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)


def make_model(path: Path) -> None:
    if path.exists():
        return
    vocab = ROOT / "tests/fixtures/models/tiny-f16.gguf"  # its 512-token SPM vocab
    sh([PY, str(ROOT / "tools/gen_synthetic_llama.py"), "--vocab-gguf", str(vocab),
        "--shape", "tiny-long", "--seed", "1", "--out", str(path)])


def run_bench(binary: Path, model: Path, backend: str, args: list[str], threads: int,
              reps: int, batch: int, cache: str) -> tuple[float, float, int]:
    """Returns (tokens/s, wall seconds, peak RSS in KiB)."""
    cmd = ["/usr/bin/time", "-v", str(binary), "bench", "-m", str(model), *args,
           "-t", str(threads), "-r", str(reps), "-b", str(batch), "--cache-type", cache,
           "--attn", backend, "--json"]
    t0 = time.monotonic()
    p = subprocess.run(cmd, text=True, capture_output=True)
    wall = time.monotonic() - t0
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stderr}")
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    rss = int(m.group(1)) if m else -1
    rows = json.loads(p.stdout)
    return rows[0]["tokens_per_s"], wall, rss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1024,2048,4096,8192")
    ap.add_argument("--decode", default="", help="also decode tests of these lengths (-n N)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--cache-type", default="f16", choices=["f16", "f32"])
    ap.add_argument("--backends", default="standard,flash")
    ap.add_argument("--model", default="/tmp/wasm-chord-bench/tiny-long.gguf")
    ap.add_argument("--bin", default=str(ROOT / "target/release/wasm-chord"))
    ap.add_argument("--out", default=str(ROOT / "bench/results/attention.md"))
    a = ap.parse_args()

    binary = Path(a.bin)
    if not binary.exists():
        print("building wasm-chord (release)...", file=sys.stderr)
        sh(["cargo", "build", "--release", "-p", "wasm-chord"], cwd=ROOT)
    model = Path(a.model)
    model.parent.mkdir(parents=True, exist_ok=True)
    make_model(model)

    tests = [("pp", int(n)) for n in a.sizes.split(",") if n]
    tests += [("tg", int(n)) for n in a.decode.split(",") if n]
    backends = [b for b in a.backends.split(",") if b]
    rows = []
    for kind, n in tests:
        for b in backends:
            args = ["-p", str(n), "-n", "0"] if kind == "pp" else ["-p", "0", "-n", str(n)]
            ts, wall, rss = run_bench(binary, model, b, args, a.threads, a.reps, a.batch, a.cache_type)
            print(f"{kind}{n} {b}: {ts:.1f} t/s, peak RSS {rss / 1024:.1f} MiB, {wall:.1f} s", file=sys.stderr)
            rows.append((kind, n, b, ts, rss))

    cpu = ""
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    lines = [
        "# Attention backends: peak memory and speed",
        "",
        f"Model: synthetic `tiny-long` llama (tools/gen_synthetic_llama.py --shape tiny-long --seed 1; dim 256, "
        f"2 layers, 4 heads / 2 KV heads, head_dim 64, F32 weights, n_ctx 8192). "
        f"`wasm-chord bench -p N -n 0 -b {a.batch} -t {a.threads} -r {a.reps} --cache-type {a.cache_type} --attn B` "
        f"under `/usr/bin/time -v` (peak RSS of the whole process: weights, KV cache of N positions, scratch). "
        f"CPU: {cpu}, {os.cpu_count()} logical cores shared with other jobs.",
        "",
        "Generated by `bench/attention_memory.py " + " ".join(sys.argv[1:]) + "`.",
        "",
        "| test | backend | t/s | peak RSS (MiB) | RSS growth vs previous size (MiB) |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    prev: dict[tuple[str, str], int] = {}
    for kind, n, b, ts, rss in rows:
        growth = "" if (kind, b) not in prev else f"{(rss - prev[(kind, b)]) / 1024:+.1f}"
        prev[(kind, b)] = rss
        lines.append(f"| {kind}{n} | {b} | {ts:.1f} | {rss / 1024:.1f} | {growth} |")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    table = "\n".join(lines) + "\n"
    out = Path(a.out)
    # keep any hand-written analysis below the generated table
    marker = "\n## Analysis\n"
    if out.exists() and marker in out.read_text():
        table += marker + out.read_text().split(marker, 1)[1]
    out.write_text(table)
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
