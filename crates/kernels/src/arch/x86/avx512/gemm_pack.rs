//! Q8_0 activations repacked once per call for the quad tiles of
//! `gemm_legacy`: everything a tile needs of 4 tokens and a block, in the
//! registers' layout, so the tile's inner loop only loads it.
//!
//! A register holds 4 tokens, one per 128-bit lane, and half of each
//! token's 32 quants: half A the quants 0..8 and 16..24 (AVX2 lanes 0, 1,
//! 4, 5 of the row dot's accumulator), half B 8..16 and 24..32 (lanes 2, 3,
//! 6, 7). Each weight block is then two 8-byte broadcasts.
//!
//! Tokens go in groups of 16 (the last group repeats the last token, whose
//! extra outputs are dropped). Per group and block, 17 lines of 64 bytes,
//! group-major then block-major (a tile streams its group):
//! - lines 2q, 2q + 1: halves A and B of tokens 4q..4q + 4, as `vpdpbusd`'s
//!   signed operand;
//! - lines 8 + 2q, 9 + 2q: the offset corrections of those halves, `-off *
//!   (y[4j] + .. + y[4j + 3])` per i32 lane j, with the weights' offset of
//!   the lane's 8-byte half (`Layout`);
//! - line 16: the scales of the 16 tokens as f32, 128-bit lane k holding
//!   `[d(k), d(4 + k), d(8 + k), d(12 + k)]`: one multiply by a weight
//!   scale gives the products of all 16 tokens (exact: f16 x f16), and an
//!   in-lane broadcast (`vpermilps`) spreads those of tokens 4q..4q + 4 to
//!   their lanes.

use std::arch::x86_64::*;

use crate::blocks::BlockQ8_0;

/// One 64-byte line (one zmm register).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub(super) struct Line(pub(super) [u8; 64]);

/// Lines per group and block.
pub(super) const GROUP_LINES: usize = 17;
/// Tokens per group.
pub(super) const GROUP_TOKS: usize = 16;
/// Line of the first correction.
pub(super) const BASE: usize = 8;
/// Line of the scales.
pub(super) const SCALES: usize = 16;

/// How a weight type's decoded bytes sit in a register: the offset added
/// to its quants.
#[derive(Clone, Copy, Debug)]
pub(super) struct Layout {
    pub(super) off: u8,
}

/// Groups of `toks` tokens.
pub(super) fn groups(toks: usize) -> usize {
    toks.div_ceil(GROUP_TOKS)
}

/// Packs `toks` rows of `nb` Q8_0 blocks for weights laid out as `lay`
/// into `out[..groups(toks) * nb * GROUP_LINES]` (grown to that if shorter).
// a: [toks * nb] blocks -> out: [groups][nb][GROUP_LINES] lines
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn pack(a: &[BlockQ8_0], nb: usize, toks: usize, lay: Layout, out: &mut Vec<Line>) {
    assert!(
        toks > 0 && a.len() >= toks * nb,
        "pack: {toks} x {nb} blocks"
    );
    // every line is written below: grow only, without clearing
    let lines = groups(toks) * nb * GROUP_LINES;
    if out.len() < lines {
        out.resize(lines, Line([0; 64]));
    }
    let offs = _mm512_set1_epi8(lay.off as i8);
    let zero = _mm512_setzero_si512();
    // qwords 0 and 2 (half A), 1 and 3 (half B) of 4 tokens' quants
    let half_a = _mm512_set_epi64(14, 12, 10, 8, 6, 4, 2, 0);
    let half_b = _mm512_set_epi64(15, 13, 11, 9, 7, 5, 3, 1);
    // scales: element j of 128-bit lane k takes token 4j + k
    let spread = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    for (g, group) in out[..lines].chunks_exact_mut(nb * GROUP_LINES).enumerate() {
        let tok: [&[BlockQ8_0]; GROUP_TOKS] = std::array::from_fn(|k| {
            let t = (g * GROUP_TOKS + k).min(toks - 1);
            &a[t * nb..(t + 1) * nb]
        });
        for (i, l) in group.chunks_exact_mut(GROUP_LINES).enumerate() {
            for q in 0..4 {
                // SAFETY: `qs` are 32 readable bytes each; lines are 64
                // aligned writable bytes.
                unsafe {
                    let y = |k: usize| _mm256_loadu_si256(tok[4 * q + k][i].qs.as_ptr().cast());
                    let t01 = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(y(0)), y(1));
                    let t23 = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(y(2)), y(3));
                    for (h, pick) in [half_a, half_b].into_iter().enumerate() {
                        let y = _mm512_permutex2var_epi64(t01, pick, t23);
                        _mm512_store_si512(l[2 * q + h].0.as_mut_ptr().cast(), y);
                        let base = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, offs, y));
                        _mm512_store_si512(l[BASE + 2 * q + h].0.as_mut_ptr().cast(), base);
                    }
                }
            }
            let h: [u16; GROUP_TOKS] = std::array::from_fn(|k| tok[k][i].d.to_bits());
            // SAFETY: `h` is 32 readable bytes; lines are 64 aligned writable bytes.
            unsafe {
                let d = _mm512_cvtph_ps(_mm256_loadu_si256(h.as_ptr().cast()));
                let d = _mm512_permutexvar_ps(spread, d);
                _mm512_store_ps(l[SCALES].0.as_mut_ptr().cast(), d);
            }
        }
    }
}
