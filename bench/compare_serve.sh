#!/usr/bin/env bash
# OpenAI-compatible servers under load: llama.cpp's `llama-server -np NP` vs `wasm-chord serve -np NP`,
# same GGUF files, same threads, same machine, interleaved (llama.cpp, wasm-chord, llama.cpp, ...).
#
# For every model, ROUNDS times and per engine: start the server on 127.0.0.1 (a free port), wait
# for /health, run bench/serve_load.py at each concurrency level (streaming completions, temperature
# 0, ignore_eos, MAX_TOKENS tokens per request), record the server's peak RSS, stop it. Only one
# server runs at a time. Per engine and concurrency the best round's aggregate tokens/s is reported
# with the range over rounds, with that round's TTFT and inter-token latency p50/p99 and the failed
# requests of all rounds; the table (CPU from lscpu, load averages) goes to bench/results/serve_<date>.md.
# An engine that is missing (no llama-server binary; a wasm-chord without `serve`) or fails to
# start is reported as such in the table; the other one still runs.
#
# Usage: bench/compare_serve.sh [--quick] [--rounds N] [--np N] [--threads T] [--ctx N]
#                               [--concurrency 1,4,8,16] [--max-tokens N] [--requests N]
#                               [--duration S] [--endpoint completions|chat] [--models "path ..."]
#                               [--out FILE]
#   default: 2 rounds, -np 8, all cores, 4096 tokens of context per slot, concurrency 1,4,8,16,
#   128 tokens per request, max(2 x concurrency, 8) requests per level (at most 120 s each),
#   Gemma 3 270M Q4_K_M and the TinyLlama-shaped 1.1B Q4_K_M (bench/make_models.sh). The default
#   endpoint, /v1/completions, gives both engines the same tokens (the prompt tokenized as `run -p`
#   does); with chat, an engine may fall back to another template when the GGUF has none.
#   --quick: 1 round, Gemma 3 270M only, concurrency 1,8, 32 tokens (~2 min on 2 cores).
# Env: LLAMA_SERVER (default next to LLAMA_BENCH; bench/build_llamacpp.sh builds it),
#      LLAMA_SERVER_FLAGS (default "-fa off -ctk f16 -ctv f16", as the other comparisons),
#      WASM_CHORD_BIN, SERVE_VENV (default bench/build/servevenv, made from
#      bench/requirements-serve.txt), START_TIMEOUT (seconds to wait for /health, default 300).
# Exit status: non-zero if an engine that is present fails to start or a load run fails.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
source bench/lib.sh
ROUNDS=2
NP=8
THREADS=$(nproc)
CTX=4096
CONC=1,4,8,16
MAX_TOKENS=128
REQUESTS=0
DURATION=120
ENDPOINT=completions
MODELS="models/gemma-3-270m-q4_k_m.gguf bench/models/tinyllama-1.1b-q4_k_m.gguf"
OUT=""
while [[ $# -gt 0 ]]; do
    case $1 in
        --quick) ROUNDS=1; CONC=1,8; MAX_TOKENS=32; MODELS=models/gemma-3-270m-q4_k_m.gguf; shift ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --np) NP=$2; shift 2 ;;
        --threads) THREADS=$2; shift 2 ;;
        --ctx) CTX=$2; shift 2 ;;
        --concurrency) CONC=$2; shift 2 ;;
        --max-tokens) MAX_TOKENS=$2; shift 2 ;;
        --requests) REQUESTS=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --endpoint) ENDPOINT=$2; shift 2 ;;
        --models) MODELS=$2; shift 2 ;;
        --out) OUT=$2; shift 2 ;;
        -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
        *) echo "compare_serve.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

resolve_binaries
LLAMA_SERVER=${LLAMA_SERVER:-$(dirname "$LLAMA_BENCH")/llama-server}
[[ -x $LLAMA_SERVER ]] || bench/build_llamacpp.sh || true
SERVE_VENV=${SERVE_VENV:-$ROOT/bench/build/servevenv}
if ! "$SERVE_VENV/bin/python" -c 'import httpx' 2>/dev/null; then
    python3 -m venv "$SERVE_VENV"
    "$SERVE_VENV/bin/pip" install --quiet -r bench/requirements-serve.txt
fi

STAMP=$(date -u +%Y-%m-%d_%H%M)
OUT=${OUT:-bench/results/serve_$STAMP.md}
RAW=bench/results/raw/serve_$STAMP
mkdir -p "$RAW" "$(dirname "$OUT")"
START_TIMEOUT=${START_TIMEOUT:-300}
read -r -a LLAMA_FLAGS <<< "${LLAMA_SERVER_FLAGS:--fa off -ctk f16 -ctv f16}"

# Which engines can run: a reason in $RAW/<engine>.missing otherwise.
[[ -x $LLAMA_SERVER ]] || echo "no llama-server binary at $LLAMA_SERVER (bench/build_llamacpp.sh)" > "$RAW/llama.missing"
"$WASM_CHORD_BIN" serve --help > /dev/null 2>&1 ||
    echo "$WASM_CHORD_BIN has no \`serve\` subcommand" > "$RAW/wasm-chord.missing"
PER_LEVEL=$REQUESTS
[[ $REQUESTS == 0 ]] && PER_LEVEL="max(2 x concurrency, 8)"
{
    echo "cpu: $(lscpu | sed -n 's/^Model name: *//p' | head -1)"
    echo "cores: $(nproc)"
    echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates || echo '+dirty')"
    echo "llama.cpp: $(grep 'llama.cpp commit' "$(dirname "$(dirname "$(dirname "$LLAMA_SERVER")")")/BUILD_INFO.txt" 2>/dev/null || echo unknown)"
    echo "settings: /v1/$ENDPOINT, -np $NP, -t $THREADS, $CTX tokens of context per slot, concurrency $CONC, max_tokens $MAX_TOKENS, requests per level $PER_LEVEL, at most $DURATION s per level, $ROUNDS round(s)"
    echo "llama-server flags: -c $((NP * CTX)) (total, $CTX per slot) -tb $THREADS ${LLAMA_FLAGS[*]}"
    echo "load_before: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$RAW/meta.txt"

SERVER_PID=""
trap 'if [[ -n $SERVER_PID ]]; then stop_pid "$SERVER_PID"; fi' EXIT
STATUS=0

# run_engine ENGINE MODEL FILE_PREFIX: one server start, one serve_load.py run, one stop.
run_engine() {
    local engine=$1 model=$2 f=$3 port
    port=$(free_port)
    if [[ $engine == llama ]]; then
        "$LLAMA_SERVER" -m "$model" --host 127.0.0.1 --port "$port" -np "$NP" -c $((NP * CTX)) \
            -t "$THREADS" -tb "$THREADS" "${LLAMA_FLAGS[@]}" > "$f.server.log" 2>&1 &
    else
        "$WASM_CHORD_BIN" serve -m "$model" --host 127.0.0.1 --port "$port" -np "$NP" -c "$CTX" \
            -t "$THREADS" > "$f.server.log" 2>&1 &
    fi
    SERVER_PID=$!
    if ! wait_http "http://127.0.0.1:$port/health" "$START_TIMEOUT" "$SERVER_PID"; then
        echo "did not become healthy within ${START_TIMEOUT}s: $(tail -c 300 "$f.server.log" | tr '\n' ' ')" > "$f.failed"
        STATUS=1
    else
        cut -d' ' -f1 /proc/loadavg > "$f.load"
        "$SERVE_VENV/bin/python" bench/serve_load.py --url "http://127.0.0.1:$port" --json \
            --concurrency "$CONC" --max-tokens "$MAX_TOKENS" --requests "$REQUESTS" \
            --duration "$DURATION" --endpoint "$ENDPOINT" > "$f.json" 2> "$f.err" ||
            { echo "serve_load.py exit $?: $(tail -c 300 "$f.err" | tr '\n' ' ')" > "$f.failed"; STATUS=1; }
        sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$SERVER_PID/status" > "$f.rss_kb" 2>/dev/null || true
    fi
    stop_pid "$SERVER_PID"
    SERVER_PID=""
}

for model in $MODELS; do
    if [[ ! -f $model ]]; then
        echo "skipping $model (missing; see scripts/fetch-model.sh, bench/make_models.sh)" >&2
        continue
    fi
    name=$(basename "$model" .gguf)
    for ((r = 1; r <= ROUNDS; r++)); do
        for engine in llama wasm-chord; do
            [[ -f $RAW/$engine.missing ]] && continue
            echo "[$(date -u +%T)] $name round $r/$ROUNDS: $engine (load $(cut -d' ' -f1 /proc/loadavg))" >&2
            run_engine "$engine" "$model" "$RAW/$name.r$r.$engine"
        done
    done
done
echo "load_after: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$RAW/meta.txt"

python3 bench/serve_table.py "$RAW" > "$OUT"
echo "wrote $OUT (raw runs in $RAW)" >&2
cat "$OUT"
exit "$STATUS"
