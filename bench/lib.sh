# Shared by the bench/compare_*.sh scripts, bench/roofline.sh and deploy/test-image.sh (sourced,
# with ROOT set and the working directory at the repository root).

# The benchmark models: Gemma 3 270M and the TinyLlama-1.1B files of bench/make_models.sh.
default_models() {
    local m="models/gemma-3-270m-q4_k_m.gguf" v q
    for v in tinyllama-1.1b tinyllama-1.1b-v1k; do
        for q in q4_k_m q4_0 q8_0; do m+=" bench/models/$v-$q.gguf"; done
    done
    echo "$m $(real_models)"
}

# The other real models of scripts/fetch-model.sh (SmolLM2 Q4_1, Qwen2.5-Coder Q4_K_M).
real_models() {
    echo "models/smollm2-135m-instruct-q4_1.gguf models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf" \
        "models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
}

# Sets LLAMA_BENCH (built by bench/build_llamacpp.sh if missing) and WASM_CHORD_BIN (built
# with cargo unless given).
resolve_binaries() {
    LLAMA_BENCH=${LLAMA_BENCH:-${LLAMACPP_DIR:-$ROOT/bench/build/llamacpp}/build/bin/llama-bench}
    [[ -x $LLAMA_BENCH ]] || bench/build_llamacpp.sh
    if [[ -z ${WASM_CHORD_BIN:-} ]]; then
        cargo build --release -p wasm-chord --quiet
        WASM_CHORD_BIN=$ROOT/target/release/wasm-chord
    fi
}

# A free TCP port on 127.0.0.1 (the kernel's choice; free when asked, so start the server soon).
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_http URL SECONDS [PID]: polls URL until it answers 200; fails after SECONDS, or as soon as
# process PID (the server being waited for) has exited.
wait_http() {
    local url=$1 secs=$2 pid=${3:-} i
    for ((i = 0; i < secs * 4; i++)); do
        curl -fsS -o /dev/null --noproxy '*' --max-time 2 "$url" 2>/dev/null && return 0
        [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null && return 1
        sleep 0.25
    done
    return 1
}

# stop_pid PID [SECONDS]: SIGTERM, then SIGKILL after SECONDS (default 15) if it is still running.
stop_pid() {
    local pid=$1 secs=${2:-15} i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < secs * 4; i++)); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.25
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
