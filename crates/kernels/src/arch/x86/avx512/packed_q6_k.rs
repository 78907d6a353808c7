//! `q6_k_x4`: Q6_K repacked in groups of 4 rows for the default AVX-512
//! table's decode, one 128-bit lane per row (as `q4_k_x4`): one 512-bit
//! register holds the 16 quants of one 16-element sub-block of each row,
//! against the same 16 activation bytes broadcast from memory to every
//! lane, and its scale comes from one `vpshufd` for the 4 rows.
//!
//! Layout of one block (4 rows, 840 bytes, as many as the file's):
//! - low bits: for m in 0..8, 16 bytes per row (r0..r3): low nibbles are
//!   sub-block m, high nibbles sub-block m + 8 (positions 0..16);
//! - high bits: for h in 0..4, 16 bytes per row: bits 2t..2t + 2 are the
//!   high bits of sub-block 4t + h;
//! - scales: sub-blocks 0..8 of r0, r1, r2, r3 (i8), then 8..16 of each;
//! - `d` of r0..r3 (f16).
//!
//! Same sums as the AVX2 row dot: its i32 lane `L` of a row gets the
//! sub-blocks of parity `L / 4`, positions `4(L % 4)..`; here that is lane
//! `L % 4` of the row's 128-bit lane in accumulator `L / 4`, with the same
//! integer (exact in any order), minus the same `32 · sc · bsums` offset
//! lane; then the same FMA with `d` and the same horizontal sum.

use std::arch::x86_64::*;

use super::packed_kquant::packed_rows;
use super::packed_q4_k::{bcast16, dpwssd, load64, pick4, prefetch, x4_sums, Mins};
use crate::arch::x86::avx2::kquant::at;
use crate::blocks::{BlockQ8K, QK_K};
use crate::packed::{Packing, ALIGN};
use gguf::GgmlType;

/// Rows per group.
const ROWS: usize = 4;
/// Bytes of one Q6_K block.
const BLOCK: usize = 210;
/// Bytes of each part of one packed block, and of the block.
const QL: usize = 512;
const QH: usize = 256;
const SC: usize = 64;
const PACKED: usize = QL + QH + SC + 8;

pub(super) static Q6_K_X4: Packing = Packing {
    name: "q6_k_x4",
    ty: GgmlType::Q6_K,
    group: ROWS,
    group_bytes: q6_k_x4_bytes,
    pack: pack_q6_k_x4,
    rows: rows_q6_k_x4,
};

fn q6_k_x4_bytes(cols: usize) -> usize {
    (cols / QK_K * PACKED).div_ceil(ALIGN) * ALIGN
}

/// The 6-bit quant of element `e` (0..256) of a Q6_K block (file layout:
/// `ql` 128 bytes, `qh` 64): the stored 0..64, before the -32.
fn q6(b: &[u8], e: usize) -> u8 {
    let (n, k, l) = (e / 128, e % 128 / 32, e % 32);
    let ql = b[64 * n + 32 * (k & 1) + l] >> (4 * (k >> 1)) & 0x0F;
    let qh = b[128 + 32 * n + l] >> (2 * k) & 0x03;
    ql | qh << 4
}

/// Four Q6_K rows of `cols` columns (file layout) -> one `q6_k_x4` group.
// rows: [4 * row_bytes(Q6_K, cols)] -> out: [q6_k_x4_bytes(cols)]
fn pack_q6_k_x4(cols: usize, rows: &[u8], out: &mut [u8]) {
    let nb = cols / QK_K;
    let rb = nb * BLOCK;
    for i in 0..nb {
        let o = &mut out[i * PACKED..][..PACKED];
        for r in 0..ROWS {
            let b = &rows[r * rb + i * BLOCK..][..BLOCK];
            for p in 0..16 {
                for m in 0..8 {
                    o[64 * m + 16 * r + p] =
                        q6(b, 16 * m + p) & 0x0F | (q6(b, 16 * (m + 8) + p) & 0x0F) << 4;
                }
                for h in 0..4 {
                    o[QL + 64 * h + 16 * r + p] = (0..4)
                        .map(|t| (q6(b, 16 * (4 * t + h) + p) >> 4) << (2 * t))
                        .fold(0, |a, v| a | v);
                }
            }
            let sc = &b[192..208];
            o[QL + QH + 8 * r..][..8].copy_from_slice(&sc[..8]);
            o[QL + QH + 32 + 8 * r..][..8].copy_from_slice(&sc[8..]);
            o[QL + QH + SC + 2 * r..][..2].copy_from_slice(&b[208..210]);
        }
    }
}

packed_rows!(rows_q6_k_x4, 4, q6_k_x4_bytes, q6_k_x4);

/// Sub-block `S` (0..16) of four rows against the activation `q8`: its
/// 6-bit quants from `ql` / `qh`, times the Q8_K quants, scaled, added to
/// chain `part[S % 2 + 2 (S / 8)]`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn sub_block<const S: usize>(
    ql: &[__m512i; 8],
    qh: &[__m512i; 4],
    pairs: &[__m512i; 4],
    q8: &[i8; QK_K],
    part: &mut [__m512i; 4],
) {
    let m4 = _mm512_set1_epi8(0x0F);
    let (m, h) = (ql[S % 8], qh[S % 4]);
    let nib = if S < 8 {
        _mm512_and_si512(m, m4)
    } else {
        _mm512_and_si512(_mm512_srli_epi16::<4>(m), m4)
    };
    let hb = match S / 4 {
        0 => _mm512_slli_epi16::<4>(h),
        1 => _mm512_slli_epi16::<2>(h),
        2 => h,
        _ => _mm512_srli_epi16::<2>(h),
    };
    let q = _mm512_or_si512(nib, _mm512_and_si512(hb, _mm512_set1_epi8(0x30)));
    let prod = _mm512_maddubs_epi16(q, bcast16(at(q8, 16 * S)));
    let k = S % 2 + 2 * (S / 8);
    part[k] = dpwssd(part[k], prod, pick4(pairs[S / 4], S % 4));
}

/// x: `P` `q6_k_x4` groups of `y.len()` blocks each, y: the Q8_K
/// activation -> the 4P dot products (`ahead`: prefetch distance in bytes)
///
/// # Safety
/// The CPU must support AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn q6_k_x4<const P: usize>(x: [&[u8]; P], y: &[BlockQ8K], ahead: usize) -> [[f32; 4]; P] {
    let d_idx = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    let zero = _mm512_setzero_si512();
    let mut acc = [[_mm512_setzero_ps(); 2]; P];
    for (i, by) in y.iter().enumerate() {
        let yd = _mm_set1_ps(by.d);
        let bsums: &[i16; 16] = &by.bsums;
        let bs = [
            bcast16(bytemuck::cast_ref(at::<i16, 8>(bsums, 0))),
            bcast16(bytemuck::cast_ref(at::<i16, 8>(bsums, 8))),
        ];
        for p in 0..P {
            let blk: &[u8; PACKED] = at(x[p], i * PACKED);
            prefetch(blk, ahead);
            // SAFETY: 8 readable bytes; no alignment requirement.
            let h = unsafe { _mm_loadl_epi64(blk[QL + QH + SC..].as_ptr().cast()) };
            let d = _mm512_castps128_ps512(_mm_mul_ps(_mm_cvtph_ps(h), yd));
            let d = _mm512_permutexvar_ps(d_idx, d);
            // scales of sub-blocks 8g..8g + 8 as i16, row r in lane r
            let sc = [0, 1].map(|g| {
                // SAFETY: 32 readable bytes; no alignment requirement.
                let s = unsafe { _mm256_loadu_si256(blk[QL + QH + 32 * g..].as_ptr().cast()) };
                _mm512_cvtepi8_epi16(s)
            });
            let pairs = [
                _mm512_unpacklo_epi16(sc[0], sc[0]),
                _mm512_unpackhi_epi16(sc[0], sc[0]),
                _mm512_unpacklo_epi16(sc[1], sc[1]),
                _mm512_unpackhi_epi16(sc[1], sc[1]),
            ];
            let ql = [0, 1, 2, 3, 4, 5, 6, 7].map(|m| load64(at(blk, 64 * m)));
            let qh = [0, 1, 2, 3].map(|h| load64(at(blk, QL + 64 * h)));
            // Two chains per accumulator g (sub-block parity).
            let mut part = [zero; 4];
            // Written out: a loop over s is not unrolled.
            macro_rules! terms {
                ($($s:literal)*) => {$(
                    sub_block::<$s>(&ql, &qh, &pairs, &by.qs, &mut part);
                )*};
            }
            terms!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
            for g in 0..2 {
                // sum (q - 32) * q8 * sc = sum q * q8 * sc - 32 * sum sc * bsums
                let offset = _mm512_slli_epi32::<5>(_mm512_madd_epi16(sc[g], bs[g]));
                let sumi = _mm512_add_epi32(part[g], part[g + 2]);
                let sumi = _mm512_sub_epi32(sumi, offset);
                acc[p][g] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(sumi), acc[p][g]);
            }
        }
    }
    let mut out = [[0f32; 4]; P];
    for p in 0..P {
        out[p] = x4_sums(acc[p], _mm512_setzero_ps(), Mins::None);
    }
    out
}
