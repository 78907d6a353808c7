//! Weights on the device: a tensor's bytes in GGUF block layout, in one
//! storage buffer per part ([`crate::split`]), each bound as `array<u32>`.

use gguf::GgmlType;

use crate::device::Gpu;
use crate::error::GpuError;
use crate::split::{split_rows, Part};

/// One part of a tensor: its rows, in one buffer.
pub struct TensorPart {
    pub part: Part,
    pub buffer: wgpu::Buffer,
}

/// A `[rows, cols]` tensor of type `ty` on the device.
pub struct GpuTensor {
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
    pub row_bytes: u64,
    pub parts: Vec<TensorPart>,
}

impl std::fmt::Debug for GpuTensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "GpuTensor({} [{}, {}], {} parts)",
            self.ty,
            self.rows,
            self.cols,
            self.parts.len()
        )
    }
}

/// Bytes of one row of `cols` elements of `ty` (whole blocks).
pub fn row_bytes(ty: GgmlType, cols: usize) -> Result<u64, GpuError> {
    let bs = ty.block_size();
    if !cols.is_multiple_of(bs) {
        return Err(GpuError::Shape {
            op: "upload",
            reason: format!("{cols} columns are not whole {ty} blocks of {bs}"),
        });
    }
    Ok((cols / bs * ty.type_size()) as u64)
}

impl GpuTensor {
    /// Uploads `data` (`[rows, cols]` of `ty`) split at the device's
    /// binding limit.
    pub fn upload(
        gpu: &Gpu,
        ty: GgmlType,
        rows: usize,
        cols: usize,
        data: &[u8],
    ) -> Result<GpuTensor, GpuError> {
        GpuTensor::upload_max(gpu, ty, rows, cols, data, gpu.max_binding_bytes())
    }

    /// [`GpuTensor::upload`] with parts of at most `max` bytes (tests
    /// split small tensors this way).
    pub fn upload_max(
        gpu: &Gpu,
        ty: GgmlType,
        rows: usize,
        cols: usize,
        data: &[u8],
        max: u64,
    ) -> Result<GpuTensor, GpuError> {
        let rb = row_bytes(ty, cols)?;
        if data.len() as u64 != rb * rows as u64 {
            return Err(GpuError::Shape {
                op: "upload",
                reason: format!(
                    "{} bytes for [{rows}, {cols}] of {ty} ({} expected)",
                    data.len(),
                    rb * rows as u64
                ),
            });
        }
        let max = max.min(gpu.max_binding_bytes());
        let mut parts = Vec::new();
        for part in split_rows(rows, rb, max)? {
            let bytes = &data[part.bytes.start as usize..part.bytes.end as usize];
            let what = format!("uploading rows {:?} of a {ty} tensor", part.rows);
            let buffer = gpu.scoped(&what, || gpu.storage_init("weights", bytes))?;
            parts.push(TensorPart { part, buffer });
        }
        gpu.check()?;
        Ok(GpuTensor {
            ty,
            rows,
            cols,
            row_bytes: rb,
            parts,
        })
    }

    /// The tensor's bytes read back from every part (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read_back(&self, gpu: &Gpu) -> Result<Vec<u8>, GpuError> {
        let mut out = Vec::with_capacity(self.rows * self.row_bytes as usize);
        for p in &self.parts {
            let len = p.part.bytes.end - p.part.bytes.start;
            let b = gpu.read_bytes(&p.buffer, 0, len.next_multiple_of(4))?;
            out.extend_from_slice(&b[..len as usize]);
        }
        Ok(out)
    }
}
