#!/usr/bin/env bash
# Decode roofline: measure read bandwidth with bench/membw.c at 1 and 2 threads,
# compute the weight bytes each model reads per decoded token, and append
# "roofline tok/s = GB/s / bytes" and each engine's tg as % of it to a compare results file.
#
# Usage: bench/roofline.sh [RESULTS_MD]   (default: the newest bench/results/compare_*.md; its raw
#        runs are bench/results/raw/<stamp>/). Takes ~1 min.
# Env:   MEMBW_SRC (default bench/membw.c), WASM_CHORD_BIN, THREADS (default "1 2"),
#        MODELS (default: the three compare models).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PYTHON=${PYTHON:-python3}
MEMBW_SRC=${MEMBW_SRC:-bench/membw.c}
THREADS=${THREADS:-"1 2"}
MODELS=${MODELS:-"models/gemma-3-270m-q4_k_m.gguf bench/models/tinyllama-1.1b-q4_k_m.gguf bench/models/tinyllama-1.1b-q8_0.gguf"}

RESULTS=${1:-$(ls -1 bench/results/compare_*.md 2>/dev/null | sort | tail -1 || true)}
RAW=""
if [[ -n $RESULTS ]]; then
    stamp=$(basename "$RESULTS" .md)
    stamp=${stamp#compare_}
    [[ -d bench/results/raw/$stamp ]] && RAW=bench/results/raw/$stamp
fi

if [[ -z ${WASM_CHORD_BIN:-} ]]; then
    cargo build --release -p wasm-chord --quiet
    WASM_CHORD_BIN=$ROOT/target/release/wasm-chord
fi

mkdir -p bench/build
MEMBW=bench/build/membw
if [[ ! -x $MEMBW || $MEMBW_SRC -nt $MEMBW ]]; then
    gcc -O3 -mavx2 -fopenmp "$MEMBW_SRC" -o "$MEMBW"
fi

BW_ARGS=()
for t in $THREADS; do
    line=$(OMP_NUM_THREADS=$t "$MEMBW")
    echo "membw: $line" >&2
    gbps=$(sed -n 's/.*read GB\/s=\([0-9.]*\).*/\1/p' <<< "$line")
    BW_ARGS+=(--bw "$t=$gbps")
done

# shellcheck disable=SC2086
SECTION=$("$PYTHON" bench/roofline.py --wasm-chord "$WASM_CHORD_BIN" "${BW_ARGS[@]}" ${RAW:+--raw "$RAW"} $MODELS)
echo "$SECTION"
if [[ -n $RESULTS ]]; then
    echo "$SECTION" >> "$RESULTS"
    echo "appended to $RESULTS" >&2
fi
