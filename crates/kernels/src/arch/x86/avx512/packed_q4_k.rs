//! `q4_k_x4`: Q4_K repacked in groups of 4 rows for the default AVX-512
//! table's decode, one 128-bit lane per row, so that
//! - one 512-bit load feeds 4 rows with 16 quant bytes each, against the
//!   same 16 activation bytes in every lane (`vbroadcasti32x4`, no shuffle);
//! - `vpdpbusd` sums 4 products of one sub-block per i32 lane, and one
//!   `vpdpwssd` scales them with the sub-block scale (one `vpshufd` of the
//!   widened scales serves 4 rows);
//! - heads, scales and mins come widened with one instruction each.
//!
//! Layout of one block (4 rows, 592 bytes):
//! - quants: for m in 0..8, `r0.qs[16m..16m + 16]`, `r1..`, `r2..`, `r3..`
//!   (register m: low nibbles are sub-block `2(m / 2)`, positions
//!   `16(m % 2)..`, high nibbles sub-block `2(m / 2) + 1`);
//! - scales: the first four 6-bit scales of r0..r3 as bytes, then the last
//!   four of r0..r3; mins: the 8 mins of r0, r1, r2, r3 as bytes;
//! - heads: `d` of r0..r3, then `dmin` of r0..r3 (f16).
//!
//! Same sums as the AVX2 row dot: AVX2 i32 lane `L` of a row (bytes
//! `4L..4L + 4` of every 32-byte chunk) is lane `L % 4` of the row's
//! 128-bit lane in accumulator `L / 4`, and gets the same integer (exact
//! in any order); each f32 lane then sees the same FMAs with the same `d`
//! and `-dmin`, and the same horizontal sums.

use std::arch::x86_64::*;

use super::packed_kquant::packed_rows;
use crate::arch::x86::avx2::kquant::{at, hsum_ps128, load_bsums};
use crate::blocks::{BlockQ8K, QK_K};
use crate::packed::{Packing, ALIGN};
use crate::quant::kscales::unpack_scales_mins_k4;
use gguf::GgmlType;

/// Rows per group.
const ROWS: usize = 4;
/// Bytes of one Q4_K block.
const BLOCK: usize = 144;
/// Bytes of each part of one packed block, and of the block.
const QS: usize = 512;
const SC: usize = 32;
const MN: usize = 32;
const HEADS: usize = 16;
const PACKED: usize = QS + SC + MN + HEADS;

pub(super) static Q4_K_X4: Packing = Packing {
    name: "q4_k_x4",
    ty: GgmlType::Q4_K,
    group: ROWS,
    group_bytes: q4_k_x4_bytes,
    pack: pack_q4_k_x4,
    rows: rows_q4_k_x4,
};

fn q4_k_x4_bytes(cols: usize) -> usize {
    k4_x4_bytes(cols, 0)
}

/// Bytes of a `q4_k_x4` (`qh` = 0) or `q5_k_x4` (`qh` = 128) group.
pub(super) fn k4_x4_bytes(cols: usize, qh: usize) -> usize {
    (cols / QK_K * (PACKED + qh)).div_ceil(ALIGN) * ALIGN
}

/// Four Q4_K rows of `cols` columns (file layout) -> one `q4_k_x4` group.
// rows: [4 * row_bytes(Q4_K, cols)] -> out: [q4_k_x4_bytes(cols)]
fn pack_q4_k_x4(cols: usize, rows: &[u8], out: &mut [u8]) {
    pack_k4_x4::<0>(cols, BLOCK, rows, out);
}

/// Four Q4_K / Q5_K rows of `cols` columns (file layout, `block` bytes a
/// block) -> one `q4_k_x4` / `q5_k_x4` group. `QH` = 128: Q5_K, whose
/// fifth bits go to two planes after the quants: bit t of byte `16r + p`
/// of plane h is the fifth bit of row r's value at byte p of value
/// register v = 8h + t (quant register v / 2, nibble v % 2).
// rows: [4 * block * cols / QK_K] -> out: [k4_x4_bytes(cols, QH)]
pub(super) fn pack_k4_x4<const QH: usize>(cols: usize, block: usize, rows: &[u8], out: &mut [u8]) {
    let nb = cols / QK_K;
    let rb = nb * block;
    let packed = PACKED + QH;
    for i in 0..nb {
        let o = &mut out[i * packed..][..packed];
        for r in 0..ROWS {
            let b = &rows[r * rb + i * block..][..block];
            let qs = &b[block - 128..];
            for m in 0..8 {
                o[64 * m + 16 * r..][..16].copy_from_slice(&qs[16 * m..][..16]);
            }
            if QH > 0 {
                // Q5_K: element 32j + pos has bit j of qh[pos] (b[16..48])
                let fifth = |v: usize, p: usize| {
                    let (m, nib) = (v / 2, v % 2);
                    b[16 + 16 * (m % 2) + p] >> (2 * (m / 2) + nib) & 1
                };
                for h in 0..2 {
                    for p in 0..16 {
                        o[QS + 64 * h + 16 * r + p] =
                            (0..8).fold(0, |a, t| a | fifth(8 * h + t, p) << t);
                    }
                }
            }
            let (sc, mn) = unpack_scales_mins_k4(at(b, 4));
            let sm = &mut o[QS + QH..];
            sm[4 * r..][..4].copy_from_slice(&sc[..4]);
            sm[16 + 4 * r..][..4].copy_from_slice(&sc[4..]);
            sm[SC + 8 * r..][..8].copy_from_slice(&mn);
            let heads = &mut sm[SC + MN..];
            heads[2 * r..][..2].copy_from_slice(&b[..2]);
            heads[8 + 2 * r..][..2].copy_from_slice(&b[2..4]);
        }
    }
}

packed_rows!(rows_q4_k_x4, 4, q4_k_x4_bytes, k4_x4, 0);

/// 64 bytes.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn load64(b: &[u8; 64]) -> __m512i {
    // SAFETY: `b` is 64 readable bytes; `loadu` has no alignment requirement.
    unsafe { _mm512_loadu_si512(b.as_ptr().cast()) }
}

/// 16 bytes.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn load16<T: bytemuck::Pod>(b: &[T; 16]) -> __m128i {
    const { assert!(size_of::<T>() == 1) };
    // SAFETY: `b` is 16 one-byte elements, all readable; no alignment needed.
    unsafe { _mm_loadu_si128(b.as_ptr().cast()) }
}

/// 16 activation quants in every 128-bit lane.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn bcast16(q: &[i8; 16]) -> __m512i {
    _mm512_broadcast_i32x4(load16(q))
}

/// Hints the caches to fetch the bytes `ahead` bytes past `x`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn prefetch(x: &[u8], ahead: usize) {
    let p = x.as_ptr().cast::<i8>().wrapping_add(ahead);
    for off in (0..x.len()).step_by(64) {
        // A prefetch is a hint: it never faults, whatever the address.
        _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(off));
    }
}

/// `q` (values 0..16 in bytes) with bit `t` of `plane`'s byte as its bit
/// 4: the Q5_K value.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn fifth_bit(q: __m512i, plane: __m512i, t: usize) -> __m512i {
    // bit t to bit 4 (16-bit shifts: what crosses bytes is masked off)
    let b = match t {
        0 => _mm512_slli_epi16::<4>(plane),
        1 => _mm512_slli_epi16::<3>(plane),
        2 => _mm512_slli_epi16::<2>(plane),
        3 => _mm512_slli_epi16::<1>(plane),
        4 => plane,
        5 => _mm512_srli_epi16::<1>(plane),
        6 => _mm512_srli_epi16::<2>(plane),
        _ => _mm512_srli_epi16::<3>(plane),
    };
    _mm512_or_si512(q, _mm512_and_si512(b, _mm512_set1_epi8(0x10)))
}

/// The Q8_K block's pairwise bsum sums (`bsums[2j] + bsums[2j + 1]`, the
/// AVX2 `hadd`) in every 128-bit lane.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn bsum_pairs(by: &BlockQ8K) -> __m512i {
    let bs = load_bsums(&by.bsums);
    let pairs = _mm_hadd_epi16(
        _mm256_castsi256_si128(bs),
        _mm256_extracti128_si256::<1>(bs),
    );
    _mm512_broadcast_i32x4(pairs)
}

/// Four scales of each of 4 rows (16 bytes: row r's at `4r..4r + 4`) as
/// i16 pairs `[s, s]`: scale l of row r in i32 lane l of 128-bit lane r.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn scale_pairs(s: &[u8; 16]) -> __m512i {
    let s = _mm512_broadcast_i32x4(load16(s));
    // byte 4l + {0, 2} <- 4r + l, bytes 4l + {1, 3} <- 0 (index bit 7)
    let ctl = |r: i32| {
        let b = |l: i32| (4 * r + l) | (0x80 << 8) | ((4 * r + l) << 16) | (0x80 << 24);
        [b(0), b(1), b(2), b(3)]
    };
    let [a, b, c, d] = [ctl(0), ctl(1), ctl(2), ctl(3)];
    let ctl = _mm512_setr_epi32(
        a[0], a[1], a[2], a[3], b[0], b[1], b[2], b[3], c[0], c[1], c[2], c[3], d[0], d[1], d[2],
        d[3],
    );
    _mm512_shuffle_epi8(s, ctl)
}

/// Scale `j` (0..8) of each row in every i32 lane of the row's 128-bit
/// lane, as `[s, s]` (`sc`: `scale_pairs` of scales 0..4 and 4..8).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn pick(sc: [__m512i; 2], j: usize) -> __m512i {
    pick4(sc[j / 4], j % 4)
}

/// i32 lane `j` (0..4) of each 128-bit lane of `v` in all four of its lanes.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn pick4(v: __m512i, j: usize) -> __m512i {
    match j {
        0 => _mm512_shuffle_epi32::<0x00>(v),
        1 => _mm512_shuffle_epi32::<0x55>(v),
        2 => _mm512_shuffle_epi32::<0xAA>(v),
        _ => _mm512_shuffle_epi32::<0xFF>(v),
    }
}

/// `acc + a · b` in i16 pairs (`vpdpwssd`, kept fused: LLVM's generic
/// tuning would split it into `vpmaddwd` + `vpaddd`).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn dpwssd(acc: __m512i, a: __m512i, b: __m512i) -> __m512i {
    let mut acc = acc;
    // SAFETY: register-only VNNI arithmetic; the CPU has AVX-512 VNNI
    // (this function's target features).
    unsafe {
        std::arch::asm!(
            "vpdpwssd {acc}, {a}, {b}",
            acc = inout(zmm_reg) acc,
            a = in(zmm_reg) a,
            b = in(zmm_reg) b,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    acc
}

/// How a group kernel's min accumulator joins each row's sum.
#[derive(Clone, Copy)]
pub(super) enum Mins {
    /// No min term (Q6_K).
    None,
    /// Q4_K: a 4-lane accumulator per row, `+ hsum_ps128(acc_m)`.
    Lanes,
    /// Q5_K: one scalar per row (every lane of the row holds it), `+ summs`.
    Scalar,
}

/// The per-row results of four rows' accumulators: `acc[g]` holds AVX2
/// lanes `4g..4g + 4` of row r in its 128-bit lane r, `acc_m` the min
/// accumulator; the AVX2 `hsum_ps(acc)` plus the min term as `mins` says.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn x4_sums(acc: [__m512; 2], acc_m: __m512, mins: Mins) -> [f32; 4] {
    // the AVX2 first step: lanes 0..4 + lanes 4..8
    let s = _mm512_add_ps(acc[0], acc[1]);
    let lane = |v: __m512, r: usize| -> __m128 {
        let v = _mm512_castps_si512(v);
        _mm_castsi128_ps(match r {
            0 => _mm512_castsi512_si128(v),
            1 => _mm512_extracti32x4_epi32::<1>(v),
            2 => _mm512_extracti32x4_epi32::<2>(v),
            _ => _mm512_extracti32x4_epi32::<3>(v),
        })
    };
    let row = |r: usize| {
        let main = hsum_ps128(lane(s, r));
        match mins {
            Mins::Lanes => main + hsum_ps128(lane(acc_m, r)),
            Mins::Scalar => main + _mm_cvtss_f32(lane(acc_m, r)),
            Mins::None => main,
        }
    };
    [row(0), row(1), row(2), row(3)]
}

/// x: `P` `q4_k_x4` groups (`QH` = 0) or `q5_k_x4` groups (`QH` = 128:
/// the fifth bits after the quants) of `y.len()` blocks each, y: the Q8_K
/// activation -> the 4P dot products (`ahead`: prefetch distance in bytes)
///
/// # Safety
/// The CPU must support AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) unsafe fn k4_x4<const P: usize, const QH: usize>(
    x: [&[u8]; P],
    y: &[BlockQ8K],
    ahead: usize,
) -> [[f32; 4]; P] {
    let packed = PACKED + QH;
    let (sc_at, mn_at, heads_at) = (QS + QH, QS + QH + SC, QS + QH + SC + MN);
    let m4 = _mm512_set1_epi8(0x0F);
    let d_idx = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    let m_idx = _mm512_setr_epi32(4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7);
    let zero = _mm512_setzero_si512();
    let mut acc = [[_mm512_setzero_ps(); 2]; P];
    let mut acc_m = [_mm512_setzero_ps(); P];
    for (i, by) in y.iter().enumerate() {
        let yd = _mm256_set1_ps(by.d);
        let bsp = bsum_pairs(by);
        for p in 0..P {
            let blk = &x[p][i * packed..][..packed];
            prefetch(blk, ahead);
            // [d0..d3, dmin0..dmin3] * y.d: the AVX2 `d_dmin` products
            let dd = _mm256_mul_ps(_mm256_cvtph_ps(load16(at(blk, heads_at))), yd);
            let dd = _mm512_castps256_ps512(dd);
            let d = _mm512_permutexvar_ps(d_idx, dd);
            let dmin = _mm512_permutexvar_ps(m_idx, dd);
            // SAFETY: 32 readable bytes; `loadu` has no alignment requirement.
            let mins =
                _mm512_cvtepu8_epi16(unsafe { _mm256_loadu_si256(blk[mn_at..].as_ptr().cast()) });
            let mins = _mm512_madd_epi16(mins, bsp);
            let mins = if QH > 0 {
                // Q5_K: llama.cpp sums a block's min integer first (each
                // row's 4 lanes, exact in any order) and folds it into one
                // scalar per row: every lane of the row then holds it
                let s = _mm512_add_epi32(mins, _mm512_shuffle_epi32::<0b10_11_00_01>(mins));
                _mm512_add_epi32(s, _mm512_shuffle_epi32::<0b01_00_11_10>(s))
            } else {
                mins
            };
            // -(dmin * mins) + acc_m: the AVX2 FMA with the negated dmin
            acc_m[p] = _mm512_fnmadd_ps(dmin, _mm512_cvtepi32_ps(mins), acc_m[p]);
            let sc = [
                scale_pairs(at(blk, sc_at)),
                scale_pairs(at(blk, sc_at + 16)),
            ];
            // Q5_K: the fifth bits of value register v (quant register
            // v / 2, low or high nibbles) are bit v % 8 of plane v / 8.
            let qh = if QH > 0 {
                [load64(at(blk, QS)), load64(at(blk, QS + 64))]
            } else {
                [zero; 2]
            };
            // Four chains per row lane group g: (g, nibble).
            let mut part = [zero; 4];
            for c in 0..4 {
                let (s_lo, s_hi) = (pick(sc, 2 * c), pick(sc, 2 * c + 1));
                for g in 0..2 {
                    let q = load64(at(blk, 64 * (2 * c + g)));
                    let mut lo = _mm512_and_si512(q, m4);
                    let mut hi = _mm512_and_si512(_mm512_srli_epi16::<4>(q), m4);
                    if QH > 0 {
                        let v = 2 * (2 * c + g);
                        lo = fifth_bit(lo, qh[v / 8], v % 8);
                        hi = fifth_bit(hi, qh[(v + 1) / 8], (v + 1) % 8);
                    }
                    let a_lo = bcast16(at(&by.qs, 64 * c + 16 * g));
                    let a_hi = bcast16(at(&by.qs, 64 * c + 32 + 16 * g));
                    let p_lo = _mm512_maddubs_epi16(lo, a_lo);
                    let p_hi = _mm512_maddubs_epi16(hi, a_hi);
                    part[2 * g] = dpwssd(part[2 * g], p_lo, s_lo);
                    part[2 * g + 1] = dpwssd(part[2 * g + 1], p_hi, s_hi);
                }
            }
            for g in 0..2 {
                let sumi = _mm512_add_epi32(part[2 * g], part[2 * g + 1]);
                acc[p][g] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(sumi), acc[p][g]);
            }
        }
    }
    let mut out = [[0f32; 4]; P];
    for p in 0..P {
        let mins = if QH > 0 { Mins::Scalar } else { Mins::Lanes };
        out[p] = x4_sums(acc[p], acc_m[p], mins);
    }
    out
}
