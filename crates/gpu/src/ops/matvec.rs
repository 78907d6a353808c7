//! Decode matvec of quantized weights (`shaders/matvec.wgsl`): Q8_0 and
//! Q4_K weights against activations quantized on the GPU, integer dots by
//! `dot4I8Packed` or plain i32 arithmetic ([`DotPath`]).

use gguf::GgmlType;

use super::quantize::QuantActs;
use super::{need, u32_of};
use crate::error::GpuError;
use crate::kernel::{Encoder, KernelId};
use crate::upload::GpuTensor;

const SOURCE: &str = include_str!("../shaders/matvec.wgsl");

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
    match w {
        GgmlType::Q8_0 => Some(GgmlType::Q8_0),
        GgmlType::Q4_K => Some(GgmlType::Q8_K),
        _ => None,
    }
}

/// y = w · x for one token.
///
/// w: [rows, cols] of Q8_0 / Q4_K (any number of parts), x: [cols]
/// quantized to `act_type(w.ty)` -> y: [rows]
pub fn matvec(
    enc: &mut Encoder,
    w: &GpuTensor,
    x: &QuantActs,
    y: &wgpu::Buffer,
    path: DotPath,
) -> Result<(), GpuError> {
    let (entry, at) = match w.ty {
        GgmlType::Q8_0 => ("matvec_q8_0", GgmlType::Q8_0),
        GgmlType::Q4_K => ("matvec_q4_k", GgmlType::Q8_K),
        t => {
            return Err(GpuError::Shape {
                op: "matvec",
                reason: format!("{t} weights are not supported yet (Q8_0, Q4_K)"),
            })
        }
    };
    if x.ty != at || x.n != w.cols {
        return Err(GpuError::Shape {
            op: "matvec",
            reason: format!(
                "{} weights [{}, {}] need {at} activations of {}, got {} of {}",
                w.ty, w.rows, w.cols, w.cols, x.ty, x.n
            ),
        });
    }
    need("matvec", "y", y, w.rows)?;
    let id = KernelId {
        family: "matvec",
        source: SOURCE,
        entry,
        variant: path.variant(),
    };
    let nb = u32_of("matvec", "blocks", w.cols / w.ty.block_size())?;
    let rb = u32_of("matvec", "row bytes", w.row_bytes as usize)?;
    for part in &w.parts {
        let rows = u32_of("matvec", "rows", part.part.rows.len())?;
        let params = [rows, nb, rb, u32_of("matvec", "row", part.part.rows.start)?];
        let mut bufs = vec![
            part.buffer.as_entire_binding(),
            x.qs.as_entire_binding(),
            x.d.as_entire_binding(),
            y.as_entire_binding(),
        ];
        if at == GgmlType::Q8_K {
            bufs.push(x.bsums.as_entire_binding());
        }
        let groups = enc.groups(rows, 1);
        enc.dispatch(id, &params, &bufs, groups)?;
    }
    Ok(())
}
