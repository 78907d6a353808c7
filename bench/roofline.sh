#!/usr/bin/env bash
# Decode roofline, measured interleaved: per model, thread count and round, the read bandwidth
# (bench/membw.c), then llama-bench's decode, then wasm-chord's, so all three see the same machine
# state. roofline.py reports per model and thread count: the weight bytes a decode step reads, the
# bandwidth (best of the rounds), the roofline tok/s, and each engine's best tg as a fraction of
# it with the spread of the per-round fractions (each round's tg over that round's roofline).
#
# Usage: bench/roofline.sh [--rounds N] [--threads "1 2"] [--tg N] [--models "path ..."] [--out FILE]
#   default: 3 rounds, threads 1 and 2, tg64, Gemma 3 270M Q4_K_M + the TinyLlama-1.1B files of
#   bench/make_models.sh (Q4_K_M, Q4_0, Q8_0, both vocabularies; missing files are skipped).
#   Output: bench/results/roofline_<stamp>.md, raw runs in bench/results/raw/roofline_<stamp>/.
# Env:   LLAMA_BENCH (default bench/build/llamacpp/build/bin/llama-bench, bench/build_llamacpp.sh
#        builds it), LLAMA_REPACK (default 1, llama-bench's default), WASM_CHORD_BIN (default
#        target/release/wasm-chord, rebuilt), RUN_TIMEOUT (seconds per run, default 900).
# A run that fails, crashes or times out is recorded as such in the table, never fatal.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
source bench/lib.sh
PYTHON=${PYTHON:-python3}
ROUNDS=3
THREADS="1 2"
TG=64
MODELS=$(default_models)
OUT=""
while [[ $# -gt 0 ]]; do
    case $1 in
        --rounds) ROUNDS=$2; shift 2 ;;
        --threads) THREADS=$2; shift 2 ;;
        --tg) TG=$2; shift 2 ;;
        --models) MODELS=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "roofline.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

resolve_binaries
mkdir -p bench/build
MEMBW=bench/build/membw
if [[ ! -x $MEMBW || bench/membw.c -nt $MEMBW ]]; then
    gcc -O3 -mavx2 -fopenmp bench/membw.c -o "$MEMBW"
fi

STAMP=$(date -u +%Y-%m-%d_%H%M)
OUT=${OUT:-bench/results/roofline_$STAMP.md}
RAW=bench/results/raw/roofline_$STAMP
mkdir -p "$RAW"
RUN_TIMEOUT=${RUN_TIMEOUT:-900}
LLAMA_FLAGS=(-fa 0 -ctk f16 -ctv f16 --repack "${LLAMA_REPACK:-1}")
{
    echo "date_utc=$(date -u +%FT%TZ)"
    echo "wasm_chord_commit=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates || echo -dirty)"
    echo "llama_bench=$LLAMA_BENCH"
    echo "llama_flags=${LLAMA_FLAGS[*]}"
    echo "rounds=$ROUNDS threads=$THREADS tg=$TG"
    echo "load_before=$(cut -d' ' -f1-3 /proc/loadavg)"
} > "$RAW/settings.txt"
"$WASM_CHORD_BIN" info --cpu --json > "$RAW/cpu.json"

# run NAME CMD...: stdout to $RAW/NAME.json, stderr to $RAW/NAME.log; failures are recorded.
run() {
    local name=$1
    shift
    local rc=0
    timeout "$RUN_TIMEOUT" "$@" > "$RAW/$name.json" 2> "$RAW/$name.log" || rc=$?
    if [[ $rc != 0 ]]; then
        echo "FAILED $name rc=$rc" | tee -a "$RAW/settings.txt" >&2
    fi
}

MODEL_LIST=()
for model in $MODELS; do
    if [[ -f $model ]]; then MODEL_LIST+=("$model"); else echo "skipping missing $model" >&2; fi
done
for model in "${MODEL_LIST[@]}"; do
    name=$(basename "$model" .gguf)
    for t in $THREADS; do
        for ((r = 1; r <= ROUNDS; r++)); do
            echo "[$(date -u +%T)] $name t=$t round $r/$ROUNDS" >&2
            OMP_NUM_THREADS=$t "$MEMBW" > "$RAW/membw_${name}_t${t}_r${r}.txt"
            run "llamacpp_${name}_t${t}_r${r}" "$LLAMA_BENCH" -m "$model" -p 0 -n "$TG" -t "$t" -r 1 \
                "${LLAMA_FLAGS[@]}" -o json
            run "wasmchord_${name}_t${t}_r${r}" "$WASM_CHORD_BIN" bench -m "$model" -p 0 -n "$TG" \
                -t "$t" -r 1 --json
        done
    done
done
echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)" >> "$RAW/settings.txt"

"$PYTHON" bench/roofline.py --wasm-chord "$WASM_CHORD_BIN" --raw "$RAW" "${MODEL_LIST[@]}" > "$OUT"
echo "wrote $OUT (raw runs in $RAW)" >&2
cat "$OUT"
