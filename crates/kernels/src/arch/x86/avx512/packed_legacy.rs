//! Repacked Q4_0 for the default AVX-512 table's decode (`crate::packed`):
//! rows in groups of four, so one aligned 512-bit load holds a block of
//! all four rows, and the scales ride in the same stream.
//!
//! `q4_0_x4`, 72 bytes per block of four rows, in chunks of 8 blocks:
//! - quants: per block `A.qs, B.qs, C.qs, D.qs` (16 bytes each, one cache
//!   line): the low nibbles of a 512-bit load are elements 0..16 of the
//!   four rows (one 128-bit lane each), the high nibbles elements 16..32;
//! - then the chunk's scales: per block `A.d, B.d, C.d, D.d` (f16; one
//!   cache line for 8 blocks). (Scales in a plane after all the quants
//!   made a second stream whose loads missed the caches: 20 vs 23 t/s.)
//!
//! A group is padded to 64 bytes. The kernel keeps the AVX2 row dot's lanes
//! (lane j of a row sums elements 4j..4j + 4 of each block, from
//! `vpdpbusd` on the unsigned nibbles minus 8 times the activation bytes'
//! lane sum, as `rows_legacy`) in two registers (lanes 0..4 and 4..8 of
//! the four rows) and its float steps per lane: `cvt`, one FMA per block
//! with `f32(d_w) * f32(d_a)`, then its horizontal sum, whose first step
//! adds the two registers; so outputs equal the row dot bit for bit.
//! Groups go in pairs from the two halves of the matrix (two streams far
//! apart, as `rows_legacy::by_quarters`). Activations with a byte of -128
//! (see `rows_legacy`) are left to the rows kernel (`rows` returns false).
//! Decode batches of several tokens take `q4_0_x4_tokens` (`Packing::tokens`,
//! through `packed_tokens::tokens_fn`): each block unpacked once for up to
//! 8 tokens.

use std::arch::x86_64::*;

use super::packed_kquant::packed_rows;
use super::packed_tokens::tokens_fn;
use super::rows::prefetch;
use super::rows_legacy::has_i8_min;
use crate::arch::x86::avx2::kquant::at;
use crate::blocks::{BlockQ8_0, QK};
use crate::packed::{Packing, ALIGN};
use crate::quant::row_bytes;
use gguf::GgmlType;

/// Rows per group.
const ROWS: usize = 4;
/// Bytes of the four rows' scales of one block.
const DS: usize = 2 * ROWS;

/// The repacked legacy layouts of the default AVX-512 table.
pub(super) fn lookup(w: GgmlType) -> Option<&'static Packing> {
    match w {
        GgmlType::Q4_0 => Some(&Q4_0_X4),
        _ => None,
    }
}

static Q4_0_X4: Packing = Packing {
    name: "q4_0_x4",
    ty: GgmlType::Q4_0,
    group: ROWS,
    group_bytes: q4_0_x4_bytes,
    pack: pack_q4_0_x4,
    rows: rows_q4_0_x4,
    tokens: Some(tokens_q4_0_x4),
};

/// Bytes of one Q4_0 block and of four rows' quants of one block.
const BLOCK4: usize = 18;
const QS4: usize = ROWS * QK / 2;

fn q4_0_x4_bytes(cols: usize) -> usize {
    (cols / QK * (QS4 + DS)).div_ceil(ALIGN) * ALIGN
}

/// Blocks per chunk: their quants, then their scales (one cache line).
const CHUNK: usize = 8;

/// Byte offsets of block `i`'s quants and scales in a group of `nb` blocks.
#[inline(always)]
fn offsets(i: usize, nb: usize) -> (usize, usize) {
    let (c, j) = (i / CHUNK, i % CHUNK);
    let kc = CHUNK.min(nb - c * CHUNK);
    let base = c * CHUNK * (QS4 + DS);
    (base + j * QS4, base + kc * QS4 + j * DS)
}

/// Four Q4_0 rows of `cols` columns (file layout) -> one `q4_0_x4` group.
// rows: [4 * row_bytes(Q4_0, cols)] -> out: [q4_0_x4_bytes(cols)]
fn pack_q4_0_x4(cols: usize, rows: &[u8], out: &mut [u8]) {
    let nb = cols / QK;
    for (r, row) in rows.chunks_exact(nb * BLOCK4).enumerate() {
        for (i, b) in row.chunks_exact(BLOCK4).enumerate() {
            let (q, d) = offsets(i, nb);
            out[d + 2 * r..][..2].copy_from_slice(&b[..2]);
            out[q + 16 * r..][..16].copy_from_slice(&b[2..]);
        }
    }
}

/// The activation as Q8_0 blocks, if aligned and free of -128 bytes.
fn q8_0_act(n: usize, act: &[u8]) -> Option<&[BlockQ8_0]> {
    let act = bytemuck::try_cast_slice(&act[..row_bytes(GgmlType::Q8_0, n)]).ok()?;
    // SAFETY: AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C were detected before
    // the AVX-512 table (the only owner of these layouts) was handed out.
    (!unsafe { has_i8_min(act) }).then_some(act)
}

/// 64 bytes.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn load64(b: &[u8; 64]) -> __m512i {
    // SAFETY: `b` is 64 readable bytes; `loadu` has no alignment requirement.
    unsafe { _mm512_loadu_si512(b.as_ptr().cast()) }
}

/// 16 activation bytes in each 128-bit lane.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn bcast_i8x16(q: &[i8; 16]) -> __m512i {
    // SAFETY: `q` is 16 readable bytes; `loadu` has no alignment requirement.
    _mm512_broadcast_i32x4(unsafe { _mm_loadu_si128(q.as_ptr().cast()) })
}

/// `f32(d_w) * f32(d_a)` of the four rows (f16 `ds`) against the
/// activation scale (f32 lanes `da`), as 4 f32 lanes.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn scales4(ds: &[u8; DS], da: __m128) -> __m128 {
    // SAFETY: `ds` is 8 readable bytes; `loadl` has no alignment requirement.
    let dw = _mm_cvtph_ps(unsafe { _mm_loadl_epi64(ds.as_ptr().cast()) });
    _mm_mul_ps(dw, da)
}

/// `-c * (sum of each i32 lane's 4 bytes of `a`)`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn offset(c: __m512i, a: __m512i) -> __m512i {
    _mm512_sub_epi32(
        _mm512_setzero_si512(),
        _mm512_dpbusd_epi32(_mm512_setzero_si512(), c, a),
    )
}

/// The AVX2 kernel's horizontal sum of each 128-bit lane of `lo + hi`
/// (`lo`, `hi`: each row's lanes 0..4 and 4..8): the four rows.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn hsum_x4(lo: __m512, hi: __m512) -> [f32; 4] {
    let s = _mm512_add_ps(lo, hi);
    let s = _mm512_add_ps(s, _mm512_permute_ps::<0b11_10_11_10>(s));
    let s = _mm512_add_ps(s, _mm512_movehdup_ps(s));
    let mut v = [0f32; 16];
    // SAFETY: `v` is 16 writable f32s; `storeu` has no alignment requirement.
    unsafe { _mm512_storeu_ps(v.as_mut_ptr(), s) };
    [v[0], v[4], v[8], v[12]]
}

/// x: `G` `q4_0_x4` groups of `y.len()` blocks each, y: the Q8_0
/// activation (no byte -128) -> the 4G dot products (`ahead`: prefetch
/// distance in bytes)
///
/// # Safety
/// The CPU must support AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn q4_0_x4<const G: usize>(
    x: [&[u8]; G],
    y: &[BlockQ8_0],
    ahead: usize,
) -> [[f32; ROWS]; G] {
    let nb = y.len();
    let enough = x.iter().all(|g| g.len() >= nb * (QS4 + DS));
    assert!(enough, "groups shorter than the activation");
    let m4 = _mm512_set1_epi8(0x0F);
    let c = _mm512_set1_epi8(8);
    // each row's scale in its 128-bit lane
    let spread = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    let mut lo = [_mm512_setzero_ps(); G];
    let mut hi = [_mm512_setzero_ps(); G];
    for (i, by) in y.iter().enumerate() {
        let a_lo = bcast_i8x16(at(&by.qs, 0));
        let a_hi = bcast_i8x16(at(&by.qs, 16));
        let (off_lo, off_hi) = (offset(c, a_lo), offset(c, a_hi));
        let da = _mm_cvtph_ps(_mm_set1_epi16(by.d.to_bits() as i16));
        for g in 0..G {
            let (qo, dofs) = offsets(i, nb);
            let qs: &[u8; QS4] = at(x[g], qo);
            prefetch(qs, ahead);
            let q = load64(qs);
            let d4 = scales4(at(x[g], dofs), da);
            let d = _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(d4));
            let q_lo = _mm512_and_si512(q, m4);
            let q_hi = _mm512_and_si512(_mm512_srli_epi16::<4>(q), m4);
            let s_lo = _mm512_dpbusd_epi32(off_lo, q_lo, a_lo);
            let s_hi = _mm512_dpbusd_epi32(off_hi, q_hi, a_hi);
            lo[g] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s_lo), d, lo[g]);
            hi[g] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s_hi), d, hi[g]);
        }
    }
    std::array::from_fn(|g| hsum_x4(lo[g], hi[g]))
}

/// Runs a four-row kernel over packed groups of `gb` bytes: two groups at
/// a time (two independent chains), then the last one alone.
/// `two(groups, act, ahead)` / `one(..)` run the typed kernel.
// groups: [y.len() / 4 * gb], act: [row_bytes(Q8_0, n)] -> y
#[inline(always)]
fn by_groups(
    n: usize,
    gb: usize,
    groups: &[u8],
    act: &[u8],
    y: &mut [f32],
    two: impl Fn([&[u8]; 2], &[BlockQ8_0], usize) -> [[f32; ROWS]; 2],
    one: impl Fn([&[u8]; 1], &[BlockQ8_0], usize) -> [[f32; ROWS]; 1],
) -> bool {
    let Some(act) = q8_0_act(n, act) else {
        return false;
    };
    // Two groups from the two halves of the matrix (two streams far
    // apart, as `rows_legacy::by_quarters`), then a last group alone.
    let ahead = gb;
    let ng = y.len() / ROWS;
    let m = ng / 2;
    let group = |g: usize| &groups[g * gb..(g + 1) * gb];
    for q in 0..m {
        let [a, b] = two([group(q), group(q + m)], act, ahead);
        y[q * ROWS..][..ROWS].copy_from_slice(&a);
        y[(q + m) * ROWS..][..ROWS].copy_from_slice(&b);
    }
    if ng % 2 == 1 {
        let g = ng - 1;
        y[g * ROWS..][..ROWS].copy_from_slice(&one([group(g)], act, ahead)[0]);
    }
    true
}

packed_rows!(rows_q4_0_x4, q4_0_x4_bytes, q4_0_x4);

/// The activations as `tokens_q4_0_x4` takes them: free of -128 bytes.
fn no_i8_min(acts: &[BlockQ8_0]) -> bool {
    // SAFETY: AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C were detected before
    // the AVX-512 table (the only owner of these layouts) was handed out.
    !unsafe { has_i8_min(acts) }
}

tokens_fn!(
    tokens_q4_0_x4,
    q4_0_x4_bytes,
    ROWS,
    BlockQ8_0,
    Q8_0,
    no_i8_min,
    q4_0_x4_tokens
);

/// x: `q4_0_x4` groups of `gb` bytes, y: `T` Q8_0 activations (no byte
/// -128) of their block count -> `out[t * stride + row]` for the groups'
/// rows. Per block the quants are unpacked once, signed (`q - 8`), with
/// `-128 * (sum of each lane's 4 of them)`; each token then adds its
/// activation bytes made unsigned (`a + 128`) with one `vpdpbusd` per
/// half: the exact i32 lanes of `q4_0_x4` (and of the AVX2 row dot), then
/// its `cvt`, FMA with `f32(d_w) * f32(d_a)` and horizontal sum.
///
/// # Safety
/// The CPU must support AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn q4_0_x4_tokens<const T: usize>(
    x: &[u8],
    gb: usize,
    y: [&[BlockQ8_0]; T],
    out: &mut [f32],
    stride: usize,
) {
    let nb = y[0].len();
    let enough = y.iter().all(|a| a.len() == nb) && gb >= nb * (QS4 + DS);
    assert!(enough, "groups shorter than the activations");
    let m4 = _mm512_set1_epi8(0x0F);
    let c = _mm512_set1_epi8(8);
    let bias = _mm512_set1_epi8(i8::MIN);
    // each row's scale in its 128-bit lane
    let spread = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    // -128 * (sum of each i32 lane's 4 signed quants)
    let off = |q: __m512i| {
        _mm512_sub_epi32(
            _mm512_setzero_si512(),
            _mm512_dpbusd_epi32(_mm512_setzero_si512(), bias, q),
        )
    };
    for (g, x) in x.chunks_exact(gb).enumerate() {
        let mut lo = [_mm512_setzero_ps(); T];
        let mut hi = [_mm512_setzero_ps(); T];
        for i in 0..nb {
            let (qo, dofs) = offsets(i, nb);
            let qs: &[u8; QS4] = at(x, qo);
            prefetch(qs, 2 * gb);
            let q = load64(qs);
            let q_lo = _mm512_sub_epi8(_mm512_and_si512(q, m4), c);
            let q_hi = _mm512_sub_epi8(_mm512_and_si512(_mm512_srli_epi16::<4>(q), m4), c);
            let (off_lo, off_hi) = (off(q_lo), off(q_hi));
            let ds: &[u8; DS] = at(x, dofs);
            // SAFETY: `ds` is 8 readable bytes; `loadl` has no alignment requirement.
            let dw = _mm_cvtph_ps(unsafe { _mm_loadl_epi64(ds.as_ptr().cast()) });
            let dw = _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(dw));
            for t in 0..T {
                // SAFETY: i < nb = every activation's length (asserted).
                let by = unsafe { y[t].get_unchecked(i) };
                let a_lo = _mm512_xor_si512(bcast_i8x16(at(&by.qs, 0)), bias);
                let a_hi = _mm512_xor_si512(bcast_i8x16(at(&by.qs, 16)), bias);
                let s_lo = _mm512_dpbusd_epi32(off_lo, a_lo, q_lo);
                let s_hi = _mm512_dpbusd_epi32(off_hi, a_hi, q_hi);
                let da = _mm_cvtph_ps(_mm_cvtsi32_si128(i32::from(by.d.to_bits())));
                let d = _mm512_mul_ps(dw, _mm512_broadcastss_ps(da));
                lo[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s_lo), d, lo[t]);
                hi[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s_hi), d, hi[t]);
            }
        }
        for t in 0..T {
            out[t * stride + ROWS * g..][..ROWS].copy_from_slice(&hsum_x4(lo[t], hi[t]));
        }
    }
}
