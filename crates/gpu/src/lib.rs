//! The GPU device layer of wasm-chord, on `wgpu` (WGSL shaders): WebGPU in
//! the browser, Vulkan / Metal / DX12 natively.
//!
//! - [`adapter`]: which adapters exist and what they offer ([`adapters`]);
//! - [`device`]: one opened device ([`Gpu`]) with the adapter's limits,
//!   bounded waits and a lost-device flag, so nothing here can hang;
//! - [`split`] / [`upload`]: a tensor's bytes (GGUF block layout, bound as
//!   `array<u32>`) in one or more buffers, split at whole rows below the
//!   binding limit;
//! - [`kernel`]: compiled pipelines and one dispatch helper; [`arena`]:
//!   parameters and bind groups kept from step to step;
//! - [`ops`]: the WGSL kernels (one file per family under `shaders/`) with
//!   their Rust dispatch;
//! - [`backend`]: `model::Backend` on the device ([`backend::GpuBackend`]).
#![forbid(unsafe_code)]

pub mod adapter;
pub mod arena;
pub mod backend;
pub mod device;
pub mod error;
pub mod kernel;
pub mod ops;
#[cfg(not(target_arch = "wasm32"))]
pub mod readback;
pub mod software;
pub mod split;
pub mod upload;

#[cfg(not(target_arch = "wasm32"))]
pub use adapter::adapters;
pub use adapter::{adapters_async, AdapterReport};
pub use device::Gpu;
pub use error::GpuError;
pub use upload::GpuTensor;
