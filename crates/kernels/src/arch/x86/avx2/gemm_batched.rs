//! AVX2 tile kernels in llama.cpp's batched k-quant order
//! (`quant::batched`): Q4_K, Q5_K, Q6_K against Q8_K activations.
//!
//! The integer work is `gemm_kquant`'s (each weight super-block unpacked
//! once per tile, `madd(maddubs(q, a), scale)` per 32-byte chunk, exact i32
//! lanes). Where the row-dot order keeps eight float lanes per output, this
//! order sums the lanes to the block's exact `s1` (and `s2` from the mins
//! and the activation's `bsums`) and folds the block into one f32 per
//! output with `quant::batched::fold`, so a tile equals
//! `quant::batched::dot` bit for bit.

use std::arch::x86_64::*;

use super::gemm::Tiles;
use super::gemm_kquant::{chunk_sums, unpack_k4, unpack_q4_k, unpack_q6_k, Unpacked};
use super::kquant::{hsum_epi32x4, load_bsums, load_u8x32};
use crate::blocks::{BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K};
use crate::quant::batched::{fold, KSums};

/// Sum of the 8 i32 lanes (exact).
#[inline]
#[target_feature(enable = "avx2")]
fn hsum_epi32(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    hsum_epi32x4(s)
}

/// Σ_j m[j] · (bsums[2j] + bsums[2j+1]): the min integer of Q4_K / Q5_K,
/// with the mins as i16 in the low 128-bit lane of `mins`.
#[inline]
#[target_feature(enable = "avx2")]
fn min_sum(mins: __m256i, by: &BlockQ8K) -> i32 {
    let bs = load_bsums(&by.bsums);
    let pairs = _mm_hadd_epi16(
        _mm256_castsi256_si128(bs),
        _mm256_extracti128_si256::<1>(bs),
    );
    hsum_epi32x4(_mm_madd_epi16(_mm256_castsi256_si128(mins), pairs))
}

/// Lane r = the sum of `v[r]`'s 8 lanes, for 8 vectors at once (exact).
#[inline]
#[target_feature(enable = "avx2")]
fn hsum8_epi32(v: &[__m256i; 8]) -> __m256i {
    let a01 = _mm256_hadd_epi32(v[0], v[1]);
    let a23 = _mm256_hadd_epi32(v[2], v[3]);
    let a45 = _mm256_hadd_epi32(v[4], v[5]);
    let a67 = _mm256_hadd_epi32(v[6], v[7]);
    // per 128-bit half: [v0, v1, v2, v3] (and v4..v7) partial sums
    let b0 = _mm256_hadd_epi32(a01, a23);
    let b1 = _mm256_hadd_epi32(a45, a67);
    _mm256_add_epi32(
        _mm256_permute2x128_si256::<0x20>(b0, b1),
        _mm256_permute2x128_si256::<0x31>(b0, b1),
    )
}

/// Lane r = the sum of `v[r]`'s 4 lanes, for 8 vectors at once (exact).
#[inline]
#[target_feature(enable = "avx2")]
fn hsum8_epi32x4(v: &[__m128i; 8]) -> __m256i {
    let lo = _mm_hadd_epi32(_mm_hadd_epi32(v[0], v[1]), _mm_hadd_epi32(v[2], v[3]));
    let hi = _mm_hadd_epi32(_mm_hadd_epi32(v[4], v[5]), _mm_hadd_epi32(v[6], v[7]));
    _mm256_set_m128i(hi, lo)
}

/// `batched::fold` of 8 outputs at once, lane r for row r: `s1·d`, then
/// `fma(−dmin, s2, ·)`, then `fma(·, d_a, y)`, each rounded as the scalar.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn fold8(y: __m256, s1: __m256i, s2: __m256i, d: __m256, dmin: __m256, d_a: f32) -> __m256 {
    let r = _mm256_mul_ps(_mm256_cvtepi32_ps(s1), d);
    let r = _mm256_fnmadd_ps(dmin, _mm256_cvtepi32_ps(s2), r);
    _mm256_fmadd_ps(r, _mm256_set1_ps(d_a), y)
}

/// `tile_with_mins` for a panel of 8 rows: the same exact integer sums,
/// summed across lanes for all 8 rows at once, and `batched::fold` with the
/// rows in lanes. Each output equals `quant::batched::dot` bit for bit.
// w: 8 rows of nb blocks, a: N rows of nb Q8_K blocks -> out: [N][8]
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn tile8_with_mins<B, const N: usize>(
    w: &[&[B]; 8],
    a: &[&[BlockQ8K]; N],
    unpack: impl Fn(&B) -> Unpacked,
) -> [[f32; 8]; N] {
    let nb = w.first().map_or(0, |r| r.len());
    let mut acc = [_mm256_setzero_ps(); N];
    for i in 0..nb {
        let u: [Unpacked; 8] = std::array::from_fn(|r| unpack(&w[r][i]));
        let d = _mm256_setr_ps(
            u[0].d, u[1].d, u[2].d, u[3].d, u[4].d, u[5].d, u[6].d, u[7].d,
        );
        let dmin = _mm256_setr_ps(
            u[0].dmin, u[1].dmin, u[2].dmin, u[3].dmin, u[4].dmin, u[5].dmin, u[6].dmin, u[7].dmin,
        );
        for (t, y) in acc.iter_mut().enumerate() {
            let by = &a[t][i];
            let bs = load_bsums(&by.bsums);
            let pairs = _mm_hadd_epi16(
                _mm256_castsi256_si128(bs),
                _mm256_extracti128_si256::<1>(bs),
            );
            let s1 = hsum8_epi32(&chunk_sums(&u, by));
            let mins: [__m128i; 8] =
                std::array::from_fn(|r| _mm_madd_epi16(_mm256_castsi256_si128(u[r].extra), pairs));
            *y = fold8(*y, s1, hsum8_epi32x4(&mins), d, dmin, by.d);
        }
    }
    let mut out = [[0f32; 8]; N];
    for (o, y) in out.iter_mut().zip(acc) {
        // SAFETY: `o` is 8 writable f32s; `storeu` has no alignment requirement.
        unsafe { _mm256_storeu_ps(o.as_mut_ptr(), y) }
    }
    out
}

/// `tile_q6_k` for a panel of 8 rows (see `tile8_with_mins`).
// w: 8 rows of nb Q6_K blocks, a: N rows of nb Q8_K blocks -> out: [N][8]
#[target_feature(enable = "avx2,fma,f16c")]
fn tile8_q6_k<const N: usize>(w: &[&[BlockQ6K]; 8], a: &[&[BlockQ8K]; N]) -> [[f32; 8]; N] {
    let nb = w.first().map_or(0, |r| r.len());
    let mut acc = [_mm256_setzero_ps(); N];
    for i in 0..nb {
        let u: [Unpacked; 8] = std::array::from_fn(|r| unpack_q6_k(&w[r][i]));
        let d = _mm256_setr_ps(
            u[0].d, u[1].d, u[2].d, u[3].d, u[4].d, u[5].d, u[6].d, u[7].d,
        );
        let zero_f = _mm256_setzero_ps();
        for (t, y) in acc.iter_mut().enumerate() {
            let by = &a[t][i];
            let bs = load_bsums(&by.bsums);
            let sumi = chunk_sums(&u, by);
            // Σ (q - 32)·a·sc = Σ q·a·sc - 32 · Σ_j sc[j]·bsums[j]
            let v: [__m256i; 8] = std::array::from_fn(|r| {
                let offset = _mm256_slli_epi32::<5>(_mm256_madd_epi16(u[r].extra, bs));
                _mm256_sub_epi32(sumi[r], offset)
            });
            *y = fold8(*y, hsum8_epi32(&v), _mm256_setzero_si256(), d, zero_f, by.d);
        }
    }
    let mut out = [[0f32; 8]; N];
    for (o, y) in out.iter_mut().zip(acc) {
        // SAFETY: `o` is 8 writable f32s; `storeu` has no alignment requirement.
        unsafe { _mm256_storeu_ps(o.as_mut_ptr(), y) }
    }
    out
}

/// The tile of `w` x `a`: the 8-row panel kernel `panel` when M is 8, else
/// `general`.
#[inline]
fn tile_or_panel<B, const M: usize, const N: usize>(
    w: &[&[B]; M],
    a: &[&[BlockQ8K]; N],
    panel: impl Fn(&[&[B]; 8], &[&[BlockQ8K]; N]) -> [[f32; 8]; N],
    general: impl Fn(&[&[B]; M], &[&[BlockQ8K]; N]) -> [[f32; M]; N],
) -> [[f32; M]; N] {
    match <&[&[B]; 8]>::try_from(w.as_slice()) {
        Ok(w8) => {
            let o8 = panel(w8, a);
            std::array::from_fn(|t| std::array::from_fn(|r| o8[t][r]))
        }
        Err(_) => general(w, a),
    }
}

/// out[t][r] = batched::dot(w[r], a[t]) for an M x N tile of a type with
/// mins (Q4_K, Q5_K) unpacked by `unpack`.
// w: M rows of nb blocks, a: N rows of nb Q8_K blocks -> out: [N][M]
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn tile_with_mins<B, const M: usize, const N: usize>(
    w: &[&[B]; M],
    a: &[&[BlockQ8K]; N],
    unpack: impl Fn(&B) -> Unpacked,
) -> [[f32; M]; N] {
    let nb = w.first().map_or(0, |r| r.len());
    let mut out = [[0f32; M]; N];
    for i in 0..nb {
        let u: [Unpacked; M] = std::array::from_fn(|r| unpack(&w[r][i]));
        for t in 0..N {
            let by = &a[t][i];
            let sumi = chunk_sums(&u, by);
            for r in 0..M {
                let k = KSums {
                    s1: hsum_epi32(sumi[r]),
                    s2: min_sum(u[r].extra, by),
                    d: u[r].d,
                    dmin: u[r].dmin,
                };
                out[t][r] = fold(out[t][r], k, by.d);
            }
        }
    }
    out
}

/// A Q5_K block unpacked like `unpack_q4_k` plus the fifth bits
/// (`qh[l]` bit `e / 32` of element `e`, l = e % 32): quants in 0..32.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn unpack_q5_k(bx: &BlockQ5K) -> Unpacked {
    let b4 = _mm256_set1_epi8(16);
    let qh = load_u8x32(&bx.qh);
    let mut u = unpack_k4(&bx.scales, &bx.qs, bx.d, bx.dmin);
    for (j, q) in u.q.iter_mut().enumerate() {
        let m = _mm256_set1_epi8((1u8 << j) as i8);
        let fifth = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, m), m), b4);
        *q = _mm256_or_si256(*q, fifth);
    }
    u
}

/// out[t][r] = batched::dot(w[r], a[t]) for an M x N tile of Q6_K x Q8_K.
// w: M rows of nb Q6_K blocks, a: N rows of nb Q8_K blocks -> out: [N][M]
#[target_feature(enable = "avx2,fma,f16c")]
fn tile_q6_k<const M: usize, const N: usize>(
    w: &[&[BlockQ6K]; M],
    a: &[&[BlockQ8K]; N],
) -> [[f32; M]; N] {
    let nb = w.first().map_or(0, |r| r.len());
    let mut out = [[0f32; M]; N];
    for i in 0..nb {
        let u: [Unpacked; M] = std::array::from_fn(|r| unpack_q6_k(&w[r][i]));
        for t in 0..N {
            let by = &a[t][i];
            let bs = load_bsums(&by.bsums);
            let sumi = chunk_sums(&u, by);
            for r in 0..M {
                // Σ (q - 32)·a·sc = Σ q·a·sc - 32 · Σ_j sc[j]·bsums[j]
                let offset = _mm256_slli_epi32::<5>(_mm256_madd_epi16(u[r].extra, bs));
                let k = KSums {
                    s1: hsum_epi32(_mm256_sub_epi32(sumi[r], offset)),
                    s2: 0,
                    d: u[r].d,
                    dmin: 0.0,
                };
                out[t][r] = fold(out[t][r], k, by.d);
            }
        }
    }
    out
}

/// Q4_K weights x Q8_K activations, batched order.
pub(super) struct Q4KBatched;

impl Tiles for Q4KBatched {
    type W = BlockQ4K;
    type A = BlockQ8K;
    const BATCHED: bool = true;
    fn tile<const M: usize, const N: usize>(
        w: &[&[BlockQ4K]; M],
        a: &[&[BlockQ8K]; N],
    ) -> [[f32; M]; N] {
        // SAFETY: `Tiles` kernels run only from the `AVX2` table's gemm
        // functions, handed out after AVX2, FMA and F16C were detected.
        tile_or_panel(
            w,
            a,
            |w, a| unsafe { tile8_with_mins(w, a, |b| unpack_q4_k(b)) },
            |w, a| unsafe { tile_with_mins(w, a, |b| unpack_q4_k(b)) },
        )
    }
}

/// Q5_K weights x Q8_K activations, batched order.
pub(super) struct Q5KBatched;

impl Tiles for Q5KBatched {
    type W = BlockQ5K;
    type A = BlockQ8K;
    const BATCHED: bool = true;
    fn tile<const M: usize, const N: usize>(
        w: &[&[BlockQ5K]; M],
        a: &[&[BlockQ8K]; N],
    ) -> [[f32; M]; N] {
        // SAFETY: as `Q4KBatched::tile`.
        tile_or_panel(
            w,
            a,
            |w, a| unsafe { tile8_with_mins(w, a, |b| unpack_q5_k(b)) },
            |w, a| unsafe { tile_with_mins(w, a, |b| unpack_q5_k(b)) },
        )
    }
}

/// Q6_K weights x Q8_K activations, batched order.
pub(super) struct Q6KBatched;

impl Tiles for Q6KBatched {
    type W = BlockQ6K;
    type A = BlockQ8K;
    const BATCHED: bool = true;
    fn tile<const M: usize, const N: usize>(
        w: &[&[BlockQ6K]; M],
        a: &[&[BlockQ8K]; N],
    ) -> [[f32; M]; N] {
        // SAFETY: as `Q4KBatched::tile`.
        tile_or_panel(
            w,
            a,
            |w, a| unsafe { tile8_q6_k(w, a) },
            |w, a| unsafe { tile_q6_k(w, a) },
        )
    }
}
