#!/usr/bin/env bash
# Browser benchmark: wasm-chord vs wllama (llama.cpp in wasm) in headless Debian
# Chromium, single thread, plus wasm-chord's wasm build in Node and the native CLI with
# one thread (bench/browser/run.mjs). Installs what is missing: chromium (apt), npm deps
# of bench/browser (npm ci: playwright-core, @wllama/wllama), the model, the wasm builds,
# the native CLI. Writes bench/results/browser_<date>.md.
# Env: ROUNDS (2), TG (64), VARIANT (relaxed), PROFILE=1 (node --cpu-prof, named build),
#      CHROMIUM, WASM_CHORD_CLI. Takes ~4 min on a warm machine (ROUNDS=2).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
CLI=${WASM_CHORD_CLI:-$PWD/target/release/wasm-chord}
CHROMIUM=$CHROMIUM WASM_CHORD_CLI=$CLI web/e2e/prereqs.sh bench/browser
if [ "${PROFILE:-0}" = 1 ]; then
  # The shipped build has no name section (wasm-opt drops it): profile a copy of the
  # same cargo output that keeps function names (wasm-opt -g).
  TOOLS=${WASM_CHORD_TOOLS:-$HOME/.cache/wasm-chord/tools}
  RAW=${CARGO_TARGET_DIR_WASM:-$PWD/target/wasm}/${VARIANT:-relaxed}/wasm32-unknown-unknown/wasm-release/wasm_chord.wasm
  export PROF_PKG=$PWD/bench/browser/out/pkg-prof
  rm -rf "$PROF_PKG"
  "$TOOLS/bin/wasm-bindgen" --target web --out-dir "$PROF_PKG" --out-name wasm_chord "$RAW"
  "$TOOLS/npm/node_modules/.bin/wasm-opt" -O3 -g --enable-bulk-memory --enable-bulk-memory-opt \
    --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals --enable-multivalue \
    --enable-reference-types --enable-simd --enable-relaxed-simd "$PROF_PKG/wasm_chord_bg.wasm" -o "$PROF_PKG/named.wasm"
  mv "$PROF_PKG/named.wasm" "$PROF_PKG/wasm_chord_bg.wasm"
fi
CHROMIUM=$CHROMIUM WASM_CHORD_CLI=$CLI node bench/browser/run.mjs
echo "browser_bench: done in $(( $(date +%s) - start )) s"
