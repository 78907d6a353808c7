//! Errors of the bindings; every one becomes a JS `Error` carrying its message.

use engine::EngineError;

/// Everything that can go wrong behind the JS API.
#[derive(Debug, thiserror::Error)]
pub enum WasmError {
    /// The model is larger than what wasm32's 4 GiB address space can hold next to the
    /// runtime, checked before anything is allocated.
    #[error(
        "the model file is {size_mib} MiB but wasm32 memory is limited to 4 GiB, of which at \
         most {limit_mib} MiB can hold the model (the rest is for the KV cache, scratch \
         buffers and the tokenizer); use a smaller model or quantization"
    )]
    TooLarge { size_mib: u64, limit_mib: u64 },
    /// The size given for the model buffer is not a byte count.
    #[error("invalid model size {0}: expected a whole number of bytes greater than 0")]
    BadSize(f64),
    /// The browser refused to grow wasm memory to the model's size.
    #[error("could not allocate {size_mib} MiB of wasm memory for the model (the browser refused to grow memory); close other tabs or use a smaller model")]
    Alloc { size_mib: u64 },
    /// A chunk was written out of order.
    #[error("model chunk written at offset {offset}, expected the next chunk at offset {expected} (chunks must be written in order)")]
    OutOfOrder { offset: f64, expected: usize },
    /// A chunk goes past the announced size.
    #[error("model chunk of {len} bytes at offset {offset} goes past the announced file size of {total} bytes")]
    PastEnd {
        offset: usize,
        len: usize,
        total: usize,
    },
    /// The model buffer was loaded before all bytes were written.
    #[error("the model download is incomplete: {written} of {total} bytes received")]
    Incomplete { written: usize, total: usize },
    /// A JSON argument does not parse or has wrong fields.
    #[error("invalid {what}: {detail}")]
    Json { what: &'static str, detail: String },
    /// An option is out of range.
    #[error("invalid option `{name}`: {detail}")]
    Option { name: &'static str, detail: String },
    /// `next_piece` was called with no generation running.
    #[error("no generation is running: call generate_start or chat_start first")]
    NoGeneration,
    /// The GPU device could not be opened.
    #[error("WebGPU: {0}")]
    Gpu(#[from] gpu::GpuError),
    /// A step waited for the GPU past the bound.
    #[error(
        "the GPU did not finish a step within {secs} s (device lost or hung); reload the model"
    )]
    StepTimeout { secs: f64 },
    /// A request came while a step still waits for the GPU.
    #[error("a step is still running on the GPU: settle() it first")]
    Busy,
    /// Loading or generation failed inside the engine.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl From<gguf::GgufError> for WasmError {
    fn from(e: gguf::GgufError) -> Self {
        WasmError::Engine(EngineError::Gguf(e))
    }
}

impl WasmError {
    pub(crate) fn json(what: &'static str, e: serde_json::Error) -> Self {
        WasmError::Json {
            what,
            detail: e.to_string(),
        }
    }
}
