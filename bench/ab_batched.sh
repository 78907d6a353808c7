#!/usr/bin/env bash
# Interleaved A/B of two wasm-chord binaries' `batched-bench` (old, new, old, new, ...): for
# every model and thread count, ROUNDS times each binary with -npp PP -ntg TG -npl NPL -c CTX
# -t T. The load average is recorded before every run (the machine may be shared). Per binary
# and (model, T, B) the best round's S_TG and S_PP are reported with the range over rounds, and
# new / old of the bests; the table goes to bench/results/ab_batched_<date>_<label>.md.
#
# Usage: bench/ab_batched.sh OLD_BIN NEW_BIN [--label NAME] [--rounds N] [--threads "1 2"]
#                            [--npl 1,2,4,8] [--pp N] [--tg N] [--ctx N] [--models "path ..."]
#   default: label ab, 2 rounds, threads 1 and 2, -npp 128 -ntg 64 -npl 1,2,4,8 -c 4096,
#   Gemma 3 270M Q4_K_M and the TinyLlama-shaped 1.1B Q4_K_M (bench/make_models.sh).
# Env: PYTHON (default python3), RUN_TIMEOUT (seconds per run, default 1800).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
[[ $# -ge 2 ]] || { sed -n '2,13p' "$0"; exit 2; }
OLD=$(realpath "$1")
NEW=$(realpath "$2")
shift 2
PYTHON=${PYTHON:-python3}
LABEL=ab
ROUNDS=2
THREADS="1 2"
NPL=1,2,4,8
PP=128
TG=64
CTX=4096
MODELS="models/gemma-3-270m-q4_k_m.gguf bench/models/tinyllama-1.1b-q4_k_m.gguf"
while [[ $# -gt 0 ]]; do
    case $1 in
        --label) LABEL=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --threads) THREADS=$2; shift 2 ;;
        --npl) NPL=$2; shift 2 ;;
        --pp) PP=$2; shift 2 ;;
        --tg) TG=$2; shift 2 ;;
        --ctx) CTX=$2; shift 2 ;;
        --models) MODELS=$2; shift 2 ;;
        *) echo "ab_batched.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

STAMP=$(date -u +%Y-%m-%d_%H%M)
OUT=bench/results/ab_batched_${STAMP}_$LABEL.md
RAW=bench/results/raw/ab_batched_${STAMP}_$LABEL
mkdir -p "$RAW"
RUN_TIMEOUT=${RUN_TIMEOUT:-1800}
{
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "cores: $(nproc)"
    echo "old: $OLD ($(sha256sum "$OLD" | cut -c1-12))"
    echo "new: $NEW ($(sha256sum "$NEW" | cut -c1-12))"
    echo "args: batched-bench -npp $PP -ntg $TG -npl $NPL -c $CTX, rounds $ROUNDS, interleaved"
} > "$RAW/meta.txt"

for m in $MODELS; do
    [[ -f $m ]] || { echo "ab_batched.sh: missing $m (scripts/fetch-model.sh, bench/make_models.sh)" >&2; exit 1; }
    name=$(basename "$m" .gguf)
    for t in $THREADS; do
        for r in $(seq 1 "$ROUNDS"); do
            for side in old new; do
                bin=$OLD
                [[ $side == new ]] && bin=$NEW
                f=$RAW/$name.t$t.r$r.$side
                cut -d' ' -f1-3 /proc/loadavg > "$f.load"
                echo "[$name t=$t round $r $side] load: $(cat "$f.load")" >&2
                timeout "$RUN_TIMEOUT" "$bin" batched-bench -m "$m" -npp "$PP" -ntg "$TG" \
                    -npl "$NPL" -c "$CTX" -t "$t" --json > "$f.json" 2> "$f.err" \
                    || echo "exit $?" > "$f.failed"
            done
        done
    done
done

"$PYTHON" bench/ab_batched_table.py "$RAW" > "$OUT"
echo "wrote $OUT" >&2
cat "$OUT"
