//! The kernels, one module per WGSL family (`shaders/<family>.wgsl`), each
//! a function that records its dispatches on an [`crate::kernel::Encoder`].
//! Buffers are f32 activations unless a module says otherwise; shapes are
//! in each function's comment.

pub mod attention;
pub mod elementwise;
pub mod glu;
pub mod matvec;
pub mod norm;
pub mod quantize;
pub mod rope;
pub mod rows;
pub mod topk;

use crate::error::GpuError;

/// A kernel id of a shader family without variants.
macro_rules! kernel_id {
    ($family:literal, $entry:literal) => {
        $crate::kernel::KernelId {
            family: $family,
            source: include_str!(concat!("../shaders/", $family, ".wgsl")),
            entry: $entry,
            variant: "",
        }
    };
}
pub(crate) use kernel_id;

/// `n` as u32 for a kernel parameter.
pub(crate) fn u32_of(op: &'static str, what: &str, n: usize) -> Result<u32, GpuError> {
    u32::try_from(n).map_err(|_| GpuError::Shape {
        op,
        reason: format!("{what} = {n} exceeds u32"),
    })
}

/// `Err` unless `buf` holds at least `n` f32 / u32 values.
pub(crate) fn need(
    op: &'static str,
    what: &str,
    buf: &wgpu::Buffer,
    n: usize,
) -> Result<(), GpuError> {
    if buf.size() < 4 * n as u64 {
        return Err(GpuError::Shape {
            op,
            reason: format!(
                "{what}: {n} values needed, the buffer holds {}",
                buf.size() / 4
            ),
        });
    }
    Ok(())
}
