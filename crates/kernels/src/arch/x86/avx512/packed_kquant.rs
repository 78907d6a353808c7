//! Repacked Q4_K for the default AVX-512 table's decode (`crate::packed`):
//! `q4_k_x2`, rows in pairs, each pair's blocks split into three planes so
//! the pair kernel of `rows_kquant` reads whole cache lines and does no
//! scale unpacking:
//!
//! - quants, 256 bytes per block: for c in 0..4, `A.qs[32c..32c + 32]`
//!   then `B.qs[32c..32c + 32]` (one 64-byte load per chunk, row A in the
//!   low 256 bits as the pair kernel wants);
//! - scales and mins, 32 bytes per block: A's 8 six-bit scales, its 8
//!   mins, then B's (one `vpmovzxbw` gives the kernel's i16 lanes);
//! - heads, 8 bytes per block: `A.d, A.dmin, B.d, B.dmin` (f16).
//!
//! A group is the three planes of one row pair, padded to 64 bytes, so
//! every group (and its quants plane) starts on a cache line. The kernel
//! runs `rows_kquant::q4_k_pair_block`, the same operations as the
//! unpacked pair kernel, so outputs equal the AVX2 row dot bit for bit.

use std::arch::x86_64::*;

use super::rows::prefetch;
use super::rows_kquant::{q4_k_pair_block, q4_k_pair_sums, q8_k_act};
use crate::arch::x86::avx2::kquant::at;
use crate::blocks::{BlockQ8K, QK_K};
use crate::packed::{Packing, ALIGN};
use crate::quant::kscales::unpack_scales_mins_k4;
use crate::quant::row_bytes;
use gguf::GgmlType;

/// Bytes of one Q4_K block.
const BLOCK: usize = 144;
/// Bytes per block pair of each plane.
const QS: usize = 256;
const SM: usize = 32;
const HEADS: usize = 8;
/// Bytes of one block pair.
const PAIR: usize = QS + SM + HEADS;

/// The repacked layouts of the default AVX-512 table.
pub(super) fn lookup(w: GgmlType) -> Option<&'static Packing> {
    match w {
        GgmlType::Q4_K => Some(&Q4_K_X2),
        _ => None,
    }
}

pub(super) static Q4_K_X2: Packing = Packing {
    name: "q4_k_x2",
    ty: GgmlType::Q4_K,
    group: 2,
    group_bytes: q4_k_x2_bytes,
    pack: pack_q4_k_x2,
    rows: rows_q4_k_x2,
};

fn q4_k_x2_bytes(cols: usize) -> usize {
    (cols / QK_K * PAIR).div_ceil(ALIGN) * ALIGN
}

/// Two Q4_K rows of `cols` columns (file layout) -> one `q4_k_x2` group.
// rows: [2 * row_bytes(Q4_K, cols)] -> out: [q4_k_x2_bytes(cols)]
fn pack_q4_k_x2(cols: usize, rows: &[u8], out: &mut [u8]) {
    let nb = cols / QK_K;
    let rb = nb * BLOCK;
    for i in 0..nb {
        let (qs, rest) = out[i * PAIR..][..PAIR].split_at_mut(QS);
        let (sm, heads) = rest.split_at_mut(SM);
        for r in 0..2 {
            let b = &rows[r * rb + i * BLOCK..][..BLOCK];
            heads[4 * r..][..4].copy_from_slice(&b[..4]);
            let (sc, m) = unpack_scales_mins_k4(at(b, 4));
            sm[16 * r..][..8].copy_from_slice(&sc);
            sm[16 * r + 8..][..8].copy_from_slice(&m);
            for c in 0..4 {
                qs[64 * c + 32 * r..][..32].copy_from_slice(&b[16 + 32 * c..][..32]);
            }
        }
    }
}

/// The `q4_k_x2` decode kernel: groups two at a time (two independent
/// chains), then the last one alone.
// groups: [y.len() / 2 * q4_k_x2_bytes(n)], act: [row_bytes(Q8_K, n)] -> y
fn rows_q4_k_x2(n: usize, groups: &[u8], act: &[u8], y: &mut [f32]) -> bool {
    let Ok(act) = bytemuck::try_cast_slice::<u8, BlockQ8K>(&act[..row_bytes(GgmlType::Q8_K, n)])
    else {
        return false;
    };
    let gb = q4_k_x2_bytes(n);
    let ahead = 2 * gb;
    let mut quads = y.chunks_exact_mut(4);
    let mut gs = groups.chunks_exact(gb);
    for o in &mut quads {
        let g = [gs.next(), gs.next()].map(|g| g.expect("group count"));
        // SAFETY: AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C were detected
        // before the AVX-512 table (the only owner of this layout) was
        // handed out.
        let [[a, b], [c, d]] = unsafe { q4_k_x2::<2>(g, act, ahead) };
        o.copy_from_slice(&[a, b, c, d]);
    }
    if let [a, b] = quads.into_remainder() {
        let g = gs.next().expect("group count");
        // SAFETY: as above.
        [[*a, *b]] = unsafe { q4_k_x2::<1>([g], act, ahead) };
    }
    true
}

/// 64 bytes.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn load64(b: &[u8; 64]) -> __m512i {
    // SAFETY: `b` is 64 readable bytes; `loadu` has no alignment requirement.
    unsafe { _mm512_loadu_si512(b.as_ptr().cast()) }
}

/// x: `P` `q4_k_x2` groups of `y.len()` blocks each, y: the Q8_K
/// activation -> the 2P dot products (`ahead`: prefetch distance in bytes)
///
/// # Safety
/// The CPU must support AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn q4_k_x2<const P: usize>(x: [&[u8]; P], y: &[BlockQ8K], ahead: usize) -> [[f32; 2]; P] {
    let mut acc = [_mm512_setzero_ps(); P];
    let mut acc_m = [_mm256_setzero_ps(); P];
    for (i, by) in y.iter().enumerate() {
        let act = q8_k_act(by);
        for p in 0..P {
            let pair: &[u8; PAIR] = at(x[p], i * PAIR);
            prefetch(pair, ahead);
            let qs: &[u8; QS] = at(pair, 0);
            let sm: &[u8; SM] = at(pair, QS);
            let heads: &[u8; HEADS] = at(pair, QS + SM);
            // SAFETY: `sm` is 32 and `heads` 8 readable bytes; `loadu` has
            // no alignment requirement.
            let (sm, heads) = unsafe {
                (
                    _mm512_cvtepu8_epi16(_mm256_loadu_si256(sm.as_ptr().cast())),
                    _mm_loadl_epi64(heads.as_ptr().cast()),
                )
            };
            let q4 = std::array::from_fn(|c| load64(at(qs, 64 * c)));
            q4_k_pair_block(heads, sm, q4, &act, &mut acc[p], &mut acc_m[p]);
        }
    }
    std::array::from_fn(|p| q4_k_pair_sums(acc[p], acc_m[p]))
}
