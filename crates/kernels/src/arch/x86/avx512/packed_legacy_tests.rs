//! The repacked legacy layouts (`packed_legacy`) against the default
//! table's row dot, bit for bit, on their fast path (activations without
//! a byte of -128; `packed_tests` covers the rest through the same entry):
//! random, quantized and extreme rows, block counts 1, 7 and random, row
//! counts covering one and two groups at a time and the unpacked rest,
//! every row range a thread may get.

use super::packed_tests::check;
use super::rows_legacy_tests::acts;
use super::rows_tests::{avx512, matrix};
use crate::blocks::QK;
use crate::conformance::data::{constant_acts, unit_scales, Data, Row};
use crate::conformance::Rng;
use crate::quant::row_bytes;
use gguf::GgmlType::{self, *};

const TYPES: [GgmlType; 1] = [Q4_0];

#[test]
fn packed_legacy_equals_the_row_dot_bit_for_bit() {
    let Some(k) = avx512() else { return };
    for (i, t) in TYPES.into_iter().enumerate() {
        let mut rng = Rng(0x9ac7 + i as u64);
        let random_nb = 2 + rng.below(60);
        for nb in [1, 7, random_nb] {
            let n = nb * QK;
            for nr in [4, 5, 7, 8, 9, 12, 13, 16, 17, 1 + rng.below(40)] {
                for (wd, ad) in [
                    (Data::Quantized, Data::Quantized),
                    (Data::Raw, Data::Raw),
                    (Data::Extreme, Data::Raw),
                    (Data::Raw, Data::Extreme),
                ] {
                    let w = matrix(&mut rng, t, n, nr, wd, 0);
                    let a = acts(&mut rng, t, n, ad);
                    check(
                        k,
                        t,
                        n,
                        nr,
                        w.bytes(),
                        a.bytes(),
                        &format!("{wd:?} x {ad:?}"),
                    );
                }
            }
        }
    }
}

#[test]
fn packed_legacy_extreme_quants_equal_the_row_dot() {
    let Some(k) = avx512() else { return };
    for t in TYPES {
        let n = 3 * QK;
        for wbyte in [0x00u8, 0xFF, 0x88, 0x0F, 0xF0] {
            for q8 in [-127i8, 127, 1, -128] {
                let mut w = Row::zeroed(9 * row_bytes(t, n));
                w.bytes_mut().fill(wbyte);
                unit_scales(&mut w, t);
                let a = constant_acts(Q8_0, n, q8);
                check(
                    k,
                    t,
                    n,
                    9,
                    w.bytes(),
                    a.bytes(),
                    &format!("{wbyte:#x} x {q8}"),
                );
            }
        }
    }
}
