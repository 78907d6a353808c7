#!/usr/bin/env bash
# Serves the demo page: web/ at / and models/ at /models/ (PORT, default 8080).
# Builds the wasm engine first if web/pkg is missing (scripts/build-wasm.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! [ -f web/pkg/simd/wasm_chord_bg.wasm ] || ! [ -f web/pkg/base/wasm_chord_bg.wasm ]; then
  scripts/build-wasm.sh
fi
exec node web/serve.mjs
