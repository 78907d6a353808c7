//! The `vpdpbusd` rows kernels of Q4_0, Q5_0, Q8_0, Q4_1 and Q5_1
//! (`rows_legacy`) against the table's row dot (the AVX2 kernels), bit for
//! bit, on their fast path: activations over the whole byte range (for the
//! Q8_0 types except -128: raw random bytes with -128 made -127, and
//! quantized ones), weights quantized, raw and with extreme scales (f16
//! ±65504, subnormals, and raw f16 bytes in every scale and min field: NaN
//! and infinity included), extreme quants, row counts 1..=9 and beyond
//! (every remainder of the four-quarter groups), block counts 1, 7 and
//! random, rows at 2-byte offsets (aligned for the blocks, not for
//! vectors). Q8_0 activations holding -128 take the row dot; that path is
//! checked too.

use super::rows_tests::{avx512, matrix};
use crate::arch::rows::check_rows as check;
use crate::blocks::QK;
use crate::conformance::data::{constant_acts, row, unit_scales, Data, Row};
use crate::conformance::Rng;
use crate::quant::{row_bytes, vec_dot_type};
use gguf::GgmlType::{self, *};

const TYPES: [GgmlType; 5] = [Q4_0, Q5_0, Q8_0, Q4_1, Q5_1];

/// The types whose activations (Q8_0) have the -128 exception.
const Q8_0_TYPES: [GgmlType; 3] = [Q4_0, Q5_0, Q8_0];

/// An activation row of `n` elements for weights of type `t`; for Q8_0
/// without a byte of -128 (it would send the call to the row dot).
pub(super) fn acts(rng: &mut Rng, t: GgmlType, n: usize, data: Data) -> Row {
    let at = vec_dot_type(t);
    let mut a = row(rng, at, n, data);
    if at == Q8_0 {
        for block in a.bytes_mut().chunks_exact_mut(2 + QK) {
            for q in &mut block[2..] {
                if *q == 0x80 {
                    *q = 0x81;
                }
            }
        }
    }
    a
}

/// Random bytes in every scale (and min) field of every block (infinity
/// and subnormal f16 values among them; NaN too for the single-scale
/// types).
///
/// Blocks with mins carry two f16 fields a side, so two NaNs of different
/// sign can meet in one sum, and which one survives depends on operand
/// order that LLVM may commute (`fadd` is commutative): for those types a
/// NaN field is made infinite. (inf · 0 and inf - inf still make NaNs, all
/// the same default NaN.)
fn raw_scales(rng: &mut Rng, r: &mut Row, t: GgmlType) {
    let with_mins = matches!(t, Q4_1 | Q5_1 | Q8_1);
    for block in r.bytes_mut().chunks_exact_mut(t.type_size()) {
        for f in 0..if with_mins { 2 } else { 1 } {
            let mut h = rng.next() as u16;
            if with_mins && half::f16::from_bits(h).is_nan() {
                h &= 0xFC00;
            }
            block[2 * f..2 * f + 2].copy_from_slice(&h.to_le_bytes());
        }
    }
}

#[test]
fn fast_path_equals_the_row_dot_bit_for_bit() {
    let Some(k) = avx512() else { return };
    for (i, t) in TYPES.into_iter().enumerate() {
        let mut rng = Rng(0x1e9ac7 + i as u64);
        let random_nb = 2 + rng.below(90);
        for nb in [1, 7, random_nb] {
            let n = nb * QK;
            let mut rows: Vec<usize> = (1..=9).collect();
            rows.extend([13, 16, 31, 1 + rng.below(40)]);
            for nr in rows {
                for (wd, ad) in [
                    (Data::Quantized, Data::Quantized),
                    (Data::Raw, Data::Raw),
                    (Data::Extreme, Data::Raw),
                    (Data::Raw, Data::Extreme),
                ] {
                    let skew = 2 * rng.below(2);
                    let w = matrix(&mut rng, t, n, nr, wd, skew);
                    let a = acts(&mut rng, t, n, ad);
                    let what = format!("{wd:?} x {ad:?}, skew {skew}");
                    check(k, t, n, &w.bytes()[skew..], a.bytes(), &what);
                }
                let mut w = matrix(&mut rng, t, n, nr, Data::Raw, 0);
                raw_scales(&mut rng, &mut w, t);
                let mut a = acts(&mut rng, t, n, Data::Raw);
                if vec_dot_type(t) == Q8_1 {
                    raw_scales(&mut rng, &mut a, Q8_1);
                }
                check(k, t, n, w.bytes(), a.bytes(), "raw f16 scales");
            }
        }
    }
}

/// Every weight quant bit set or clear, activations at the ends of the
/// fast path's range (and -128, which takes the row dot), unit scales.
#[test]
fn extreme_quants_equal_the_row_dot() {
    let Some(k) = avx512() else { return };
    for t in TYPES {
        let n = 5 * QK;
        for wbyte in [0x00u8, 0xFF, 0x88, 0x0F, 0xF0] {
            for q8 in [-128i8, -127, 127, 1] {
                let mut w = Row::zeroed(7 * row_bytes(t, n));
                w.bytes_mut().fill(wbyte);
                unit_scales(&mut w, t);
                let a = constant_acts(vec_dot_type(t), n, q8);
                check(k, t, n, w.bytes(), a.bytes(), &format!("{wbyte:#x} x {q8}"));
            }
        }
    }
}

/// One -128 activation byte anywhere sends the whole call to the row dot,
/// which keeps the AVX2 sign trick's value for it.
#[test]
fn an_activation_of_minus_128_takes_the_row_dot() {
    let Some(k) = avx512() else { return };
    for t in Q8_0_TYPES {
        let mut rng = Rng(0x80);
        let n = 9 * QK;
        for _ in 0..20 {
            let w = matrix(&mut rng, t, n, 6, Data::Raw, 0);
            let mut a = acts(&mut rng, t, n, Data::Raw);
            let block = rng.below(9) * (2 + QK);
            a.bytes_mut()[block + 2 + rng.below(QK)] = 0x80;
            check(k, t, n, w.bytes(), a.bytes(), "one -128");
        }
    }
}
