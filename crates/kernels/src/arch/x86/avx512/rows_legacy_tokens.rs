//! Multi-token decode kernels of Q4_0, Q5_0 and Q8_0 for the default
//! AVX-512 table (`Kernels::rows_tokens`): for a decode batch of single
//! tokens of several sequences, each block of a few row pairs is loaded
//! and made unsigned (`q + c`, see `rows_legacy`) once, and its rows'
//! scales converted once, for up to `TOKENS` tokens.
//!
//! Per token the float operations of `rows_legacy`'s pair kernels, which
//! equal the AVX2 row dot bit for bit, on the same exact i32 lanes (lane j
//! of a row: the products of elements 4j..4j + 4 of a block): `cvt`, one
//! FMA per block with `f32(d_w) * f32(d_a)` (here the weight scales are
//! spread over their lanes once and multiplied by the broadcast activation
//! scale: the same one f32 product per lane), the same horizontal sum.
//! The lanes come the other way round from `rows_legacy`'s, so that the
//! correction term depends on the weights only: `vpdpbusd` multiplies the
//! activation bytes made unsigned (`a + 128`) by the signed weight quants
//! `q`, starting from `-128 * (sum of the lane's 4 quants)`, computed once
//! per block for every token; each token then costs one `vpdpbusd`, one
//! multiply, `cvt` and FMA per row pair and block. A token whose
//! activation holds a byte of -128, or misaligned rows, take
//! `rows_legacy`'s rows kernel (which leaves them to the row dot), one
//! token at a time.

use std::arch::x86_64::*;

use super::rows::{hsum_pair, prefetch, Pairs};
use super::rows_kquant::bcast_i8x32;
use super::rows_legacy::{at, f16_lanes, has_i8_min, quants_q4_0, quants_q5_0, quants_q8_0};
use super::rows_legacy::{rows_q4_0, rows_q5_0, rows_q8_0};
use crate::arch::{RowsFn, RowsTokensFn};
use crate::blocks::{BlockQ4_0, BlockQ5_0, BlockQ8_0};
use crate::quant::row_bytes;
use gguf::GgmlType;

/// Most tokens of one pass over a block (chunks of 8, 4, 2, 1 tokens):
/// two accumulators each (two row pairs).
const TOKENS: usize = 8;

/// The multi-token kernel of weights of type `w`, if there is one.
pub(super) fn lookup(w: GgmlType) -> Option<RowsTokensFn> {
    use GgmlType::*;
    Some(match w {
        Q4_0 => tokens_q4_0,
        Q5_0 => tokens_q5_0,
        Q8_0 => tokens_q8_0,
        _ => return None,
    })
}

/// `rows` run once per token.
// w: [rows, n], a: [toks, n] Q8_0 -> y[t * y_stride + i]
#[allow(clippy::too_many_arguments)]
fn per_token(
    rows_fn: RowsFn,
    n: usize,
    w: &[u8],
    rows: usize,
    a: &[u8],
    toks: usize,
    y: &mut [f32],
    y_stride: usize,
) {
    let ab = row_bytes(GgmlType::Q8_0, n);
    for t in 0..toks {
        rows_fn(n, w, &a[t * ab..][..ab], &mut y[t * y_stride..][..rows]);
    }
}

/// Row pairs two at a time (then one; a last single row paired with
/// itself), tokens in chunks of 8, 4, 2, 1: `k2(pairs, acts, ahead)` /
/// `k1` run the typed kernel, writing into `y[t * y_stride + row]`.
// x: [rows * nb] blocks, acts: toks activations of nb blocks -> y
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn by_pairs<B>(
    x: &[B],
    nb: usize,
    rows: usize,
    acts: &[BlockQ8_0],
    y: &mut [f32],
    y_stride: usize,
    k2: impl Fn(Pairs<'_, B, 2>, &[&[BlockQ8_0]], usize) -> [[[f32; 2]; 2]; TOKENS],
    k1: impl Fn(Pairs<'_, B, 1>, &[&[BlockQ8_0]], usize) -> [[[f32; 2]; 1]; TOKENS],
) {
    let toks = acts.len() / nb;
    // Rows are short (a decode batch's matrices: a few hundred blocks) and
    // read four side by side, which the hardware prefetchers follow
    // poorly: fetch the rows two groups of four further on.
    let ahead = 8 * nb * size_of::<B>();
    let row = |r: usize| &x[r * nb..(r + 1) * nb];
    let mut chunk: [&[BlockQ8_0]; TOKENS] = [&[]; TOKENS];
    let mut r = 0;
    while r < rows {
        let left = rows - r;
        let mut t0 = 0;
        while t0 < toks {
            // 8, 4, 2 or 1 tokens
            let c = 1 << (toks - t0).min(TOKENS).ilog2();
            for (j, slot) in chunk[..c].iter_mut().enumerate() {
                *slot = &acts[(t0 + j) * nb..(t0 + j + 1) * nb];
            }
            let chunk = &chunk[..c];
            if left >= 4 {
                let out = k2(
                    [[row(r), row(r + 1)], [row(r + 2), row(r + 3)]],
                    chunk,
                    ahead,
                );
                for (t, o) in (t0..t0 + c).zip(out) {
                    y[t * y_stride + r..][..4].copy_from_slice(o.as_flattened());
                }
            } else if left >= 2 {
                let out = k1([[row(r), row(r + 1)]], chunk, ahead);
                for (t, o) in (t0..t0 + c).zip(out) {
                    y[t * y_stride + r..][..2].copy_from_slice(&o[0]);
                }
            } else {
                let out = k1([[row(r), row(r)]], chunk, ahead);
                for (t, o) in (t0..t0 + c).zip(out) {
                    y[t * y_stride + r] = o[0][0];
                }
            }
            t0 += c;
        }
        r += match left {
            4.. => 4,
            2 | 3 => 2,
            _ => 1,
        };
    }
}

/// One typed kernel: `$quants(a, b)` gives the two rows' unsigned quants
/// (`q + $c`) as 64 bytes.
macro_rules! tokens_kernel {
    ($name:ident, $w:ty, $c:expr, $quants:ident) => {
        /// x: `P` pairs of rows of nb blocks, y: `T` Q8_0 activations of
        /// nb blocks (no byte -128) -> per token the 2P dot products
        /// (`ahead`: prefetch distance in bytes past each weight block)
        ///
        /// # Safety
        /// The CPU must support AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C.
        #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
        unsafe fn $name<const P: usize, const T: usize>(
            x: Pairs<'_, $w, P>,
            y: [&[BlockQ8_0]; T],
            ahead: usize,
        ) -> [[[f32; 2]; P]; T] {
            let nb = y[0].len();
            let long_enough =
                x.as_flattened().iter().all(|r| r.len() >= nb) && y.iter().all(|a| a.len() == nb);
            assert!(long_enough, "rows shorter than the activations");
            let c = _mm512_set1_epi8($c as u8 as i8);
            let bias = _mm512_set1_epi8(i8::MIN);
            let mut acc = [[_mm512_setzero_ps(); P]; T];
            for i in 0..nb {
                let blocks: [[&$w; 2]; P] = std::array::from_fn(|p| {
                    // SAFETY: i < nb <= every row's length (asserted).
                    unsafe { [at(x[p][0], i), at(x[p][1], i)] }
                });
                for b in blocks.as_flattened() {
                    prefetch(*b, ahead);
                }
                // the signed quants q, and -128 * (sum of each lane's 4 of them)
                let q: [__m512i; P] = std::array::from_fn(|p| {
                    _mm512_sub_epi8($quants(blocks[p][0], blocks[p][1]), c)
                });
                let off: [__m512i; P] = std::array::from_fn(|p| {
                    let s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), bias, q[p]);
                    _mm512_sub_epi32(_mm512_setzero_si512(), s)
                });
                // the rows' f32(d_w), row A of pair p in its low 8 lanes, B in the high 8
                let dw =
                    std::array::from_fn(|p| [blocks[p][0].d.to_bits(), blocks[p][1].d.to_bits()]);
                let dw = _mm512_castps128_ps512(f16_lanes::<P>(dw));
                let dw: [__m512; P] = std::array::from_fn(|p| {
                    let (a, b) = (2 * p as i32, 2 * p as i32 + 1);
                    let idx = _mm512_setr_epi32(a, a, a, a, a, a, a, a, b, b, b, b, b, b, b, b);
                    _mm512_permutexvar_ps(idx, dw)
                });
                for t in 0..T {
                    // SAFETY: i < nb = every activation's length (asserted).
                    let by = unsafe { at(y[t], i) };
                    // the activation made unsigned (a + 128)
                    let a = _mm512_xor_si512(bcast_i8x32(&by.qs), bias);
                    let da = _mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(by.d.to_bits())));
                    let da = _mm512_broadcastss_ps(da);
                    for p in 0..P {
                        let s = _mm512_dpbusd_epi32(off[p], a, q[p]);
                        let d = _mm512_mul_ps(dw[p], da);
                        acc[t][p] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), d, acc[t][p]);
                    }
                }
            }
            std::array::from_fn(|t| std::array::from_fn(|p| hsum_pair(acc[t][p])))
        }
    };
}

tokens_kernel!(q4_0, BlockQ4_0, 8, quants_q4_0);
tokens_kernel!(q5_0, BlockQ5_0, 16, quants_q5_0);
tokens_kernel!(q8_0, BlockQ8_0, 128, quants_q8_0);

/// Runs `$f::<P, T>` for a chunk of T = 1, 2, 4 or 8 activations into the
/// first T entries of a `TOKENS`-token result.
macro_rules! dispatch {
    ($f:ident, $P:literal, $x:expr, $a:expr, $ahead:expr) => {{
        let mut out = [[[0f32; 2]; $P]; TOKENS];
        // SAFETY: AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C were detected
        // before the AVX-512 table was handed out.
        unsafe {
            match *$a {
                [a0] => out[..1].copy_from_slice(&$f::<$P, 1>($x, [a0], $ahead)),
                [a0, a1] => out[..2].copy_from_slice(&$f::<$P, 2>($x, [a0, a1], $ahead)),
                [a0, a1, a2, a3] => {
                    out[..4].copy_from_slice(&$f::<$P, 4>($x, [a0, a1, a2, a3], $ahead))
                }
                [a0, a1, a2, a3, a4, a5, a6, a7] => {
                    out = $f::<$P, 8>($x, [a0, a1, a2, a3, a4, a5, a6, a7], $ahead)
                }
                _ => unreachable!("1, 2, 4 or 8 tokens"),
            }
        }
        out
    }};
}

/// One byte-level `RowsTokensFn` per type: casts the rows and runs the
/// typed kernel `$f`; misaligned rows, empty rows and activations with a
/// byte of -128 take `$rows` (the single-token rows kernel) per token.
macro_rules! tokens_fn {
    ($name:ident, $ty:ident, $w:ty, $f:ident, $rows:ident) => {
        // w: [rows, row_bytes($ty, n)], a: [toks, row_bytes(Q8_0, n)] -> y[t * y_stride + i]
        fn $name(
            n: usize,
            w: &[u8],
            rows: usize,
            a: &[u8],
            toks: usize,
            y: &mut [f32],
            y_stride: usize,
        ) {
            let ty = GgmlType::$ty;
            let nb = n / ty.block_size();
            let (wb, ab) = (
                &w[..rows * row_bytes(ty, n)],
                &a[..toks * row_bytes(GgmlType::Q8_0, n)],
            );
            let cast = (bytemuck::try_cast_slice(wb), bytemuck::try_cast_slice(ab));
            let (Ok(x), Ok(acts)) = cast else {
                return per_token($rows, n, w, rows, a, toks, y, y_stride);
            };
            // SAFETY: AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C were detected
            // before the AVX-512 table was handed out.
            if nb == 0 || n != nb * ty.block_size() || unsafe { has_i8_min(acts) } {
                return per_token($rows, n, w, rows, a, toks, y, y_stride);
            }
            let x: &[$w] = x;
            by_pairs(
                x,
                nb,
                rows,
                acts,
                y,
                y_stride,
                |p, a, ahead| dispatch!($f, 2, p, a, ahead),
                |p, a, ahead| dispatch!($f, 1, p, a, ahead),
            );
        }
    };
}

tokens_fn!(tokens_q4_0, Q4_0, BlockQ4_0, q4_0, rows_q4_0);
tokens_fn!(tokens_q5_0, Q5_0, BlockQ5_0, q5_0, rows_q5_0);
tokens_fn!(tokens_q8_0, Q8_0, BlockQ8_0, q8_0, rows_q8_0);
