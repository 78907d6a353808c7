//! Reading buffers back to the host, with a bounded wait.

use std::sync::mpsc;
use std::time::Duration;

use crate::device::Gpu;
use crate::error::GpuError;

/// How long a map callback may lag behind the completed wait.
#[cfg(not(target_arch = "wasm32"))]
const MAP_CALLBACK_GRACE: Duration = Duration::from_secs(10);

impl Gpu {
    /// `len` bytes of `buf` from `offset` (both multiples of 4).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read_bytes(
        &self,
        buf: &wgpu::Buffer,
        offset: u64,
        len: u64,
    ) -> Result<Vec<u8>, GpuError> {
        if !offset.is_multiple_of(4) || !len.is_multiple_of(4) || offset + len > buf.size() {
            return Err(GpuError::Shape {
                op: "read_bytes",
                reason: format!(
                    "{len} bytes at {offset} of a {}-byte buffer (4-byte units)",
                    buf.size()
                ),
            });
        }
        if len == 0 {
            return Ok(Vec::new());
        }
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: len,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut enc = self.device.create_command_encoder(&Default::default());
        enc.copy_buffer_to_buffer(buf, offset, &staging, 0, len);
        self.scoped("readback copy", || self.queue.submit([enc.finish()]))?;
        let (tx, rx) = mpsc::channel();
        staging.slice(..).map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.wait("a readback")?;
        // The wait has completed the copy, but when another thread polls the
        // same device at that moment, the callback may run on that thread a
        // little later: wait for it, bounded.
        match rx.recv_timeout(MAP_CALLBACK_GRACE) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                return Err(GpuError::Device {
                    what: "mapping a readback".into(),
                    reason: e.to_string(),
                })
            }
            Err(_) => {
                return Err(GpuError::Device {
                    what: "mapping a readback".into(),
                    reason: format!(
                        "the map callback did not run within {MAP_CALLBACK_GRACE:?} of the wait"
                    ),
                })
            }
        }
        let view = staging
            .slice(..)
            .get_mapped_range()
            .map_err(|e| GpuError::Device {
                what: "viewing a readback".into(),
                reason: e.to_string(),
            })?;
        let out = view.to_vec();
        drop(view);
        staging.unmap();
        Ok(out)
    }

    /// The whole of `buf` as f32 values (`n` of them).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read_f32(&self, buf: &wgpu::Buffer, n: usize) -> Result<Vec<f32>, GpuError> {
        let b = self.read_bytes(buf, 0, 4 * n as u64)?;
        Ok(bytemuck::pod_collect_to_vec(&b))
    }

    /// The first `n` u32 words of `buf`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read_u32(&self, buf: &wgpu::Buffer, n: usize) -> Result<Vec<u32>, GpuError> {
        let b = self.read_bytes(buf, 0, 4 * n as u64)?;
        Ok(bytemuck::pod_collect_to_vec(&b))
    }
}
