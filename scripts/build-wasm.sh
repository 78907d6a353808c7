#!/usr/bin/env bash
# Builds the browser engine (crates/wasm) three times, into git-ignored web/pkg/:
#   web/pkg/relaxed/  with wasm SIMD and relaxed SIMD (+simd128,+relaxed-simd): the simd128
#                     kernels with i32x4.relaxed_dot_i8x16_i7x16_add where it is deterministic
#   web/pkg/simd/     with wasm SIMD (-C target-feature=+simd128): the simd128 kernels
#   web/pkg/base/     without it, for engines that lack SIMD
# each as wasm-bindgen `--target web` output (wasm_chord.js + wasm_chord_bg.wasm),
# optimized with wasm-opt -O3 (binaryen from npm; Debian's is too old for Rust's output).
#
# Installs what is missing: the wasm32-unknown-unknown target, wasm-bindgen-cli at the
# exact version the workspace pins, and binaryen, the latter two under
# $WASM_CHORD_TOOLS (default ~/.cache/wasm-chord/tools).
#
# Env: VARIANTS="relaxed simd base" (which to build), WASM_OPT=0 (skip wasm-opt, for quick
# iteration), CARGO_TARGET_DIR_WASM (default target/wasm; one sub-dir per variant so the
# variants' RUSTFLAGS never invalidate each other).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TOOLS=${WASM_CHORD_TOOLS:-$HOME/.cache/wasm-chord/tools}
TARGET_DIR=${CARGO_TARGET_DIR_WASM:-$ROOT/target/wasm}
VARIANTS=${VARIANTS:-relaxed simd base}
BINARYEN_VERSION=${BINARYEN_VERSION:-132.0.0}
start=$(date +%s)

WB_VERSION=$(sed -n 's/^wasm-bindgen = "=\([0-9.]*\)".*/\1/p' Cargo.toml)
[ -n "$WB_VERSION" ] || { echo "build-wasm: no exact wasm-bindgen version in Cargo.toml" >&2; exit 1; }

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi

WB=$TOOLS/bin/wasm-bindgen
if ! [ -x "$WB" ] || [ "$("$WB" --version)" != "wasm-bindgen $WB_VERSION" ]; then
  echo "build-wasm: installing wasm-bindgen-cli $WB_VERSION into $TOOLS (takes a few minutes once)"
  # --locked pins the CLI's own dependencies; fall back to a fresh resolution if a
  # locked version is not in the registry.
  cargo install wasm-bindgen-cli --version "$WB_VERSION" --locked --root "$TOOLS" \
    || cargo install wasm-bindgen-cli --version "$WB_VERSION" --root "$TOOLS"
fi

RUN_WASM_OPT=${WASM_OPT:-1}
WASM_OPT_BIN=$TOOLS/npm/node_modules/.bin/wasm-opt
if [ "$RUN_WASM_OPT" != 0 ] && ! [ -x "$WASM_OPT_BIN" ]; then
  echo "build-wasm: installing binaryen $BINARYEN_VERSION (npm) into $TOOLS/npm"
  mkdir -p "$TOOLS/npm"
  npm install --prefix "$TOOLS/npm" --no-audit --no-fund --loglevel=error "binaryen@$BINARYEN_VERSION"
fi

# Features rustc emits by default for wasm32-unknown-unknown; wasm-opt must accept them.
BASE_FEATURES=(--enable-bulk-memory --enable-bulk-memory-opt --enable-nontrapping-float-to-int
  --enable-sign-ext --enable-mutable-globals --enable-multivalue --enable-reference-types)

for variant in $VARIANTS; do
  case $variant in
    relaxed) flags="-C target-feature=+simd128,+relaxed-simd"
      features=("${BASE_FEATURES[@]}" --enable-simd --enable-relaxed-simd) ;;
    simd) flags="-C target-feature=+simd128"; features=("${BASE_FEATURES[@]}" --enable-simd) ;;
    base) flags=""; features=("${BASE_FEATURES[@]}") ;;
    *) echo "build-wasm: unknown variant $variant (relaxed|simd|base)" >&2; exit 1 ;;
  esac
  t0=$(date +%s)
  echo "build-wasm: $variant: cargo build (RUSTFLAGS=\"$flags\")"
  RUSTFLAGS="$flags" CARGO_TARGET_DIR="$TARGET_DIR/$variant" \
    cargo build -p wasm --lib --target wasm32-unknown-unknown --profile wasm-release
  raw=$TARGET_DIR/$variant/wasm32-unknown-unknown/wasm-release/wasm_chord.wasm
  out=$ROOT/web/pkg/$variant
  rm -rf "$out"
  "$WB" --target web --out-dir "$out" --out-name wasm_chord "$raw"
  if [ "$RUN_WASM_OPT" != 0 ]; then
    "$WASM_OPT_BIN" -O3 "${features[@]}" "$out/wasm_chord_bg.wasm" -o "$out/wasm_chord_bg.opt.wasm"
    mv "$out/wasm_chord_bg.opt.wasm" "$out/wasm_chord_bg.wasm"
  fi
  echo "build-wasm: $variant: $(stat -c %s "$out/wasm_chord_bg.wasm") bytes ($(stat -c %s "$raw") before wasm-bindgen/wasm-opt), $(( $(date +%s) - t0 )) s"
done
echo "build-wasm: done in $(( $(date +%s) - start )) s"
