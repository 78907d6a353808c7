//! The multi-row decode kernels (`rows`) against the default table's row
//! dot (the AVX2 kernels, llama.cpp's order), bit for bit (`to_bits`): every
//! type with a rows kernel, 1, 7 and random block counts, row counts that
//! are and are not multiples of the 4-row group, quantized, raw random
//! (Q8 activations of -128 included), extreme-scale and extreme-quant
//! rows, and misaligned rows (which take the row dot one row at a time).

use super::*;
use crate::arch::rows::check_rows as check;
use crate::conformance::data::{constant_acts, row, unit_scales, Data, Row};
use crate::conformance::Rng;
use crate::quant::{row_bytes, vec_dot_type};
use GgmlType::*;

/// The default table, if this CPU runs it.
pub(super) fn avx512() -> Option<&'static Kernels> {
    let k = table().map(|_| &super::AVX512);
    if k.is_none() {
        println!("skipped: this CPU lacks AVX-512 F/BW/VL/VNNI (or AVX2/FMA/F16C)");
    }
    k
}

/// `rows` consecutive weight rows of `n` elements of type `t`, `skew`
/// bytes into a u64-aligned buffer.
pub(super) fn matrix(
    rng: &mut Rng,
    t: GgmlType,
    n: usize,
    rows: usize,
    data: Data,
    skew: usize,
) -> Row {
    let rb = row_bytes(t, n);
    let mut m = Row::zeroed(skew + rows * rb);
    for r in 0..rows {
        let one = row(rng, t, n, data);
        m.bytes_mut()[skew + r * rb..][..rb].copy_from_slice(one.bytes());
    }
    m
}

/// The types with a rows kernel.
fn covered(k: &Kernels) -> Vec<GgmlType> {
    GgmlType::ALL
        .into_iter()
        .filter(|&t| k.rows(t).is_some())
        .collect()
}

#[test]
fn rows_kernels_cover_the_llama_cpp_order_types() {
    let Some(k) = avx512() else { return };
    for t in [Q4_K, Q6_K] {
        assert!(k.rows(t).is_some(), "{t}");
    }
    for t in covered(k) {
        assert!(
            llama_cpp_order(t),
            "{t} has a rows kernel but no AVX2 order"
        );
    }
    assert!(super::AVX512_WIDE.rows_lookup.is_none());
}

/// Random matrices of type `t` and activations for them: 1, 7 and a
/// random number of blocks, 1..9 and a random number of rows, quantized,
/// raw and extreme data; `f(n, rows, weights, activation, what)`.
pub(super) fn random_cases(
    t: GgmlType,
    seed: u64,
    mut f: impl FnMut(usize, usize, &[u8], &[u8], &str),
) {
    let mut rng = Rng(seed);
    let at = vec_dot_type(t);
    let random_nb = 2 + rng.below(40);
    for nb in [1, 7, random_nb] {
        let n = nb * t.block_size();
        for nr in [1, 2, 3, 4, 5, 7, 8, 9, 1 + rng.below(20)] {
            for (wd, ad) in [
                (Data::Quantized, Data::Quantized),
                (Data::Raw, Data::Raw),
                (Data::Extreme, Data::Raw),
                (Data::Raw, Data::Extreme),
            ] {
                let w = matrix(&mut rng, t, n, nr, wd, 0);
                let a = row(&mut rng, at, n, ad);
                f(n, nr, w.bytes(), a.bytes(), &format!("{wd:?} x {ad:?}"));
            }
        }
    }
}

#[test]
fn rows_equal_the_row_dot_bit_for_bit() {
    let Some(k) = avx512() else { return };
    for (i, t) in covered(k).into_iter().enumerate() {
        random_cases(t, 0x4057 + i as u64, |n, _, w, a, what| {
            check(k, t, n, w, a, what)
        });
    }
}

/// `r`'s bytes one byte into a new buffer (`[1..]` is then misaligned).
pub(super) fn skewed(r: &Row) -> Row {
    let mut s = Row::zeroed(r.bytes().len() + 1);
    s.bytes_mut()[1..].copy_from_slice(r.bytes());
    s
}

/// Five rows of three blocks of type `t` with every quant bit set (or
/// clear) and unit scales, against activations all -128 or 127:
/// `f(n, weights, activation, what)`.
pub(super) fn extreme_cases(t: GgmlType, mut f: impl FnMut(usize, &[u8], &[u8], &str)) {
    let at = vec_dot_type(t);
    let n = 3 * t.block_size();
    for (wbyte, q8) in [(0xFFu8, -128i8), (0xFF, 127), (0x00, -128), (0x80, -128)] {
        let mut w = Row::zeroed(5 * row_bytes(t, n));
        w.bytes_mut().fill(wbyte);
        unit_scales(&mut w, t);
        let a = constant_acts(at, n, q8);
        f(n, w.bytes(), a.bytes(), &format!("{wbyte:#x} x {q8}"));
    }
}

/// Weights with every quant bit set (or clear), activations all -128 or
/// 127, unit scales.
#[test]
fn rows_of_extreme_quants_equal_the_row_dot() {
    let Some(k) = avx512() else { return };
    for t in covered(k) {
        extreme_cases(t, |n, w, a, what| check(k, t, n, w, a, what));
    }
}

#[test]
fn misaligned_and_empty_rows_take_the_row_dot() {
    let Some(k) = avx512() else { return };
    for t in covered(k) {
        let mut rng = Rng(0x0dd);
        let n = 2 * t.block_size();
        let at = vec_dot_type(t);
        let w = matrix(&mut rng, t, n, 5, Data::Quantized, 1);
        let a = row(&mut rng, at, n, Data::Quantized);
        check(k, t, n, &w.bytes()[1..], a.bytes(), "misaligned weights");
        let w = matrix(&mut rng, t, n, 5, Data::Quantized, 0);
        let a1 = skewed(&a);
        check(k, t, n, w.bytes(), &a1.bytes()[1..], "misaligned act");
        let mut y = [f32::NAN; 3];
        k.rows(t).unwrap()(0, &[], &[], &mut y);
        assert_eq!(y, [0.0; 3], "{t} empty rows");
    }
}
