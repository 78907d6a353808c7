//! AVX2 kernels of the legacy block types: Q4_0, Q5_0, Q8_0 weights against
//! Q8_0 activations, Q4_1, Q5_1 weights against Q8_1 activations, and the
//! Q8_0 / Q8_1 activation quantizers.
//!
//! Integer dots use the `maddubs` trick: `|x| * (y with x's sign)` turns a
//! signed x signed byte product into the unsigned x signed one `vpmaddubsw`
//! computes (pairs summed to i16, then `vpmaddwd` with ones sums to i32).
//! Pairs cannot saturate: |x| <= 128 and |y| <= 127. (Activations come from
//! the quantizers, which write -128 only when absmax < ~4e-37 makes 1 / d
//! overflow; such a block can then be off, as it is garbage in the
//! reference already.) Block sums are scaled in f32, so results equal the
//! scalar reference up to summation order.
//!
//! The quantizers reproduce `quant::q8_0::quantize` / `quant::q8_1::quantize`
//! byte for byte (d = absmax / 127, q = round(x / d) with ties away from
//! zero, NaN -> 0, saturating like `as i8`), so every ISA quantizes
//! activations identically. (ggml's own AVX2 `quantize_row_q8_0` rounds ties
//! to even and multiplies by 127 / absmax; we follow the scalar reference.)

use std::arch::x86_64::*;

use crate::blocks::{BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, BlockQ8_1, QK};
use half::f16;

/// Horizontal sum of 8 f32 lanes.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
pub(in crate::arch::x86) fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

/// Horizontal max of 8 f32 lanes (none NaN).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn hmax(v: __m256) -> f32 {
    let s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_max_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

/// Four f16 values widened to f32 lanes 0..4 (F16C).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn f16x4(a: f16, b: f16, c: f16, d: f16) -> __m128 {
    let lo = a.to_bits() as u64 | (b.to_bits() as u64) << 16;
    let hi = (c.to_bits() as u64) << 32 | (d.to_bits() as u64) << 48;
    _mm_cvtph_ps(_mm_cvtsi64_si128((lo | hi) as i64))
}

/// `a * b` of two f16 scales, broadcast to 8 lanes.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn scale2(a: f16, b: f16) -> __m256 {
    let v = f16x4(a, b, f16::ZERO, f16::ZERO);
    _mm256_broadcastss_ps(_mm_mul_ss(v, _mm_movehdup_ps(v)))
}

/// The 32 quants of a Q8 block.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
pub(in crate::arch::x86) fn load32(qs: &[i8; QK]) -> __m256i {
    // SAFETY: `qs` is 32 readable bytes; `loadu` has no alignment requirement.
    unsafe { _mm256_loadu_si256(qs.as_ptr().cast()) }
}

/// 16 bytes of packed nibbles -> 32 bytes: low nibbles (elements 0..16)
/// then high nibbles (elements 16..32), each in 0..16.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
pub(in crate::arch::x86) fn nibbles(qs: &[u8; QK / 2]) -> __m256i {
    // SAFETY: `qs` is 16 readable bytes; `loadu` has no alignment requirement.
    let t = unsafe { _mm_loadu_si128(qs.as_ptr().cast()) };
    let both = _mm256_set_m128i(_mm_srli_epi16::<4>(t), t);
    _mm256_and_si256(both, _mm256_set1_epi8(0x0f))
}

/// Bit j of `bits` -> byte j: 0xff if set, 0 if clear.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
pub(super) fn bytes_from_bits(bits: u32) -> __m256i {
    // Byte j takes source byte j / 8 of the broadcast word ...
    let pick = _mm256_set_epi64x(
        0x0303_0303_0303_0303,
        0x0202_0202_0202_0202,
        0x0101_0101_0101_0101,
        0,
    );
    let spread = _mm256_shuffle_epi8(_mm256_set1_epi32(bits as i32), pick);
    // ... and sets every bit except bit j % 8: all ones iff that bit was set.
    let others = _mm256_set1_epi64x(0x7fbf_dfef_f7fb_fdfe);
    _mm256_cmpeq_epi8(_mm256_or_si256(spread, others), _mm256_set1_epi64x(-1))
}

/// Unsigned x signed bytes -> 8 i32 lane sums (as f32) of 4 products each.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn dot_u8_i8(u: __m256i, s: __m256i) -> __m256 {
    let p16 = _mm256_maddubs_epi16(u, s);
    _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)))
}

/// Signed x signed bytes (y != -128) -> 8 i32 lane sums (as f32).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn dot_i8_i8(x: __m256i, y: __m256i) -> __m256 {
    dot_u8_i8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x))
}

/// Accumulators of `sum_blocks!` (the tile kernels of `gemm_legacy` follow).
pub(super) const ACCUMULATORS: usize = 1;

/// Sums `scale * lanes` over all block pairs into one accumulator, block
/// after block, then `hsum`: exactly llama.cpp's order (x86
/// `ggml_vec_dot_q{4,5,8}_0_q8_0` and llamafile's `tinyBLAS_Q0_AVX`, which
/// it uses for batches), so outputs are bit-identical to llama.cpp's.
/// `$block(&x, &y)` returns `(lanes, scale)`.
macro_rules! sum_blocks {
    ($x:expr, $y:expr, $block:ident) => {{
        let (x, y) = ($x, $y);
        debug_assert_eq!(x.len(), y.len());
        let mut acc = _mm256_setzero_ps();
        for (bx, by) in x.iter().zip(y) {
            let (l, d) = $block(bx, by);
            acc = _mm256_fmadd_ps(l, d, acc);
        }
        hsum(acc)
    }};
}

#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn block_q8_0(x: &BlockQ8_0, y: &BlockQ8_0) -> (__m256, __m256) {
    (dot_i8_i8(load32(&x.qs), load32(&y.qs)), scale2(x.d, y.d))
}

/// x: [nb] Q8_0 blocks (one weight row), y: [nb] Q8_0 blocks (the activation) -> dot product
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn vec_dot_q8_0_q8_0(x: &[BlockQ8_0], y: &[BlockQ8_0]) -> f32 {
    sum_blocks!(x, y, block_q8_0)
}

#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn block_q4_0(x: &BlockQ4_0, y: &BlockQ8_0) -> (__m256, __m256) {
    let qx = _mm256_sub_epi8(nibbles(&x.qs), _mm256_set1_epi8(8));
    (dot_i8_i8(qx, load32(&y.qs)), scale2(x.d, y.d))
}

/// x: [nb] Q4_0 blocks (one weight row), y: [nb] Q8_0 blocks (the activation) -> dot product
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn vec_dot_q4_0_q8_0(x: &[BlockQ4_0], y: &[BlockQ8_0]) -> f32 {
    sum_blocks!(x, y, block_q4_0)
}

#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn block_q5_0(x: &BlockQ5_0, y: &BlockQ8_0) -> (__m256, __m256) {
    // q - 16 as a byte: nibble | 0xf0 (= nibble - 16) where the fifth bit
    // is clear, the nibble alone where it is set.
    let clear = _mm256_andnot_si256(
        bytes_from_bits(u32::from_le_bytes(x.qh)),
        _mm256_set1_epi8(0xf0u8 as i8),
    );
    let qx = _mm256_or_si256(nibbles(&x.qs), clear);
    (dot_i8_i8(qx, load32(&y.qs)), scale2(x.d, y.d))
}

/// x: [nb] Q5_0 blocks (one weight row), y: [nb] Q8_0 blocks (the activation) -> dot product
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn vec_dot_q5_0_q8_0(x: &[BlockQ5_0], y: &[BlockQ8_0]) -> f32 {
    sum_blocks!(x, y, block_q5_0)
}

/// `$name(x, y)`: the dots of 4 weight rows with one activation row,
/// block after block with one accumulator per row; each row takes the row
/// dot's steps (`sum_blocks!` with `$block`), so each result equals it bit
/// for bit (`avx2::rows`, the quarters decode kernels the calibration may
/// choose: four independent accumulation chains).
macro_rules! rows4 {
    ($name:ident, $w:ty, $block:ident) => {
        // x: 4 rows of [nb] blocks, y: [nb] Q8_0 blocks -> [4]
        #[target_feature(enable = "avx2,fma,f16c")]
        pub(in crate::arch::x86) fn $name(x: [&[$w]; 4], y: &[BlockQ8_0]) -> [f32; 4] {
            let nb = y.len();
            let x = x.map(|r| &r[..nb]);
            let mut acc = [_mm256_setzero_ps(); 4];
            for (i, by) in y.iter().enumerate() {
                for (a, row) in acc.iter_mut().zip(&x) {
                    let (l, d) = $block(&row[i], by);
                    *a = _mm256_fmadd_ps(l, d, *a);
                }
            }
            [hsum(acc[0]), hsum(acc[1]), hsum(acc[2]), hsum(acc[3])]
        }
    };
}

rows4!(rows4_q4_0, BlockQ4_0, block_q4_0);
rows4!(rows4_q5_0, BlockQ5_0, block_q5_0);
rows4!(rows4_q8_0, BlockQ8_0, block_q8_0);

/// Sums `dx * dy * sum(qx * qy) + m * s` over the blocks in llama.cpp's x86
/// order (`ggml_vec_dot_q{4,5}_1_q8_1`): the lanes into one accumulator with
/// `fma(lanes, dx * dy, acc)`, the mins into a scalar with `fma(m, s, mins)`
/// (GCC contracts ggml's `summs += m * s`; the product of two f16 values is
/// exact in f32, so an unfused multiply and add would give the same), then
/// `hsum(acc) + mins`. `quants(x)` gives the unsigned weight quants.
macro_rules! sum_blocks_q8_1 {
    ($x:expr, $y:expr, $quants:ident) => {{
        let (x, y) = ($x, $y);
        debug_assert_eq!(x.len(), y.len());
        let mut acc = _mm256_setzero_ps();
        let mut mins = _mm_setzero_ps();
        for (bx, by) in x.iter().zip(y) {
            // v = [dx, m, dy, s], hi = [dy, s, ..]
            let v = f16x4(bx.d, bx.m, by.d, by.s);
            let hi = _mm_movehl_ps(v, v);
            mins = _mm_fmadd_ss(_mm_movehdup_ps(v), _mm_movehdup_ps(hi), mins);
            let lanes = dot_u8_i8($quants(bx), load32(&by.qs));
            let d = _mm256_broadcastss_ps(_mm_mul_ss(v, hi));
            acc = _mm256_fmadd_ps(lanes, d, acc);
        }
        hsum(acc) + _mm_cvtss_f32(mins)
    }};
}

#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn quants_q4_1(x: &BlockQ4_1) -> __m256i {
    nibbles(&x.qs)
}

/// x: [nb] Q4_1 blocks (one weight row), y: [nb] Q8_1 blocks (the activation) -> dot product
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn vec_dot_q4_1_q8_1(x: &[BlockQ4_1], y: &[BlockQ8_1]) -> f32 {
    sum_blocks_q8_1!(x, y, quants_q4_1)
}

#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn quants_q5_1(x: &BlockQ5_1) -> __m256i {
    let high = _mm256_and_si256(
        bytes_from_bits(u32::from_le_bytes(x.qh)),
        _mm256_set1_epi8(0x10),
    );
    _mm256_or_si256(nibbles(&x.qs), high)
}

/// x: [nb] Q5_1 blocks (one weight row), y: [nb] Q8_1 blocks (the activation) -> dot product
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn vec_dot_q5_1_q8_1(x: &[BlockQ5_1], y: &[BlockQ8_1]) -> f32 {
    sum_blocks_q8_1!(x, y, quants_q5_1)
}

/// f32 -> f16, round to nearest even (F16C; same as `half::f16::from_f32`).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn to_f16(v: f32) -> f16 {
    let h = _mm_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(_mm_set_ss(v));
    f16::from_bits(_mm_extract_epi16::<0>(h) as u16)
}

/// round(v), ties away from zero (C `roundf`); NaN -> 0, ±inf stay.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn round_away(v: __m256) -> __m256 {
    let t = _mm256_round_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(v);
    // v - trunc(v) is exact; a fraction of magnitude >= 0.5 steps away from 0.
    let sign = _mm256_set1_ps(-0.0);
    let frac = _mm256_andnot_ps(sign, _mm256_sub_ps(v, t));
    let up = _mm256_cmp_ps::<_CMP_GE_OQ>(frac, _mm256_set1_ps(0.5));
    let step = _mm256_or_ps(_mm256_and_ps(v, sign), _mm256_set1_ps(1.0));
    let r = _mm256_add_ps(t, _mm256_and_ps(up, step));
    _mm256_and_ps(r, _mm256_cmp_ps::<_CMP_ORD_Q>(v, v))
}

/// Clamps to -128..=127, as Rust's saturating `f32 as i8` does (reached
/// only by ±inf products, when 1 / d overflows for absmax < ~4e-37).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn saturate_i8(v: __m256) -> __m256 {
    _mm256_min_ps(
        _mm256_max_ps(v, _mm256_set1_ps(-128.0)),
        _mm256_set1_ps(127.0),
    )
}

/// Quantizes one block of 32 values as the scalar reference: returns the
/// 32 quants in order, the f32 scale `d` and the sum of the quants.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn quantize_block_q8(src: &[f32]) -> (__m256i, f32, i32) {
    assert_eq!(src.len(), QK);
    // SAFETY: `src` holds 32 f32s (asserted): four unaligned 8-lane loads.
    let v = unsafe {
        let p = src.as_ptr();
        [
            _mm256_loadu_ps(p),
            _mm256_loadu_ps(p.add(8)),
            _mm256_loadu_ps(p.add(16)),
            _mm256_loadu_ps(p.add(24)),
        ]
    };
    // `max(|v|, acc)` returns acc when |v| is NaN: NaNs are skipped, as
    // `f32::max` does in the reference.
    let sign = _mm256_set1_ps(-0.0);
    let mut amax = _mm256_setzero_ps();
    for &x in &v {
        amax = _mm256_max_ps(_mm256_andnot_ps(sign, x), amax);
    }
    let d = hmax(amax) / 127.0;
    let id = _mm256_set1_ps(if d != 0.0 { 1.0 / d } else { 0.0 });
    let r = v.map(|x| saturate_i8(round_away(_mm256_mul_ps(x, id))));
    // Integers in -128..=127: the sum is exact in f32.
    let sum = hsum(_mm256_add_ps(
        _mm256_add_ps(r[0], r[1]),
        _mm256_add_ps(r[2], r[3]),
    ));
    let i = r.map(|x| _mm256_cvtps_epi32(x));
    // packs interleave 128-bit lanes: dword k of the result holds quants
    // 4*[0, 8, 16, 24, 4, 12, 20, 28][k] ..; put them back in order.
    let w01 = _mm256_packs_epi32(i[0], i[1]);
    let w23 = _mm256_packs_epi32(i[2], i[3]);
    let b = _mm256_packs_epi16(w01, w23);
    let q = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    (q, d, sum as i32)
}

/// Stores 32 quants into a block's `qs`.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn store32(qs: &mut [i8; QK], q: __m256i) {
    // SAFETY: `qs` is 32 writable bytes; `storeu` has no alignment requirement.
    unsafe { _mm256_storeu_si256(qs.as_mut_ptr().cast(), q) }
}

/// x: [nb * 32] f32 -> y: [nb] Q8_0 blocks (bytes identical to `quant::q8_0::quantize`)
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn quantize_row_q8_0(x: &[f32], y: &mut [BlockQ8_0]) {
    assert_eq!(x.len(), y.len() * QK, "q8_0 quantize: length mismatch");
    for (src, b) in x.chunks_exact(QK).zip(y.iter_mut()) {
        let (q, d, _) = quantize_block_q8(src);
        b.d = to_f16(d);
        store32(&mut b.qs, q);
    }
}

/// x: [nb * 32] f32 -> y: [nb] Q8_1 blocks (bytes identical to `quant::q8_1::quantize`)
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn quantize_row_q8_1(x: &[f32], y: &mut [BlockQ8_1]) {
    assert_eq!(x.len(), y.len() * QK, "q8_1 quantize: length mismatch");
    for (src, b) in x.chunks_exact(QK).zip(y.iter_mut()) {
        let (q, d, sum) = quantize_block_q8(src);
        b.d = to_f16(d);
        b.s = to_f16(sum as f32 * d);
        store32(&mut b.qs, q);
    }
}
