#!/usr/bin/env bash
# wasm-chord quantize vs llama.cpp's llama-quantize: same input, same file type, same machine,
# interleaved runs (llama.cpp, wasm-chord, llama.cpp, ...), and a byte comparison of the outputs.
#
# For every thread count, ROUNDS times: `llama-quantize IN OUT TYPE T`, then
# `wasm-chord quantize IN OUT TYPE T`, each timed wall-clock. Per engine and thread count the best
# round is reported with the range over rounds, and the ratio wasm-chord / llama.cpp (target
# <= 1.2); the first round's two outputs are compared with cmp. The table goes to
# bench/results/quantize_<date>.md.
#
# Usage: bench/compare_quantize.sh [--rounds N] [--threads "1 2"] [--type Q4_K_M] [--input FILE]
#                                  [--tmp DIR] [--out FILE]
#   default: 3 rounds, threads 1 and 2, Q4_K_M, bench/models/tinyllama-1.1b-f16.gguf
#   (bench/make_models.sh), outputs in $TMPDIR (two files of the output's size, removed at the end).
# Env: LLAMA_QUANTIZE (default: next to LLAMA_BENCH; bench/build_llamacpp.sh builds it),
#      WASM_CHORD_BIN (default: cargo build --release).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
source bench/lib.sh
ROUNDS=3
THREADS="1 2"
TYPE=Q4_K_M
INPUT=bench/models/tinyllama-1.1b-f16.gguf
TMP=${TMPDIR:-/tmp}
OUT=""
while [[ $# -gt 0 ]]; do
    case $1 in
        --rounds) ROUNDS=$2; shift 2 ;;
        --threads) THREADS=$2; shift 2 ;;
        --type) TYPE=$2; shift 2 ;;
        --input) INPUT=$2; shift 2 ;;
        --tmp) TMP=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "compare_quantize.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
[[ -f $INPUT ]] || { echo "compare_quantize.sh: no input $INPUT (bench/make_models.sh makes it)" >&2; exit 1; }

resolve_binaries
LLAMA_QUANTIZE=${LLAMA_QUANTIZE:-$(dirname "$LLAMA_BENCH")/llama-quantize}
[[ -x $LLAMA_QUANTIZE ]] || bench/build_llamacpp.sh
OUT=${OUT:-bench/results/quantize_$(date -u +%Y-%m-%d_%H%M).md}
mkdir -p "$(dirname "$OUT")"
REF=$TMP/compare_quantize.$$.llamacpp.gguf
OURS=$TMP/compare_quantize.$$.wasm-chord.gguf
trap 'rm -f "$REF" "$OURS"' EXIT

# Seconds (3 decimals) a command takes; its output goes to /dev/null.
seconds() {
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >/dev/null 2>&1 || { echo "FAILED"; return; }
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}

# min and max of the arguments (FAILED if any failed).
stats() {
    printf '%s\n' "$@" | awk '/FAILED/ { f = 1 } { if (NR == 1 || $1 < lo) lo = $1; if ($1 > hi) hi = $1 }
        END { if (f) print "FAILED FAILED"; else printf "%.3f %.3f\n", lo, hi }'
}

{
    echo "# wasm-chord quantize vs llama-quantize ($(date -u '+%Y-%m-%d %H:%M UTC'))"
    echo
    echo "input \`$INPUT\`, type $TYPE, $ROUNDS interleaved rounds, best (range) wall-clock seconds;"
    echo "$(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
    echo
    echo "| threads | llama-quantize s | wasm-chord s | ratio | outputs |"
    echo "| ---: | ---: | ---: | ---: | --- |"
} >"$OUT"

for t in $THREADS; do
    ref_times=() our_times=() same="?"
    for ((r = 1; r <= ROUNDS; r++)); do
        ref_times+=("$(seconds "$LLAMA_QUANTIZE" "$INPUT" "$REF" "$TYPE" "$t")")
        our_times+=("$(seconds "$WASM_CHORD_BIN" quantize "$INPUT" "$OURS" "$TYPE" "$t")")
        if [[ $r == 1 ]]; then
            if cmp -s "$REF" "$OURS"; then same="byte-identical"; else same="DIFFER"; fi
        fi
        echo "threads $t round $r: llama-quantize ${ref_times[-1]} s, wasm-chord ${our_times[-1]} s" >&2
    done
    read -r ref_lo ref_hi <<<"$(stats "${ref_times[@]}")"
    read -r our_lo our_hi <<<"$(stats "${our_times[@]}")"
    ratio=$(awk -v a="$our_lo" -v b="$ref_lo" 'BEGIN { if (b + 0 > 0 && a + 0 > 0) printf "%.2f", a / b; else print "-" }')
    echo "| $t | $ref_lo ($ref_lo-$ref_hi) | $our_lo ($our_lo-$our_hi) | $ratio | $same |" >>"$OUT"
done
cat "$OUT"
echo "wrote $OUT" >&2
