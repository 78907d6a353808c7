//! Products of quantized weights and activations quantized on the GPU:
//! the decode matvec (`shaders/matvec_*.wgsl`, [`matvec`]) and the tiled
//! prefill matmul (`shaders/matmul_*.wgsl`, [`matmul`]). Q8_0, Q4_0, Q5_0
//! (Q8_0 activations), Q4_1, Q5_1 (Q8_1), Q4_K, Q5_K and Q6_K (Q8_K);
//! integer dots by `dot4I8Packed` or plain i32 arithmetic ([`DotPath`]);
//! F16 and F32 weights against f32 activations (rounded to f16 for F16,
//! as the CPU). Both kernels sum each row in the same order, with the
//! unpacking and scaling of `shaders/weights.wgsl`: a token's outputs do
//! not depend on the kernel that computed them.

use gguf::GgmlType;

use super::quantize::QuantActs;
use super::{need, u32_of};
use crate::error::GpuError;
use crate::kernel::{Encoder, KernelId};
use crate::upload::GpuTensor;

/// The shader sources of one kernel shape (matvec or matmul) by weight
/// family: 32-element blocks, k-quants, floats.
struct Sources {
    legacy: &'static str,
    kquant: &'static str,
    float: &'static str,
}

macro_rules! sources {
    ($shape:literal) => {
        Sources {
            legacy: concat!(
                include_str!("../shaders/weights.wgsl"),
                include_str!(concat!("../shaders/", $shape, "_common.wgsl")),
                include_str!(concat!("../shaders/", $shape, "_q.wgsl"))
            ),
            kquant: concat!(
                include_str!("../shaders/weights.wgsl"),
                include_str!(concat!("../shaders/", $shape, "_common.wgsl")),
                include_str!(concat!("../shaders/", $shape, "_k.wgsl"))
            ),
            float: concat!(
                include_str!("../shaders/weights.wgsl"),
                include_str!(concat!("../shaders/", $shape, "_common.wgsl")),
                include_str!(concat!("../shaders/", $shape, "_f.wgsl"))
            ),
        }
    };
}

static MATVEC: Sources = sources!("matvec");
static MATMUL: Sources = sources!("matmul");

/// Tokens per workgroup of the matmul (`matmul_common.wgsl`'s TOK).
pub const MATMUL_TOKENS: usize = 8;

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
    kernel(w, false).map(|k| k.2)
}

/// (entry point, source, activation type) of `w`'s matvec, or of its
/// matmul when `tiled`.
fn kernel(w: GgmlType, tiled: bool) -> Option<(&'static str, &'static str, GgmlType)> {
    use GgmlType::*;
    let s = if tiled { &MATMUL } else { &MATVEC };
    let (names, source, at) = match w {
        Q8_0 => (["matvec_q8_0", "matmul_q8_0"], s.legacy, Q8_0),
        Q4_0 => (["matvec_q4_0", "matmul_q4_0"], s.legacy, Q8_0),
        Q5_0 => (["matvec_q5_0", "matmul_q5_0"], s.legacy, Q8_0),
        Q4_1 => (["matvec_q4_1", "matmul_q4_1"], s.legacy, Q8_1),
        Q5_1 => (["matvec_q5_1", "matmul_q5_1"], s.legacy, Q8_1),
        Q5_K => (["matvec_q5_k", "matmul_q5_k"], s.kquant, Q8_K),
        Q4_K => (["matvec_q4_k", "matmul_q4_k"], s.kquant, Q8_K),
        Q6_K => (["matvec_q6_k", "matmul_q6_k"], s.kquant, Q8_K),
        F32 => (["matvec_f32", "matmul_f32"], s.float, F32),
        F16 => (["matvec_f16", "matmul_f16"], s.float, F16),
        _ => return None,
    };
    Some((names[tiled as usize], source, at))
}

/// y[t] = w · x[t] for each of `x.n / w.cols` tokens, the weights read
/// once per token: the decode kernel (one token).
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
    multiply(enc, w, x, y, path, false)
}

/// y[t] = w · x[t] as [`matvec`], in tiles of [`MATMUL_TOKENS`] tokens:
/// each weight block is read once per tile (the prefill kernel), with the
/// same sums as the matvec's.
pub fn matmul(
    enc: &mut Encoder,
    w: &GpuTensor,
    x: &QuantActs,
    y: &wgpu::Buffer,
    path: DotPath,
) -> Result<(), GpuError> {
    multiply(enc, w, x, y, path, true)
}

fn multiply(
    enc: &mut Encoder,
    w: &GpuTensor,
    x: &QuantActs,
    y: &wgpu::Buffer,
    path: DotPath,
    tiled: bool,
) -> Result<(), GpuError> {
    let op = if tiled { "matmul" } else { "matvec" };
    let Some((entry, source, at)) = kernel(w.ty, tiled) else {
        return Err(GpuError::Shape {
            op,
            reason: format!("{} weights are not supported yet (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K, F16, F32)", w.ty),
        });
    };
    if x.ty != at || w.cols == 0 || !x.n.is_multiple_of(w.cols) {
        return Err(GpuError::Shape {
            op,
            reason: format!(
                "{} weights [{}, {}] need {at} activations of whole rows of {}, got {} of {}",
                w.ty, w.rows, w.cols, w.cols, x.ty, x.n
            ),
        });
    }
    let n_tok = u32_of(op, "tokens", x.n / w.cols)?;
    need(op, "y", y, w.rows * n_tok as usize)?;
    let id = KernelId {
        family: op,
        source,
        entry,
        variant: path.variant(),
    };
    let nb = u32_of(op, "blocks", w.cols / w.ty.block_size())?;
    let rb = u32_of(op, "row bytes", w.row_bytes as usize)?;
    let y_stride = u32_of(op, "rows", w.rows)?;
    // the matvec: a token per workgroup z; the matmul: a tile of tokens
    let gz = if tiled {
        n_tok.div_ceil(MATMUL_TOKENS as u32)
    } else {
        n_tok
    };
    for part in &w.parts {
        let rows = u32_of(op, "rows", part.part.rows.len())?;
        let y_offset = u32_of(op, "row", part.part.rows.start)?;
        let params = [rows, nb, rb, y_offset, y_stride, n_tok, 0, 0];
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
        // both shapes: ROWS = 16 rows per workgroup
        let [gx, gy, _] = enc.groups(rows, 16);
        enc.dispatch_at(id, &params, bufs, [gx, gy, gz])?;
    }
    Ok(())
}
