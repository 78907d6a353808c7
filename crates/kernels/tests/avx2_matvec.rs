//! `ops::matvec` / `ops::matmul` through the AVX2 table against the scalar
//! table, on a random matrix of every type with a dot product. The
//! activations are quantized once (scalar) so both tables see the same
//! bytes; each output must agree within 1e-5 * sum_j |w_ij * x_j| (+1e-30).
//! Skips (with a message) if the CPU lacks AVX2/FMA/F16C.

mod common;

use common::Rng;
use kernels::arch::{self, Isa};
use kernels::ops::{self, QMatrix};
use kernels::quant::{self, row_bytes};
use kernels::GgmlType::{self, *};

const TYPES: [GgmlType; 13] = [
    Q8_0, Q5_0, Q4_0, Q4_1, Q5_1, F32, F16, BF16, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K,
];

#[test]
fn matvec_and_matmul_avx2_equal_scalar_for_every_type() {
    let Some(k) = arch::table(Isa::Avx2) else {
        println!("skipping: this CPU has no AVX2+FMA+F16C (or not x86_64)");
        return;
    };
    let s = arch::scalar();
    let mut rng = Rng::new(77);
    let (rows, cols, n_tok) = (37, 512, 3);
    for ty in TYPES {
        let rb = row_bytes(ty, cols);
        // u64 storage keeps every block type aligned.
        let mut store = vec![0u64; (rows * rb).div_ceil(8)];
        let data = &mut bytemuck::cast_slice_mut::<u64, u8>(&mut store)[..rows * rb];
        let wf = rng.gaussians(rows * cols, 1.0);
        for (r, o) in wf.chunks(cols).zip(data.chunks_mut(rb)) {
            quant::quantize_row(ty, r, o).unwrap();
        }
        let w = QMatrix {
            ty,
            rows,
            cols,
            data,
            packed: None,
        };
        let x = rng.gaussians(n_tok * cols, 1.0);
        let ab = w.act_row_bytes();
        let mut xs = vec![0u64; (n_tok * ab).div_ceil(8)];
        let xq = &mut bytemuck::cast_slice_mut::<u64, u8>(&mut xs)[..n_tok * ab];
        ops::quantize_acts(s, ty, cols, &x, xq).unwrap();

        // Magnitudes sum_j |w_ij x_j| for the tolerance.
        let mut wd = vec![0f32; cols];
        let mut xd = vec![0f32; cols];
        let mut mag = vec![0f64; n_tok * rows];
        for t in 0..n_tok {
            quant::dequantize_row(w.act_type(), &xq[t * ab..(t + 1) * ab], &mut xd).unwrap();
            for r in 0..rows {
                quant::dequantize_row(ty, w.row(r), &mut wd).unwrap();
                mag[t * rows + r] = wd
                    .iter()
                    .zip(&xd)
                    .map(|(&a, &b)| (a as f64 * b as f64).abs())
                    .sum();
            }
        }

        let mut y_s = vec![0f32; rows];
        let mut y_k = vec![0f32; rows];
        ops::matvec(s, w, xq, &mut y_s);
        ops::matvec(k, w, xq, &mut y_k);
        for r in 0..rows {
            let tol = 1e-5 * mag[r] + 1e-30;
            assert!(
                ((y_k[r] - y_s[r]) as f64).abs() <= tol,
                "{ty} matvec row {r}: avx2 {} vs scalar {} (tol {tol:e})",
                y_k[r],
                y_s[r]
            );
        }
        let mut m_s = vec![0f32; n_tok * rows];
        let mut m_k = vec![0f32; n_tok * rows];
        ops::matmul(s, w, xq, n_tok, &mut m_s);
        ops::matmul(k, w, xq, n_tok, &mut m_k);
        assert_eq!(
            &m_k[..rows],
            &y_k[..],
            "{ty}: avx2 matmul token 0 vs matvec"
        );
        for i in 0..n_tok * rows {
            let tol = 1e-5 * mag[i] + 1e-30;
            assert!(
                ((m_k[i] - m_s[i]) as f64).abs() <= tol,
                "{ty} matmul [{}, {}]: avx2 {} vs scalar {}",
                i / rows,
                i % rows,
                m_k[i],
                m_s[i]
            );
        }
    }
}
