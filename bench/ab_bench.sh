#!/usr/bin/env bash
# Interleaved A/B of two wasm-chord binaries' `bench` (old, new, old, new, ...): for every model
# and thread count, ROUNDS times each binary with -p PP -n TG -t T -r REPS. The load average is
# recorded before every run. Per binary and (model, T, test) the best round is reported with the
# range over rounds, and new / old of the bests; the table goes to
# bench/results/ab_bench_<date>_<label>.md (raw JSON beside it).
#
# Usage: bench/ab_bench.sh OLD_BIN NEW_BIN [--label NAME] [--rounds N] [--reps R]
#                          [--threads "1 2"] [--pp N] [--tg N] [--models "path ..."]
#   default: label ab, 3 rounds x 2 reps, threads 1 and 2, pp128 / tg128, Gemma 3 270M Q4_K_M and
#   the TinyLlama-shaped 1.1B Q4_K_M (bench/make_models.sh).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
OLD=$1 NEW=$2
shift 2
LABEL=ab ROUNDS=3 REPS=2 THREADS="1 2" PP=128 TG=128
MODELS="models/gemma-3-270m-q4_k_m.gguf bench/models/tinyllama-1.1b-q4_k_m.gguf"
while [[ $# -gt 0 ]]; do
    case $1 in
        --label) LABEL=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --reps) REPS=$2; shift 2 ;;
        --threads) THREADS=$2; shift 2 ;;
        --pp) PP=$2; shift 2 ;;
        --tg) TG=$2; shift 2 ;;
        --models) MODELS=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
STAMP=$(date -u +%Y-%m-%d_%H%M)
RAW=bench/results/raw/ab_bench_${STAMP}_$LABEL
mkdir -p "$RAW"
for model in $MODELS; do
    [[ -f $model ]] || { echo "skipping $model (missing)" >&2; continue; }
    for t in $THREADS; do
        for r in $(seq 1 "$ROUNDS"); do
            for which in old new; do
                bin=$OLD; [[ $which == new ]] && bin=$NEW
                out=$RAW/$(basename "$model" .gguf)_t${t}_r${r}_$which.json
                cut -d' ' -f1 /proc/loadavg > "$out.load"
                "$bin" bench -m "$model" -p "$PP" -n "$TG" -t "$t" -r "$REPS" --json 2>/dev/null > "$out" ||
                    echo "failed: $which $model t$t r$r" >&2
            done
        done
    done
done
OUT=bench/results/ab_bench_${STAMP}_$LABEL.md
python3 - "$RAW" "$OLD" "$NEW" > "$OUT" <<'PY'
import glob, json, os, re, sys
raw, old, new = sys.argv[1:4]
best, seen, loads = {}, {}, []
for f in sorted(glob.glob(os.path.join(raw, "*.json"))):
    m = re.match(r"(.+)_t(\d+)_r(\d+)_(old|new)\.json$", os.path.basename(f))
    model, t, _, which = m.groups()
    loads.append(float(open(f + ".load").read()))
    try:
        runs = json.load(open(f))
    except ValueError:
        continue
    for e in runs:
        key = (model, int(t), e["test"])
        v = max(e["samples_ts"])
        seen.setdefault((key, which), []).append(v)
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"# A/B of two wasm-chord binaries, `bench` ({os.path.basename(raw)})\n")
print(f"CPU: {cpu}, {os.cpu_count()} cores; load average before the runs {min(loads):.2f}-{max(loads):.2f}.")
print(f"old: `{old}`; new: `{new}`. Best sample per round; best round and range (tokens/s).\n")
print("| model | threads | test | old | new | new/old |")
print("|---|---|---|---|---|---|")
keys = sorted({k for k, _ in seen})
for key in keys:
    o, n = seen.get((key, "old"), []), seen.get((key, "new"), [])
    if not o or not n:
        continue
    fmt = lambda v: f"{max(v):.1f} ({min(v):.1f}-{max(v):.1f})"
    print(f"| {key[0]} | {key[1]} | {key[2]} | {fmt(o)} | {fmt(n)} | {max(n) / max(o):.3f} |")
PY
cat "$OUT"
echo "wrote $OUT" >&2
