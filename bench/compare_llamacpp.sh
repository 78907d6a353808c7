#!/usr/bin/env bash
# wasm-chord vs llama.cpp (llama-bench), same GGUF files, same machine, interleaved runs.
#
# For every model and thread count, ROUNDS times: llama-bench, then `wasm-chord bench`
# (A/B/A/B...), each with -p 128 -n 128 -t T -r REPS. llama.cpp runs with flash attention off
# and an f16 KV cache (wasm-chord's bench uses an f16 KV cache by default). All samples of all
# rounds are pooled into mean ± sd per engine; the table goes to bench/results/compare_<date>.md.
#
# Usage: bench/compare_llamacpp.sh [--quick] [--rounds N] [--reps R] [--threads "1 2"]
#                                  [--models "path ..."] [--pp N] [--tg N] [--out FILE]
#   default: 3 rounds x 3 reps, threads 1 and 2, Gemma 3 270M Q4_K_M + the TinyLlama-1.1B files of
#   bench/make_models.sh (Q4_K_M, Q4_0, Q8_0; 32000- and 1024-token vocabularies), then the real
#   models of scripts/fetch-model.sh NAME (SmolLM2-135M Q4_1, Qwen2.5-Coder-0.5B/1.5B Q4_K_M)
#   --quick: 2 rounds x 1 rep (< 10 min on an idle 2-core box)
# Env: LLAMA_BENCH (default $ROOT/bench/build/llamacpp/build/bin/llama-bench; built by
#      bench/build_llamacpp.sh if missing), WASM_CHORD_BIN (default target/release/wasm-chord,
#      rebuilt with `cargo build --release -p wasm-chord`), LLAMA_BENCH_EXTRA (extra llama-bench flags),
#      LLAMA_REPACK (default 1, llama-bench's default: repacked weights; 0 is llama.cpp's exact path),
#      RUN_TIMEOUT (seconds per run, default 1800). A run that fails, crashes or times out is
#      recorded and shown as such in the table (on AMX machines a -march=native llama.cpp build has
#      crashed with --repack 1: build it with LLAMACPP_CMAKE_EXTRA, see bench/build_llamacpp.sh).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
source bench/lib.sh
PYTHON=${PYTHON:-python3}
ROUNDS=3
REPS=3
THREADS="1 2"
PP=128
TG=128
MODELS=$(default_models)
OUT=""
while [[ $# -gt 0 ]]; do
    case $1 in
        --quick) ROUNDS=2; REPS=1; shift ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --reps) REPS=$2; shift 2 ;;
        --threads) THREADS=$2; shift 2 ;;
        --models) MODELS=$2; shift 2 ;;
        --pp) PP=$2; shift 2 ;;
        --tg) TG=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "compare_llamacpp.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

resolve_binaries

STAMP=$(date -u +%Y-%m-%d_%H%M)
OUT=${OUT:-bench/results/compare_$STAMP.md}
RAW=bench/results/raw/$STAMP
mkdir -p "$RAW" "$(dirname "$OUT")"

# llama.cpp settings, recorded in the results (flash attention off, f16 K and V caches).
LLAMA_FLAGS=(-fa 0 -ctk f16 -ctv f16 --repack "${LLAMA_REPACK:-1}" ${LLAMA_BENCH_EXTRA:-})
RUN_TIMEOUT=${RUN_TIMEOUT:-1800}
{
    echo "date_utc=$(date -u +%FT%TZ)"
    echo "wasm_chord_commit=${WASM_CHORD_COMMIT:-$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates || echo -dirty)}"
    echo "wasm_chord_bin=$WASM_CHORD_BIN"
    echo "llama_bench=$LLAMA_BENCH"
    echo "llama_flags=${LLAMA_FLAGS[*]}"
    { cat "$(dirname "$(dirname "$(dirname "$LLAMA_BENCH")")")/BUILD_INFO.txt" 2>/dev/null || true; } | sed "s/^/llamacpp_build: /"
    echo "rounds=$ROUNDS reps=$REPS threads=$THREADS pp=$PP tg=$TG"
    echo "load_before=$(cut -d' ' -f1-3 /proc/loadavg)"
} > "$RAW/settings.txt"
"$WASM_CHORD_BIN" info --cpu --json > "$RAW/cpu.json"

for model in $MODELS; do
    if [[ ! -f $model ]]; then
        echo "skipping $model (missing; see bench/make_models.sh / scripts/fetch-model.sh)" >&2
        continue
    fi
    name=$(basename "$model" .gguf)
    for t in $THREADS; do
        for ((round = 1; round <= ROUNDS; round++)); do
            echo "[$(date -u +%T)] $name t=$t round $round/$ROUNDS: llama.cpp" >&2
            timeout "$RUN_TIMEOUT" "$LLAMA_BENCH" -m "$model" -p "$PP" -n "$TG" -t "$t" -r "$REPS" \
                "${LLAMA_FLAGS[@]}" -o json > "$RAW/llamacpp_${name}_t${t}_r${round}.json" \
                2> "$RAW/llamacpp_${name}_t${t}_r${round}.log" ||
                echo "FAILED llamacpp_${name}_t${t}_r${round} rc=$?" | tee -a "$RAW/settings.txt" >&2
            echo "[$(date -u +%T)] $name t=$t round $round/$ROUNDS: wasm-chord" >&2
            timeout "$RUN_TIMEOUT" "$WASM_CHORD_BIN" bench -m "$model" -p "$PP" -n "$TG" -t "$t" -r "$REPS" \
                --json > "$RAW/wasmchord_${name}_t${t}_r${round}.json" \
                2> "$RAW/wasmchord_${name}_t${t}_r${round}.log" ||
                echo "FAILED wasmchord_${name}_t${t}_r${round} rc=$?" | tee -a "$RAW/settings.txt" >&2
        done
    done
done
echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)" >> "$RAW/settings.txt"

"$PYTHON" bench/compare_table.py "$RAW" > "$OUT"
echo "wrote $OUT (raw runs in $RAW)" >&2
cat "$OUT"
