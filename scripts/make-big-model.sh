#!/usr/bin/env bash
# The > 4 GiB synthetic model of the GPU backend's loading tests (issue "GPU backend through
# wgpu"): llama, 2 layers of dim 4096 with an FFN of 65792, F32 weights, a 1024-token subset of
# llama's SPM vocabulary. 6.8 GB of weights, all read every token; each of the six FFN matrices is
# 1.08 GB, above the 1 GiB maxStorageBufferBindingSize of WebGPU and SwiftShader.
#
# Usage: scripts/make-big-model.sh [OUT]   (default models/synthetic-big-4g.gguf)
# Needs ~7 GB of free disk and ~9 GB of memory while generating (~2 min on 2 cores). A file
# already present is kept. The weights are seeded (seed 1): the same bytes on every machine.
#
# Env: PYTHON (default bench/build/venv/bin/python, made with numpy and gguf 0.19.0 if missing)
#      VOCAB_GGUF (default tests/fixtures/_cache/vocab/ggml-vocab-llama-spm.gguf, fetched by
#                  tools/fetch_llamacpp_vocabs.py if missing)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/models/synthetic-big-4g.gguf}
if [[ -s $OUT ]]; then
    echo "$OUT"
    exit 0
fi
PYTHON=${PYTHON:-$ROOT/bench/build/venv/bin/python}
if ! "$PYTHON" -c "import numpy, gguf" 2>/dev/null; then
    python3 -m venv "$ROOT/bench/build/venv"
    "$ROOT/bench/build/venv/bin/pip" install --quiet numpy gguf==0.19.0
    PYTHON=$ROOT/bench/build/venv/bin/python
fi
VOCAB_GGUF=${VOCAB_GGUF:-$ROOT/tests/fixtures/_cache/vocab/ggml-vocab-llama-spm.gguf}
if [[ ! -s $VOCAB_GGUF ]]; then
    python3 "$ROOT/tools/fetch_llamacpp_vocabs.py" >&2
fi
mkdir -p "$(dirname "$OUT")"
"$PYTHON" "$ROOT/tools/gen_synthetic_llama.py" --vocab-gguf "$VOCAB_GGUF" --shape big-4g \
    --seed 1 --dtype f32 --out "$OUT.tmp" >&2
mv "$OUT.tmp" "$OUT"
echo "$OUT"
