//! AVX-512 VNNI tile kernels of the legacy types against Q8_0 activations:
//! Q8_0, Q4_0, Q5_0 weights (prefill).
//!
//! Each output is the AVX2 row dot (`avx2::legacy`, llama.cpp's x86 order)
//! bit for bit: per 32-block one FMA `acc += lanes * (d_w * d_a)` into a
//! single 8-lane accumulator, then `hsum`. Only the integer lanes and the
//! way the scale reaches its lanes differ, and both are exact: lane j is
//! the sum of the products of elements 4j..4j+4 either way (`vpmaddubsw` +
//! `vpmaddwd` pair adjacent bytes then adjacent words; `vpdpbusd` sums the
//! same four bytes), and `d_w * d_a` is the same f32 product (exact: f16
//! x f16), computed for 16 tokens at once (`gemm_pack`).
//!
//! Weights become unsigned bytes `u = q + off` (Q8_0: `q ^ 0x80`, off 128;
//! Q4_0: the nibbles, off 8; Q5_0: nibbles + 16 * high bit, off 16), so
//! `lanes = dpbusd(-off * sum(y), u, y)`, the correction packed once per
//! activation block. (For an activation byte of -128, which the quantizers
//! never write, the AVX2 sign trick wraps and this is the exact value
//! instead.)
//!
//! A register holds 4 tokens, one per 128-bit lane, and half of the 8
//! lanes of each token's accumulator (`gemm_pack`): per lane the same
//! products, converts, multiplies and FMAs as the 256-bit row dot. Per
//! (row, 4 tokens, block) the tile runs two `vpdpbusd`, two converts, one
//! in-lane broadcast of the scales and two FMAs, and per (row, 16 tokens,
//! block) one multiply of the scales; Zen 5 issues the `vpdpbusd`, FMAs
//! and multiplies on its two multiply pipes and the rest on the other
//! two. A tile is RM rows x 16 tokens: RM * 8 accumulators in registers.
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
use super::gemm_pack::{groups, pack, Layout, Line, BASE, GROUP_LINES, GROUP_TOKS, SCALES};
use crate::blocks::{BlockQ4_0, BlockQ5_0, BlockQ8_0, QK};
use crate::gemm::gemm_by_rows;
use crate::quant::row_bytes;
use gguf::GgmlType;

/// Bytes `p[..8]` in all 8 qwords.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn bcast8(p: &[u8]) -> __m512i {
    _mm512_set1_epi64(i64::from_le_bytes(p[..8].try_into().expect("8 bytes")))
}

/// Q8_0 quants plus 128 as unsigned bytes, halves A and B: 128-bit lanes
/// `[q[0..8], q[16..24]]` and `[q[8..16], q[24..32]]`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn halves_q8_0(b: &BlockQ8_0) -> [__m512i; 2] {
    let q: &[u8; 32] = bytemuck::cast_ref(&b.qs);
    let flip = _mm512_set1_epi8(0x80u8 as i8);
    // Written out, not `[0, 8].map(..)`: the closure is not always inlined.
    let a = _mm512_mask_blend_epi64(0xAA, bcast8(&q[..]), bcast8(&q[16..]));
    let b = _mm512_mask_blend_epi64(0xAA, bcast8(&q[8..]), bcast8(&q[24..]));
    [_mm512_xor_si512(a, flip), _mm512_xor_si512(b, flip)]
}

/// Q4_0 quants plus 8, halves A and B: the low nibbles of `qs[0..8]` /
/// `qs[8..16]` in the lower 8 bytes of each 128-bit lane, the high nibbles
/// in the upper 8 (masked in place, then shifted down by 4 bits per 16-bit
/// word, which moves no bits across bytes once the low nibbles are zero).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn halves_q4_0(b: &BlockQ4_0) -> [__m512i; 2] {
    let nib = _mm512_set1_epi64(0x0F0F_0F0F_0F0F_0F0F);
    let mask = _mm512_unpacklo_epi64(nib, _mm512_slli_epi64::<4>(nib));
    // the upper 4 words of each 128-bit lane
    let upper = 0xF0F0_F0F0;
    // written out, not a closure (not always inlined)
    let a = _mm512_and_si512(bcast8(&b.qs[..]), mask);
    let b = _mm512_and_si512(bcast8(&b.qs[8..]), mask);
    [
        _mm512_mask_srli_epi16::<4>(a, upper, a),
        _mm512_mask_srli_epi16::<4>(b, upper, b),
    ]
}

/// Q5_0 quants plus 16, halves A and B: nibble + 16 * fifth bit, low
/// nibbles of `qs[0..8]` / `qs[8..16]` in the lower 8 bytes of each
/// 128-bit lane, their high nibbles in the upper 8.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn halves_q5_0(b: &BlockQ5_0) -> [__m512i; 2] {
    let qh = u32::from_le_bytes(b.qh) as u64;
    let shift = _mm512_set_epi64(4, 0, 4, 0, 4, 0, 4, 0);
    let nibbles = |h: usize| {
        _mm512_and_si512(
            _mm512_srlv_epi64(bcast8(&b.qs[h..]), shift),
            _mm512_set1_epi8(0x0F),
        )
    };
    let (n0, n8) = (nibbles(0), nibbles(8));
    // bit j of each 16: element h + j (j < 8), 16 + h + j - 8 (j >= 8)
    let lane = |h: usize| ((qh >> h & 0xFF) | (qh >> (16 + h) & 0xFF) << 8) * 0x0001_0001_0001_0001;
    let sixteen = _mm512_set1_epi8(16);
    [
        _mm512_mask_add_epi8(n0, lane(0), n0, sixteen),
        _mm512_mask_add_epi8(n8, lane(8), n8, sixteen),
    ]
}

/// Element `j` of each 128-bit lane of `v` in all four of its elements.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn spread(v: __m512, j: usize) -> __m512 {
    match j {
        0 => _mm512_permute_ps::<0b00_00_00_00>(v),
        1 => _mm512_permute_ps::<0b01_01_01_01>(v),
        2 => _mm512_permute_ps::<0b10_10_10_10>(v),
        _ => _mm512_permute_ps::<0b11_11_11_11>(v),
    }
}

/// The row dots of 4 tokens from their halves' accumulators: per 128-bit
/// lane, `avx2::legacy::hsum` of the 8 lanes `[a0, a1, b0, b1, a2, a3, b2,
/// b3]`, that is `((a0 + a2) + (b0 + b2)) + ((a1 + a3) + (b1 + b3))`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn hsum4(a: __m512, b: __m512) -> [f32; 4] {
    let pa = _mm512_add_ps(a, _mm512_permute_ps::<0b01_00_11_10>(a));
    let pb = _mm512_add_ps(b, _mm512_permute_ps::<0b01_00_11_10>(b));
    let s = _mm512_add_ps(pa, pb);
    let f = _mm512_add_ps(s, _mm512_permute_ps::<0b10_11_00_01>(s));
    let mut out = [0f32; 16];
    // SAFETY: `out` is 16 writable f32s; `storeu` has no alignment requirement.
    unsafe { _mm512_storeu_ps(out.as_mut_ptr(), f) };
    [out[0], out[4], out[8], out[12]]
}

/// `out[k] = f32(d of block k)` for blocks whose f16 scale is their first
/// field (exact).
// blocks: [len] -> out: [len] (cleared, refilled)
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn block_scales<B: bytemuck::Pod>(blocks: &[B], out: &mut Vec<f32>) {
    out.clear();
    out.reserve(blocks.len().next_multiple_of(16));
    for c in blocks.chunks(16) {
        let mut h = [0u16; 16];
        for (h, b) in h.iter_mut().zip(c) {
            let d = bytemuck::bytes_of(b);
            *h = u16::from_le_bytes([d[0], d[1]]);
        }
        // SAFETY: `h` is 32 readable bytes; `out` has room for 16 more
        // (reserved above), of which the first `c.len()` are kept.
        unsafe {
            let v = _mm512_cvtph_ps(_mm256_loadu_si256(h.as_ptr().cast()));
            let len = out.len();
            _mm512_storeu_ps(out.as_mut_ptr().add(len), v);
            out.set_len(len + c.len());
        }
    }
}

/// Per-thread buffers, reused (not cleared) from call to call: the packed
/// activations, the f32 weight scales of the current rows, and a
/// sub-chunk's accumulators and outputs.
struct Scratch {
    pack: Vec<Line>,
    scales: Vec<f32>,
    acc: Box<[Acc<RM>; SUB_ROWS / RM]>,
    one: Acc<1>,
    out: Box<[[f32; SUB_ROWS]; GROUP_TOKS]>,
}

impl Default for Scratch {
    fn default() -> Scratch {
        Scratch {
            pack: Vec::new(),
            scales: Vec::new(),
            // SAFETY: all-zero bits are valid `__m512` values.
            acc: Box::new(unsafe { std::mem::zeroed() }),
            // SAFETY: as above.
            one: unsafe { std::mem::zeroed() },
            out: Box::new([[0.0; SUB_ROWS]; GROUP_TOKS]),
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
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

/// Rows per tile (each against one group of 16 tokens).
const RM: usize = 2;
/// Rows whose accumulators wait in memory between block chunks.
const SUB_ROWS: usize = 64;
/// Blocks per chunk: a group's packed lines of `KB` blocks (26 KiB) stay
/// in L1, also in the 32 KiB of Zen 4 (Zen 5 has 48; 32 blocks, 35 KiB,
/// were faster there, 48 much slower). Longer chunks save the
/// accumulators' trips through memory between chunks.
const KB: usize = 24;

/// Accumulators of an M-row tile: `[quad][half][row]`.
type Acc<const M: usize> = [[[__m512; M]; 2]; 4];

/// Defines module `$m` with the quad tiles of a weight block type whose
/// `$halves` decoder lays out its quants as `$layout`, and `$m::gemm`, its
/// `GemmFn`.
macro_rules! quad_gemm {
    ($m:ident, $W:ty, $ty:ident, $halves:ident, $layout:expr) => {
        pub(super) mod $m {
            use super::*;

            /// The rows of a tile: their weight blocks and f32 scales from
            /// block 0.
            #[derive(Clone, Copy)]
            struct Rows<const M: usize> {
                w: [*const $W; M],
                d: [*const f32; M],
            }

            /// Adds block `i` of M rows x one token group into `acc`.
            ///
            /// # Safety
            /// Block `i` of every row and its scale, and lines
            /// `i * GROUP_LINES..(i + 1) * GROUP_LINES` of `pk`, are readable.
            // rows: M rows of blocks and scales, pk: the group's [nb][GROUP_LINES] lines
            #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
            #[inline]
            unsafe fn step<const M: usize>(
                rows: &Rows<M>,
                pk: *const Line,
                i: usize,
                acc: &mut Acc<M>,
            ) {
                let load = |k: usize| {
                    // SAFETY: the caller's lines, 64 aligned bytes each.
                    unsafe { _mm512_load_si512(pk.add(i * GROUP_LINES + k).cast()) }
                };
                let dy = _mm512_castsi512_ps(load(SCALES));
                let mut u = [[_mm512_setzero_si512(); 2]; M];
                let mut s = [_mm512_setzero_ps(); M];
                for r in 0..M {
                    // SAFETY: the caller's block and scale.
                    let (b, d) = unsafe { (&*rows.w[r].add(i), *rows.d[r].add(i)) };
                    u[r] = $halves(b);
                    let d = _mm512_set1_ps(d);
                    // d_w * d_a of 16 tokens: the row dot's f32 products
                    s[r] = _mm512_mul_ps(d, dy);
                }
                for q in 0..4 {
                    let sp: [__m512; M] = std::array::from_fn(|r| spread(s[r], q));
                    for h in 0..2 {
                        let (y, base) = (load(2 * q + h), load(BASE + 2 * q + h));
                        for r in 0..M {
                            let lanes = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(base, u[r][h], y));
                            acc[q][h][r] = _mm512_fmadd_ps(lanes, sp[r], acc[q][h][r]);
                        }
                    }
                }
            }

            /// Adds blocks `blocks` of M rows x one token group into `acc`
            /// (into zeros if `first`).
            ///
            /// # Safety
            /// As `step` for every block of `blocks`.
            #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
            #[inline]
            unsafe fn run_blocks<const M: usize>(
                rows: &Rows<M>,
                pk: *const Line,
                (blocks, first): (Range<usize>, bool),
                acc: &mut Acc<M>,
            ) {
                let mut a = if first {
                    [[[_mm512_setzero_ps(); M]; 2]; 4]
                } else {
                    *acc
                };
                for i in blocks {
                    // SAFETY: the caller's blocks.
                    unsafe { step(rows, pk, i, &mut a) };
                }
                *acc = a;
            }

            /// Puts the outputs of an M-row tile at row `r` of `out`
            /// (`out[t][r + k]`, token t of the group).
            #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
            fn finish<const M: usize>(
                acc: &Acc<M>,
                r: usize,
                out: &mut [[f32; SUB_ROWS]; GROUP_TOKS],
            ) {
                for (q, acc) in acc.iter().enumerate() {
                    for k in 0..M {
                        for (j, v) in hsum4(acc[0][k], acc[1][k]).into_iter().enumerate() {
                            out[4 * q + j][r + k] = v;
                        }
                    }
                }
            }

            /// Rows `r0..r0 + nr` (at most `SUB_ROWS`, scales `dw`) against
            /// token group `g`, the blocks in chunks of `KB` so that the
            /// group's packed lines of a chunk stay in L1 while every row
            /// goes by; accumulators wait in memory between chunks.
            // w: [rows * nb] blocks, dw: [nr][nb], pk: [groups][nb][GROUP_LINES] -> y[t * ys + r]
            #[allow(clippy::too_many_arguments)]
            #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
            fn sub_chunk(
                w: &[$W],
                dw: &[f32],
                pk: &[Line],
                (acc, one, out): (
                    &mut [Acc<RM>; SUB_ROWS / RM],
                    &mut Acc<1>,
                    &mut [[f32; SUB_ROWS]; GROUP_TOKS],
                ),
                nb: usize,
                (g, toks): (usize, usize),
                (r0, nr): (usize, usize),
                y: &mut [f32],
                ys: usize,
            ) {
                let pk = pk[g * nb * GROUP_LINES..][..nb * GROUP_LINES].as_ptr();
                assert!(w.len() >= (r0 + nr) * nb && dw.len() >= nr * nb && nr <= SUB_ROWS);
                // (pointers of tiles past `tiles` are never read)
                let tile = |r: usize| Rows::<RM> {
                    w: std::array::from_fn(|k| w.as_ptr().wrapping_add((r0 + r + k) * nb)),
                    d: std::array::from_fn(|k| dw.as_ptr().wrapping_add((r + k) * nb)),
                };
                let tiles = nr / RM;
                let rows: [Rows<RM>; SUB_ROWS / RM] = std::array::from_fn(|t| tile(t * RM));
                let last = Rows::<1> {
                    w: [w.as_ptr().wrapping_add((r0 + nr - 1) * nb)],
                    d: [dw.as_ptr().wrapping_add((nr - 1) * nb)],
                };
                for k0 in (0..nb).step_by(KB) {
                    let blocks = (k0..nb.min(k0 + KB), k0 == 0);
                    // SAFETY: blocks < nb of rows < r0 + nr (asserted) and
                    // of the group's nb * GROUP_LINES lines.
                    unsafe {
                        for (t, a) in rows[..tiles].iter().zip(acc.iter_mut()) {
                            run_blocks(t, pk, blocks.clone(), a);
                        }
                        if nr % RM != 0 {
                            run_blocks(&last, pk, blocks.clone(), one);
                        }
                    }
                }
                // outputs token by token, so each fills whole cache lines
                for (t, a) in acc[..tiles].iter().enumerate() {
                    finish(a, t * RM, out);
                }
                if nr % RM != 0 {
                    finish(one, nr - 1, out);
                }
                let t0 = g * GROUP_TOKS;
                for (t, o) in out.iter().enumerate().take(toks.saturating_sub(t0)) {
                    y[(t0 + t) * ys + r0..][..nr].copy_from_slice(&o[..nr]);
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
                SCRATCH.with_borrow_mut(|s| {
                    // SAFETY: these functions run only from `AVX512`'s gemm
                    // lookup, handed out after AVX-512 F/BW/VL/VNNI, AVX2,
                    // FMA and F16C were detected.
                    unsafe {
                        pack(at, nb, toks, $layout, &mut s.pack);
                        for r0 in (0..rows).step_by(SUB_ROWS) {
                            let nr = SUB_ROWS.min(rows - r0);
                            let rw = &wt[r0 * nb..(r0 + nr) * nb];
                            block_scales(rw, &mut s.scales);
                            for g in 0..groups(toks) {
                                let tmp = (&mut *s.acc, &mut s.one, &mut *s.out);
                                sub_chunk(
                                    wt,
                                    &s.scales,
                                    &s.pack,
                                    tmp,
                                    nb,
                                    (g, toks),
                                    (r0, nr),
                                    y,
                                    ys,
                                );
                            }
                        }
                    }
                });
            }
        }
    };
}

const Q4_0_LAYOUT: Layout = Layout { off: 8 };
const Q5_0_LAYOUT: Layout = Layout { off: 16 };
const Q8_0_LAYOUT: Layout = Layout { off: 128 };

quad_gemm!(q8_0, BlockQ8_0, Q8_0, halves_q8_0, Q8_0_LAYOUT);
quad_gemm!(q4_0, BlockQ4_0, Q4_0, halves_q4_0, Q4_0_LAYOUT);
quad_gemm!(q5_0, BlockQ5_0, Q5_0, halves_q5_0, Q5_0_LAYOUT);

#[cfg(test)]
#[path = "gemm_legacy_tests.rs"]
mod tests;
