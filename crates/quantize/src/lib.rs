//! `wasm-chord quantize`: llama.cpp's `llama-quantize` for F32, F16 and BF16
//! GGUF files, without an importance matrix. The bytes written are the same
//! as llama-quantize's for the same file type and options: the same
//! per-tensor types (`rules`), the same reference quantizers (ggml's
//! `quantize_row_*_ref`, ported in the kernels crate), the same tensor order
//! and metadata (checked for every file type in `tests/llamacpp.rs`).
//!
//! Not supported (llama-quantize options): `--imatrix`, `--tensor-type`,
//! `--allow-requantize` (quantized inputs are refused, naming the tensor),
//! `--leave-output-tensor`, `--keep-split`, `--prune-layers`,
//! `--override-kv`. One deliberate difference: an input with a non-default
//! `general.alignment` keeps it and the output is aligned to it (llama.cpp
//! copies the key but pads to 32, so its offsets do not follow the key).
#![forbid(unsafe_code)]

mod category;
mod config;
mod convert;
mod error;
mod ftype;
mod pipeline;
mod rules;
mod validate;

pub use category::{allows_quantization, Category};
pub use config::ModelParams;
pub use error::QuantizeError;
pub use ftype::FileType;
pub use pipeline::{
    llama_order, output_metadata, plan, quantize_file, write_quantized, Options, PlannedTensor,
    QUANTIZATION_VERSION,
};
pub use rules::{fallback, is_quantized, TypeOptions, TypeRules};

/// A ggml type by its llama.cpp name, any case (`q6_k`, `F16`, ...).
pub fn parse_ggml_type(s: &str) -> Option<gguf::GgmlType> {
    (0..64)
        .filter_map(gguf::GgmlType::from_id)
        .find(|t| t.name().eq_ignore_ascii_case(s))
}
