#!/usr/bin/env bash
# The pytest suite of `wasm-chord serve` (tests/serve/), through the official
# `openai` Python package pinned in tests/serve/requirements.txt, installed in
# a venv under target/. Builds the release binary unless WASM_CHORD_BIN
# names one. Needs models/gemma-3-270m-q4_k_m.gguf (scripts/fetch-model.sh).
# Servers listen on 127.0.0.1 ephemeral ports only.
#
# Usage: scripts/test-serve.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-python3}"
VENV=target/serve-venv
REQ=tests/serve/requirements.txt
if [ ! -x "$VENV/bin/python" ] || ! cmp -s "$REQ" "$VENV/requirements.txt"; then
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q -r "$REQ"
  cp "$REQ" "$VENV/requirements.txt"
fi
if [ -z "${WASM_CHORD_BIN:-}" ]; then
  cargo build --release -p wasm-chord
  export WASM_CHORD_BIN="$PWD/target/release/wasm-chord"
fi
exec "$VENV/bin/python" -m pytest tests/serve -q "$@"
