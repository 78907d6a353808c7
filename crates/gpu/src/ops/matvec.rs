//! Decode matvec of quantized weights (`shaders/matvec_*.wgsl`): Q8_0,
//! Q4_0, Q5_0 (Q8_0 activations), Q4_1, Q5_1 (Q8_1), Q4_K, Q5_K and Q6_K
//! (Q8_K) against
//! activations quantized on the GPU, integer dots by `dot4I8Packed` or
//! plain i32 arithmetic ([`DotPath`]); F16 and F32 weights against f32
//! activations (rounded to f16 for F16, as the CPU).

use gguf::GgmlType;

use super::quantize::QuantActs;
use super::{need, u32_of};
use crate::error::GpuError;
use crate::kernel::{Encoder, KernelId};
use crate::upload::GpuTensor;

/// 32-element blocks (Q8_0 and Q8_1 activations).
const LEGACY: &str = concat!(
    include_str!("../shaders/matvec_common.wgsl"),
    include_str!("../shaders/matvec_q.wgsl")
);
/// Float weights (f32 activations).
const FLOAT: &str = concat!(
    include_str!("../shaders/matvec_common.wgsl"),
    include_str!("../shaders/matvec_f.wgsl")
);
/// k-quants (Q8_K activations).
const KQUANT: &str = concat!(
    include_str!("../shaders/matvec_common.wgsl"),
    include_str!("../shaders/matvec_k.wgsl")
);

/// How four i8 products are summed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DotPath {
    /// WGSL `dot4I8Packed` (packed_4x8_integer_dot_product).
    Packed,
    /// Sign-extended lanes multiplied in i32.
    Plain,
}

impl DotPath {
    /// The packed dot where the device has it.
    pub fn best(gpu: &crate::Gpu) -> DotPath {
        if gpu.packed_dot() {
            DotPath::Packed
        } else {
            DotPath::Plain
        }
    }

    fn variant(self) -> &'static str {
        match self {
            DotPath::Packed => include_str!("../shaders/idot_packed.wgsl"),
            DotPath::Plain => include_str!("../shaders/idot_plain.wgsl"),
        }
    }
}

/// The activation type a weight type's matvec takes, if it has one here.
pub fn act_type(w: GgmlType) -> Option<GgmlType> {
    kernel(w).map(|k| k.2)
}

/// (entry point, source, activation type) of `w`'s matvec.
fn kernel(w: GgmlType) -> Option<(&'static str, &'static str, GgmlType)> {
    use GgmlType::*;
    Some(match w {
        Q8_0 => ("matvec_q8_0", LEGACY, Q8_0),
        Q4_0 => ("matvec_q4_0", LEGACY, Q8_0),
        Q5_0 => ("matvec_q5_0", LEGACY, Q8_0),
        Q4_1 => ("matvec_q4_1", LEGACY, Q8_1),
        Q5_1 => ("matvec_q5_1", LEGACY, Q8_1),
        Q5_K => ("matvec_q5_k", KQUANT, Q8_K),
        Q4_K => ("matvec_q4_k", KQUANT, Q8_K),
        Q6_K => ("matvec_q6_k", KQUANT, Q8_K),
        F32 => ("matvec_f32", FLOAT, F32),
        F16 => ("matvec_f16", FLOAT, F16),
        _ => return None,
    })
}

/// y[t] = w · x[t] for each of `x.n / w.cols` tokens (the weights are read
/// once per token: a decode kernel, not a tiled prefill matmul).
///
/// w: [rows, cols] of a type with [`act_type`] (any number of parts),
/// x: [n_tok, cols] quantized to `act_type(w.ty)` -> y: [n_tok, rows]
pub fn matvec(
    enc: &mut Encoder,
    w: &GpuTensor,
    x: &QuantActs,
    y: &wgpu::Buffer,
    path: DotPath,
) -> Result<(), GpuError> {
    let Some((entry, source, at)) = kernel(w.ty) else {
        return Err(GpuError::Shape {
            op: "matvec",
            reason: format!("{} weights are not supported yet (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K, F16, F32)", w.ty),
        });
    };
    if x.ty != at || w.cols == 0 || !x.n.is_multiple_of(w.cols) {
        return Err(GpuError::Shape {
            op: "matvec",
            reason: format!(
                "{} weights [{}, {}] need {at} activations of whole rows of {}, got {} of {}",
                w.ty, w.rows, w.cols, w.cols, x.ty, x.n
            ),
        });
    }
    let n_tok = u32_of("matvec", "tokens", x.n / w.cols)?;
    need("matvec", "y", y, w.rows * n_tok as usize)?;
    let id = KernelId {
        family: "matvec",
        source,
        entry,
        variant: path.variant(),
    };
    let nb = u32_of("matvec", "blocks", w.cols / w.ty.block_size())?;
    let rb = u32_of("matvec", "row bytes", w.row_bytes as usize)?;
    for part in &w.parts {
        let rows = u32_of("matvec", "rows", part.part.rows.len())?;
        let y_offset = u32_of("matvec", "row", part.part.rows.start)?;
        let params = [rows, nb, rb, y_offset, w.rows as u32, 0, 0, 0];
        let (wb, qs, d, yb) = (
            part.buffer.as_entire_binding(),
            x.qs.as_entire_binding(),
            x.d.as_entire_binding(),
            y.as_entire_binding(),
        );
        let bs = x.bsums.as_entire_binding();
        let all = [(1, wb), (2, qs), (4, yb), (3, d), (5, bs)];
        // float activations: no scales; Q8_K: block sums too
        let bufs = match at {
            GgmlType::F16 | GgmlType::F32 => &all[..3],
            GgmlType::Q8_K => &all[..],
            _ => &all[..4],
        };
        // matvec_common.wgsl: ROWS = 16 rows per workgroup
        let [gx, gy, _] = enc.groups(rows, 16);
        enc.dispatch_at(id, &params, bufs, [gx, gy, n_tok])?;
    }
    Ok(())
}
