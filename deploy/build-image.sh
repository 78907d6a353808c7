#!/usr/bin/env bash
# Builds the wasm-chord container image (deploy/Dockerfile: FROM scratch + one static binary)
# offline: the static x86_64-unknown-linux-musl binary is built on the host with cargo, checked to
# be static, stripped into deploy/build/context/, and `podman build` packs it (no registry, no
# network: --network=none, nothing is pulled).
#
# Usage: deploy/build-image.sh [--tag NAME] [--binary PATH]
#   --tag     image name (default localhost/wasm-chord:latest)
#   --binary  use this static binary instead of building one
# Env:  PODMAN (default podman; buildah's `bud` is not used), PODMAN_GLOBAL_FLAGS (e.g.
#       "--storage-driver vfs" where overlay mounts are not allowed; see deploy/README.md),
#       CARGO_BUILD_JOBS (cargo's own).
# Time: the cargo build (~6 min from scratch on 2 cores, seconds when built) + ~5 s for the image.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
TAG=localhost/wasm-chord:latest
BIN=""
while [[ $# -gt 0 ]]; do
    case $1 in
        --tag) TAG=$2; shift 2 ;;
        --binary) BIN=$2; shift 2 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "build-image.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
PODMAN=${PODMAN:-podman}
read -r -a GLOBAL <<< "${PODMAN_GLOBAL_FLAGS:-}"
TARGET=x86_64-unknown-linux-musl

if [[ -z $BIN ]]; then
    rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET"
    cargo build --release --target "$TARGET" -p wasm-chord
    BIN=target/$TARGET/release/wasm-chord
fi
# Static: no program interpreter and no shared-library dependency (a scratch image has no libc).
if readelf -l "$BIN" | grep -q INTERP || readelf -d "$BIN" | grep -q NEEDED; then
    echo "build-image.sh: $BIN is dynamically linked:" >&2
    readelf -d "$BIN" | grep NEEDED >&2 || true
    exit 1
fi

CONTEXT=deploy/build/context
rm -rf "$CONTEXT"
mkdir -p "$CONTEXT"
strip -o "$CONTEXT/wasm-chord" "$BIN"
"$PODMAN" "${GLOBAL[@]}" build --network=none --pull=never -f deploy/Dockerfile -t "$TAG" "$CONTEXT"
echo "built $TAG ($(du -h "$CONTEXT/wasm-chord" | cut -f1) binary, from $BIN)" >&2
