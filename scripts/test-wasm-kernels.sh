#!/usr/bin/env bash
# The kernels crate's unit tests on wasm32-wasip1 under Node's WASI: once
# built with simd128 (the Simd128 kernel table against the scalar reference,
# plus every other kernels test) and once without (the scalar table only,
# as the baseline browser build runs; skip with WASM_SCALAR=0).
# Arguments go to the test harness (e.g. a test-name filter).
#
# Needs rustup, cargo and node >= 20; installs the wasm32-wasip1 target if
# missing. Build outputs: target/wasi/{simd128,scalar} (own dirs, so this
# never waits on the workspace's cargo lock).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

command -v node >/dev/null || { echo "test-wasm-kernels: node (>= 20) is required" >&2; exit 1; }
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
    echo "test-wasm-kernels: node >= 20 is required (found $(node --version))" >&2
    exit 1
fi
if ! rustup target list --installed | grep -qx wasm32-wasip1; then
    rustup target add wasm32-wasip1
fi

export CARGO_TARGET_WASM32_WASIP1_RUNNER="node --no-warnings $root/scripts/wasi-runner.mjs"

# $1: build name (target/wasi/$1), $2: RUSTFLAGS, then harness arguments.
run() {
    local name="$1" flags="$2"
    shift 2
    echo "== kernels on wasm32-wasip1 ($name)"
    CARGO_TARGET_DIR="$root/target/wasi/$name" RUSTFLAGS="$flags" \
        cargo test -p kernels --lib --target wasm32-wasip1 -- "$@"
}

run simd128 "-C target-feature=+simd128" "$@"
if [ "${WASM_SCALAR:-1}" != 0 ]; then
    run scalar "" "$@"
fi
