#!/usr/bin/env bash
# The kernels crate's unit tests on wasm32-wasip1 under Node's WASI: built
# with simd128 (the Simd128 kernel table against the scalar reference, plus
# every other kernels test), with simd128 and relaxed-simd (the same tests on
# the relaxed build's kernels; node gets the flags it needs for it; skip with
# WASM_RELAXED=0), and without SIMD (the scalar
# table only, as the baseline browser build runs; skip with WASM_SCALAR=0).
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

# The V8 flags this node needs for relaxed SIMD (Node 20: the feature flag, and
# --no-liftoff: its baseline compiler gets the relaxed dot wrong; see web/core.js).
relaxed_flags=$(node --input-type=module -e "
import { setFlagsFromString } from 'node:v8';
import { relaxedSimdNodeFlags } from '$root/web/core.js';
const f = relaxedSimdNodeFlags(setFlagsFromString);
console.log(f === null ? 'unsupported' : f.join(' '));")

# $1: build name (target/wasi/$1), $2: RUSTFLAGS, $3: node flags, then harness arguments.
run() {
    local name="$1" flags="$2" node_flags="$3"
    shift 3
    echo "== kernels on wasm32-wasip1 ($name)"
    CARGO_TARGET_WASM32_WASIP1_RUNNER="node --no-warnings $node_flags $root/scripts/wasi-runner.mjs" \
        CARGO_TARGET_DIR="$root/target/wasi/$name" RUSTFLAGS="$flags" \
        cargo test -p kernels --lib --target wasm32-wasip1 -- "$@"
}

run simd128 "-C target-feature=+simd128" "" "$@"
if [ "${WASM_RELAXED:-1}" != 0 ]; then
    if [ "$relaxed_flags" = unsupported ]; then
        echo "test-wasm-kernels: this node ($(node --version)) cannot run relaxed SIMD" >&2
        exit 1
    fi
    run relaxed "-C target-feature=+simd128,+relaxed-simd" "$relaxed_flags" "$@"
fi
if [ "${WASM_SCALAR:-1}" != 0 ]; then
    run scalar "" "" "$@"
fi
