#!/usr/bin/env bash
# TinyLlama-1.1B-shaped synthetic llama models for benchmarks (random weights, real 32000-token
# SPM vocab; dim 2048, 22 layers, 32 heads, 4 KV heads, ffn 5632; see tools/gen_synthetic_llama.py).
#
# Writes into bench/models/ (git-ignored):
#   tinyllama-1.1b-f16.gguf     the source, generated once (seed 1, ~2.2 GB)
#   tinyllama-1.1b-q4_k_m.gguf  llama.cpp's llama_model_quantize, LLAMA_FTYPE_MOSTLY_Q4_K_M (~640 MB)
#   tinyllama-1.1b-q8_0.gguf    llama.cpp's llama_model_quantize, LLAMA_FTYPE_MOSTLY_Q8_0   (~1.1 GB)
# Existing files are kept; delete one to regenerate it. Takes ~3-6 min on 2 cores.
#
# Env: PYTHON (default /root/refvenv/bin/python: numpy, gguf 0.19.0, llama-cpp-python 0.3.36;
#              without llama-cpp-python the llama-quantize binary of bench/build_llamacpp.sh is used)
#      LLAMA_QUANTIZE (path of that binary)
#      VOCAB_GGUF (default tests/fixtures/_cache/vocab/ggml-vocab-llama-spm.gguf, else the one in
#                  the llama.cpp tree bench/build_llamacpp.sh extracted)
#      QUANT_THREADS (default 2)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-/root/refvenv/bin/python}
OUT=$ROOT/bench/models
SHAPE=tinyllama-1.1b
SEED=1
mkdir -p "$OUT"

VOCAB=${VOCAB_GGUF:-}
for cand in "$ROOT/tests/fixtures/_cache/vocab/ggml-vocab-llama-spm.gguf" \
    "${LLAMACPP_DIR:-/work/llamacpp-bench}/llama_cpp_python-0.3.36/vendor/llama.cpp/models/ggml-vocab-llama-spm.gguf"; do
    [[ -z $VOCAB && -f $cand ]] && VOCAB=$cand
done
if [[ -z $VOCAB ]]; then
    echo "make_models.sh: no ggml-vocab-llama-spm.gguf; run tools/fetch_llamacpp_vocabs.py or bench/build_llamacpp.sh, or set VOCAB_GGUF" >&2
    exit 1
fi

SRC=$OUT/$SHAPE-f16.gguf
if [[ ! -f $SRC ]]; then
    "$PYTHON" "$ROOT/tools/gen_synthetic_llama.py" --vocab-gguf "$VOCAB" --shape "$SHAPE" \
        --seed "$SEED" --dtype f16 --out "$SRC.tmp"
    mv "$SRC.tmp" "$SRC"
fi

# Quantizer: llama-cpp-python's llama_model_quantize in the reference venv, else the
# llama-quantize binary bench/build_llamacpp.sh builds (same llama.cpp commit, same defaults).
QUANTIZE_BIN=${LLAMA_QUANTIZE:-${LLAMACPP_DIR:-/work/llamacpp-bench}/build/bin/llama-quantize}
use_bin=0
if ! "$PYTHON" -c "import llama_cpp" 2>/dev/null; then
    [[ -x $QUANTIZE_BIN ]] || { echo "make_models.sh: need llama-cpp-python in $PYTHON or $QUANTIZE_BIN (bench/build_llamacpp.sh)" >&2; exit 1; }
    use_bin=1
fi

for ft in q4_k_m q8_0; do
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
ftype = {"q4_k_m": L.LLAMA_FTYPE_MOSTLY_Q4_K_M, "q8_0": L.LLAMA_FTYPE_MOSTLY_Q8_0}[ft]
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
