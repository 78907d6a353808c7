//! The multi-row decode kernels (`rows`) against the table's row dot, bit
//! for bit (`to_bits`): every type with a rows kernel, 1, 7, 150 and random
//! block counts, row counts that are and are not multiples of the row
//! groups, quantized rows, raw random rows (activations over the whole i8
//! range), extreme quants, misaligned rows (which take the row dot one row
//! at a time) and empty rows. The Q8_0-activation kernels also equal the
//! scalar reference bit for bit (they take its f32 steps).

use super::tests::{constant_acts, extreme_weights, quantized, raw};
use super::*;
use crate::conformance::data::Row;
use crate::conformance::Rng;
use GgmlType::*;

/// `rows` consecutive weight rows of `n` elements of type `t` (random
/// bytes with finite scales when `raw_rows`), `skew` bytes into an
/// aligned buffer.
fn matrix(g: &mut Rng, t: GgmlType, n: usize, rows: usize, raw_rows: bool, skew: usize) -> Row {
    let rb = row_bytes(t, n);
    let mut m = Row::zeroed(skew + rows * rb);
    for r in 0..rows {
        let one = if raw_rows {
            raw(g, t, n)
        } else {
            quantized(g, t, n)
        };
        m.bytes_mut()[skew + r * rb..][..rb].copy_from_slice(one.bytes());
    }
    m
}

/// `rows(t)` over the matrix equals `dot(t)` row by row, bit for bit.
fn check(t: GgmlType, n: usize, w: &[u8], a: &[u8], what: &str) {
    crate::arch::rows::check_rows(table().unwrap(), t, n, w, a, what);
}

/// The types with a rows kernel.
fn covered() -> Vec<GgmlType> {
    GgmlType::ALL
        .into_iter()
        .filter(|&t| table().unwrap().rows(t).is_some())
        .collect()
}

#[test]
fn rows_kernels_cover_the_decode_types() {
    for t in [Q4_0, Q5_0, Q8_0, Q4_K, Q6_K] {
        assert!(covered().contains(&t), "{t}");
    }
}

#[test]
fn rows_equal_the_row_dot_bit_for_bit() {
    for (i, t) in covered().into_iter().enumerate() {
        let mut g = Rng(0x0057 + i as u64);
        let at = vec_dot_type(t);
        let random_nb = 2 + g.below(40);
        // (150: more blocks than the Q8_0 kernels prepare at a time)
        for nb in [1, 7, random_nb, 150] {
            let n = nb * t.block_size();
            for nr in [1, 2, 3, 4, 5, 7, 8, 9, 1 + g.below(20)] {
                for (raw_w, raw_a) in [(false, false), (true, false), (true, true)] {
                    let w = matrix(&mut g, t, n, nr, raw_w, 0);
                    let a = if raw_a {
                        raw(&mut g, at, n)
                    } else {
                        quantized(&mut g, at, n)
                    };
                    check(t, n, w.bytes(), a.bytes(), &format!("raw {raw_w}/{raw_a}"));
                }
            }
        }
    }
}

/// Weights with every quant bit set (or clear), activations all -128 or
/// 127, unit scales.
#[test]
fn rows_of_extreme_quants_equal_the_row_dot() {
    for t in covered() {
        let at = vec_dot_type(t);
        let n = 3 * t.block_size();
        for (wbyte, afill) in [(0xffu8, 0x80u8), (0xff, 0x7f), (0x00, 0x80), (0x80, 0x80)] {
            let w = extreme_weights(t, n, 5, wbyte);
            let a = constant_acts(at, n, afill);
            check(
                t,
                n,
                w.bytes(),
                a.bytes(),
                &format!("{wbyte:#x} x {afill:#x}"),
            );
        }
    }
}

#[test]
fn misaligned_and_empty_rows_take_the_row_dot() {
    for t in covered() {
        let mut g = Rng(0x0dd);
        let n = 2 * t.block_size();
        let at = vec_dot_type(t);
        let w = matrix(&mut g, t, n, 5, false, 1);
        let a = quantized(&mut g, at, n);
        check(t, n, &w.bytes()[1..], a.bytes(), "misaligned weights");
        let w = matrix(&mut g, t, n, 5, false, 0);
        let mut a1 = Row::zeroed(a.bytes().len() + 1);
        a1.bytes_mut()[1..].copy_from_slice(a.bytes());
        check(t, n, w.bytes(), &a1.bytes()[1..], "misaligned activation");
        let mut y = [f32::NAN; 3];
        table().unwrap().rows(t).unwrap()(0, &[], &[], &mut y);
        assert_eq!(y, [0.0; 3], "{t} empty rows");
    }
}

/// The prefill tiles (`Kernels::gemm`, the rows kernels per token) equal
/// the row dot for every (row, token), bit for bit, with a wider output
/// stride and misaligned weights too.
#[test]
fn gemm_tiles_equal_the_row_dot_bit_for_bit() {
    let k = table().unwrap();
    for (i, t) in covered().into_iter().enumerate() {
        let mut g = Rng(0x6e11 + i as u64);
        let at = vec_dot_type(t);
        assert!(k.gemm(t).unwrap().is_tiled(), "{t}");
        for (nb, rows, toks, skew) in [(1, 1, 1, 0), (3, 7, 5, 0), (2, 9, 3, 1)] {
            let n = nb * t.block_size();
            let (rb, ab) = (row_bytes(t, n), row_bytes(at, n));
            let w = matrix(&mut g, t, n, rows, true, skew);
            let w = &w.bytes()[skew..];
            let mut a = Row::zeroed(toks * ab);
            for tok in 0..toks {
                a.bytes_mut()[tok * ab..][..ab].copy_from_slice(raw(&mut g, at, n).bytes());
            }
            let stride = rows + 2;
            let mut y = vec![f32::NAN; toks * stride];
            k.gemm(t)
                .unwrap()
                .run(n, w, rows, a.bytes(), toks, &mut y, stride);
            let dot = k.dot(t).unwrap();
            for tok in 0..toks {
                for r in 0..rows {
                    let want = dot(n, &w[r * rb..(r + 1) * rb], &a.bytes()[tok * ab..][..ab]);
                    let got = y[tok * stride + r];
                    assert_eq!(
                        got.to_bits(),
                        want.to_bits(),
                        "{t} [{tok}, {r}] skew {skew}"
                    );
                }
            }
        }
    }
}

/// The Q8_0-activation row dots take the scalar reference's f32 steps.
#[test]
fn q8_0_activation_dots_equal_the_scalar_reference_bit_for_bit() {
    let mut g = Rng(0x8080);
    for t in [Q4_0, Q5_0, Q8_0] {
        for nb in [1, 7, 2 + g.below(60)] {
            let n = nb * t.block_size();
            for raw_rows in [false, true] {
                let w = matrix(&mut g, t, n, 1, raw_rows, 0);
                let a = if raw_rows {
                    raw(&mut g, Q8_0, n)
                } else {
                    quantized(&mut g, Q8_0, n)
                };
                let got = table().unwrap().dot(t).unwrap()(n, w.bytes(), a.bytes());
                let want = quant::vec_dot(t, n, w.bytes(), a.bytes());
                assert_eq!(got.to_bits(), want.to_bits(), "{t} nb={nb} raw {raw_rows}");
            }
        }
    }
}

/// Timing of the rows kernels against the row dot per row (run with
/// `--release -- --ignored --nocapture`).
#[test]
#[ignore]
fn time_rows_against_row_dots() {
    let k = table().unwrap();
    let mut g = Rng(5);
    for (t, n, nr) in [
        (Q8_0, 640, 8192),
        (Q8_0, 640, 1 << 18),
        (Q5_0, 640, 2048),
        (Q5_0, 640, 1 << 17),
        (Q4_K, 2048, 640),
        (Q6_K, 2048, 640),
    ] {
        let w = matrix(&mut g, t, n, nr, false, 0);
        let a = quantized(&mut g, vec_dot_type(t), n);
        let mut y = vec![0f32; nr];
        let rb = row_bytes(t, n);
        let dot = k.dot(t).unwrap();
        let reps = (30 * 8192 / nr).max(2);
        for round in 0..2 {
            let t0 = std::time::Instant::now();
            for _ in 0..reps {
                k.rows(t).unwrap()(n, w.bytes(), a.bytes(), &mut y);
            }
            let t1 = std::time::Instant::now();
            for _ in 0..reps {
                for (r, yi) in y.iter_mut().enumerate() {
                    *yi = dot(n, &w.bytes()[r * rb..(r + 1) * rb], a.bytes());
                }
            }
            let t2 = std::time::Instant::now();
            let per = |d: std::time::Duration| {
                d.as_secs_f64() * 1e9 / (reps * nr * (n / t.block_size())) as f64
            };
            println!(
                "{t} round {round}: rows {:.2} ns/block, row dots {:.2} ns/block",
                per(t1 - t0),
                per(t2 - t1)
            );
        }
    }
}
