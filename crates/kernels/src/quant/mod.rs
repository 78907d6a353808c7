//! Scalar reference implementations, one file per ggml type, and the
//! byte-level dispatch every other module goes through.
//!
//! Each type file has `dequantize(&[Block], &mut [f32])`,
//! `quantize(&[f32], &mut [Block])` (same rounding as ggml's
//! `quantize_row_*_ref`) and `vec_dot_<weight>_<activation>` (the math of
//! ggml's generic, non-SIMD `ggml_vec_dot_*`).
//!
//! The functions here take raw little-endian bytes as stored in GGUF files.
//! Byte buffers are viewed as blocks with `bytemuck` when they are aligned
//! (GGUF tensor data is, at 32 bytes); a misaligned buffer is NOT an error:
//! it is processed one block at a time through an aligned stack copy, with
//! the same results, only slower. `KernelError::Misaligned` is therefore
//! never returned from this module.

pub mod float;
pub mod q4_0;
pub mod q4_1;
pub mod q5_0;
pub mod q5_1;
pub mod q8_0;
pub mod q8_1;

// k-quants (k-quant engineer)
pub mod kscales;
mod ksearch;
pub mod q2_k;
pub mod q3_k;
pub mod q4_k;
pub mod q5_k;
pub mod q6_k;
pub mod q8_k;

pub mod batched;

use crate::blocks::{BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K};
use crate::blocks::{BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, BlockQ8_1};
use crate::error::KernelError;
use bytemuck::{Pod, Zeroable};
use gguf::GgmlType;
use half::{bf16, f16};
use std::mem::size_of;

/// The type activations must be quantized to before `vec_dot` with weights
/// of type `w` (as ggml's CPU backend). Types without a dot product map to
/// themselves.
pub fn vec_dot_type(w: GgmlType) -> GgmlType {
    use GgmlType::*;
    match w {
        Q4_0 | Q5_0 | Q8_0 => Q8_0,
        Q4_1 | Q5_1 => Q8_1,
        Q2_K | Q3_K | Q4_K | Q5_K | Q6_K => Q8_K,
        other => other,
    }
}

/// Bytes of a row of `n` elements of type `t` (`n` a multiple of the block size).
pub fn row_bytes(t: GgmlType, n: usize) -> usize {
    debug_assert_eq!(
        n % t.block_size(),
        0,
        "{t} row of {n} elements is not whole blocks"
    );
    n / t.block_size() * t.type_size()
}

/// Whether `dequantize_row` handles `t`.
pub fn is_supported(t: GgmlType) -> bool {
    dequantize_row(t, &[], &mut []).is_ok()
}

/// Whether `quantize_row` handles `t`.
pub fn has_quantize(t: GgmlType) -> bool {
    quantize_row(t, &[], &mut []).is_ok()
}

/// Whether `vec_dot` handles weights of type `w` (with activations of type
/// `vec_dot_type(w)`). Check this at load time: `vec_dot` panics otherwise.
pub fn has_vec_dot(w: GgmlType) -> bool {
    try_vec_dot(w, &[], &[]).is_some()
}

/// Checks that `n` elements of `t` are whole blocks and `bytes` holds exactly
/// their encoding.
fn check_row(t: GgmlType, n: usize, bytes: usize, what: &'static str) -> Result<(), KernelError> {
    let block = t.block_size();
    if !n.is_multiple_of(block) {
        return Err(KernelError::PartialBlock { ty: t, block, n });
    }
    let expected = n / block * t.type_size();
    if bytes != expected {
        return Err(KernelError::Length {
            what,
            ty: t,
            n,
            expected,
            got: bytes,
        });
    }
    Ok(())
}

/// Decodes one row: `src` holds `dst.len()` elements of type `t`.
// src: [row_bytes(t, n)] bytes -> dst: [n] f32
pub fn dequantize_row(t: GgmlType, src: &[u8], dst: &mut [f32]) -> Result<(), KernelError> {
    use GgmlType::*;
    check_row(t, dst.len(), src.len(), "src")?;
    match t {
        F32 => dequant_as::<f32>(src, dst, float::dequantize_f32),
        F16 => dequant_as::<f16>(src, dst, float::dequantize_f16),
        BF16 => dequant_as::<bf16>(src, dst, float::dequantize_bf16),
        Q4_0 => dequant_as::<BlockQ4_0>(src, dst, q4_0::dequantize),
        Q4_1 => dequant_as::<BlockQ4_1>(src, dst, q4_1::dequantize),
        Q5_0 => dequant_as::<BlockQ5_0>(src, dst, q5_0::dequantize),
        Q5_1 => dequant_as::<BlockQ5_1>(src, dst, q5_1::dequantize),
        Q8_0 => dequant_as::<BlockQ8_0>(src, dst, q8_0::dequantize),
        Q8_1 => dequant_as::<BlockQ8_1>(src, dst, q8_1::dequantize),
        Q2_K => dequant_as::<BlockQ2K>(src, dst, q2_k::dequantize),
        Q3_K => dequant_as::<BlockQ3K>(src, dst, q3_k::dequantize),
        Q4_K => dequant_as::<BlockQ4K>(src, dst, q4_k::dequantize),
        Q5_K => dequant_as::<BlockQ5K>(src, dst, q5_k::dequantize),
        Q6_K => dequant_as::<BlockQ6K>(src, dst, q6_k::dequantize),
        Q8_K => dequant_as::<BlockQ8K>(src, dst, q8_k::dequantize),
        _ => return Err(KernelError::Unsupported(t)),
    }
    Ok(())
}

/// Re-encodes `n` elements of Q5_0 (`src`, any alignment) as Q8_0 blocks of
/// the same values (`q5_0::to_q8_0`) into `dst`.
// src: [row_bytes(Q5_0, n)] bytes -> dst: [row_bytes(Q8_0, n)] bytes
pub fn repack_q5_0_as_q8_0(n: usize, src: &[u8], dst: &mut [u8]) -> Result<(), KernelError> {
    check_row(GgmlType::Q5_0, n, src.len(), "src")?;
    check_row(GgmlType::Q8_0, n, dst.len(), "dst")?;
    let (from, to) = (size_of::<BlockQ5_0>(), size_of::<BlockQ8_0>());
    for (s, d) in src.chunks_exact(from).zip(dst.chunks_exact_mut(to)) {
        let block: BlockQ5_0 = bytemuck::pod_read_unaligned(s);
        let mut out = BlockQ8_0::zeroed();
        q5_0::to_q8_0(std::slice::from_ref(&block), std::slice::from_mut(&mut out));
        d.copy_from_slice(bytemuck::bytes_of(&out));
    }
    Ok(())
}

/// Encodes one row of `src.len()` elements as type `t` into `dst`.
// src: [n] f32 -> dst: [row_bytes(t, n)] bytes
pub fn quantize_row(t: GgmlType, src: &[f32], dst: &mut [u8]) -> Result<(), KernelError> {
    use GgmlType::*;
    check_row(t, src.len(), dst.len(), "dst")?;
    match t {
        F32 => quant_as::<f32>(src, dst, float::quantize_f32),
        F16 => quant_as::<f16>(src, dst, float::quantize_f16),
        BF16 => quant_as::<bf16>(src, dst, float::quantize_bf16),
        Q4_0 => quant_as::<BlockQ4_0>(src, dst, q4_0::quantize),
        Q4_1 => quant_as::<BlockQ4_1>(src, dst, q4_1::quantize),
        Q5_0 => quant_as::<BlockQ5_0>(src, dst, q5_0::quantize),
        Q5_1 => quant_as::<BlockQ5_1>(src, dst, q5_1::quantize),
        Q8_0 => quant_as::<BlockQ8_0>(src, dst, q8_0::quantize),
        Q8_1 => quant_as::<BlockQ8_1>(src, dst, q8_1::quantize),
        Q2_K => quant_as::<BlockQ2K>(src, dst, q2_k::quantize),
        Q3_K => quant_as::<BlockQ3K>(src, dst, q3_k::quantize),
        Q4_K => quant_as::<BlockQ4K>(src, dst, q4_k::quantize),
        Q5_K => quant_as::<BlockQ5K>(src, dst, q5_k::quantize),
        Q6_K => quant_as::<BlockQ6K>(src, dst, q6_k::quantize),
        Q8_K => quant_as::<BlockQ8K>(src, dst, q8_k::quantize),
        _ => return Err(KernelError::Unsupported(t)),
    }
    Ok(())
}

/// Dot product of a weight row of `n` elements of type `w` with an
/// activation row already quantized to `vec_dot_type(w)`.
///
/// Panics only on caller bugs: a type without a kernel (check `has_vec_dot`
/// when loading), `n` not whole blocks, or rows shorter than `n` elements.
/// Longer rows are fine (the first `n` elements are used).
// w_row: [row_bytes(w, n)] bytes, act_row: [row_bytes(vec_dot_type(w), n)] bytes -> f32
pub fn vec_dot(w: GgmlType, n: usize, w_row: &[u8], act_row: &[u8]) -> f32 {
    debug_assert_eq!(
        n % w.block_size(),
        0,
        "vec_dot: {n} is not whole {w} blocks"
    );
    let w_row = &w_row[..row_bytes(w, n)];
    let act_row = &act_row[..row_bytes(vec_dot_type(w), n)];
    match try_vec_dot(w, w_row, act_row) {
        Some(v) => v,
        None => panic!("vec_dot: no kernel for {w} weights (check quant::has_vec_dot)"),
    }
}

/// The dispatch behind `vec_dot`; `None` if `w` has no dot product.
/// Slices are exactly the row lengths.
fn try_vec_dot(w: GgmlType, w_row: &[u8], act_row: &[u8]) -> Option<f32> {
    use GgmlType::*;
    Some(match w {
        F32 => float_dot::<f32>(w_row, act_row, float::vec_dot_f32_f32, |x| x),
        F16 => float_dot::<f16>(w_row, act_row, float::vec_dot_f16_f16, f16::to_f32),
        BF16 => float_dot::<bf16>(w_row, act_row, float::vec_dot_bf16_bf16, float::bf16_to_f32),
        Q4_0 => dot_as::<BlockQ4_0, BlockQ8_0>(w_row, act_row, q4_0::vec_dot_q4_0_q8_0),
        Q4_1 => dot_as::<BlockQ4_1, BlockQ8_1>(w_row, act_row, q4_1::vec_dot_q4_1_q8_1),
        Q5_0 => dot_as::<BlockQ5_0, BlockQ8_0>(w_row, act_row, q5_0::vec_dot_q5_0_q8_0),
        Q5_1 => dot_as::<BlockQ5_1, BlockQ8_1>(w_row, act_row, q5_1::vec_dot_q5_1_q8_1),
        Q8_0 => dot_as::<BlockQ8_0, BlockQ8_0>(w_row, act_row, q8_0::vec_dot_q8_0_q8_0),
        Q2_K => dot_as::<BlockQ2K, BlockQ8K>(w_row, act_row, q2_k::vec_dot_q2_k_q8_k),
        Q3_K => dot_as::<BlockQ3K, BlockQ8K>(w_row, act_row, q3_k::vec_dot_q3_k_q8_k),
        Q4_K => dot_as::<BlockQ4K, BlockQ8K>(w_row, act_row, q4_k::vec_dot_q4_k_q8_k),
        Q5_K => dot_as::<BlockQ5K, BlockQ8K>(w_row, act_row, q5_k::vec_dot_q5_k_q8_k),
        Q6_K => dot_as::<BlockQ6K, BlockQ8K>(w_row, act_row, q6_k::vec_dot_q6_k_q8_k),
        _ => return None,
    })
}

/// Runs a block dequantizer on bytes; copies block by block if misaligned.
fn dequant_as<B: Pod>(src: &[u8], dst: &mut [f32], f: fn(&[B], &mut [f32])) {
    let n_blocks = src.len() / size_of::<B>();
    if n_blocks == 0 {
        return;
    }
    match bytemuck::try_cast_slice::<u8, B>(src) {
        Ok(blocks) => f(blocks, dst),
        Err(_) => {
            let per_block = dst.len() / n_blocks;
            for (chunk, out) in src
                .chunks_exact(size_of::<B>())
                .zip(dst.chunks_exact_mut(per_block))
            {
                let block: B = bytemuck::pod_read_unaligned(chunk);
                f(std::slice::from_ref(&block), out);
            }
        }
    }
}

/// Runs a block quantizer into bytes; goes block by block if misaligned.
fn quant_as<B: Pod>(src: &[f32], dst: &mut [u8], f: fn(&[f32], &mut [B])) {
    let n_blocks = dst.len() / size_of::<B>();
    if n_blocks == 0 {
        return;
    }
    match bytemuck::try_cast_slice_mut::<u8, B>(dst) {
        Ok(blocks) => f(src, blocks),
        Err(_) => {
            let per_block = src.len() / n_blocks;
            for (x, out) in src
                .chunks_exact(per_block)
                .zip(dst.chunks_exact_mut(size_of::<B>()))
            {
                let mut block = B::zeroed();
                f(x, std::slice::from_mut(&mut block));
                out.copy_from_slice(bytemuck::bytes_of(&block));
            }
        }
    }
}

/// Runs a block dot product on bytes. If either row is misaligned, both are
/// first copied into aligned blocks (the kernels that keep lane sums across
/// blocks would round differently if called block by block).
fn dot_as<W: Pod, A: Pod>(w: &[u8], a: &[u8], f: fn(&[W], &[A]) -> f32) -> f32 {
    match (
        bytemuck::try_cast_slice::<u8, W>(w),
        bytemuck::try_cast_slice::<u8, A>(a),
    ) {
        (Ok(wb), Ok(ab)) => f(wb, ab),
        _ => {
            let wb: Vec<W> = w
                .chunks_exact(size_of::<W>())
                .map(bytemuck::pod_read_unaligned)
                .collect();
            let ab: Vec<A> = a
                .chunks_exact(size_of::<A>())
                .map(bytemuck::pod_read_unaligned)
                .collect();
            f(&wb, &ab)
        }
    }
}

/// Dot product of two rows of one float type; if misaligned, reads element
/// by element with the same f64 accumulation (`float::sum_products`).
fn float_dot<T: Pod>(w: &[u8], a: &[u8], dot: fn(&[T], &[T]) -> f32, to_f32: fn(T) -> f32) -> f32 {
    match (
        bytemuck::try_cast_slice::<u8, T>(w),
        bytemuck::try_cast_slice::<u8, T>(a),
    ) {
        (Ok(x), Ok(y)) => dot(x, y),
        _ => {
            let read = |c: &[u8]| to_f32(bytemuck::pod_read_unaligned::<T>(c));
            let pairs = w
                .chunks_exact(size_of::<T>())
                .zip(a.chunks_exact(size_of::<T>()));
            float::sum_products(pairs.map(|(p, q)| read(p) * read(q)))
        }
    }
}
