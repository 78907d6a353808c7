//! Repacked k-quants for the default AVX-512 table's decode
//! (`crate::packed`): the lookup, the group loop shared by the layouts,
//! and `q6_k_x2`, rows in pairs (row A, row B), each block of the pair
//! laid out so the pair kernels of `rows_kquant` load each 512-bit operand
//! at once (row A in the low 256 bits) and do no scale unpacking.
//!
//! Q4_K: `q4_k_x4` (`packed_q4_k`).
//!
//! `q6_k_x2`, 420 bytes per block pair:
//! - low bits: for n in 0..2, `A.ql[64n..64n + 32]`, `B.ql[..]`, then
//!   `A.ql[64n + 32..64n + 64]`, `B.ql[..]`;
//! - high bits: for n in 0..2, `A.qh[32n..32n + 32]`, `B.qh[..]`;
//! - scales: A's 16, then B's (i8); then `A.d, B.d` (f16).
//!
//! A group (one row pair's blocks) is padded to 64 bytes, so every group
//! starts on a cache line. The kernels run `rows_kquant`'s pair-block
//! functions, the operations of the unpacked pair kernels, so outputs
//! equal the AVX2 row dot bit for bit.

use std::arch::x86_64::*;

use super::rows::{hsum_pair, pair_ps, prefetch};
use super::rows_kquant::{q6_k_act, q6_k_pair_block};
use crate::arch::x86::avx2::kquant::{at, d_only};
use crate::blocks::{BlockQ8K, QK_K};
use crate::packed::{Packing, ALIGN};
use crate::quant::row_bytes;
use gguf::GgmlType;
use half::f16;

/// The repacked layouts of the default AVX-512 table.
pub(super) fn lookup(w: GgmlType) -> Option<&'static Packing> {
    match w {
        GgmlType::Q4_K => Some(&super::packed_q4_k::Q4_K_X4),
        GgmlType::Q6_K => Some(&Q6_K_X2),
        _ => None,
    }
}

pub(super) static Q6_K_X2: Packing = Packing {
    name: "q6_k_x2",
    ty: GgmlType::Q6_K,
    group: 2,
    group_bytes: q6_k_x2_bytes,
    pack: pack_q6_k_x2,
    rows: rows_q6_k_x2,
};

/// Runs a group kernel over packed groups of `G` rows and `gb` bytes: two
/// groups at a time (two independent chains), then the last one alone.
/// `two(groups, act, ahead)` / `one(..)` run the typed kernel.
// groups: [y.len() / G * gb], act: [row_bytes(Q8_K, n)] -> y
#[inline(always)]
pub(super) fn by_groups<const G: usize>(
    n: usize,
    gb: usize,
    groups: &[u8],
    act: &[u8],
    y: &mut [f32],
    two: impl Fn([&[u8]; 2], &[BlockQ8K], usize) -> [[f32; G]; 2],
    one: impl Fn([&[u8]; 1], &[BlockQ8K], usize) -> [[f32; G]; 1],
) -> bool {
    let Ok(act) = bytemuck::try_cast_slice::<u8, BlockQ8K>(&act[..row_bytes(GgmlType::Q8_K, n)])
    else {
        return false;
    };
    let ahead = 2 * gb;
    let mut twos = y.chunks_exact_mut(2 * G);
    let mut gs = groups.chunks_exact(gb);
    for o in &mut twos {
        let g = [gs.next(), gs.next()].map(|g| g.expect("group count"));
        let [a, b] = two(g, act, ahead);
        o[..G].copy_from_slice(&a);
        o[G..].copy_from_slice(&b);
    }
    let rest = twos.into_remainder();
    if !rest.is_empty() {
        let g = gs.next().expect("group count");
        let [a] = one([g], act, ahead);
        rest.copy_from_slice(&a);
    }
    true
}

/// One `Packing::rows` function per layout: `$name` runs `$kernel` over
/// groups of `$g` rows and `$bytes(n)` bytes.
macro_rules! packed_rows {
    ($name:ident, $g:literal, $bytes:ident, $kernel:ident) => {
        // groups: [y.len() / $g * $bytes(n)], act: [row_bytes(Q8_K, n)] -> y
        pub(super) fn $name(n: usize, groups: &[u8], act: &[u8], y: &mut [f32]) -> bool {
            $crate::arch::x86::avx512::packed_kquant::by_groups::<$g>(
                n,
                $bytes(n),
                groups,
                act,
                y,
                // SAFETY: AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C were
                // detected before the AVX-512 table (the only owner of
                // these layouts) was handed out.
                |g, act, ahead| unsafe { $kernel::<2>(g, act, ahead) },
                // SAFETY: as above.
                |g, act, ahead| unsafe { $kernel::<1>(g, act, ahead) },
            )
        }
    };
}
pub(super) use packed_rows;

packed_rows!(rows_q6_k_x2, 2, q6_k_x2_bytes, q6_k_x2);

/// 64 bytes.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn load64(b: &[u8; 64]) -> __m512i {
    // SAFETY: `b` is 64 readable bytes; `loadu` has no alignment requirement.
    unsafe { _mm512_loadu_si512(b.as_ptr().cast()) }
}

/// Bytes of one Q6_K block and of one `q6_k_x2` block pair's parts.
const BLOCK6: usize = 210;
const QL6: usize = 256;
const QH6: usize = 128;
const SC6: usize = 32;
const PAIR6: usize = QL6 + QH6 + SC6 + 4;

fn q6_k_x2_bytes(cols: usize) -> usize {
    (cols / QK_K * PAIR6).div_ceil(ALIGN) * ALIGN
}

/// Two Q6_K rows of `cols` columns (file layout) -> one `q6_k_x2` group.
// rows: [2 * row_bytes(Q6_K, cols)] -> out: [q6_k_x2_bytes(cols)]
fn pack_q6_k_x2(cols: usize, rows: &[u8], out: &mut [u8]) {
    let nb = cols / QK_K;
    let rb = nb * BLOCK6;
    for i in 0..nb {
        let o = &mut out[i * PAIR6..][..PAIR6];
        for r in 0..2 {
            let b = &rows[r * rb + i * BLOCK6..][..BLOCK6];
            let (ql, qh, sc, d) = (&b[..128], &b[128..192], &b[192..208], &b[208..210]);
            for n in 0..2 {
                for h in 0..2 {
                    let src = &ql[64 * n + 32 * h..][..32];
                    o[128 * n + 64 * h + 32 * r..][..32].copy_from_slice(src);
                }
                o[QL6 + 64 * n + 32 * r..][..32].copy_from_slice(&qh[32 * n..][..32]);
            }
            o[QL6 + QH6 + 16 * r..][..16].copy_from_slice(sc);
            o[QL6 + QH6 + SC6 + 2 * r..][..2].copy_from_slice(d);
        }
    }
}

/// x: `P` `q6_k_x2` groups of `y.len()` blocks each, y: the Q8_K
/// activation -> the 2P dot products (`ahead`: prefetch distance in bytes)
///
/// # Safety
/// The CPU must support AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn q6_k_x2<const P: usize>(x: [&[u8]; P], y: &[BlockQ8K], ahead: usize) -> [[f32; 2]; P] {
    let mut acc = [_mm512_setzero_ps(); P];
    for (i, by) in y.iter().enumerate() {
        let (bsums, q8) = q6_k_act(by);
        for p in 0..P {
            let pair: &[u8; PAIR6] = at(x[p], i * PAIR6);
            prefetch(pair, ahead);
            // Written out, not through array maps: their closures are not
            // always inlined.
            let ql = [
                [load64(at(pair, 0)), load64(at(pair, 64))],
                [load64(at(pair, 128)), load64(at(pair, 192))],
            ];
            let qh = [load64(at(pair, QL6)), load64(at(pair, QL6 + 64))];
            let sc: &[u8; SC6] = at(pair, QL6 + QH6);
            // SAFETY: `sc` is 32 readable bytes; `loadu` has no alignment requirement.
            let sc = _mm512_cvtepi8_epi16(unsafe { _mm256_loadu_si256(sc.as_ptr().cast()) });
            let ds: &[u8; 4] = at(pair, QL6 + QH6 + SC6);
            let da = d_only(by.d, f16::from_le_bytes([ds[0], ds[1]]));
            let db = d_only(by.d, f16::from_le_bytes([ds[2], ds[3]]));
            q6_k_pair_block(pair_ps(da, db), sc, ql, qh, bsums, &q8, &mut acc[p]);
        }
    }
    std::array::from_fn(|p| hsum_pair(acc[p]))
}
