#!/usr/bin/env bash
# Builds the wasm-chord image with deploy/build-image.sh and checks it, offline:
#   1. the image holds the binary and nothing else (its layers, read from `podman save`), runs as
#      a non-root user, and its entrypoint is `/wasm-chord serve --host 0.0.0.0 --port 8080
#      -m /models/model.gguf`;
#   2. `podman run --network=none` of the binary answers --help;
#   3. if the binary has `serve` (`wasm-chord serve --help`): `podman run IMAGE --help` (through the
#      entrypoint) prints serve's help, then the image runs with the model mounted read-only at
#      /models/model.gguf and its port published on 127.0.0.1; /health must answer 200, a chat
#      completion must come back, and SIGTERM (`podman stop`) must end it with exit status 0.
#      Without `serve` this step is reported as skipped (it is not the image's fault), except
#      when CI is set: then it fails.
#
# Installs podman and runc with apt when they are missing.
#
# Usage: deploy/test-image.sh [--no-build] [--tag NAME] [--model PATH]
#   --no-build  test the image already built
#   --tag       image name (default localhost/wasm-chord:latest)
#   --model     default models/gemma-3-270m-q4_k_m.gguf (scripts/fetch-model.sh)
# Env:  PODMAN, PODMAN_GLOBAL_FLAGS (as deploy/build-image.sh; default: none, or `--runtime runc`
#       when crun cannot start a container, as on hosts with hybrid cgroup v1/v2 hierarchies),
#       PODMAN_RUN_FLAGS (flags of `podman run`; default caps nofile and nproc at 4096, as
#       podman's defaults are above what an unprivileged sandbox may set), START_TIMEOUT (seconds
#       to wait for /health, default 120).
# Time: ~2 s after the binary is built (see deploy/build-image.sh), plus the model's load time
#       for the serve checks.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# shellcheck source=bench/lib.sh
source bench/lib.sh
TAG=localhost/wasm-chord:latest
BUILD=1
MODEL=models/gemma-3-270m-q4_k_m.gguf
while [[ $# -gt 0 ]]; do
    case $1 in
        --no-build) BUILD=0; shift ;;
        --tag) TAG=$2; shift 2 ;;
        --model) MODEL=$2; shift 2 ;;
        -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
        *) echo "test-image.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
PODMAN=${PODMAN:-podman}
# podman, and runc for hosts where podman's default crun cannot start containers (apt needs root
# or sudo).
need_apt=()
command -v "$PODMAN" > /dev/null || need_apt+=(podman)
command -v runc > /dev/null || need_apt+=(runc)
if [[ ${#need_apt[@]} -gt 0 ]]; then
    echo "test-image.sh: installing ${need_apt[*]}" >&2
    SUDO=""
    [[ $(id -u) -eq 0 ]] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" > /dev/null
fi
read -r -a GLOBAL <<< "${PODMAN_GLOBAL_FLAGS:-}"
read -r -a RUN_FLAGS <<< "${PODMAN_RUN_FLAGS:---ulimit nofile=4096:4096 --ulimit nproc=4096:4096}"
pm() { "$PODMAN" "${GLOBAL[@]}" "$@"; }
fail() { echo "test-image.sh: FAIL: $*" >&2; exit 1; }
ok() { echo "test-image.sh: ok: $*" >&2; }

[[ $BUILD == 1 ]] && deploy/build-image.sh --tag "$TAG"

# 1. contents and configuration
WORK=$(mktemp -d)
CID=""
trap 'if [[ -n $CID ]]; then pm rm -f -t 0 "$CID" > /dev/null 2>&1 || true; fi; rm -rf "$WORK"' EXIT
pm save -q --format oci-archive -o "$WORK/image.tar" "$TAG" > /dev/null
files=$(python3 - "$WORK/image.tar" <<'PY'
import io, json, sys, tarfile
outer = tarfile.open(sys.argv[1])
blob = lambda d: outer.extractfile("blobs/" + d.replace(":", "/")).read()
index = json.loads(outer.extractfile("index.json").read())
manifest = json.loads(blob(index["manifests"][0]["digest"]))
for layer in manifest["layers"]:
    with tarfile.open(fileobj=io.BytesIO(blob(layer["digest"]))) as t:
        for m in t.getmembers():
            name = m.name[2:] if m.name.startswith("./") else m.name.lstrip("/")
            print(name + ("/" if m.isdir() else ""))
PY
)
[[ $files == wasm-chord ]] || fail "the image holds more than /wasm-chord: $(echo "$files" | tr '\n' ' ')"
ok "the image holds only /wasm-chord ($(du -h "$WORK/image.tar" | cut -f1) archive)"
entry=$(pm image inspect --format '{{json .Config.Entrypoint}}' "$TAG")
[[ $entry == '["/wasm-chord","serve","--host","0.0.0.0","--port","8080","-m","/models/model.gguf"]' ]] ||
    fail "entrypoint is $entry"
user=$(pm image inspect --format '{{.Config.User}}' "$TAG")
[[ $user == 65534:65534 ]] || fail "user is '$user', not 65534:65534"
ok "entrypoint $entry, user $user"

# 2. the binary runs in the image, without a network (and which runtime can run it here)
if [[ -z ${PODMAN_GLOBAL_FLAGS+set} ]] &&
    ! pm run --rm --network=none "${RUN_FLAGS[@]}" --entrypoint /wasm-chord "$TAG" --version > /dev/null 2>&1 &&
    command -v runc > /dev/null; then
    GLOBAL=(--runtime runc)
    echo "test-image.sh: the default runtime cannot start containers here; using ${GLOBAL[*]}" >&2
fi
out=$(pm run --rm --network=none "${RUN_FLAGS[@]}" --entrypoint /wasm-chord "$TAG" --help) ||
    fail "podman run --entrypoint /wasm-chord $TAG --help"
grep -q '^Usage: wasm-chord' <<< "$out" || fail "unexpected --help output: $out"
ok "podman run --network=none ... --help"

# 3. serve, through the entrypoint
if ! pm run --rm --network=none "${RUN_FLAGS[@]}" --entrypoint /wasm-chord "$TAG" serve --help > /dev/null 2>&1; then
    [[ -n ${CI:-} ]] && fail "this wasm-chord has no \`serve\` subcommand (CI is set: not skipping)"
    echo "test-image.sh: SKIPPED the serve checks: this wasm-chord has no \`serve\` subcommand" >&2
    exit 0
fi
out=$(pm run --rm --network=none "${RUN_FLAGS[@]}" "$TAG" --help) || fail "podman run $TAG --help"
grep -q -- '--port' <<< "$out" || fail "serve --help through the entrypoint: $out"
ok "podman run $TAG --help (serve's help through the entrypoint)"
[[ -f $MODEL ]] || fail "no model at $MODEL (scripts/fetch-model.sh)"
PORT=$(free_port)
CID=$(pm run -d "${RUN_FLAGS[@]}" -p "127.0.0.1:$PORT:8080" \
    -v "$(realpath "$MODEL"):/models/model.gguf:ro" "$TAG" -np 2 -c 1024)
wait_http "http://127.0.0.1:$PORT/health" "${START_TIMEOUT:-120}" ||
    fail "/health did not answer 200 on 127.0.0.1:$PORT: $(pm logs "$CID" 2>&1 | tail -5)"
ok "/health 200 on the published port 127.0.0.1:$PORT"
reply=$(curl -fsS --noproxy '*' --max-time 60 "http://127.0.0.1:$PORT/v1/chat/completions" \
    -H 'Content-Type: application/json' \
    -d '{"messages":[{"role":"user","content":"Say hello."}],"max_tokens":8,"temperature":0}') ||
    fail "chat completion"
python3 -c 'import json, sys; r = json.loads(sys.argv[1]); assert r["choices"][0]["message"]["content"], r' \
    "$reply" || fail "chat completion reply: $reply"
ok "chat completion through the container"
pm stop -t 15 "$CID" > /dev/null
code=$(pm inspect --format '{{.State.ExitCode}}' "$CID")
[[ $code == 0 ]] || fail "exit status $code after SIGTERM: $(pm logs "$CID" 2>&1 | tail -5)"
ok "SIGTERM: exit status 0"
