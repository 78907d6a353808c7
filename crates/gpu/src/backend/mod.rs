//! The GPU backend of the model's forward pass (`model::Backend`): weights,
//! activations and the KV cache in device buffers, every op a WGSL kernel
//! (`crate::ops`), a whole step recorded into one command encoder and
//! submitted once, when it is read; only what the sampler needs comes back
//! (each row's top-k, found on the device, or the logits when asked).
//!
//! It lives here rather than in `model` so that the model crate stays free
//! of wgpu: `gpu` depends on `model`'s seam, and the CLI picks a backend.
//! Natively a step's read blocks on the device (bounded). In the browser
//! (`read_web`) it never blocks: the map completes when the JS event loop
//! runs, so the caller polls `read_ready` between turns of the event loop
//! and calls `read_wait` once it is true.

mod acts;
mod kv;
mod read;
#[cfg(not(target_arch = "wasm32"))]
mod read_native;
#[cfg(target_arch = "wasm32")]
mod read_web;
mod step;

use std::ops::Range;
use std::sync::{Arc, Mutex};

use gguf::{GgmlType, GgufFile};
use kernels::types::RopeParams;
use model::backend::{
    AttnShape, Backend, Buf, Dims, KvPlace, KvWindow, ReadKind, Readout, Rows, Run,
};
use model::{Activation, AllocFailure, CacheType, Linear, ModelError, Span, Weights};

use crate::device::Gpu;
use crate::error::GpuError;
use crate::ops::matvec::DotPath;
use crate::upload::GpuTensor;
pub use acts::GpuActs;
pub use kv::{kv_type, GpuKv};
pub use step::StepStats;

/// Runs the forward pass on one device.
pub struct GpuBackend {
    gpu: Arc<Gpu>,
    path: DotPath,
    /// The last submitted step's counts.
    stats: Mutex<StepStats>,
}

impl std::fmt::Debug for GpuBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuBackend")
            .field("adapter", &self.gpu.info.name)
            .field("path", &self.path)
            .finish()
    }
}

/// A weight matrix on the device, in the file's block layout.
pub type GpuMatrix = Arc<GpuTensor>;

/// A small f32 vector on the device, with its host copy (RoPE frequency
/// factors are read on the host, where the angle caches are made).
#[derive(Clone, Debug)]
pub struct GpuVector {
    pub(crate) buf: wgpu::Buffer,
    pub(crate) host: Arc<Vec<f32>>,
}

/// A device failure as the model's error.
pub(crate) fn model_err(e: GpuError) -> ModelError {
    ModelError::Backend {
        backend: "gpu",
        source: Box::new(e),
    }
}

impl GpuBackend {
    /// The backend on `gpu`, with the packed integer dot where it exists.
    pub fn new(gpu: Arc<Gpu>) -> GpuBackend {
        let path = DotPath::best(&gpu);
        GpuBackend {
            gpu,
            path,
            stats: Mutex::new(StepStats::default()),
        }
    }

    /// The device.
    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    /// The last submitted step's dispatches and bind groups created.
    pub fn last_step(&self) -> StepStats {
        *self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn note(&self, s: StepStats) {
        *self.stats.lock().unwrap_or_else(|e| e.into_inner()) = s;
    }
}

impl Backend for GpuBackend {
    type Matrix = GpuMatrix;
    type Vector = GpuVector;
    type Acts = GpuActs;
    type Kv = GpuKv;

    fn matrix(
        &self,
        file: &GgufFile,
        index: usize,
        ty: GgmlType,
        rows: Range<usize>,
        cols: usize,
    ) -> Result<GpuMatrix, ModelError> {
        // these rows only, straight from the mapped file to the device
        let src = model::backend::tensor_rows(file, index, ty, rows.clone(), cols);
        let m = GpuTensor::upload(&self.gpu, ty, rows.len(), cols, src).map_err(model_err)?;
        Ok(Arc::new(m))
    }

    fn vector(&self, v: Vec<f32>) -> GpuVector {
        GpuVector {
            buf: self.gpu.storage_init("vector", bytemuck::cast_slice(&v)),
            host: Arc::new(v),
        }
    }

    fn acts(&self, d: &Dims, w: &Weights<GpuBackend>) -> Result<GpuActs, ModelError> {
        GpuActs::new(self.gpu.clone(), d, w).map_err(model_err)
    }

    fn kv(&self, ty: CacheType, row: usize, layer_rows: &[usize]) -> Result<GpuKv, AllocFailure> {
        let kt = kv_type(ty);
        if layer_rows.iter().any(|&r| {
            r.checked_mul(row)
                .is_none_or(|n| kt.bytes(n) > self.gpu.max_binding_bytes())
        }) {
            // one layer's K (or V) must fit one binding
            return Err(AllocFailure::OverLimit {
                limit: self.gpu.max_binding_bytes(),
            });
        }
        Ok(GpuKv::new(self.gpu.clone(), kt, row, layer_rows))
    }

    fn embed(
        &self,
        a: &mut GpuActs,
        table: &Linear<GpuMatrix>,
        tokens: &[u32],
        scale: Option<f32>,
    ) -> Result<(), ModelError> {
        if let Some(s) = a.begin_step() {
            self.note(s);
        }
        a.embed(&table.m, tokens, scale);
        a.check()
    }

    fn rmsnorm(&self, a: &mut GpuActs, src: Buf, dst: Buf, w: &GpuVector, eps: f32, n: usize) {
        a.rmsnorm(src, dst, w, eps, n);
    }

    fn rmsnorm_rows(
        &self,
        a: &mut GpuActs,
        src: Buf,
        dst: Buf,
        w: &GpuVector,
        eps: f32,
        rows: &Rows,
    ) {
        a.rmsnorm_rows(src, dst, w, eps, rows);
    }

    fn head_norm(&self, a: &mut GpuActs, buf: Buf, w: &GpuVector, eps: f32, n: usize) {
        a.head_norm(buf, w, eps, n);
    }

    fn rope(
        &self,
        a: &mut GpuActs,
        p: &RopeParams,
        freq_factors: Option<&GpuVector>,
        head_dim: usize,
        spans: &[Span],
    ) {
        a.rope(p, freq_factors, head_dim, spans);
    }

    fn add_bias(&self, a: &mut GpuActs, buf: Buf, b: &GpuVector, n: usize) {
        a.add_bias(buf, b, n);
    }

    fn add(&self, a: &mut GpuActs, dst: Buf, src: Buf, n: usize) {
        a.add(dst, src, n);
    }

    fn scale(&self, a: &mut GpuActs, buf: Buf, s: f32, n: usize) {
        a.scale(buf, s, n);
    }

    fn project(
        &self,
        a: &mut GpuActs,
        src: Buf,
        outs: &[(&Linear<GpuMatrix>, Buf)],
        runs: &[Run],
    ) -> Result<(), ModelError> {
        // one kernel order for every run: the device's sums do not depend
        // on how rows are chunked
        let n = runs.last().map_or(0, |r| r.start + r.len);
        a.project(src, outs, n, self.path);
        a.check()
    }

    fn glu(&self, a: &mut GpuActs, act: Activation, n: usize) {
        a.glu(act, n);
    }

    fn kv_write(
        &self,
        a: &mut GpuActs,
        kv: &mut GpuKv,
        layer: usize,
        place: KvPlace,
        pos: usize,
        rows: Range<usize>,
    ) {
        a.kv_write(kv, layer, place, pos, rows);
    }

    fn attend(
        &self,
        a: &mut GpuActs,
        kv: &GpuKv,
        layer: usize,
        window: KvWindow,
        shape: &AttnShape,
        pos: usize,
        rows: Range<usize>,
    ) -> Result<(), ModelError> {
        a.attend(kv, layer, window, shape, pos, rows);
        a.check()
    }

    fn softcap(&self, a: &mut GpuActs, buf: Buf, cap: f32, n: usize) {
        a.softcap(buf, cap, n);
    }

    fn peek<'a>(&self, a: &'a mut GpuActs, buf: Buf, n: usize) -> &'a [f32] {
        if let Some(s) = a.flush() {
            self.note(s);
        }
        a.peek(buf, n)
    }

    fn read_begin(&self, a: &mut GpuActs, rows: usize, what: ReadKind) {
        if let Some(s) = a.read_begin(rows, what) {
            self.note(s);
        }
    }

    fn read_ready(&self, a: &mut GpuActs) -> bool {
        a.read_ready()
    }

    fn read_wait<'a>(&self, a: &'a mut GpuActs) -> Result<Readout<'a>, ModelError> {
        a.read_wait()
    }
}
