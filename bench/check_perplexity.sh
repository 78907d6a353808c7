#!/usr/bin/env bash
# Whole-text perplexity of wasm-chord against llama.cpp's, on the exact path (f32 KV cache,
# standard attention), at every context size of each model's reference fixture
# (tests/fixtures/ref/NAME.ppl.json, written by tools/gen_ref_fixtures.py from llama.cpp through
# llama-cpp-python over the same text). The tests compare the first chunks only; this runs the
# whole text (devils-dictionary.txt: ~27k tokens) and takes minutes per model.
#
# Usage: bench/check_perplexity.sh [MODEL.gguf ...]
#   default: the real models of scripts/fetch-model.sh that are present, then every committed
#   synthetic model with a ppl fixture
# Env: WASM_CHORD_BIN (default target/release/wasm-chord, built if missing), THREADS (default 2)
# Output: a table on stdout and in bench/results/perplexity_<date>.md; exit 1 if any model is
#         off by more than 0.1%.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TEXT=tests/fixtures/text/devils-dictionary.txt
THREADS=${THREADS:-2}
if [[ -z ${WASM_CHORD_BIN:-} ]]; then
    cargo build --release -p wasm-chord --quiet
    WASM_CHORD_BIN=$ROOT/target/release/wasm-chord
fi

if [[ $# -gt 0 ]]; then
    MODELS=("$@")
else
    MODELS=()
    for f in models/smollm2-135m-instruct-q4_1.gguf models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf \
        models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf tests/fixtures/models/*.gguf; do
        stem=$(basename "$f" .gguf)
        [[ -f $f && -f tests/fixtures/ref/$stem.ppl.json ]] && MODELS+=("$f")
    done
fi

OUT=bench/results/perplexity_$(date -u +%Y-%m-%d_%H%M).md
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
{
    echo "# Whole-text perplexity, wasm-chord vs llama.cpp ($(date -u +%Y-%m-%dT%H:%MZ))"
    echo
    echo "CPU: $CPU; load at start: $(cut -d' ' -f1-3 /proc/loadavg); wasm-chord $(git rev-parse --short HEAD),"
    echo "$THREADS threads, \`--cache-type f32 --attn standard\`; llama.cpp: the fixture (llama-cpp-python 0.3.36,"
    echo "f32 cache, flash attention off). Text: $TEXT."
    echo
    echo "| model | ctx | chunks | wasm-chord | llama.cpp | rel. diff |"
    echo "|---|---|---|---|---|---|"
} | tee "$OUT"

fail=0
for model in "${MODELS[@]}"; do
    stem=$(basename "$model" .gguf)
    fx=tests/fixtures/ref/$stem.ppl.json
    for ctx in $(python3 -c "import json,sys; print(' '.join(str(r['n_ctx']) for r in json.load(open(sys.argv[1]))['runs']))" "$fx"); do
        got=$("$WASM_CHORD_BIN" perplexity -m "$model" -f "$TEXT" -c "$ctx" -t "$THREADS" \
            --cache-type f32 --attn standard 2>/dev/null | tail -1 | sed -n 's/^PPL = \([0-9.]*\) .*/\1/p')
        line=$(python3 - "$fx" "$ctx" "${got:-nan}" <<'PY'
import json, sys
fx, ctx, got = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
run = next(r for r in json.load(open(fx))["runs"] if r["n_ctx"] == ctx)
want = run["chunks"][-1]["ppl_cumulative"]
rel = abs(got - want) / want
print(f"{len(run['chunks'])} | {got:.4f} | {want:.5f} | {rel * 100:.4f}% | {'ok' if rel <= 1e-3 else 'FAIL'}")
PY
)
        echo "| $stem | $ctx | ${line% | *} |" | tee -a "$OUT"
        [[ $line == *ok ]] || fail=1
    done
done
echo "wrote $OUT" >&2
exit $fail
