//! Quantized compute kernels: the only crate with `unsafe`.
//!
//! `blocks` holds the ggml block layouts, `quant` one file per type (scalar
//! reference: dequantize, quantize, vec_dot), `arch` the SIMD paths and the
//! dispatch table chosen once at run time, `ops` the model-level operations
//! (matvec, norms, rope, activations), `attention` the attention kernels.
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]

pub mod arch;
pub mod attention;
pub mod blocks;
#[cfg(test)]
mod conformance;
pub mod error;
pub mod exact;
pub mod gemm;
pub mod matvec_tokens;
pub mod ops;
pub mod packed;
pub mod parallel;
pub mod pool;
pub mod quant;
pub mod reference;
#[cfg(any(test, feature = "testdata"))]
pub mod testdata;
pub mod types;

pub use error::KernelError;
pub use gguf::GgmlType;
pub use pool::ThreadPool;
