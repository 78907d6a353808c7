#!/usr/bin/env bash
# Runs the kernels crate's unit tests for aarch64 under qemu-user: once on
# `-cpu max` (NEON + dot product: baseline and sdot kernels), once on
# `-cpu cortex-a53` (ARMv8.0, no dot product: the sdot tests must detect
# that and skip, the baseline tests run).
#
# Installs what is missing: qemu-user, the aarch64 cross gcc (linker) and
# libc (apt-get, needs root), and the rust target (rustup). Builds into
# target/aarch64 so it never holds the host build's cargo lock.
#
# Usage: scripts/test-neon.sh [extra cargo test args, e.g. a test filter]
# Env:   NEON_SKIP_A53=1 skips the cortex-a53 run; NEON_ALL_TESTS=1 also
#        runs the crate's integration tests (tests/*.rs) on -cpu max.
set -euo pipefail

cd "$(dirname "$0")/.."
TARGET=aarch64-unknown-linux-gnu
SYSROOT=/usr/aarch64-linux-gnu

need_apt=()
command -v qemu-aarch64 >/dev/null || need_apt+=(qemu-user)
command -v aarch64-linux-gnu-gcc >/dev/null || need_apt+=(gcc-aarch64-linux-gnu)
[ -e "$SYSROOT/lib/libc.so.6" ] || need_apt+=(libc6-dev-arm64-cross)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "test-neon: installing ${need_apt[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
if ! rustup target list --installed | grep -qx "$TARGET"; then
    echo "test-neon: adding rust target $TARGET"
    rustup target add "$TARGET"
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR_NEON:-target/aarch64}"
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc

run() {
    local cpu=$1 what=$2
    shift 2
    echo "test-neon: cargo test -p kernels $what on qemu-aarch64 -cpu $cpu"
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -cpu $cpu -L $SYSROOT" \
        cargo test -p kernels "$what" --target "$TARGET" -- "$@"
}

if [ "${NEON_ALL_TESTS:-0}" = 1 ]; then
    run max --tests "$@"
else
    run max --lib "$@"
fi
if [ "${NEON_SKIP_A53:-0}" != 1 ]; then
    # Only the arch tests differ between CPUs; the rest ran above.
    run cortex-a53 --lib arch:: "$@"
fi
echo "test-neon: ok"
