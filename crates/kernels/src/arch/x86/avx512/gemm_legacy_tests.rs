//! The VNNI pair tiles against the AVX2 row dot, bit for bit.

use super::*;
use crate::arch::{Isa, Kernels};
use crate::conformance::Rng;
use crate::ops::{self, QMatrix};

/// An f16 scale: mostly in [2^-10, 2^-6], else zero, subnormal or large,
/// either sign.
fn scale(rng: &mut Rng) -> half::f16 {
    let mag = match rng.next() % 8 {
        0 => half::f16::from_bits(1 + (rng.next() % 0x3ff) as u16),
        1 => half::f16::from_f32((1 + rng.next() % 60000) as f32),
        2 => half::f16::ZERO,
        _ => half::f16::from_f32((1 + rng.next() % 16) as f32 / 1024.0),
    };
    if rng.next().is_multiple_of(4) {
        -mag
    } else {
        mag
    }
}

/// Random blocks of `ty` (whose f16 scale is its first field): every quant
/// byte random (Q8_0 weights -128 included), or in one block of four,
/// every byte 0x80 or 0x7f (Q8_0 -128 / 127; Q4_0 / Q5_0 the extreme
/// nibbles 0 / 8 / 7 / 15). Activation bytes stay in -127..=127 as the
/// quantizer writes them (the AVX2 row dot's sign trick needs that).
fn blocks(ty: GgmlType, n: usize, rows: usize, rng: &mut Rng, act: bool) -> Vec<u8> {
    let bs = ty.type_size();
    let mut out = vec![0u8; rows * row_bytes(ty, n)];
    for b in out.chunks_exact_mut(bs) {
        let extreme = rng.next().is_multiple_of(4);
        let fill = if rng.next() & 1 == 0 { 0x80 } else { 0x7f };
        for v in &mut b[2..] {
            *v = if extreme { fill } else { rng.next() as u8 };
            if act && *v == 0x80 {
                *v = 0x81;
            }
        }
        b[..2].copy_from_slice(&scale(rng).to_le_bytes());
    }
    out
}

/// (blocks per row, rows, tokens): single rows and tokens, every remainder
/// of the 2-row tiles and 16-token groups, more than one chunk of `KB`
/// blocks and of `SUB_ROWS` rows.
const SHAPES: [(usize, usize, usize); 9] = [
    (1, 4, 8),
    (3, 9, 19),
    (20, 17, 33),
    (2, 1, 2),
    (1, 1, 1),
    (KB + 8, SUB_ROWS + 7, 17),
    (2 * KB, 2 * SUB_ROWS, 32),
    (5, 3, 7),
    (KB + 1, 2, 23),
];

const TYPES: [GgmlType; 3] = [GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q5_0];

fn avx512() -> Option<&'static Kernels> {
    let k = crate::arch::table(Isa::Avx512);
    if k.is_none() {
        eprintln!("skipped: no AVX-512 VNNI");
    }
    k
}

#[test]
fn vnni_tiles_equal_the_avx2_row_dot_on_raw_bytes() {
    let Some(k) = avx512() else { return };
    let mut rng = Rng(5);
    for ty in TYPES {
        let g = k.gemm(ty).expect("tile kernel");
        let dot = k.dot(ty).expect("row dot");
        for (nb, rows, toks) in SHAPES {
            let n = nb * 32;
            let w = blocks(ty, n, rows, &mut rng, false);
            let a = blocks(GgmlType::Q8_0, n, toks, &mut rng, true);
            let (wb, ab) = (w.len() / rows, a.len() / toks);
            // misaligned weights or activations: the row dot per output,
            // which on such rows runs the scalar reference
            for (wo, ao) in [(0, 0), (1, 0), (0, 1)] {
                let mut wm = vec![0u8; w.len() + wo];
                wm[wo..].copy_from_slice(&w);
                let mut am = vec![0u8; a.len() + ao];
                am[ao..].copy_from_slice(&a);
                let ys = rows + 3;
                let mut y = vec![f32::NAN; toks * ys];
                let (wm, am) = (&wm[wo..], &am[ao..]);
                g.run(n, wm, rows, am, toks, &mut y, ys);
                for t in 0..toks {
                    for r in 0..rows {
                        let want = dot(n, &wm[r * wb..][..wb], &am[t * ab..][..ab]);
                        let got = y[t * ys + r];
                        assert_eq!(
                            got.to_bits(),
                            want.to_bits(),
                            "{ty} nb {nb} {rows}x{toks} off {wo}/{ao} [{t}, {r}]: {got} vs {want}"
                        );
                    }
                    assert!(y[t * ys + rows..][..3].iter().all(|v| v.is_nan()));
                }
            }
        }
    }
}

#[test]
fn vnni_matmul_rows_equal_the_avx2_row_dot() {
    let Some(k) = avx512() else { return };
    let mut rng = Rng(11);
    for ty in TYPES {
        let dot = k.dot(ty).expect("row dot");
        let (nb, rows, toks) = (KB + 3, 150, 45);
        let n = nb * 32;
        let data = blocks(ty, n, rows, &mut rng, false);
        let a = blocks(GgmlType::Q8_0, n, toks, &mut rng, true);
        let w = QMatrix {
            ty,
            rows,
            cols: n,
            data: &data,
            packed: None,
        };
        let (wb, ab) = (w.row_bytes(), w.act_row_bytes());
        let mut y = vec![f32::NAN; toks * rows];
        ops::matmul_rows(k, w, &a, toks, 5..rows - 7, &mut y);
        for t in 0..toks {
            for r in 0..rows {
                let got = y[t * rows + r];
                if !(5..rows - 7).contains(&r) {
                    assert!(got.is_nan(), "{ty} [{t}, {r}] written");
                    continue;
                }
                let want = dot(n, &data[r * wb..][..wb], &a[t * ab..][..ab]);
                assert_eq!(got.to_bits(), want.to_bits(), "{ty} [{t}, {r}]");
            }
        }
    }
}
