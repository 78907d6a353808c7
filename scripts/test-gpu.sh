#!/usr/bin/env bash
# GPU suite (issue 18): the gpu crate's tests (adapter, split upload, every WGSL op against
# the CPU reference: crates/gpu/tests/backend_ops; the GPU backend against the CPU one:
# crates/gpu/tests/model_parity; against llama.cpp's greedy fixtures:
# crates/gpu/tests/llama_parity), `wasm-chord info --gpu` and `--backend gpu` on every
# command that runs a model (run, chat, perplexity, bench, batched-bench, serve), the
# browser engine's runner on the GPU (crates/wasm/tests/gpu_runner), on
# SwiftShader's Vulkan ICD (a software device: correctness, not speed). Installs what is
# missing: Debian `chromium-common` (ships the ICD) and `libvulkan1` (the loader); apt
# needs root or sudo. Time budget: <= 15 min once built (ops ~26 s; against the CPU: tiny
# models ~30 s, Gemma greedy ~77 s, Gemma 64-token perplexity ~110 s; against llama.cpp's
# fixtures: 3 prompts of <= 256 tokens per tiny fixture and 2 Gemma prompts, ~2 min;
# the CLI ~1 min). Opt-in: every llama.cpp prompt (WASM_CHORD_GPU_PARITY_ALL=1, tiny models
# ~23 min, Gemma's 13 prompts > 25 min) and the 512-token perplexity (--ignored).
#
# The > 4 GiB model (opt-in, not in this suite: ~19 GiB peak RSS, ~5 min): make it with
# scripts/make-big-model.sh, then
#   VK_DRIVER_FILES=/usr/lib/chromium/vk_swiftshader_icd.json \
#     cargo test -p gpu --test model_parity -- --ignored big_model --nocapture
# (lavapipe: VK_DRIVER_FILES=/usr/share/vulkan/icd.d/lvp_icd.x86_64.json); results in
# bench/results/gpu_big_*.md.
#
# Usage: scripts/test-gpu.sh [--install]   (--install: only install the driver)
# Env:   VK_DRIVER_FILES (another Vulkan driver list; default SwiftShader's ICD)
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

ICD=/usr/lib/chromium/vk_swiftshader_icd.json
need_apt=()
[ -e "$ICD" ] || need_apt+=(chromium-common)
ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1' || need_apt+=(libvulkan1)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "test-gpu: installing ${need_apt[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
[ "${1:-}" = "--install" ] && exit 0

export VK_DRIVER_FILES=${VK_DRIVER_FILES:-$ICD}
# CI set: a missing adapter fails the tests instead of skipping them.
# one test at a time: the model tests share one slow device (a 64-row Gemma step with
# all logits takes ~1-2 min on SwiftShader; run together, the waits pass the 120 s bound)
CI=${CI:-1} cargo test -p gpu -- --nocapture --test-threads 1 2>&1 | grep -v XDG_RUNTIME_DIR
CI=${CI:-1} cargo test -p wasm-chord --test gpu_info --test gpu_backend
CI=${CI:-1} cargo test -p wasm-chord --test serve on_the_gpu
# the browser engine's runner on the GPU backend, non-blocking as in the worker
CI=${CI:-1} cargo test -p wasm --test gpu_runner
echo "test-gpu: done in $(( $(date +%s) - start )) s"
