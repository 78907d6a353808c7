//! Multi-token decode kernels of the repacked Q4_K and Q6_K layouts
//! (`packed_kquant`, `Packing::tokens`): for a decode batch of single
//! tokens of several sequences, each block pair of a group is loaded and
//! unpacked once (nibbles, 6-bit quants, scale shuffles) for up to
//! `TOKENS` tokens, each of which then runs the single-token kernel's
//! operations on it (`rows_kquant::q4_k_pair_dot` / `q6_k_pair_dot`, the
//! same functions the one-token kernels call): per token the same exact
//! i32 sums, the same FMA per block into its own accumulator and the same
//! horizontal sum, so every output equals the row dot bit for bit.

use std::arch::x86_64::*;

use super::packed_kquant::{q4_k_x2_block, q6_k_x2_block};
use super::rows::{hsum_pair, pair_ps};
use super::rows_kquant::{q4_k_pair_dot, q4_k_pair_sums, q6_k_act, q6_k_pair_dot, q8_k_act};
use crate::arch::x86::avx2::kquant::d_only;
use crate::blocks::BlockQ8K;
use crate::quant::row_bytes;
use gguf::GgmlType;

/// Tokens per pass over a block pair: each keeps one or two accumulators
/// beside the 16 registers of the unpacked pair.
const TOKENS: usize = 8;

/// Runs a token kernel over the `rows / 2` groups (`gb` bytes each) for
/// the `toks` activation rows in chunks of up to `TOKENS`, writing
/// `y[t * y_stride + row]`. `k(group, acts, ahead)` runs the typed kernel
/// on one group for `acts.len()` (1, 2, 4 or 8) tokens, into its first
/// entries, prefetching the group two further on.
/// Returns false (writing nothing) if the activations are misaligned.
// groups: [rows / 2 * gb], acts: [toks, row_bytes(Q8_K, n)] -> y
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn by_tokens(
    n: usize,
    gb: usize,
    groups: &[u8],
    rows: usize,
    acts: &[u8],
    toks: usize,
    y: &mut [f32],
    y_stride: usize,
    k: impl Fn(&[u8], &[&[BlockQ8K]], usize) -> [[f32; 2]; TOKENS],
) -> bool {
    let ab = row_bytes(GgmlType::Q8_K, n);
    let Ok(all) = bytemuck::try_cast_slice::<u8, BlockQ8K>(&acts[..toks * ab]) else {
        return false;
    };
    let nb = ab / size_of::<BlockQ8K>();
    for (g, group) in groups.chunks_exact(gb).take(rows / 2).enumerate() {
        let mut t0 = 0;
        while t0 < toks {
            // 8, 4, 2 or 1 tokens
            let t1 = t0 + (1 << (toks - t0).min(TOKENS).ilog2());
            let mut chunk: [&[BlockQ8K]; TOKENS] = [&[]; TOKENS];
            for (c, t) in chunk.iter_mut().zip(t0..t1) {
                *c = &all[t * nb..(t + 1) * nb];
            }
            let out = k(group, &chunk[..t1 - t0], 2 * gb);
            for (t, o) in (t0..t1).zip(out) {
                y[t * y_stride + 2 * g..][..2].copy_from_slice(&o);
            }
            t0 = t1;
        }
    }
    true
}

/// One `Packing::tokens` function per layout: `$name` runs `$kernel` on
/// each group for chunks of 1..=TOKENS tokens.
macro_rules! tokens_fn {
    ($name:ident, $bytes:path, $kernel:ident) => {
        // groups: [rows / 2 * $bytes(n)], acts: [toks, row_bytes(Q8_K, n)] -> y
        pub(super) fn $name(
            n: usize,
            groups: &[u8],
            rows: usize,
            acts: &[u8],
            toks: usize,
            y: &mut [f32],
            y_stride: usize,
        ) -> bool {
            by_tokens(
                n,
                $bytes(n),
                groups,
                rows,
                acts,
                toks,
                y,
                y_stride,
                |g, a, ahead| {
                    let mut out = [[0f32; 2]; TOKENS];
                    // SAFETY: AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C were
                    // detected before the AVX-512 table (the only owner of
                    // these layouts) was handed out.
                    unsafe {
                        match *a {
                            [a0] => out[..1].copy_from_slice(&$kernel::<1>(g, [a0], ahead)),
                            [a0, a1] => out[..2].copy_from_slice(&$kernel::<2>(g, [a0, a1], ahead)),
                            [a0, a1, a2, a3] => {
                                out[..4].copy_from_slice(&$kernel::<4>(g, [a0, a1, a2, a3], ahead))
                            }
                            [a0, a1, a2, a3, a4, a5, a6, a7] => {
                                out = $kernel::<8>(g, [a0, a1, a2, a3, a4, a5, a6, a7], ahead)
                            }
                            _ => unreachable!("1, 2, 4 or 8 tokens"),
                        }
                    }
                    out
                },
            )
        }
    };
}

tokens_fn!(tokens_q4_k_x2, super::packed_kquant::q4_k_x2_bytes, q4_k_x2);
tokens_fn!(tokens_q6_k_x2, super::packed_kquant::q6_k_x2_bytes, q6_k_x2);

/// x: one `q4_k_x2` group, y: `T` Q8_K activations of its block count
/// -> per token the group's two dot products (`ahead`: prefetch distance
/// in bytes)
///
/// # Safety
/// The CPU must support AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C.
#[allow(clippy::needless_range_loop)] // block i of every token's activation
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn q4_k_x2<const T: usize>(x: &[u8], y: [&[BlockQ8K]; T], ahead: usize) -> [[f32; 2]; T] {
    let mut acc = [_mm512_setzero_ps(); T];
    let mut acc_m = [_mm256_setzero_ps(); T];
    for i in 0..y[0].len() {
        let pair = q4_k_x2_block(x, i, ahead);
        for t in 0..T {
            let act = q8_k_act(&y[t][i]);
            q4_k_pair_dot(&pair, &act, &mut acc[t], &mut acc_m[t]);
        }
    }
    std::array::from_fn(|t| q4_k_pair_sums(acc[t], acc_m[t]))
}

/// x: one `q6_k_x2` group, y: `T` Q8_K activations of its block count
/// -> per token the group's two dot products (`ahead`: prefetch distance
/// in bytes)
///
/// # Safety
/// The CPU must support AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C.
#[allow(clippy::needless_range_loop)] // block i of every token's activation
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn q6_k_x2<const T: usize>(x: &[u8], y: [&[BlockQ8K]; T], ahead: usize) -> [[f32; 2]; T] {
    let mut acc = [_mm512_setzero_ps(); T];
    for i in 0..y[0].len() {
        let (pair, [da, db]) = q6_k_x2_block(x, i, ahead);
        for t in 0..T {
            let by = &y[t][i];
            let (bsums, q8) = q6_k_act(by);
            let d = pair_ps(d_only(by.d, da), d_only(by.d, db));
            q6_k_pair_dot(&pair, d, bsums, &q8, &mut acc[t]);
        }
    }
    std::array::from_fn(|t| hsum_pair(acc[t]))
}
