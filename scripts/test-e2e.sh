#!/usr/bin/env bash
# Browser end-to-end test: the demo page in headless Debian Chromium driven by
# playwright-core (web/e2e/demo.test.mjs), and the WebGPU backend on Chromium's
# SwiftShader WebGPU adapter, with the CPU fallback without WebGPU
# (web/e2e/webgpu.test.mjs). Installs what is missing: Debian `chromium`
# (apt, when /usr/bin/chromium is absent), playwright-core (npm ci in web/e2e), the models
# (scripts/fetch-model.sh: Gemma 3 270M and SmolLM2-135M-Instruct), the wasm builds
# (scripts/build-wasm.sh, when web/pkg is missing) and the native CLI (cargo build
# --release -p wasm-chord, when absent). Starts scripts/serve-web.sh on a free port and
# stops it on exit. Output: web/e2e/out/.
# Env: CHROMIUM (browser binary), NATIVE_ISA (native reference kernels, default scalar),
#      E2E_CHAT_MODELS ("smollm2 qwen" adds Qwen2.5-Coder-0.5B to the chat test).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
start=$(date +%s)

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
CLI=${WASM_CHORD_CLI:-$ROOT/target/release/wasm-chord}
CHROMIUM=$CHROMIUM WASM_CHORD_CLI=$CLI web/e2e/prereqs.sh web/e2e
# The chat tests' model (web/e2e/demo.test.mjs CHAT_MODELS; prereqs.sh fetches Gemma).
[ -f models/smollm2-135m-instruct-q4_1.gguf ] || scripts/fetch-model.sh smollm2-135m >&2

PORT=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
LOG=$(mktemp)
PORT=$PORT scripts/serve-web.sh >"$LOG" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; rm -f "$LOG"' EXIT
for _ in $(seq 1 100); do
  grep -q "wasm-chord demo" "$LOG" && break
  kill -0 "$SERVER" 2>/dev/null || { cat "$LOG" >&2; exit 1; }
  sleep 0.1
done

E2E_BASE_URL=http://127.0.0.1:$PORT CHROMIUM=$CHROMIUM WASM_CHORD_CLI=$CLI \
  node --test --test-concurrency=1 --test-reporter=spec web/e2e/demo.test.mjs web/e2e/webgpu.test.mjs
echo "test-e2e: done in $(( $(date +%s) - start )) s"
