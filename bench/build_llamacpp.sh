#!/usr/bin/env bash
# Build llama.cpp's `llama-bench`, `llama-batched-bench`, `llama-quantize` and `llama-server` (only those)
# from the llama-cpp-python 0.3.36 sdist,
# i.e. the same llama.cpp commit as the reference venv (tools/README.md).
#
# Usage: bench/build_llamacpp.sh            # idempotent; skips work already done
# Env:   LLAMACPP_NATIVE (set: -march=native even on AMX CPUs)
#        LLAMACPP_ISA   (avx2: an AVX2 + FMA + F16C build, no AVX-512, into bench/build/llamacpp-avx2
#                        unless LLAMACPP_DIR is set: compares against `WASM_CHORD_ISA=avx2` on an
#                        AVX-512 machine, the code paths of an AVX2-only CPU such as Zen 3)
#        LLAMACPP_DIR   (default bench/build/llamacpp: git-ignored, never committed)
#        LLAMACPP_SDIST (optional path to an already downloaded llama_cpp_python-0.3.36.tar.gz)
#        JOBS           (default 2)
# Output: $LLAMACPP_DIR/build/bin/{llama-bench,llama-batched-bench,llama-quantize,llama-server} and
#         $LLAMACPP_DIR/BUILD_INFO.txt
# Time:  ~10-15 min on 2 cores the first time; seconds afterwards.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)

VERSION=0.3.36
case ${LLAMACPP_ISA:-native} in
    native) DIR=${LLAMACPP_DIR:-$ROOT/bench/build/llamacpp} ;;
    avx2) DIR=${LLAMACPP_DIR:-$ROOT/bench/build/llamacpp-avx2} ;;
    *) echo "build_llamacpp.sh: LLAMACPP_ISA is native or avx2, not '$LLAMACPP_ISA'" >&2; exit 2 ;;
esac
JOBS=${JOBS:-2}
SRC=$DIR/llama_cpp_python-$VERSION
BUILD=$DIR/build
mkdir -p "$DIR"

# 1. sdist
TARBALL=$DIR/llama_cpp_python-$VERSION.tar.gz
if [[ ! -f $TARBALL ]]; then
    if [[ -n ${LLAMACPP_SDIST:-} && -f $LLAMACPP_SDIST ]]; then
        cp "$LLAMACPP_SDIST" "$TARBALL"
    else
        PIP=${PIP:-pip3}
        # Only the sdist itself must be source: --no-binary :all: would also build cmake from source
        # for the metadata step.
        "$PIP" download --no-binary llama-cpp-python --no-deps "llama-cpp-python==$VERSION" -d "$DIR"
    fi
fi

# 2. extract (vendor/llama.cpp and the submodule's git metadata, for the commit id)
if [[ ! -f $SRC/vendor/llama.cpp/CMakeLists.txt ]]; then
    tar xzf "$TARBALL" -C "$DIR" \
        "llama_cpp_python-$VERSION/vendor/llama.cpp" \
        "llama_cpp_python-$VERSION/.git/modules/vendor/llama.cpp/HEAD"
fi
COMMIT=$(cat "$SRC/.git/modules/vendor/llama.cpp/HEAD" 2>/dev/null || echo unknown)

# 3. cmake (from PyPI into a private venv if there is none on PATH)
CMAKE=$(command -v cmake || true)
if [[ -z $CMAKE ]]; then
    if [[ ! -x $DIR/venv/bin/cmake ]]; then
        python3 -m venv "$DIR/venv"
        "$DIR/venv/bin/pip" install --quiet cmake
    fi
    CMAKE=$DIR/venv/bin/cmake
fi

# 4. configure + build only llama-bench, llama-batched-bench, llama-quantize and llama-server. Static libs so
# the binaries are self-contained.
# GGML_NATIVE=ON (-march=native) is llama.cpp's fastest CPU build, except on CPUs with AMX: there
# the native build has crashed with llama-bench's default --repack 1, so it is built without AMX,
# with the x86 extensions this CPU has named one by one.
ISA_FLAGS=(-DGGML_NATIVE=ON)
if grep -qw amx_tile /proc/cpuinfo 2>/dev/null && [[ -z ${LLAMACPP_NATIVE:-} ]]; then
    has() { grep -qw "$1" /proc/cpuinfo; }
    onoff() { if has "$2"; then echo "-D$1=ON"; else echo "-D$1=OFF"; fi; }
    ISA_FLAGS=(-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
        "$(onoff GGML_AVX512 avx512f)" "$(onoff GGML_AVX512_VBMI avx512vbmi)"
        "$(onoff GGML_AVX512_VNNI avx512_vnni)" "$(onoff GGML_AVX512_BF16 avx512_bf16)"
        "$(onoff GGML_AVX_VNNI avx_vnni)" -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF)
fi
if [[ ${LLAMACPP_ISA:-native} == avx2 ]]; then
    ISA_FLAGS=(-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
        -DGGML_BMI2=ON -DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF
        -DGGML_AVX512_BF16=OFF -DGGML_AVX_VNNI=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF
        -DGGML_AMX_BF16=OFF)
fi
CMAKE_FLAGS=(
    -DCMAKE_BUILD_TYPE=Release
    "${ISA_FLAGS[@]}"
    -DLLAMA_CURL=OFF
    -DBUILD_SHARED_LIBS=OFF
    -DLLAMA_BUILD_TESTS=OFF
    -DLLAMA_BUILD_EXAMPLES=OFF
    -DLLAMA_BUILD_SERVER=ON
    -DLLAMA_BUILD_UI=OFF
    -DLLAMA_USE_PREBUILT_UI=OFF
    -DLLAMA_BUILD_TOOLS=ON
    ${LLAMACPP_CMAKE_EXTRA:-}
)
# llama-quantize too: bench/make_models.sh uses it when the reference venv is not installed.
# llama-server: bench/compare_serve.sh (the web UI is left out: building it needs npm, fetching it needs
# the network; the API endpoints do not need it).
TARGETS=(llama-bench llama-batched-bench llama-quantize llama-server)
for t in "${TARGETS[@]}"; do
    if [[ ! -x $BUILD/bin/$t ]]; then
        "$CMAKE" -S "$SRC/vendor/llama.cpp" -B "$BUILD" "${CMAKE_FLAGS[@]}"
        "$CMAKE" --build "$BUILD" --target "${TARGETS[@]}" -j"$JOBS"
        break
    fi
done

{
    echo "llama-cpp-python sdist: $VERSION"
    echo "llama.cpp commit: $COMMIT"
    echo "cmake: $("$CMAKE" --version | head -1)"
    echo "compiler: $(${CXX:-c++} --version | head -1)"
    echo "cmake flags: ${CMAKE_FLAGS[*]}"
    echo "binaries: ${TARGETS[*]/#/$(cd "$BUILD" && pwd -P)/bin/}"
} > "$DIR/BUILD_INFO.txt"
cat "$DIR/BUILD_INFO.txt"
