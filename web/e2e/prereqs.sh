#!/usr/bin/env bash
# Shared setup of the browser scripts (scripts/test-e2e.sh, bench/browser_bench.sh):
# installs what is missing and prints nothing else. Usage: web/e2e/prereqs.sh NPM_DIR
#   - Debian chromium (apt) when $CHROMIUM (default /usr/bin/chromium) is absent;
#   - the npm packages of NPM_DIR (npm ci, pinned by its package-lock.json);
#   - the model (scripts/fetch-model.sh), the wasm builds (scripts/build-wasm.sh) and the
#     native CLI (cargo build --release -p wasm-chord).
set -euo pipefail
cd "$(dirname "$0")/../.."
NPM_DIR=$1
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if ! [ -x "$CHROMIUM" ]; then
  echo "prereqs: installing Debian chromium" >&2
  apt-get install -y chromium >/dev/null || { apt-get update >/dev/null && apt-get install -y chromium >/dev/null; }
fi
if ! [ -d "$NPM_DIR/node_modules" ]; then
  (cd "$NPM_DIR" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
[ -f models/gemma-3-270m-q4_k_m.gguf ] || scripts/fetch-model.sh >&2
if ! [ -f web/pkg/relaxed/wasm_chord_bg.wasm ] || ! [ -f web/pkg/simd/wasm_chord_bg.wasm ] \
  || ! [ -f web/pkg/base/wasm_chord_bg.wasm ]; then
  scripts/build-wasm.sh >&2
fi
CLI=${WASM_CHORD_CLI:-$PWD/target/release/wasm-chord}
[ -x "$CLI" ] || cargo build --release -p wasm-chord >&2
