//! Why a file could not be quantized.

use gguf::{GgmlType, GgufError};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QuantizeError {
    #[error(transparent)]
    Gguf(#[from] GgufError),

    #[error("write failed: {0}")]
    Io(#[from] std::io::Error),

    #[error("cannot write '{path}': {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },

    #[error("metadata key '{key}' is missing")]
    MissingKey { key: String },

    #[error("metadata key '{key}' has type {found}, expected an unsigned integer")]
    BadKey { key: String, found: &'static str },

    /// The source tensor is already quantized (llama-quantize's
    /// `--allow-requantize` is not supported).
    #[error("tensor '{name}' is {from}: only F32, F16 and BF16 tensors can be converted to {to}")]
    Requantize {
        name: String,
        from: GgmlType,
        to: GgmlType,
    },

    /// A type we cannot produce was chosen (e.g. by `--output-tensor-type`).
    #[error("tensor '{name}': cannot produce type {ty}")]
    UnsupportedType { name: String, ty: GgmlType },

    /// The row length is not a multiple of the chosen type's block size.
    #[error("tensor '{name}': rows of {row_len} are not whole {ty} blocks of {block}")]
    PartialBlock {
        name: String,
        ty: GgmlType,
        row_len: u64,
        block: usize,
    },

    /// A model with experts has an ffn tensor without a valid `blk.N.` layer.
    #[error("cannot tell the layer of tensor '{name}' (expected blk.N. with N < {n_layer})")]
    NoLayer { name: String, n_layer: u32 },

    /// Input and output are the same file.
    #[error("the output '{path}' is the input file")]
    SameFile { path: String },

    #[error("tensor '{name}': {source}")]
    Kernel {
        name: String,
        #[source]
        source: kernels::KernelError,
    },

    /// A quantized value is not finite (ggml's row validation would fail too).
    #[error("tensor '{name}': quantizing to {ty} gave a non-finite value (is the input finite?)")]
    NonFinite { name: String, ty: GgmlType },
}
