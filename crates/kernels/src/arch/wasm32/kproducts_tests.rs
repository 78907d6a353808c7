//! Relaxed-simd builds: the k-quant kernels with the relaxed products equal
//! the same kernels with the i16 pair products (the simd128 build's) bit
//! for bit, on quantized and raw random rows and on extreme quants, one row
//! and two rows at a time. (simd128 builds have only `Pairs`; the table's
//! kernels are checked against the scalar reference in `tests`.)

use super::kproducts::{Pairs, Products, Relaxed};
use super::tests::{constant_acts, extreme_weights, quantized, raw};
use super::{kquant, rows_kquant};
use crate::blocks::{BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K};
use crate::conformance::data::Row;
use crate::conformance::Rng;
use bytemuck::Pod;
use gguf::GgmlType::{self, *};

fn blocks<B: Pod>(b: &Row) -> &[B] {
    bytemuck::cast_slice(b.bytes())
}

/// The dot of `w` with `a` as type `t` through the products `p`; two rows
/// `w` and `w2` through the two-row kernels where `t` has them.
fn dots(t: GgmlType, w: &Row, w2: &Row, a: &Row, p: impl Products) -> Vec<u32> {
    let a: &[BlockQ8K] = blocks(a);
    let r = match t {
        Q2_K => vec![kquant::q2_k(blocks::<BlockQ2K>(w), a, p)],
        Q3_K => vec![kquant::q3_k(blocks::<BlockQ3K>(w), a, p)],
        Q5_K => vec![kquant::q5_k(blocks::<BlockQ5K>(w), a, p)],
        Q4_K => {
            let (x, x2) = (blocks::<BlockQ4K>(w), blocks::<BlockQ4K>(w2));
            let mut r = rows_kquant::q4_k([x], a, p).to_vec();
            r.extend(rows_kquant::q4_k([x, x2], a, p));
            r
        }
        Q6_K => {
            let (x, x2) = (blocks::<BlockQ6K>(w), blocks::<BlockQ6K>(w2));
            let mut r = rows_kquant::q6_k([x], a, p).to_vec();
            r.extend(rows_kquant::q6_k([x, x2], a, p));
            r
        }
        _ => unreachable!("not a k-quant: {t}"),
    };
    r.into_iter().map(f32::to_bits).collect()
}

const TYPES: [GgmlType; 5] = [Q2_K, Q3_K, Q4_K, Q5_K, Q6_K];

#[test]
fn relaxed_products_equal_pair_products_bit_for_bit() {
    let mut g = Rng(0x5e1a);
    for t in TYPES {
        for nb in [1, 2, 5, 1 + g.below(12)] {
            let n = nb * t.block_size();
            for (raw_w, raw_a) in [(false, false), (true, false), (true, true)] {
                let mut row = |raw_row: bool, ty: GgmlType| {
                    if raw_row {
                        raw(&mut g, ty, n)
                    } else {
                        quantized(&mut g, ty, n)
                    }
                };
                let (w, w2, a) = (row(raw_w, t), row(raw_w, t), row(raw_a, Q8_K));
                let want = dots(t, &w, &w2, &a, Pairs);
                let got = dots(t, &w, &w2, &a, Relaxed::new());
                assert_eq!(got, want, "{t} nb {nb} raw {raw_w}/{raw_a}");
            }
        }
    }
}

#[test]
fn relaxed_products_of_extreme_quants_equal_pair_products() {
    for t in TYPES {
        let n = 2 * t.block_size();
        for (wbyte, afill) in [(0xffu8, 0x80u8), (0xff, 0x7f), (0x00, 0x80), (0x5a, 0x81)] {
            let w = extreme_weights(t, n, 1, wbyte);
            let a = constant_acts(Q8_K, n, afill);
            let want = dots(t, &w, &w, &a, Pairs);
            let got = dots(t, &w, &w, &a, Relaxed::new());
            assert_eq!(got, want, "{t} {wbyte:#x} x {afill:#x}");
        }
    }
}
