#!/usr/bin/env bash
# wasm-chord batched-bench vs llama.cpp's llama-batched-bench: same GGUF files, same machine,
# interleaved runs (llama.cpp, wasm-chord, llama.cpp, ...).
#
# For every model and thread count, ROUNDS times: llama-batched-bench, then
# `wasm-chord batched-bench`, each with -npp PP -ntg TG -npl NPL -c CTX -t T. llama.cpp runs with
# flash attention off and f16 K/V caches (wasm-chord's default cache is f16 too). Per engine and
# (B, T) the best round's S_TG and S_PP are reported with the range over rounds, and the ratio of
# the bests; the table goes to bench/results/batched_<date>.md.
#
# With --with-bench, each round also runs both engines' single-sequence decode benchmark
# (llama-bench -p 0 -n TG -d 0,PP with its default repacking, `wasm-chord bench -p 0 -n TG -d
# 0,PP`), so the npl-1 ratio and the bench tgTG ratio come from the same interleaved run (second
# table), the latter also at depth PP: the positions batched-bench's npl-1 decode runs at.
#
# Usage: bench/compare_batched.sh [--rounds N] [--threads "1 2"] [--npl 1,2,4,8] [--pp N] [--tg N]
#                                 [--ctx N] [--models "path ..."] [--out FILE] [--with-bench]
#   default: 3 rounds, threads 1 and 2, -npp 128 -ntg 128 -npl 1,2,4,8 -c 4096, Gemma 3 270M Q4_K_M
#   and the TinyLlama-shaped 1.1B Q4_K_M (32000- and 1024-token vocabularies).
# Env: LLAMA_BATCHED_BENCH (default next to LLAMA_BENCH; bench/build_llamacpp.sh builds it),
#      WASM_CHORD_BIN, RUN_TIMEOUT (seconds per run, default 1800). A failed or crashed run is
#      recorded and shown as such.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
source bench/lib.sh
PYTHON=${PYTHON:-python3}
ROUNDS=3
THREADS="1 2"
NPL=1,2,4,8
PP=128
TG=128
CTX=4096
MODELS="models/gemma-3-270m-q4_k_m.gguf bench/models/tinyllama-1.1b-q4_k_m.gguf bench/models/tinyllama-1.1b-v1k-q4_k_m.gguf"
OUT=""
WITH_BENCH=0
while [[ $# -gt 0 ]]; do
    case $1 in
        --rounds) ROUNDS=$2; shift 2 ;;
        --threads) THREADS=$2; shift 2 ;;
        --npl) NPL=$2; shift 2 ;;
        --pp) PP=$2; shift 2 ;;
        --tg) TG=$2; shift 2 ;;
        --ctx) CTX=$2; shift 2 ;;
        --models) MODELS=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        --with-bench) WITH_BENCH=1; shift ;;
        -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
        *) echo "compare_batched.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

resolve_binaries
LLAMA_BATCHED=${LLAMA_BATCHED_BENCH:-$(dirname "$LLAMA_BENCH")/llama-batched-bench}
[[ -x $LLAMA_BATCHED ]] || bench/build_llamacpp.sh

STAMP=$(date -u +%Y-%m-%d_%H%M)
OUT=${OUT:-bench/results/batched_$STAMP.md}
RAW=bench/results/raw/batched_$STAMP
mkdir -p "$RAW" "$(dirname "$OUT")"
RUN_TIMEOUT=${RUN_TIMEOUT:-1800}
LLAMA_FLAGS=(-fa off -ctk f16 -ctv f16 --output-format jsonl)
{
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "cores: $(nproc)"
    echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet || echo '+dirty')"
    echo "llama.cpp: $(grep 'llama.cpp commit' bench/build/llamacpp/BUILD_INFO.txt 2>/dev/null || echo unknown)"
    echo "args: -npp $PP -ntg $TG -npl $NPL -c $CTX, rounds $ROUNDS; llama.cpp ${LLAMA_FLAGS[*]}"
} > "$RAW/meta.txt"

for m in $MODELS; do
    [[ -f $m ]] || { echo "compare_batched.sh: missing $m (scripts/fetch-model.sh, bench/make_models.sh)" >&2; exit 1; }
    name=$(basename "$m" .gguf)
    for t in $THREADS; do
        for r in $(seq 1 "$ROUNDS"); do
            echo "[$name t=$t round $r] load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
            f=$RAW/$name.t$t.r$r
            timeout "$RUN_TIMEOUT" "$LLAMA_BATCHED" -m "$m" -npp "$PP" -ntg "$TG" -npl "$NPL" -c "$CTX" \
                -t "$t" "${LLAMA_FLAGS[@]}" > "$f.llama.jsonl" 2> "$f.llama.err" \
                || echo "exit $?" > "$f.llama.failed"
            timeout "$RUN_TIMEOUT" "$WASM_CHORD_BIN" batched-bench -m "$m" -npp "$PP" -ntg "$TG" \
                -npl "$NPL" -c "$CTX" -t "$t" --json > "$f.ours.json" 2> "$f.ours.err" \
                || echo "exit $?" > "$f.ours.failed"
            if [[ $WITH_BENCH == 1 ]]; then
                timeout "$RUN_TIMEOUT" "$LLAMA_BENCH" -m "$m" -p 0 -n "$TG" -d "0,$PP" -t "$t" -r 1 \
                    -fa 0 -ctk f16 -ctv f16 -o json > "$f.lbench.json" 2> "$f.lbench.err" \
                    || echo "exit $?" > "$f.lbench.failed"
                timeout "$RUN_TIMEOUT" "$WASM_CHORD_BIN" bench -m "$m" -p 0 -n "$TG" -d "0,$PP" -t "$t" \
                    -r 1 --json > "$f.obench.json" 2> "$f.obench.err" || echo "exit $?" > "$f.obench.failed"
            fi
            cat /proc/loadavg > "$f.load"
        done
    done
done
"$PYTHON" bench/batched_table.py "$RAW" > "$OUT"
cat "$OUT"
