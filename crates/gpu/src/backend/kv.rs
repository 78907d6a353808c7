//! KV storage in device buffers: per layer one buffer of K rows and one
//! of V rows, f32 words or f16 pairs (`ops::attention::KvType`).

use std::ops::Range;
use std::sync::Arc;

use model::backend::KvStore;
use model::CacheType;

use crate::device::Gpu;
use crate::ops::attention::KvType;

/// A model's KV cache on the device.
pub struct GpuKv {
    gpu: Arc<Gpu>,
    pub(crate) ty: KvType,
    /// Elements per row.
    pub(crate) row: usize,
    pub(crate) layers: Vec<(wgpu::Buffer, wgpu::Buffer)>,
}

impl std::fmt::Debug for GpuKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuKv")
            .field("ty", &self.ty)
            .field("row", &self.row)
            .field("layers", &self.layers.len())
            .finish()
    }
}

/// The device type of a cache type: `F16AsF32` holds the values of `F16`,
/// which the device stores as f16 (the attention widens them exactly).
pub fn kv_type(ty: CacheType) -> KvType {
    match ty {
        CacheType::F32 => KvType::F32,
        CacheType::F16 | CacheType::F16AsF32 => KvType::F16,
    }
}

impl GpuKv {
    /// Zeroed storage: per layer `layer_rows[i]` rows of `row` elements.
    pub(crate) fn new(gpu: Arc<Gpu>, ty: KvType, row: usize, layer_rows: &[usize]) -> GpuKv {
        let layers = layer_rows
            .iter()
            .map(|&rows| {
                let bytes = ty.bytes(rows * row);
                (gpu.storage("kv.k", bytes), gpu.storage("kv.v", bytes))
            })
            .collect();
        GpuKv {
            gpu,
            ty,
            row,
            layers,
        }
    }
}

impl KvStore for GpuKv {
    /// Submitted at once: a copy between steps (forking a sequence) runs
    /// after every step submitted before it and before the next.
    fn copy_rows(&mut self, layer: usize, src: Range<usize>, dst: usize) {
        let rb = self.ty.bytes(self.row);
        let mut enc = self.gpu.device.create_command_encoder(&Default::default());
        for b in [&self.layers[layer].0, &self.layers[layer].1] {
            let (from, to, n) = (
                src.start as u64 * rb,
                dst as u64 * rb,
                src.len() as u64 * rb,
            );
            // a buffer cannot be copied into itself: through a temporary
            let tmp = self.gpu.storage("kv.copy", n);
            enc.copy_buffer_to_buffer(b, from, &tmp, 0, n);
            enc.copy_buffer_to_buffer(&tmp, 0, b, to, n);
        }
        self.gpu.queue.submit([enc.finish()]);
    }
}
