//! AVX-512 VNNI tile kernels of the legacy types against Q8_0 activations:
//! Q8_0, Q4_0, Q5_0 weights (prefill).
//!
//! Each output is the AVX2 row dot (`avx2::legacy`, llama.cpp's x86 order)
//! bit for bit: per 32-block one FMA `acc += lanes * (d_w * d_a)` into a
//! single 8-lane accumulator, then `hsum`. Only the integer lanes and the
//! way the scale reaches its lanes differ, and both are exact: lane j is
//! the sum of the products of elements 4j..4j+4 either way (`vpmaddubsw` +
//! `vpmaddwd` pair adjacent bytes then adjacent words; `vpdpbusd` sums the
//! same four bytes), and `d_w * d_a` is the same f32 product, computed for
//! 8 tokens at once (`gemm_pack`).
//!
//! Weights become unsigned bytes `u = q + off` (Q8_0: `q ^ 0x80`, off 128;
//! Q4_0: the nibbles, off 8; Q5_0: nibbles + 16 * high bit, off 16), so
//! `lanes = dpbusd(-off * sum(y), u, y)`, the correction packed once per
//! activation block. (For an activation byte of -128, which the quantizers
//! never write, the AVX2 sign trick wraps and this is the exact value
//! instead.)
//!
//! Token pairs share a 512-bit register: token 2j's accumulator in the low
//! 256 bits, 2j + 1's in the high ones (per lane the same products,
//! converts, multiplies and FMAs as two 256-bit ones). Per (row, pair,
//! block) the tile runs one `vpdpbusd`, one convert, one in-lane permute
//! of the scales and one FMA; Zen 5 issues the `vpdpbusd` and the FMA on
//! its two multiply pipes and the rest on the other two. A tile is RM rows
//! x RG groups of 8 tokens: RM * 4 * RG accumulators, RM decoded weight
//! blocks and RM * RG scale vectors in registers.
//!
//! The kernel gets all rows of a product at once (`Gemm::all_rows`) and
//! packs the activations once per call. Then per `ROW_TILES` tiles of rows
//! and token group, the blocks go in chunks of `KB`: the group's packed
//! lines of a chunk stay in L1 while every tile's rows go by, and the
//! accumulators wait in memory between chunks (each still sums its blocks
//! in order).

use std::arch::x86_64::*;
use std::cell::RefCell;
use std::ops::Range;

use super::avx2;
use super::avx2::legacy::hsum;
use super::gemm_pack::{groups, pack, Line, BASE, GROUP_LINES, GROUP_TOKS, SCALES};
use crate::blocks::{BlockQ4_0, BlockQ5_0, BlockQ8_0, QK};
use crate::gemm::gemm_by_rows;
use crate::quant::row_bytes;
use gguf::GgmlType;

/// Q8_0 quants plus 128 as unsigned bytes, in both 256-bit halves.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn twice_q8_0(b: &BlockQ8_0) -> __m512i {
    // SAFETY: `qs` is 32 readable bytes; `loadu` has no alignment requirement.
    let q = unsafe { _mm256_loadu_si256(b.qs.as_ptr().cast()) };
    _mm512_xor_si512(_mm512_broadcast_i64x4(q), _mm512_set1_epi8(0x80u8 as i8))
}

/// The nibbles of a block in element order, in both 256-bit halves:
/// 128-bit lanes [low nibbles, high nibbles, low, high].
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn twice_nibbles(qs: &[u8; 16]) -> __m512i {
    // SAFETY: `qs` is 16 readable bytes; `loadu` has no alignment requirement.
    let t = unsafe { _mm_loadu_si128(qs.as_ptr().cast()) };
    let four = _mm512_broadcast_i32x4(t);
    // 128-bit lanes 1 and 3 (16-bit elements 8..16, 24..32) take the high nibbles.
    let shifted = _mm512_mask_srli_epi16::<4>(four, 0xFF00_FF00, four);
    _mm512_and_si512(shifted, _mm512_set1_epi8(0x0F))
}

/// Q4_0 quants plus 8 (the nibbles), in both 256-bit halves.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn twice_q4_0(b: &BlockQ4_0) -> __m512i {
    twice_nibbles(&b.qs)
}

/// Q5_0 quants plus 16 (nibble + 16 * high bit), in both 256-bit halves.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn twice_q5_0(b: &BlockQ5_0) -> __m512i {
    let low = twice_nibbles(&b.qs);
    let bits = u32::from_le_bytes(b.qh) as u64;
    _mm512_mask_add_epi8(low, bits | bits << 32, low, _mm512_set1_epi8(16))
}

/// `v` with element `j` of each 128-bit lane in all four of its elements.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn spread(v: __m512, j: usize) -> __m512 {
    match j {
        0 => _mm512_permute_ps::<0x00>(v),
        1 => _mm512_permute_ps::<0x55>(v),
        2 => _mm512_permute_ps::<0xAA>(v),
        _ => _mm512_permute_ps::<0xFF>(v),
    }
}

/// The f32 value of an f16 scale in all 16 lanes (exact).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn scale16(d: half::f16) -> __m512 {
    _mm512_cvtph_ps(_mm256_set1_epi16(d.to_bits() as i16))
}

thread_local! {
    /// The packed activations of the current product (reused, grown once).
    static PACK: RefCell<Vec<Line>> = const { RefCell::new(Vec::new()) };
}

/// The tile kernel for weights of type `w`, if there is one (all rows per
/// call: it repacks the activations).
pub(super) fn lookup(w: GgmlType) -> Option<crate::arch::GemmFn> {
    Some(match w {
        GgmlType::Q8_0 => q8_0::gemm,
        GgmlType::Q4_0 => q4_0::gemm,
        GgmlType::Q5_0 => q5_0::gemm,
        _ => return None,
    })
}

/// Rows per main tile and token groups (of 8) per main tile.
const RM: usize = 4;
const RG: usize = 1;
/// Main tiles whose accumulators wait in memory between block chunks.
const ROW_TILES: usize = 16;
/// Blocks per chunk (the packed lines of `KB` blocks of RG groups stay in L1).
const KB: usize = 32;

/// Defines module `$m` with the pair tiles of a weight block type whose
/// `$twice` decoder returns `q + $off` in both halves, and `$m::gemm`, its
/// `GemmFn`.
macro_rules! pair_gemm {
    ($m:ident, $W:ty, $ty:ident, $twice:ident, $off:expr) => {
        pub(super) mod $m {
            use super::*;

            /// Adds block `i` of M rows x G token groups into
            /// `acc[g][j][r]` (pair j of group g, row r).
            // w: M rows of blocks, pk: G groups of packed lines
            #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
            #[inline]
            fn step<const M: usize, const G: usize>(
                w: &[&[$W]; M],
                pk: &[&[Line]; G],
                i: usize,
                acc: &mut [[[__m512; M]; 4]; G],
            ) {
                let mut u = [_mm512_setzero_si512(); M];
                let mut s = [[_mm512_setzero_ps(); G]; M];
                for r in 0..M {
                    let b = &w[r][i];
                    u[r] = $twice(b);
                    let dw = scale16(b.d);
                    for g in 0..G {
                        let l = &pk[g][i * GROUP_LINES + SCALES];
                        // SAFETY: a line is 64 aligned readable bytes.
                        let dy = unsafe { _mm512_load_ps(l.0.as_ptr().cast()) };
                        // d_w * d_a of the 8 tokens: the row dot's f32 products.
                        s[r][g] = _mm512_mul_ps(dw, dy);
                    }
                }
                for g in 0..G {
                    let l = &pk[g][i * GROUP_LINES..][..GROUP_LINES];
                    for j in 0..4 {
                        // SAFETY: lines are 64 aligned readable bytes.
                        let (y, base) = unsafe {
                            (
                                _mm512_load_si512(l[j].0.as_ptr().cast()),
                                _mm512_load_si512(l[BASE + j].0.as_ptr().cast()),
                            )
                        };
                        for r in 0..M {
                            let lanes = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(base, u[r], y));
                            let d = spread(s[r][g], j);
                            acc[g][j][r] = _mm512_fmadd_ps(lanes, d, acc[g][j][r]);
                        }
                    }
                }
            }

            /// Adds blocks `blocks` of M rows x G token groups into `acc`.
            // w: M rows of nb blocks, pk: G groups of [nb][GROUP_LINES] lines
            #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
            fn run_blocks<const M: usize, const G: usize>(
                w: &[&[$W]; M],
                pk: &[&[Line]; G],
                blocks: Range<usize>,
                acc: &mut [[[__m512; M]; 4]; G],
            ) {
                let mut a = *acc;
                for i in blocks {
                    step(w, pk, i, &mut a);
                }
                *acc = a;
            }

            /// Rows `r0..r0 + M * tiles` (M at a time) against token groups
            /// `g0..g0 + G`, the blocks in chunks of `KB` so that the
            /// groups' packed lines of a chunk stay in L1 while every row
            /// goes by; accumulators wait in `acc` between chunks.
            // w: [rows * nb] blocks, pk: [groups][nb][GROUP_LINES] -> y[t * ys + r]
            #[allow(clippy::too_many_arguments)]
            #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
            fn rows_by_chunks<const M: usize, const G: usize>(
                w: &[$W],
                pk: &[Line],
                nb: usize,
                (toks, g0): (usize, usize),
                (r0, tiles): (usize, usize),
                acc: &mut [[[[__m512; M]; 4]; G]],
                y: &mut [f32],
                ys: usize,
            ) {
                let gl = nb * GROUP_LINES;
                let p: [&[Line]; G] = std::array::from_fn(|k| &pk[(g0 + k) * gl..][..gl]);
                let acc = &mut acc[..tiles];
                acc.fill([[[_mm512_setzero_ps(); M]; 4]; G]);
                for k0 in (0..nb).step_by(KB) {
                    for (t, a) in acc.iter_mut().enumerate() {
                        let r = r0 + t * M;
                        let wr: [&[$W]; M] = std::array::from_fn(|k| &w[(r + k) * nb..][..nb]);
                        run_blocks(&wr, &p, k0..nb.min(k0 + KB), a);
                    }
                }
                for (t, a) in acc.iter().enumerate() {
                    let r = r0 + t * M;
                    for (g, a) in a.iter().enumerate() {
                        for (j, a) in a.iter().enumerate() {
                            for (k, &v) in a.iter().enumerate() {
                                let tok = (g0 + g) * GROUP_TOKS + 2 * j;
                                let high = _mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v));
                                if tok < toks {
                                    y[tok * ys + r + k] = hsum(_mm512_castps512_ps256(v));
                                }
                                if tok + 1 < toks {
                                    y[(tok + 1) * ys + r + k] = hsum(_mm256_castpd_ps(high));
                                }
                            }
                        }
                    }
                }
            }

            /// Rows `r0..r0 + M * tiles` against every token group, G at a time, then one.
            // w: [rows * nb] blocks, pk: [groups][nb][GROUP_LINES] -> y[t * ys + r]
            #[allow(clippy::too_many_arguments)]
            #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
            fn row_tiles<const M: usize>(
                w: &[$W],
                pk: &[Line],
                nb: usize,
                toks: usize,
                (r0, tiles): (usize, usize),
                acc: &mut [[[[__m512; M]; 4]; RG]],
                acc1: &mut [[[[__m512; M]; 4]; 1]],
                y: &mut [f32],
                ys: usize,
            ) {
                let n = groups(toks);
                let mut g = 0;
                while g + RG <= n {
                    rows_by_chunks::<M, RG>(w, pk, nb, (toks, g), (r0, tiles), acc, y, ys);
                    g += RG;
                }
                while g < n {
                    rows_by_chunks::<M, 1>(w, pk, nb, (toks, g), (r0, tiles), acc1, y, ys);
                    g += 1;
                }
            }

            /// The `GemmFn` of these weights.
            // w: [rows, n] weight bytes, a: [toks, n] Q8_0 bytes -> y[t * ys + r]
            pub(in super::super) fn gemm(
                n: usize,
                w: &[u8],
                rows: usize,
                a: &[u8],
                toks: usize,
                y: &mut [f32],
                ys: usize,
            ) {
                let (wb, ab) = (row_bytes(GgmlType::$ty, n), row_bytes(GgmlType::Q8_0, n));
                let (w, a) = (&w[..rows * wb], &a[..toks * ab]);
                let nb = n / QK;
                let (Ok(wt), Ok(at), true) = (
                    bytemuck::try_cast_slice::<u8, $W>(w),
                    bytemuck::try_cast_slice::<u8, BlockQ8_0>(a),
                    nb > 0 && rows > 0 && toks > 0,
                ) else {
                    let dot = avx2::dot(GgmlType::$ty).expect("legacy types have a row dot");
                    return gemm_by_rows(dot, n, w, wb, a, ab, y, ys);
                };
                PACK.with_borrow_mut(|pk| {
                    // SAFETY: these functions run only from `AVX512`'s gemm
                    // lookup, handed out after AVX-512 F/BW/VL/VNNI, AVX2,
                    // FMA and F16C were detected.
                    unsafe {
                        pack(at, nb, toks, $off, pk);
                        let mut acc = [[[[_mm512_setzero_ps(); RM]; 4]; RG]; ROW_TILES];
                        let mut acc1 = [[[[_mm512_setzero_ps(); RM]; 4]; 1]; ROW_TILES];
                        let mut r = 0;
                        while r + RM <= rows {
                            let tiles = ((rows - r) / RM).min(ROW_TILES);
                            row_tiles::<RM>(
                                wt,
                                pk,
                                nb,
                                toks,
                                (r, tiles),
                                &mut acc,
                                &mut acc1,
                                y,
                                ys,
                            );
                            r += tiles * RM;
                        }
                        let mut one = [[[[_mm512_setzero_ps(); 1]; 4]; RG]; 1];
                        let mut one1 = [[[[_mm512_setzero_ps(); 1]; 4]; 1]; 1];
                        while r < rows {
                            row_tiles::<1>(wt, pk, nb, toks, (r, 1), &mut one, &mut one1, y, ys);
                            r += 1;
                        }
                    }
                });
            }
        }
    };
}

pair_gemm!(q8_0, BlockQ8_0, Q8_0, twice_q8_0, 128);
pair_gemm!(q4_0, BlockQ4_0, Q4_0, twice_q4_0, 8);
pair_gemm!(q5_0, BlockQ5_0, Q5_0, twice_q5_0, 16);
#[cfg(test)]
#[path = "gemm_legacy_tests.rs"]
mod tests;
