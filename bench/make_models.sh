#!/usr/bin/env bash
# TinyLlama-1.1B-shaped synthetic llama models for benchmarks (random weights, llama's SPM vocab;
# dim 2048, 22 layers, 32 heads, 4 KV heads, ffn 5632; see tools/gen_synthetic_llama.py), with the
# full 32000-token vocab (`tinyllama-1.1b`) and a 1024-token subset (`tinyllama-1.1b-v1k`).
#
# Writes into bench/models/ (git-ignored), for SHAPE in tinyllama-1.1b and tinyllama-1.1b-v1k:
#   SHAPE-f16.gguf     the source, generated once (seed 1, ~2.2 GB)
#   SHAPE-q4_k_m.gguf  llama.cpp's quantizer, LLAMA_FTYPE_MOSTLY_Q4_K_M (~640 MB)
#   SHAPE-q4_0.gguf    LLAMA_FTYPE_MOSTLY_Q4_0 (~610 MB)
#   SHAPE-q8_0.gguf    LLAMA_FTYPE_MOSTLY_Q8_0 (~1.1 GB)
# Existing files are kept; delete one to regenerate it. Takes ~10-15 min on 2 cores.
#
# Env: PYTHON (default bench/build/venv/bin/python, made here with numpy and gguf 0.19.0; a python
#              with llama-cpp-python 0.3.36 quantizes in-process, otherwise the llama-quantize binary
#              of bench/build_llamacpp.sh is used)
#      SHAPES (default "tinyllama-1.1b tinyllama-1.1b-v1k"), TYPES (default "q4_k_m q4_0 q8_0")
#      LLAMA_QUANTIZE (path of that binary)
#      VOCAB_GGUF (default tests/fixtures/_cache/vocab/ggml-vocab-llama-spm.gguf, else the one in
#                  the llama.cpp tree bench/build_llamacpp.sh extracted)
#      QUANT_THREADS (default 2)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/bench/models
SEED=1
mkdir -p "$OUT"
if [[ -z ${PYTHON:-} ]]; then
    PYTHON=$ROOT/bench/build/venv/bin/python
    if ! "$PYTHON" -c "import numpy, gguf" 2>/dev/null; then
        python3 -m venv "$ROOT/bench/build/venv"
        "$ROOT/bench/build/venv/bin/pip" install --quiet numpy gguf==0.19.0
    fi
fi

VOCAB=${VOCAB_GGUF:-}
for cand in "$ROOT/tests/fixtures/_cache/vocab/ggml-vocab-llama-spm.gguf" \
    "${LLAMACPP_DIR:-$ROOT/bench/build/llamacpp}/llama_cpp_python-0.3.36/vendor/llama.cpp/models/ggml-vocab-llama-spm.gguf"; do
    [[ -z $VOCAB && -f $cand ]] && VOCAB=$cand
done
if [[ -z $VOCAB ]]; then
    echo "make_models.sh: no ggml-vocab-llama-spm.gguf; run tools/fetch_llamacpp_vocabs.py or bench/build_llamacpp.sh, or set VOCAB_GGUF" >&2
    exit 1
fi

for SHAPE in ${SHAPES:-tinyllama-1.1b tinyllama-1.1b-v1k}; do
SRC=$OUT/$SHAPE-f16.gguf
if [[ ! -f $SRC ]]; then
    "$PYTHON" "$ROOT/tools/gen_synthetic_llama.py" --vocab-gguf "$VOCAB" --shape "$SHAPE" \
        --seed "$SEED" --dtype f16 --out "$SRC.tmp"
    mv "$SRC.tmp" "$SRC"
fi

# Quantizer: llama-cpp-python's llama_model_quantize in the reference venv, else the
# llama-quantize binary bench/build_llamacpp.sh builds (same llama.cpp commit, same defaults).
QUANTIZE_BIN=${LLAMA_QUANTIZE:-${LLAMACPP_DIR:-$ROOT/bench/build/llamacpp}/build/bin/llama-quantize}
use_bin=0
if ! "$PYTHON" -c "import llama_cpp" 2>/dev/null; then
    [[ -x $QUANTIZE_BIN ]] || { echo "make_models.sh: need llama-cpp-python in $PYTHON or $QUANTIZE_BIN (bench/build_llamacpp.sh)" >&2; exit 1; }
    use_bin=1
fi

for ft in ${TYPES:-q4_k_m q4_0 q8_0}; do
    dst=$OUT/$SHAPE-$ft.gguf
    [[ -f $dst ]] && { echo "kept $dst"; continue; }
    if [[ $use_bin == 1 ]]; then
        "$QUANTIZE_BIN" "$SRC" "$dst.tmp" "${ft^^}" "${QUANT_THREADS:-2}" > "$OUT/quantize-$ft.log" 2>&1 \
            || { tail -20 "$OUT/quantize-$ft.log" >&2; exit 1; }
        mv "$dst.tmp" "$dst"
        echo "wrote $dst ($(stat -c %s "$dst") bytes, $QUANTIZE_BIN)"
        continue
    fi
    PYTHONPATH=$ROOT/tools "$PYTHON" - "$SRC" "$dst.tmp" "$ft" "${QUANT_THREADS:-2}" <<'PY'
import sys
import llama_cpp as L
import llamacpp_ref

src, dst, ft, nthread = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ftype = {
    "q4_k_m": L.LLAMA_FTYPE_MOSTLY_Q4_K_M,
    "q4_0": L.LLAMA_FTYPE_MOSTLY_Q4_0,
    "q8_0": L.LLAMA_FTYPE_MOSTLY_Q8_0,
}[ft]
llamacpp_ref.init_backend()
p = L.llama_model_quantize_default_params()  # llama-quantize's defaults; only ftype/nthread set
p.ftype = ftype
p.nthread = nthread
rc = L.llama_model_quantize(src.encode(), dst.encode(), p)
if rc != 0:
    sys.exit(f"llama_model_quantize({src} -> {dst}, {ft}) returned {rc}")
PY
    mv "$dst.tmp" "$dst"
    echo "wrote $dst ($(stat -c %s "$dst") bytes)"
done
done
