//! Repacked Q4_K and Q6_K for the default AVX-512 table's decode
//! (`crate::packed`): rows in pairs (row A, row B), each block of the pair
//! laid out so the pair kernels of `rows_kquant` load each 512-bit operand
//! at once (row A in the low 256 bits) and do no scale unpacking.
//!
//! `q4_k_x2`, 296 bytes per block pair:
//! - quants: for c in 0..4, `A.qs[32c..32c + 32]` then `B.qs[..]`;
//! - scales and mins: A's 8 six-bit scales and 8 mins as bytes, then B's
//!   (one `vpmovzxbw` gives the kernel's i16 lanes);
//! - heads: `A.d, A.dmin, B.d, B.dmin` (f16).
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
use super::rows_kquant::{q4_k_pair_dot, q4_k_pair_sums, q4_k_pair_unpack, q6_k_act};
use super::rows_kquant::{q6_k_pair_dot, q6_k_pair_unpack, q8_k_act, Q4KPair, Q6KPair};
use crate::arch::x86::avx2::kquant::{at, d_only};
use crate::blocks::{BlockQ8K, QK_K};
use crate::packed::{Packing, ALIGN};
use crate::quant::kscales::unpack_scales_mins_k4;
use crate::quant::row_bytes;
use gguf::GgmlType;
use half::f16;

/// Bytes of one Q4_K block.
const BLOCK: usize = 144;
/// Bytes per block pair of each plane.
pub(super) const QS: usize = 256;
pub(super) const SM: usize = 32;
pub(super) const HEADS: usize = 8;
/// Bytes of one block pair.
pub(super) const PAIR: usize = QS + SM + HEADS;

/// The repacked layouts of the default AVX-512 table.
pub(super) fn lookup(w: GgmlType) -> Option<&'static Packing> {
    match w {
        GgmlType::Q4_K => Some(&Q4_K_X2),
        GgmlType::Q6_K => Some(&Q6_K_X2),
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
    tokens: Some(super::packed_tokens::tokens_q4_k_x2),
};

pub(super) static Q6_K_X2: Packing = Packing {
    name: "q6_k_x2",
    ty: GgmlType::Q6_K,
    group: 2,
    group_bytes: q6_k_x2_bytes,
    pack: pack_q6_k_x2,
    rows: rows_q6_k_x2,
    tokens: Some(super::packed_tokens::tokens_q6_k_x2),
};

pub(super) fn q4_k_x2_bytes(cols: usize) -> usize {
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

/// Runs a pair kernel over packed groups of `gb` bytes: two groups at a
/// time (two independent chains), then the last one alone.
/// `two(groups, act, ahead)` / `one(..)` run the typed kernel.
// groups: [y.len() / 2 * gb], act: [row_bytes(Q8_K, n)] -> y
#[inline(always)]
fn by_groups(
    n: usize,
    gb: usize,
    groups: &[u8],
    act: &[u8],
    y: &mut [f32],
    two: impl Fn([&[u8]; 2], &[BlockQ8K], usize) -> [[f32; 2]; 2],
    one: impl Fn([&[u8]; 1], &[BlockQ8K], usize) -> [[f32; 2]; 1],
) -> bool {
    let Ok(act) = bytemuck::try_cast_slice::<u8, BlockQ8K>(&act[..row_bytes(GgmlType::Q8_K, n)])
    else {
        return false;
    };
    let ahead = 2 * gb;
    let mut quads = y.chunks_exact_mut(4);
    let mut gs = groups.chunks_exact(gb);
    for o in &mut quads {
        let g = [gs.next(), gs.next()].map(|g| g.expect("group count"));
        let [[a, b], [c, d]] = two(g, act, ahead);
        o.copy_from_slice(&[a, b, c, d]);
    }
    if let [a, b] = quads.into_remainder() {
        let g = gs.next().expect("group count");
        [[*a, *b]] = one([g], act, ahead);
    }
    true
}

/// One `Packing::rows` function per layout: `$name` runs `$kernel` over
/// groups of `$bytes(n)` bytes through the `by_groups` of the module that
/// invokes it (this one for the k-quants, `packed_legacy` for Q4_0).
macro_rules! packed_rows {
    ($name:ident, $bytes:ident, $kernel:ident) => {
        // groups: [y.len() / group * $bytes(n)], act: the activation row -> y
        fn $name(n: usize, groups: &[u8], act: &[u8], y: &mut [f32]) -> bool {
            by_groups(
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

packed_rows!(rows_q4_k_x2, q4_k_x2_bytes, q4_k_x2);
packed_rows!(rows_q6_k_x2, q6_k_x2_bytes, q6_k_x2);

/// 64 bytes.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn load64(b: &[u8; 64]) -> __m512i {
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
            let pair = q4_k_x2_block(x[p], i, ahead);
            q4_k_pair_dot(&pair, &act, &mut acc[p], &mut acc_m[p]);
        }
    }
    std::array::from_fn(|p| q4_k_pair_sums(acc[p], acc_m[p]))
}

/// Block pair `i` of a `q4_k_x2` group, unpacked (prefetching `ahead`
/// bytes further on; 0: no prefetch).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn q4_k_x2_block(group: &[u8], i: usize, ahead: usize) -> Q4KPair {
    let (heads, sm, qs) = q4_k_x2_parts(group, i, ahead);
    let q4 = [
        load64(at(qs, 0)),
        load64(at(qs, 64)),
        load64(at(qs, 128)),
        load64(at(qs, 192)),
    ];
    q4_k_pair_unpack(heads, sm, q4)
}

/// Block pair `i` of a `q4_k_x2` group (prefetching `ahead` bytes further
/// on; 0: no prefetch): `heads` and `sm` as `q4_k_pair_unpack` takes them,
/// and the quants (chunk c at byte 64c: `qs[32c..32c + 32]` of row A,
/// then of row B).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn q4_k_x2_parts(group: &[u8], i: usize, ahead: usize) -> (__m128i, __m512i, &[u8; QS]) {
    let pair: &[u8; PAIR] = at(group, i * PAIR);
    if ahead > 0 {
        prefetch(pair, ahead);
    }
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
    (heads, sm, at(pair, 0))
}

/// Bytes of one Q6_K block and of one `q6_k_x2` block pair's parts.
const BLOCK6: usize = 210;
const QL6: usize = 256;
const QH6: usize = 128;
const SC6: usize = 32;
const PAIR6: usize = QL6 + QH6 + SC6 + 4;

pub(super) fn q6_k_x2_bytes(cols: usize) -> usize {
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
            let (pair, [da, db]) = q6_k_x2_block(x[p], i, ahead);
            let d = pair_ps(d_only(by.d, da), d_only(by.d, db));
            q6_k_pair_dot(&pair, d, bsums, &q8, &mut acc[p]);
        }
    }
    std::array::from_fn(|p| hsum_pair(acc[p]))
}

/// Block pair `i` of a `q6_k_x2` group, unpacked, and its rows' `d`
/// (prefetching `ahead` bytes further on; 0: no prefetch).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn q6_k_x2_block(group: &[u8], i: usize, ahead: usize) -> (Q6KPair, [f16; 2]) {
    let pair: &[u8; PAIR6] = at(group, i * PAIR6);
    if ahead > 0 {
        prefetch(pair, ahead);
    }
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
    let d = [
        f16::from_le_bytes([ds[0], ds[1]]),
        f16::from_le_bytes([ds[2], ds[3]]),
    ];
    (q6_k_pair_unpack(sc, ql, qh), d)
}
