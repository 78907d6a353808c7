//! Multi-row decode kernels of Q4_0, Q5_0, Q8_0, Q4_1 and Q5_1 for the
//! default AVX-512 table: the AVX2 row dots (`avx2::legacy`, llama.cpp's x86
//! order) for two rows per 512-bit register, bit for bit.
//!
//! Row A lives in the low 256 bits and row B in the high 256 bits, so each
//! half's 8 i32 lanes hold the AVX2 kernel's lanes of that row: lane j sums
//! the products of elements 4j..4j+4 of the block. The AVX2 kernel gets them
//! with the sign trick and `maddubs` + `madd`; here `vpdpbusd` multiplies
//! the weight quants made unsigned (`q + c`, c = 8 for Q4_0, 16 for Q5_0,
//! 128 for Q8_0) by the signed activation bytes, starting from
//! `-c * (sum of the lane's 4 activation bytes)`: the same exact i32 (the
//! offset depends on the activation block only, so one `vpdpbusd` per block
//! serves every row). Each half's f32 lanes then see the AVX2 kernel's
//! float operations: `cvt`, one FMA per block with `f32(d_w) * f32(d_a)`
//! (one f32 multiply, as `scale2`; several rows' products in one vector
//! multiply), then the same horizontal sum.
//!
//! Q4_1 / Q5_1 quants are unsigned already, so `vpdpbusd` from zero gives
//! the lanes; their min terms `m * s` go four rows to one FMA
//! (`pairs_kernel_q8_1`).
//!
//! One exception (Q8_0 activations): the AVX2 sign trick turns an activation byte of -128
//! against a negative weight into -|w| * 128 (the quantizers write -128
//! only for blocks of absmax < ~4e-37). A call whose activation holds a
//! -128 byte therefore takes the row dot, row by row.

use std::arch::x86_64::*;

use super::avx2;
use super::rows::{hsum_pair, pair_u8x32, Pairs};
use super::rows_kquant::bcast_i8x32;
use crate::arch::rows::cast_rows;
use crate::blocks::{BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, BlockQ8_1};
use gguf::GgmlType;

/// Rows in groups of four, one from each quarter of the matrix (four
/// sequential streams: the memory system serves few streams far better
/// than many, or than neighbouring rows read side by side), as two pairs;
/// the last `rows % 4` rows in pairs, a last single row paired with
/// itself. `k2` / `k1` run the typed kernel on 2 and 1 pairs.
// x: [rows * nb] blocks -> out: [rows]
#[inline(always)]
fn by_quarters<B>(
    x: &[B],
    nb: usize,
    out: &mut [f32],
    k2: impl Fn(Pairs<'_, B, 2>) -> [[f32; 2]; 2],
    k1: impl Fn(Pairs<'_, B, 1>) -> [[f32; 2]; 1],
) {
    let row = |r: usize| &x[r * nb..(r + 1) * nb];
    let m = out.len() / 4;
    for q in 0..m {
        let [[a, b], [c, d]] = k2([[row(q), row(q + m)], [row(q + 2 * m), row(q + 3 * m)]]);
        for (k, v) in [a, b, c, d].into_iter().enumerate() {
            out[q + k * m] = v;
        }
    }
    let mut r = 4 * m;
    while r + 1 < out.len() {
        let [[a, b]] = k1([[row(r), row(r + 1)]]);
        out[r..r + 2].copy_from_slice(&[a, b]);
        r += 2;
    }
    if r < out.len() {
        out[r] = k1([[row(r), row(r)]])[0][0];
    }
}

/// Whether an activation byte is -128 (where `vpdpbusd` and the AVX2 sign
/// trick part ways).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn has_i8_min(y: &[BlockQ8_0]) -> bool {
    let mut lo = _mm256_setzero_si256();
    for b in y {
        // SAFETY: `qs` is 32 readable bytes; `loadu` has no alignment requirement.
        lo = _mm256_min_epi8(lo, unsafe { _mm256_loadu_si256(b.qs.as_ptr().cast()) });
    }
    _mm256_cmpeq_epi8_mask(lo, _mm256_set1_epi8(i8::MIN)) != 0
}

/// Two rows' 16 bytes of packed nibbles -> per half the 32 quants in
/// 0..16, low nibbles (elements 0..16) then high nibbles (16..32), as the
/// AVX2 `nibbles`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn pair_nibbles(a: &[u8; 16], b: &[u8; 16]) -> __m512i {
    // SAFETY: `a` and `b` are 16 readable bytes each; `loadu` has no
    // alignment requirement.
    let (a, b) = unsafe {
        (
            _mm_loadu_si128(a.as_ptr().cast()),
            _mm_loadu_si128(b.as_ptr().cast()),
        )
    };
    // [a, a, b, b] in 128-bit lanes, the second of each pair shifted by 4.
    let z = _mm512_mask_broadcast_i32x4(_mm512_broadcast_i32x4(a), 0xFF00, b);
    let z = _mm512_mask_srli_epi16::<4>(z, 0xFF00_FF00, z);
    _mm512_and_si512(z, _mm512_set1_epi8(0x0F))
}

/// The 2P <= 4 f16 values `h` (pair p's rows A and B) as f32 lanes 0..2P.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn f16_lanes<const P: usize>(h: [[u16; 2]; P]) -> __m128 {
    const { assert!(P <= 2) };
    let word = h
        .as_flattened()
        .iter()
        .enumerate()
        .fold(0u64, |w, (j, &d)| w | u64::from(d) << (16 * j));
    _mm_cvtph_ps(_mm_cvtsi64_si128(word as i64))
}

/// `f32(d_w) * f32(d_a)` for the 2P <= 4 weight scales `dw` (f16 bits,
/// pair p's rows A and B) and the activation scale `da` (f16 bits), in one
/// 4-lane multiply: per pair, row A's product in the low 8 lanes, row B's
/// in the high 8. (The scales are gathered in general registers: vector
/// shuffles are the scarce resource here.)
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn pair_scales<const P: usize>(dw: [[u16; 2]; P], da: u16) -> [__m512; P] {
    let dw = f16_lanes(dw);
    let s = _mm512_castps128_ps512(_mm_mul_ps(dw, _mm_cvtph_ps(_mm_set1_epi16(da as i16))));
    std::array::from_fn(|p| {
        let (a, b) = (2 * p as i32, 2 * p as i32 + 1);
        let idx = _mm512_setr_epi32(a, a, a, a, a, a, a, a, b, b, b, b, b, b, b, b);
        _mm512_permutexvar_ps(idx, s)
    })
}

/// Block `i` of a row.
///
/// # Safety
/// `i < r.len()`.
#[inline(always)]
pub(super) unsafe fn at<B>(r: &[B], i: usize) -> &B {
    debug_assert!(i < r.len());
    // SAFETY: the caller guarantees `i < r.len()`.
    unsafe { r.get_unchecked(i) }
}

/// One typed kernel: `$quants(a, b)` gives the two rows' unsigned quants
/// (`q + $c`) as 64 bytes.
macro_rules! pairs_kernel {
    ($name:ident, $w:ty, $c:expr, $quants:ident) => {
        /// x: `P` pairs of rows of nb blocks, y: [nb] Q8_0 blocks (no byte -128)
        /// -> the 2P dot products
        ///
        /// # Safety
        /// The CPU must support AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C.
        #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
        pub(super) unsafe fn $name<const P: usize>(
            x: Pairs<'_, $w, P>,
            y: &[BlockQ8_0],
        ) -> [[f32; 2]; P] {
            let rows_long_enough = x.as_flattened().iter().all(|r| r.len() >= y.len());
            assert!(rows_long_enough, "rows shorter than the activation");
            let c = _mm512_set1_epi8($c as u8 as i8);
            let mut acc = [_mm512_setzero_ps(); P];
            for (i, by) in y.iter().enumerate() {
                let blocks: [[&$w; 2]; P] = std::array::from_fn(|p| {
                    // SAFETY: i < y.len() <= every row's length (asserted).
                    unsafe { [at(x[p][0], i), at(x[p][1], i)] }
                });
                let q8 = bcast_i8x32(&by.qs);
                // -c * (sum of each lane's 4 activation bytes)
                let off = _mm512_sub_epi32(
                    _mm512_setzero_si512(),
                    _mm512_dpbusd_epi32(_mm512_setzero_si512(), c, q8),
                );
                let dw =
                    std::array::from_fn(|p| [blocks[p][0].d.to_bits(), blocks[p][1].d.to_bits()]);
                let d = pair_scales::<P>(dw, by.d.to_bits());
                for (p, [a, b]) in blocks.into_iter().enumerate() {
                    let s = _mm512_dpbusd_epi32(off, $quants(a, b), q8);
                    acc[p] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), d[p], acc[p]);
                }
            }
            std::array::from_fn(|p| hsum_pair(acc[p]))
        }
    };
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn quants_q4_0(a: &BlockQ4_0, b: &BlockQ4_0) -> __m512i {
    pair_nibbles(&a.qs, &b.qs)
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn quants_q5_0(a: &BlockQ5_0, b: &BlockQ5_0) -> __m512i {
    // The fifth bit of element j is bit j of `qh`: byte j of the row's half.
    let high = u64::from(u32::from_le_bytes(a.qh)) | u64::from(u32::from_le_bytes(b.qh)) << 32;
    let q = pair_nibbles(&a.qs, &b.qs);
    _mm512_mask_add_epi8(q, high, q, _mm512_set1_epi8(16))
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn quants_q8_0(a: &BlockQ8_0, b: &BlockQ8_0) -> __m512i {
    let q = pair_u8x32(bytemuck::cast_ref(&a.qs), bytemuck::cast_ref(&b.qs));
    _mm512_xor_si512(q, _mm512_set1_epi8(i8::MIN))
}

pairs_kernel!(q4_0, BlockQ4_0, 8, quants_q4_0);
pairs_kernel!(q5_0, BlockQ5_0, 16, quants_q5_0);
pairs_kernel!(q8_0, BlockQ8_0, 128, quants_q8_0);

/// One typed kernel of a type with mins (Q8_1 activations): `$quants(a, b)`
/// gives the two rows' quants (unsigned already: `vpdpbusd` from zero gives
/// the AVX2 kernel's exact lanes, no byte needs the sign trick). Per row the
/// AVX2 order: lanes `fma(f32(s), dx * dy, acc)`, the min term
/// `fma(m, s_a, mins)` (one lane per row, four rows in one FMA), then
/// `hsum(acc) + mins`.
macro_rules! pairs_kernel_q8_1 {
    ($name:ident, $w:ty, $quants:ident) => {
        /// x: `P` pairs of rows of nb blocks, y: [nb] Q8_1 blocks -> the 2P
        /// dot products
        ///
        /// # Safety
        /// The CPU must support AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C.
        #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
        pub(super) unsafe fn $name<const P: usize>(
            x: Pairs<'_, $w, P>,
            y: &[BlockQ8_1],
        ) -> [[f32; 2]; P] {
            let rows_long_enough = x.as_flattened().iter().all(|r| r.len() >= y.len());
            assert!(rows_long_enough, "rows shorter than the activation");
            let mut acc = [_mm512_setzero_ps(); P];
            // lane 2p + k: row k of pair p
            let mut mins = _mm_setzero_ps();
            for (i, by) in y.iter().enumerate() {
                let blocks: [[&$w; 2]; P] = std::array::from_fn(|p| {
                    // SAFETY: i < y.len() <= every row's length (asserted).
                    unsafe { [at(x[p][0], i), at(x[p][1], i)] }
                });
                let q8 = bcast_i8x32(&by.qs);
                let m =
                    std::array::from_fn(|p| [blocks[p][0].m.to_bits(), blocks[p][1].m.to_bits()]);
                let s = _mm_cvtph_ps(_mm_set1_epi16(by.s.to_bits() as i16));
                mins = _mm_fmadd_ps(f16_lanes::<P>(m), s, mins);
                let dw =
                    std::array::from_fn(|p| [blocks[p][0].d.to_bits(), blocks[p][1].d.to_bits()]);
                let d = pair_scales::<P>(dw, by.d.to_bits());
                for (p, [a, b]) in blocks.into_iter().enumerate() {
                    let s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), $quants(a, b), q8);
                    acc[p] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), d[p], acc[p]);
                }
            }
            let mut m = [0f32; 4];
            // SAFETY: `m` is 4 writable f32s; `storeu` has no alignment requirement.
            unsafe { _mm_storeu_ps(m.as_mut_ptr(), mins) };
            std::array::from_fn(|p| {
                let [a, b] = hsum_pair(acc[p]);
                [a + m[2 * p], b + m[2 * p + 1]]
            })
        }
    };
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn quants_q4_1(a: &BlockQ4_1, b: &BlockQ4_1) -> __m512i {
    pair_nibbles(&a.qs, &b.qs)
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn quants_q5_1(a: &BlockQ5_1, b: &BlockQ5_1) -> __m512i {
    let high = u64::from(u32::from_le_bytes(a.qh)) | u64::from(u32::from_le_bytes(b.qh)) << 32;
    let q = pair_nibbles(&a.qs, &b.qs);
    _mm512_mask_add_epi8(q, high, q, _mm512_set1_epi8(16))
}

pairs_kernel_q8_1!(q4_1, BlockQ4_1, quants_q4_1);
pairs_kernel_q8_1!(q5_1, BlockQ5_1, quants_q5_1);

/// Never: Q8_1 activations have no exception (see `pairs_kernel_q8_1`).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn never(_: &[BlockQ8_1]) -> bool {
    false
}

/// One byte-level rows kernel per type: casts the rows and runs the typed
/// kernel `$f` over them (`by_quarters`); an activation for which
/// `$row_dot_if` holds (Q8_0: a byte of -128) takes the row dot.
macro_rules! rows_fn {
    ($name:ident, $ty:ident, $w:ty, $a:ty, $f:ident, $row_dot_if:ident) => {
        // w: [y.len() * row_bytes($ty, n)], a: [row_bytes(vec_dot_type($ty), n)] -> y
        pub(super) fn $name(n: usize, w: &[u8], a: &[u8], y: &mut [f32]) {
            let dot = avx2::dot(GgmlType::$ty).expect("row dot of a type with a rows kernel");
            let f = |x: &[$w], nb, act: &[$a], y: &mut [f32]| {
                // SAFETY: AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C were
                // detected before the AVX-512 table was handed out.
                if unsafe { $row_dot_if(act) } {
                    let a = bytemuck::cast_slice(act);
                    for (yi, r) in y.iter_mut().zip(x.chunks_exact(nb)) {
                        *yi = dot(n, bytemuck::cast_slice(r), a);
                    }
                    return;
                }
                by_quarters(
                    x,
                    nb,
                    y,
                    // SAFETY: as above.
                    |p| unsafe { $f::<2>(p, act) },
                    // SAFETY: as above.
                    |p| unsafe { $f::<1>(p, act) },
                )
            };
            cast_rows(GgmlType::$ty, n, w, a, y, dot, f)
        }
    };
}

rows_fn!(rows_q4_0, Q4_0, BlockQ4_0, BlockQ8_0, q4_0, has_i8_min);
rows_fn!(rows_q5_0, Q5_0, BlockQ5_0, BlockQ8_0, q5_0, has_i8_min);
rows_fn!(rows_q8_0, Q8_0, BlockQ8_0, BlockQ8_0, q8_0, has_i8_min);
rows_fn!(rows_q4_1, Q4_1, BlockQ4_1, BlockQ8_1, q4_1, never);
rows_fn!(rows_q5_1, Q5_1, BlockQ5_1, BlockQ8_1, q5_1, never);
