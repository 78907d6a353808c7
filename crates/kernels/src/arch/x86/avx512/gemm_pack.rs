//! Q8_0 activations repacked once per product for the pair tiles of
//! `gemm_legacy`: everything a tile needs of a token pair and block, in the
//! registers' layout, so the tile's inner loop only loads it.
//!
//! Tokens go in groups of 8 (4 pairs; the last group repeats the last
//! token, whose extra outputs are dropped). Per group and block, 9 lines of
//! 64 bytes, group-major then block-major (a tile streams its group):
//! - lines 0..4, pair j: the quants of token 2j (bytes 0..32) and 2j + 1
//!   (32..64), as `vpdpbusd`'s signed operand;
//! - lines 4..8, pair j: `-off * (y[4k] + .. + y[4k + 3])` per i32 lane k of
//!   line j, the correction of a weight decoded as `q + off`;
//! - line 8: the activation scales as f32 lanes, 128-bit lanes
//!   `[e, e, o, o]` with `e = d of tokens 0, 2, 4, 6` and `o = 1, 3, 5, 7`,
//!   so one multiply by a weight scale gives the products of 8 tokens and
//!   an in-lane permute (`vpermilps`) spreads pair j's two products to the
//!   two 256-bit halves. Products of two f16 values are exact in f32.

use std::arch::x86_64::*;

use crate::blocks::BlockQ8_0;

/// One 64-byte line (one zmm register).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub(super) struct Line(pub(super) [u8; 64]);

/// Lines per group and block.
pub(super) const GROUP_LINES: usize = 9;
/// Tokens per group.
pub(super) const GROUP_TOKS: usize = 8;
/// Line of the first correction.
pub(super) const BASE: usize = 4;
/// Line of the scales.
pub(super) const SCALES: usize = 8;

/// Groups of `toks` tokens.
pub(super) fn groups(toks: usize) -> usize {
    toks.div_ceil(GROUP_TOKS)
}

/// Packs `toks` rows of `nb` Q8_0 blocks for weights decoded as `q + off`
/// into `out` (resized to `groups(toks) * nb * GROUP_LINES` lines).
// a: [toks * nb] blocks -> out: [groups][nb][GROUP_LINES] lines
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn pack(a: &[BlockQ8_0], nb: usize, toks: usize, off: u8, out: &mut Vec<Line>) {
    assert!(
        toks > 0 && a.len() >= toks * nb,
        "pack: {toks} x {nb} blocks"
    );
    let lines = groups(toks) * nb * GROUP_LINES;
    out.clear();
    out.resize(lines, Line([0; 64]));
    let offs = _mm512_set1_epi8(off as i8);
    let zero = _mm512_setzero_si512();
    for (g, group) in out.chunks_exact_mut(nb * GROUP_LINES).enumerate() {
        let tok: [&[BlockQ8_0]; GROUP_TOKS] = std::array::from_fn(|k| {
            let t = (g * GROUP_TOKS + k).min(toks - 1);
            &a[t * nb..(t + 1) * nb]
        });
        for (i, l) in group.chunks_exact_mut(GROUP_LINES).enumerate() {
            for j in 0..4 {
                let (b0, b1) = (&tok[2 * j][i], &tok[2 * j + 1][i]);
                // SAFETY: `qs` are 32 readable bytes each, a line 64
                // writable ones; unaligned loads, aligned store.
                unsafe {
                    let lo = _mm256_loadu_si256(b0.qs.as_ptr().cast());
                    let hi = _mm256_loadu_si256(b1.qs.as_ptr().cast());
                    let y = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi);
                    _mm512_store_si512(l[j].0.as_mut_ptr().cast(), y);
                    let base = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, offs, y));
                    _mm512_store_si512(l[BASE + j].0.as_mut_ptr().cast(), base);
                }
            }
            let h: [u16; 8] = std::array::from_fn(|k| {
                let t = 2 * (k % 4) + k / 4;
                tok[t][i].d.to_bits()
            });
            // SAFETY: `h` is 16 readable bytes, a line 64 writable ones.
            unsafe {
                let eo = _mm256_cvtph_ps(_mm_loadu_si128(h.as_ptr().cast()));
                let d = _mm512_castps256_ps512(eo);
                // 128-bit lanes [e, e, o, o]
                let d = _mm512_shuffle_f32x4::<0b01_01_00_00>(d, d);
                _mm512_store_ps(l[SCALES].0.as_mut_ptr().cast(), d);
            }
        }
    }
}
