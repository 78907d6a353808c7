//! AVX-512 + VNNI kernels of the legacy block types: Q4_0, Q5_0, Q8_0
//! weights against Q8_0 activations, Q4_1, Q5_1 weights against Q8_1.
//!
//! Two blocks per 512-bit register (block 0 in the low 256 bits, block 1 in
//! the high ones) and `vpdpbusd` (unsigned x signed bytes, four products
//! summed into each i32 lane) for the integer dots:
//! - Q4_0 / Q5_0 quants are stored unsigned with an offset (q - 8, q - 16):
//!   `dpbusd(q, y) - dpbusd(offset, y)`;
//! - Q8_0 weights are signed: `dpbusd(x ^ 0x80, y) - dpbusd(128, y)` (x + 128
//!   is unsigned), exact for every byte value, -128 included;
//! - Q4_1 / Q5_1 quants are unsigned already; their min term `m * s` comes
//!   from the Q8_1 block sum, as in the reference.
//!
//! Block sums are exact i32; they are scaled by `dx * dy` in f32 (the
//! reference's products), so results equal the scalar reference up to the
//! order of the f32 additions. An odd last block runs as a pair with itself
//! whose second scale is zero.

use std::arch::x86_64::*;

use crate::blocks::{BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, BlockQ8_1, QK};

/// The 32-bit word of two f16 fields (`d` and `m` or `s`, or `d` and 0).
#[inline(always)]
fn word(a: half::f16, b: half::f16) -> i32 {
    (a.to_bits() as u32 | (b.to_bits() as u32) << 16) as i32
}

/// Scales of a block pair from the f16 words `[dx, mx]`, `[dy, sy]` of each
/// block: 16 lanes `[dx0 * dy0; 8 | dx1 * dy1; 8]`, and 8 lanes holding
/// `mx0 * sy0` in lane 1 and `mx1 * sy1` in lane 5 (the min terms).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn pair_scales(x0: i32, y0: i32, x1: i32, y1: i32) -> (__m512, __m256) {
    // [dx0, mx0, dy0, sy0, dx1, mx1, dy1, sy1]
    let v = _mm256_cvtph_ps(_mm_setr_epi32(x0, y0, x1, y1));
    // lane 0: dx0 * dy0, lane 1: mx0 * sy0, lane 4: dx1 * dy1, lane 5: mx1 * sy1
    let p = _mm256_mul_ps(v, _mm256_permute_ps::<0b01_00_11_10>(v));
    let pick = _mm512_inserti64x4::<1>(_mm512_setzero_si512(), _mm256_set1_epi32(4));
    let d = _mm512_permutexvar_ps(pick, _mm512_castps256_ps512(p));
    (d, p)
}

/// The quants of two blocks: `a` in the low 256 bits, `b` in the high.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn load_pair(a: &[i8; QK], b: &[i8; QK]) -> __m512i {
    // SAFETY: `a` and `b` are 32 readable bytes each; `loadu` needs no alignment.
    let (lo, hi) = unsafe {
        (
            _mm256_loadu_si256(a.as_ptr().cast()),
            _mm256_loadu_si256(b.as_ptr().cast()),
        )
    };
    _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi)
}

/// The nibbles of two blocks, one per byte in element order: `[a low
/// nibbles (elements 0..16), a high (16..32), b low, b high]`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn nibble_pair(a: &[u8; QK / 2], b: &[u8; QK / 2]) -> __m512i {
    // SAFETY: `a` and `b` are 16 readable bytes each; `loadu` needs no alignment.
    let (ta, tb) = unsafe {
        (
            _mm_loadu_si128(a.as_ptr().cast()),
            _mm_loadu_si128(b.as_ptr().cast()),
        )
    };
    let twice = _mm512_inserti64x4::<1>(
        _mm512_castsi256_si512(_mm256_set_m128i(ta, ta)),
        _mm256_set_m128i(tb, tb),
    );
    // 128-bit lanes 1 and 3 (16-bit elements 8..16, 24..32) take the high nibbles.
    let shifted = _mm512_mask_srli_epi16::<4>(twice, 0xFF00_FF00, twice);
    _mm512_and_si512(shifted, _mm512_set1_epi8(0x0F))
}

/// `sum(u * s) - sum(offset * s)` per group of four bytes (i32 lanes).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn dot_offset(u: __m512i, s: __m512i, offset: i8) -> __m512i {
    let zero = _mm512_setzero_si512();
    let all = _mm512_dpbusd_epi32(zero, u, s);
    let off = _mm512_dpbusd_epi32(zero, _mm512_set1_epi8(offset), s);
    _mm512_sub_epi32(all, off)
}

/// Sums the pair kernel `$pair(x0, y0, x1, y1) -> (i32 lanes, scales, mins)`
/// over all blocks: `sum(lanes * scales) + mins[1] + mins[5]`.
macro_rules! sum_pairs {
    ($x:expr, $y:expr, $pair:ident) => {{
        let (x, y) = ($x, $y);
        debug_assert_eq!(x.len(), y.len());
        let mut acc = _mm512_setzero_ps();
        let mut mins = _mm256_setzero_ps();
        let mut xs = x.chunks_exact(2);
        let mut ys = y.chunks_exact(2);
        for (bx, by) in (&mut xs).zip(&mut ys) {
            let (l, d, m) = $pair(&bx[0], &by[0], &bx[1], &by[1]);
            acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(l), d, acc);
            mins = _mm256_add_ps(mins, m);
        }
        if let (Some(bx), Some(by)) = (xs.remainder().first(), ys.remainder().first()) {
            // The last block with itself; the copy's scales are zeroed.
            let (l, d, m) = $pair(bx, by, bx, by);
            let d = _mm512_maskz_mov_ps(0x00FF, d);
            acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(l), d, acc);
            mins = _mm256_add_ps(mins, _mm256_maskz_mov_ps(0x0F, m));
        }
        // mins lanes 1 and 5
        let m = _mm_add_ps(
            _mm256_castps256_ps128(mins),
            _mm256_extractf128_ps::<1>(mins),
        );
        _mm512_reduce_add_ps(acc) + _mm_cvtss_f32(_mm_movehdup_ps(m))
    }};
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn pair_q8_0(
    x0: &BlockQ8_0,
    y0: &BlockQ8_0,
    x1: &BlockQ8_0,
    y1: &BlockQ8_0,
) -> (__m512i, __m512, __m256) {
    let z = half::f16::ZERO;
    let (d, m) = pair_scales(word(x0.d, z), word(y0.d, z), word(x1.d, z), word(y1.d, z));
    let ux = _mm512_xor_si512(load_pair(&x0.qs, &x1.qs), _mm512_set1_epi8(-128));
    let l = dot_offset(ux, load_pair(&y0.qs, &y1.qs), -128);
    (l, d, m)
}

/// x: [nb] Q8_0 blocks (one weight row), y: [nb] Q8_0 blocks (the activation) -> dot product
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) unsafe fn vec_dot_q8_0_q8_0(x: &[BlockQ8_0], y: &[BlockQ8_0]) -> f32 {
    sum_pairs!(x, y, pair_q8_0)
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn pair_q4_0(
    x0: &BlockQ4_0,
    y0: &BlockQ8_0,
    x1: &BlockQ4_0,
    y1: &BlockQ8_0,
) -> (__m512i, __m512, __m256) {
    let z = half::f16::ZERO;
    let (d, m) = pair_scales(word(x0.d, z), word(y0.d, z), word(x1.d, z), word(y1.d, z));
    let l = dot_offset(nibble_pair(&x0.qs, &x1.qs), load_pair(&y0.qs, &y1.qs), 8);
    (l, d, m)
}

/// x: [nb] Q4_0 blocks (one weight row), y: [nb] Q8_0 blocks (the activation) -> dot product
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) unsafe fn vec_dot_q4_0_q8_0(x: &[BlockQ4_0], y: &[BlockQ8_0]) -> f32 {
    sum_pairs!(x, y, pair_q4_0)
}

/// The 32 fifth bits of two blocks as a byte mask in `nibble_pair` order
/// (bit j of `qh` is element j).
#[inline(always)]
fn fifth_bits(a: [u8; 4], b: [u8; 4]) -> __mmask64 {
    u32::from_le_bytes(a) as u64 | (u32::from_le_bytes(b) as u64) << 32
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn pair_q5_0(
    x0: &BlockQ5_0,
    y0: &BlockQ8_0,
    x1: &BlockQ5_0,
    y1: &BlockQ8_0,
) -> (__m512i, __m512, __m256) {
    let z = half::f16::ZERO;
    let (d, m) = pair_scales(word(x0.d, z), word(y0.d, z), word(x1.d, z), word(y1.d, z));
    let q = nibble_pair(&x0.qs, &x1.qs);
    let q = _mm512_mask_add_epi8(q, fifth_bits(x0.qh, x1.qh), q, _mm512_set1_epi8(16));
    let l = dot_offset(q, load_pair(&y0.qs, &y1.qs), 16);
    (l, d, m)
}

/// x: [nb] Q5_0 blocks (one weight row), y: [nb] Q8_0 blocks (the activation) -> dot product
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) unsafe fn vec_dot_q5_0_q8_0(x: &[BlockQ5_0], y: &[BlockQ8_0]) -> f32 {
    sum_pairs!(x, y, pair_q5_0)
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn pair_q4_1(
    x0: &BlockQ4_1,
    y0: &BlockQ8_1,
    x1: &BlockQ4_1,
    y1: &BlockQ8_1,
) -> (__m512i, __m512, __m256) {
    let (d, m) = pair_scales(
        word(x0.d, x0.m),
        word(y0.d, y0.s),
        word(x1.d, x1.m),
        word(y1.d, y1.s),
    );
    let q = nibble_pair(&x0.qs, &x1.qs);
    let l = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, load_pair(&y0.qs, &y1.qs));
    (l, d, m)
}

/// x: [nb] Q4_1 blocks (one weight row), y: [nb] Q8_1 blocks (the activation) -> dot product
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) unsafe fn vec_dot_q4_1_q8_1(x: &[BlockQ4_1], y: &[BlockQ8_1]) -> f32 {
    sum_pairs!(x, y, pair_q4_1)
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn pair_q5_1(
    x0: &BlockQ5_1,
    y0: &BlockQ8_1,
    x1: &BlockQ5_1,
    y1: &BlockQ8_1,
) -> (__m512i, __m512, __m256) {
    let (d, m) = pair_scales(
        word(x0.d, x0.m),
        word(y0.d, y0.s),
        word(x1.d, x1.m),
        word(y1.d, y1.s),
    );
    let q = nibble_pair(&x0.qs, &x1.qs);
    let q = _mm512_mask_add_epi8(q, fifth_bits(x0.qh, x1.qh), q, _mm512_set1_epi8(16));
    let l = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, load_pair(&y0.qs, &y1.qs));
    (l, d, m)
}

/// x: [nb] Q5_1 blocks (one weight row), y: [nb] Q8_1 blocks (the activation) -> dot product
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) unsafe fn vec_dot_q5_1_q8_1(x: &[BlockQ5_1], y: &[BlockQ8_1]) -> f32 {
    sum_pairs!(x, y, pair_q5_1)
}
