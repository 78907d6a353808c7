//! Loading on the GPU (`Engine.load_webgpu`): the device is opened asynchronously (the
//! browser's `requestAdapter` / `requestDevice`), the weights are uploaded from the
//! received file tensor by tensor, and the session runs on `gpu::backend::GpuBackend`,
//! whose step reads complete when the worker's event loop runs ([`crate::Runner`]
//! answers `pending` until then).

use std::sync::Arc;

use engine::{Loaded, Session};
use gguf::GgufFile;
use gpu::backend::GpuBackend;
use gpu::Gpu;

use crate::buffer::ModelBytes;
use crate::error::WasmError;
use crate::params;
use crate::runner::Runner;

/// A runner on the first GPU adapter. `options`: `LoadOptions` JSON; `adapter`: the
/// adapter's description as JSON for `info` (the page's GPUAdapterInfo; empty: none).
pub async fn load(
    bytes: ModelBytes,
    options: &str,
    adapter: &str,
    clock_ms: fn() -> f64,
) -> Result<Runner<GpuBackend>, WasmError> {
    let opts = params::session_options(options, clock_ms)?;
    let adapter = match adapter.trim() {
        "" => None,
        a => Some(serde_json::from_str(a).map_err(|e| WasmError::json("adapter info", e))?),
    };
    let file = Arc::new(GgufFile::from_aligned(bytes.finish()?)?);
    let gpu = Arc::new(Gpu::open_async(None).await?);
    let loaded = Loaded::with_backend(file, GpuBackend::new(gpu), &opts)?;
    let session = Session::from_loaded(loaded, &opts)?;
    Ok(Runner::new(session, clock_ms, adapter))
}
