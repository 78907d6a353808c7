#!/usr/bin/env bash
# The wasm engine under Node: builds the wasm variants (scripts/build-wasm.sh) and the
# native CLI, then runs web/test/node-generate.mjs (node's test runner), which checks
# greedy output against the CLI token for token, streaming, abort, chat and error paths.
# SKIP_WASM_BUILD=1 reuses an existing web/pkg.
set -euo pipefail
cd "$(dirname "$0")/.."
built() { for v in relaxed simd base; do [ -f "web/pkg/$v/wasm_chord_bg.wasm" ] || return 1; done; }
if [ "${SKIP_WASM_BUILD:-0}" != 1 ] || ! built; then
  scripts/build-wasm.sh
fi
cargo build --release -p wasm-chord
WASM_CHORD_CLI=${WASM_CHORD_CLI:-$PWD/target/release/wasm-chord} \
  node --test --test-reporter=spec web/test/node-generate.mjs
