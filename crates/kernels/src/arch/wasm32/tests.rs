//! What is particular to the simd128 build: its f16 widening, and the
//! row helpers its other kernel tests share. The conformance test
//! (`crate::conformance`) holds the table against the scalar reference.

use super::simd::{f16_to_f32, f16x4_to_f32};
use super::*;
use crate::conformance::data::{f16_fields, row, Data, Row};
use crate::conformance::Rng;
use core::arch::wasm32::*;

/// `n` values (one in 64 an outlier) quantized to `t` by the scalar
/// reference.
pub(super) fn quantized(g: &mut Rng, t: GgmlType, n: usize) -> Row {
    row(g, t, n, Data::Quantized)
}

/// Random bytes of `n` elements of `t`, every f16 scale made finite and,
/// for activation types, the stored sums consistent with the quants (over
/// the whole i8 range, -128 included).
pub(super) fn raw(g: &mut Rng, t: GgmlType, n: usize) -> Row {
    row(g, t, n, Data::Raw)
}

/// `rows` rows of `n` weights of type `w` with every byte `fill`, unit scales.
pub(super) fn extreme_weights(w: GgmlType, n: usize, rows: usize, fill: u8) -> Row {
    let mut wr = Row::zeroed(rows * row_bytes(w, n));
    wr.bytes_mut().fill(fill);
    for blk in wr.bytes_mut().chunks_exact_mut(w.type_size()) {
        for &off in f16_fields(w) {
            blk[off..off + 2].copy_from_slice(&f16::ONE.to_le_bytes());
        }
    }
    wr
}

/// `n` activations of type `a` (a Q8 type) with every quant `fill`
/// (random scales, consistent sums).
pub(super) fn constant_acts(a: GgmlType, n: usize, fill: u8) -> Row {
    let mut ar = raw(&mut Rng(7), a, n);
    for blk in ar.bytes_mut().chunks_exact_mut(a.type_size()) {
        let (qs, sums) = match a {
            GgmlType::Q8_0 => (2..34, None),
            GgmlType::Q8_1 => (4..36, None),
            _ => (4..260, Some(260..292)),
        };
        blk[qs].fill(fill);
        if let Some(s) = sums {
            let v = 16 * fill as i8 as i16;
            blk[s]
                .chunks_exact_mut(2)
                .for_each(|c| c.copy_from_slice(&v.to_le_bytes()));
        }
    }
    ar
}

#[test]
fn f16_widening_equals_half_for_every_value() {
    for hi in 0..(1u32 << 14) {
        let bits = [0, 1, 2, 3].map(|l| (4 * hi + l) as u16);
        let v = u32x4(
            bits[0] as u32,
            bits[1] as u32,
            bits[2] as u32,
            bits[3] as u32,
        );
        let r = f16x4_to_f32(v);
        let lanes = [
            f32x4_extract_lane::<0>(r),
            f32x4_extract_lane::<1>(r),
            f32x4_extract_lane::<2>(r),
            f32x4_extract_lane::<3>(r),
        ];
        for (l, &b) in bits.iter().enumerate() {
            let want = f16::from_bits(b).to_f32();
            for (what, got) in [
                ("scalar", f16_to_f32(f16::from_bits(b))),
                ("simd", lanes[l]),
            ] {
                if want.is_nan() {
                    assert!(got.is_nan(), "{what} {b:#06x}: {got}");
                } else {
                    assert_eq!(got.to_bits(), want.to_bits(), "{what} {b:#06x}");
                }
            }
        }
    }
}
