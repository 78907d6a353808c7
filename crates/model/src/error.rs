//! The error type of the model crate.

use gguf::GgmlType;

use crate::memory::AllocFailure;

/// Why a model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    #[error(transparent)]
    Gguf(#[from] gguf::GgufError),

    #[error(
        "unsupported model architecture '{arch}' (supported: llama, gemma3, qwen2, qwen3, phi3)"
    )]
    UnsupportedArch { arch: String },

    #[error("missing metadata key '{key}'")]
    MissingKey { key: String },

    #[error("metadata key '{key}' should be {expected}, found {found}")]
    BadKey {
        key: String,
        expected: &'static str,
        found: String,
    },

    #[error("invalid model config: {0}")]
    InvalidConfig(String),

    /// A backend's device failed (lost, out of memory, a rejected shape).
    #[error("{backend} backend: {source}")]
    Backend {
        backend: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    #[error("unsupported rope scaling type '{kind}' in '{key}' (supported: none, linear, longrope; llama 3 via rope_freqs.weight)")]
    UnsupportedRopeScaling { key: String, kind: String },

    #[error("missing tensor '{name}'")]
    MissingTensor { name: String },

    #[error("tensor '{name}' has dims {found:?} (ggml order), config expects {expected:?}")]
    TensorShape {
        name: String,
        expected: Vec<u64>,
        found: Vec<u64>,
    },

    #[error("tensor '{name}' has type {ty}, which {why}")]
    TensorType {
        name: String,
        ty: GgmlType,
        why: &'static str,
    },

    #[error("kernel error on tensor '{name}': {source}")]
    Kernel {
        name: String,
        #[source]
        source: kernels::error::KernelError,
    },

    #[error("batch of {n} tokens exceeds the scratch capacity of {max}")]
    BatchTooLarge { n: usize, max: usize },

    #[error("empty token batch")]
    EmptyBatch,

    #[error("invalid batch: {0}")]
    BadBatch(String),

    #[error("positions {pos}..{end} exceed the context of {n_ctx}")]
    ContextFull {
        pos: usize,
        end: usize,
        n_ctx: usize,
    },

    #[error("token id {token} at batch index {index} is outside the vocabulary of {n_vocab}")]
    TokenOutOfRange {
        token: u32,
        index: usize,
        n_vocab: usize,
    },

    #[error("{what} was built for a different model ({detail})")]
    StateMismatch { what: &'static str, detail: String },

    /// Buffers sized by the context cannot be had: too large for the
    /// address space or the memory ceiling, or refused by the allocator.
    #[error("{what} for {n_ctx} positions {}", crate::memory::describe(*.bytes, *.why))]
    OutOfMemory {
        what: &'static str,
        n_ctx: usize,
        /// The bytes asked for (`None`: more than 64 bits can count).
        bytes: Option<u64>,
        why: AllocFailure,
    },

    /// The tokenizer can produce ids that have no row in the model's tensors.
    #[error("the tokenizer has {tokens} tokens but tensor '{tensor}' has only {rows} rows")]
    VocabTooLarge {
        tokens: usize,
        tensor: String,
        rows: usize,
    },

    #[error(transparent)]
    Attention(#[from] kernels::types::AttnError),
}
