# Shared by bench/compare_llamacpp.sh and bench/roofline.sh (sourced, with ROOT set and the
# working directory at the repository root).

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
