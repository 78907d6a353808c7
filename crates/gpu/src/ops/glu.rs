//! Gated activations (`shaders/glu.wgsl`).

use super::{kernel_id, need, u32_of};
use crate::error::GpuError;
use crate::kernel::{Encoder, KernelId};

const GLU: KernelId = kernel_id!("glu", "glu");

/// The activation of the gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Glu {
    /// SwiGLU (llama): silu(g) * u.
    Silu,
    /// GeGLU (Gemma): gelu_tanh(g) * u, with the CPU's f16 rounding.
    Gelu,
}

/// g = act(g) * u. g, u: [n]
pub fn glu(
    enc: &mut Encoder,
    g: &wgpu::Buffer,
    u: &wgpu::Buffer,
    n: usize,
    act: Glu,
) -> Result<(), GpuError> {
    need("glu", "g", g, n)?;
    need("glu", "u", u, n)?;
    let n = u32_of("glu", "n", n)?;
    let params = [n, (act == Glu::Gelu) as u32, 0, 0];
    let groups = enc.groups(n, 256);
    enc.dispatch(
        GLU,
        &params,
        &[g.as_entire_binding(), u.as_entire_binding()],
        groups,
    )
}
