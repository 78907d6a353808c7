//! Transformer models over GGUF weights: typed config, weights, KV cache and
//! the forward pass for `llama`, `gemma3`, `qwen2`, `qwen3` and `phi3`,
//! generic over the backend that owns the buffers and runs the ops
//! (`backend`: the CPU backend by default, and a scalar reference backend).
#![forbid(unsafe_code)]

mod arch;
pub mod backend;
pub mod batch;
pub mod config;
pub mod error;
mod forward;
pub mod kv_cache;
pub mod layout;
mod memory;
mod model;
mod scratch;
pub mod weights;

pub use backend::cpu::CpuBackend;
pub use backend::reference::RefBackend;
pub use backend::{Backend, ReadKind, Readout};
pub use batch::{Batch, Span};
pub use config::{Arch, Config};
pub use error::ModelError;
pub use forward::LogitsMode;
pub use kernels::types::AttentionBackend;
pub use kv_cache::{CacheType, KvCache};
pub use layout::{Activation, Layout, RopeFactors};
pub use memory::{memory_limit, AllocFailure};
pub use model::Model;
pub use scratch::{Scratch, Tap};
pub use weights::{AttnWeights, FfnWeights, LayerWeights, Linear, QkNorm, QkvBias, Weights};
