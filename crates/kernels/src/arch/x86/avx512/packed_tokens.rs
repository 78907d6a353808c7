//! Multi-token decode kernels of the repacked Q4_K and Q6_K layouts
//! (`packed_kquant`, `Packing::tokens`): for a decode batch of single
//! tokens of several sequences, each block pair of a group is loaded and
//! unpacked once (nibbles, 6-bit quants, scale shuffles) for up to
//! `TOKENS` tokens, each of which then runs the single-token kernel's
//! operations on it (the pieces `rows_kquant::q4_k_pair_dot` is made of,
//! `q4_k_chunk_dot` and `q4_k_pair_finish`, and `q6_k_pair_dot`): per
//! token the same exact i32 sums, the same FMA per block into its own
//! accumulator and the same horizontal sum, so every output equals the
//! row dot bit for bit. The driver (`by_tokens`, `tokens_fn`) also serves
//! `packed_legacy`'s Q4_0.

use std::arch::x86_64::*;

use super::packed_kquant::{load64, q4_k_x2_parts, q6_k_x2_block};
use super::rows::{hsum_pair, pair_ps};
use super::rows_kquant::{bcast_i8x32, q4_k_chunk, q4_k_chunk_dot, q4_k_pair_finish};
use super::rows_kquant::{q4_k_pair_head, q4_k_pair_sums, q4_k_scales};
use super::rows_kquant::{q6_k_act, q6_k_pair_dot, q8_k_sums};
use crate::arch::x86::avx2::kquant::at;
use crate::arch::x86::avx2::kquant::d_only;
use crate::blocks::BlockQ8K;
use crate::quant::row_bytes;
use gguf::GgmlType;

/// Most tokens of one pass over a block pair (chunks of 8, 4, 2, 1): one
/// or two accumulators each beside the 16 registers of the unpacked pair.
const TOKENS: usize = 8;

/// Runs a token kernel over the `rows / group` groups (`gb` bytes each)
/// for the `toks` activation rows (`n` elements of `act_ty`, blocks `A`)
/// in chunks of 8, 4, 2 or 1 tokens, writing `y[t * y_stride + row]`.
/// `k(groups, acts, y, y_stride)` runs the typed kernel on every group for
/// `acts.len()` tokens. Returns false (writing nothing) if the activations
/// are misaligned or `accept` declines them.
// groups: [rows / group * gb], acts: [toks, row_bytes(act_ty, n)] -> y
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(super) fn by_tokens<A: bytemuck::Pod>(
    (n, act_ty, group, gb): (usize, GgmlType, usize, usize),
    groups: &[u8],
    rows: usize,
    acts: &[u8],
    toks: usize,
    y: &mut [f32],
    y_stride: usize,
    accept: impl Fn(&[A]) -> bool,
    k: impl Fn(&[u8], &[&[A]], &mut [f32], usize),
) -> bool {
    let ab = row_bytes(act_ty, n);
    let Ok(all) = bytemuck::try_cast_slice::<u8, A>(&acts[..toks * ab]) else {
        return false;
    };
    if !accept(all) {
        return false;
    }
    let nb = ab / size_of::<A>();
    let groups = &groups[..rows / group * gb];
    let mut t0 = 0;
    while t0 < toks {
        let c = 1 << (toks - t0).min(TOKENS).ilog2();
        let mut chunk: [&[A]; TOKENS] = [&[]; TOKENS];
        for (j, slot) in chunk[..c].iter_mut().enumerate() {
            *slot = &all[(t0 + j) * nb..(t0 + j + 1) * nb];
        }
        k(groups, &chunk[..c], &mut y[t0 * y_stride..], y_stride);
        t0 += c;
    }
    true
}

/// One `Packing::tokens` function per layout: `$name` runs `$kernel` on
/// the groups (`$group` rows, `$bytes(n)` bytes each) for chunks of 8, 4,
/// 2 or 1 activations (`$act` blocks of `$act_ty`) that `$accept` takes.
macro_rules! tokens_fn {
    ($name:ident, $bytes:path, $group:expr, $act:ty, $act_ty:ident, $accept:expr, $kernel:ident) => {
        // groups: [rows / $group * $bytes(n)], acts: [toks, row_bytes($act_ty, n)] -> y
        pub(super) fn $name(
            n: usize,
            groups: &[u8],
            rows: usize,
            acts: &[u8],
            toks: usize,
            y: &mut [f32],
            y_stride: usize,
        ) -> bool {
            let gb = $bytes(n);
            let shape = (n, GgmlType::$act_ty, $group, gb);
            let k = |g: &[u8], a: &[&[$act]], y: &mut [f32], s: usize| {
                // SAFETY: AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C were
                // detected before the AVX-512 table (the only owner of
                // these layouts) was handed out.
                unsafe {
                    match *a {
                        [a0] => $kernel::<1>(g, gb, [a0], y, s),
                        [a0, a1] => $kernel::<2>(g, gb, [a0, a1], y, s),
                        [a0, a1, a2, a3] => $kernel::<4>(g, gb, [a0, a1, a2, a3], y, s),
                        [a0, a1, a2, a3, a4, a5, a6, a7] => {
                            $kernel::<8>(g, gb, [a0, a1, a2, a3, a4, a5, a6, a7], y, s)
                        }
                        _ => unreachable!("1, 2, 4 or 8 tokens"),
                    }
                }
            };
            super::packed_tokens::by_tokens(
                shape, groups, rows, acts, toks, y, y_stride, $accept, k,
            )
        }
    };
}
pub(super) use tokens_fn;

tokens_fn!(
    tokens_q4_k_x2,
    super::packed_kquant::q4_k_x2_bytes,
    2,
    BlockQ8K,
    Q8_K,
    |_| true,
    q4_k_x2
);
tokens_fn!(
    tokens_q6_k_x2,
    super::packed_kquant::q6_k_x2_bytes,
    2,
    BlockQ8K,
    Q8_K,
    |_| true,
    q6_k_x2
);

/// x: `q4_k_x2` groups of `gb` bytes, y: `T` Q8_K activations of their
/// block count -> `out[t * stride + row]` for the groups' rows. Groups go
/// two at a time (a last odd one with itself), and each block pair chunk
/// by chunk (32 bytes of each row): the two groups' unpacked chunks and
/// every token's integer sums stay in registers, and each activation load
/// serves both groups.
///
/// # Safety
/// The CPU must support AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn q4_k_x2<const T: usize>(
    x: &[u8],
    gb: usize,
    y: [&[BlockQ8K]; T],
    out: &mut [f32],
    stride: usize,
) {
    let nb = y[0].len();
    assert!(y.iter().all(|a| a.len() == nb), "activations of one length");
    let ng = x.len() / gb;
    // prefetch two groups further on
    let ahead = 2 * gb;
    for g0 in (0..ng).step_by(2) {
        let gs = [g0, (g0 + 1).min(ng - 1)];
        let mut acc = [[_mm512_setzero_ps(); T]; 2];
        let mut acc_m = [[_mm256_setzero_ps(); T]; 2];
        for i in 0..nb {
            let parts: [_; 2] = std::array::from_fn(|k| q4_k_x2_parts(&x[gs[k] * gb..], i, ahead));
            let scales: [_; 2] = std::array::from_fn(|k| q4_k_scales(parts[k].1));
            let mut sumi = [[_mm512_setzero_si512(); T]; 2];
            for c in 0..4 {
                let w: [[__m512i; 4]; 2] = std::array::from_fn(|k| {
                    q4_k_chunk(scales[k], load64(at(parts[k].2, 64 * c)), c)
                });
                for t in 0..T {
                    // SAFETY: i < nb = every activation's length (asserted).
                    let by = unsafe { y[t].get_unchecked(i) };
                    let q8 = [
                        bcast_i8x32(at(&by.qs, 64 * c)),
                        bcast_i8x32(at(&by.qs, 64 * c + 32)),
                    ];
                    for k in 0..2 {
                        sumi[k][t] = _mm512_add_epi32(sumi[k][t], q4_k_chunk_dot(&w[k], q8));
                    }
                }
            }
            for k in 0..2 {
                let head = q4_k_pair_head(parts[k].0, parts[k].1);
                for t in 0..T {
                    // SAFETY: as above.
                    let sums = q8_k_sums(unsafe { y[t].get_unchecked(i) });
                    let (a, m) = (&mut acc[k][t], &mut acc_m[k][t]);
                    q4_k_pair_finish(&head, &sums, sumi[k][t], a, m);
                }
            }
        }
        for k in 0..=gs[1] - gs[0] {
            for t in 0..T {
                let v = q4_k_pair_sums(acc[k][t], acc_m[k][t]);
                out[t * stride + 2 * gs[k]..][..2].copy_from_slice(&v);
            }
        }
    }
}

/// x: `q6_k_x2` groups of `gb` bytes, y: `T` Q8_K activations of their
/// block count -> `out[t * stride + row]` for the groups' rows
///
/// # Safety
/// The CPU must support AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C.
#[allow(clippy::needless_range_loop)] // block i of every token's activation
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn q6_k_x2<const T: usize>(
    x: &[u8],
    gb: usize,
    y: [&[BlockQ8K]; T],
    out: &mut [f32],
    stride: usize,
) {
    let ahead = 2 * gb;
    for (g, x) in x.chunks_exact(gb).enumerate() {
        let mut acc = [_mm512_setzero_ps(); T];
        for i in 0..y[0].len() {
            let (pair, [da, db]) = q6_k_x2_block(x, i, ahead);
            // f32(A.d) low, f32(B.d) high: times y.d, the row dot's `d_only`
            let dw = pair_ps(d_only(1.0, da), d_only(1.0, db));
            for t in 0..T {
                let by = &y[t][i];
                let (bsums, q8) = q6_k_act(by);
                let d = _mm512_mul_ps(dw, _mm512_set1_ps(by.d));
                q6_k_pair_dot(&pair, d, bsums, &q8, &mut acc[t]);
            }
        }
        for t in 0..T {
            let v = hsum_pair(acc[t]);
            out[t * stride + 2 * g..][..2].copy_from_slice(&v);
        }
    }
}
