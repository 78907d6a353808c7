//! The repacked decode layouts (`packed_kquant`) against the default
//! table's row dot (the AVX2 kernels, llama.cpp's order), bit for bit,
//! through `ops::matvec_rows` as the engine calls it: every row range a
//! thread may get (group-aligned starts, ends inside and past the packed
//! groups, the unpacked last row of an odd row count), quantized, raw and
//! extreme data, and a misaligned activation (which takes the row dot).

use super::rows_tests::{avx512, extreme_cases, matrix, random_cases, skewed};
use super::*;
use crate::conformance::data::{row, Data};
use crate::conformance::Rng;
use crate::ops::{matvec_rows, QMatrix};
use crate::packed::PackedMatrix;
use crate::quant::{row_bytes, vec_dot_type};
use GgmlType::*;

/// The types the default table repacks.
fn packed_types(k: &Kernels) -> Vec<GgmlType> {
    GgmlType::ALL
        .into_iter()
        .filter(|&t| k.packing(t).is_some())
        .collect()
}

/// `matvec_rows` over packed `w` equals the row dot on every row of
/// `ranges`, bit for bit.
pub(super) fn check(k: &Kernels, t: GgmlType, n: usize, nr: usize, w: &[u8], a: &[u8], what: &str) {
    let p = k.packing(t).unwrap();
    let file = QMatrix::new(t, nr, n, w);
    let packed = PackedMatrix::pack(p, file).unwrap();
    let m = QMatrix {
        packed: Some(packed.view()),
        ..file
    };
    let dot = k.dot(t).unwrap();
    let rb = row_bytes(t, n);
    let g = p.group;
    for rows in [0..nr, 0..nr / g * g, g.min(nr)..nr, 0..1, nr - 1..nr] {
        let mut y = vec![f32::NAN; rows.len()];
        matvec_rows(k, m, a, rows.clone(), &mut y);
        for (r, got) in rows.clone().zip(&y) {
            let want = dot(n, &w[r * rb..(r + 1) * rb], a);
            assert_eq!(
                got.to_bits(),
                want.to_bits(),
                "{} n={n} row {r} of {nr}, range {rows:?} ({what}): {got} vs row dot {want}",
                p.name
            );
        }
    }
}

#[test]
fn the_default_table_repacks_q4_k_and_q6_k_of_llama_cpp_order() {
    let Some(k) = avx512() else { return };
    assert!(k.packing(Q4_K).is_some() && k.packing(Q6_K).is_some());
    for t in packed_types(k) {
        assert!(llama_cpp_order(t), "{t}");
        let p = k.packing(t).unwrap();
        assert_eq!(p.ty, t);
        for nb in [1, 7, 22] {
            assert_eq!(
                (p.group_bytes)(nb * t.block_size()) % crate::packed::ALIGN,
                0
            );
        }
    }
    assert!(super::AVX512_WIDE.packing_lookup.is_none());
}

#[test]
fn packed_rows_equal_the_row_dot_bit_for_bit() {
    let Some(k) = avx512() else { return };
    for (i, t) in packed_types(k).into_iter().enumerate() {
        random_cases(t, 0x9ac4 + i as u64, |n, nr, w, a, what| {
            check(k, t, n, nr, w, a, what)
        });
    }
}

#[test]
fn packed_extreme_quants_and_misaligned_acts_equal_the_row_dot() {
    let Some(k) = avx512() else { return };
    for t in packed_types(k) {
        extreme_cases(t, |n, w, a, what| check(k, t, n, 5, w, a, what));
        let at = vec_dot_type(t);
        let n = 3 * t.block_size();
        let mut rng = Rng(0x3a1);
        let w = matrix(&mut rng, t, n, 6, Data::Quantized, 0);
        let a = row(&mut rng, at, n, Data::Quantized);
        let a1 = skewed(&a);
        check(k, t, n, 6, w.bytes(), &a1.bytes()[1..], "misaligned act");
    }
}

#[test]
fn a_packed_matrix_is_ignored_by_other_tables() {
    let Some(k) = avx512() else { return };
    let t = Q4_K;
    let n = 2 * t.block_size();
    let mut rng = Rng(0x7ab);
    let w = matrix(&mut rng, t, n, 4, Data::Quantized, 0);
    let a = row(&mut rng, vec_dot_type(t), n, Data::Quantized);
    let file = QMatrix::new(t, 4, n, w.bytes());
    let packed = PackedMatrix::pack(k.packing(t).unwrap(), file).unwrap();
    let m = QMatrix {
        packed: Some(packed.view()),
        ..file
    };
    let scalar = crate::arch::scalar();
    let (mut got, mut want) = ([0f32; 4], [0f32; 4]);
    matvec_rows(scalar, m, a.bytes(), 0..4, &mut got);
    matvec_rows(scalar, file, a.bytes(), 0..4, &mut want);
    assert_eq!(got.map(f32::to_bits), want.map(f32::to_bits));
}
