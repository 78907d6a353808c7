//! Prefill matrix products: `ops::matmul` (the table's tile kernels) against
//! the row dot per (row, token) it replaced, per weight type and ISA table.
//! One product per iteration of a 2048 x 1024 weight matrix (Gemma 3 270M's
//! scale; 1024 columns so every type has whole blocks) with 64 tokens;
//! throughput counts multiply-adds, so criterion's "elem/s" is MAC/s.
//!
//! Run: `cargo bench -p kernels --bench gemm [-- <filter, e.g. q5_0>]`.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use kernels::arch::{self, Isa, Kernels};
use kernels::ops::{self, QMatrix};
use kernels::quant;
use kernels::GgmlType;
use std::time::Duration;

const ROWS: usize = 2048;
const COLS: usize = 1024;
const TOKS: usize = 64;

const TYPES: [GgmlType; 5] = [
    GgmlType::Q5_0,
    GgmlType::Q8_0,
    GgmlType::Q4_0,
    GgmlType::Q4_K,
    GgmlType::Q6_K,
];

/// Deterministic values in [-1, 1) (an LCG), no dependencies.
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// Rows of `n` values quantized to `ty`: [rows.len() / n, row_bytes(ty, n)].
fn quantized(ty: GgmlType, x: &[f32], n: usize) -> Vec<u8> {
    let rb = quant::row_bytes(ty, n);
    let mut out = vec![0u8; x.len() / n * rb];
    for (r, o) in x.chunks_exact(n).zip(out.chunks_exact_mut(rb)) {
        quant::quantize_row(ty, r, o).expect("quantizable type");
    }
    out
}

// w: [ROWS, COLS], x_q: [TOKS, act_row_bytes] -> y: [TOKS, ROWS], one row dot per output
fn by_rows(k: &Kernels, w: QMatrix, x_q: &[u8], y: &mut [f32]) {
    let dot = k.dot(w.ty).expect("type with a dot product");
    let xb = w.act_row_bytes();
    for r in 0..w.rows {
        let wr = w.row(r);
        for t in 0..TOKS {
            y[t * w.rows + r] = dot(w.cols, wr, &x_q[t * xb..(t + 1) * xb]);
        }
    }
}

fn bench_gemm(c: &mut Criterion) {
    let tables: Vec<&Kernels> = [Isa::Scalar, Isa::Avx2, Isa::Avx512]
        .into_iter()
        .filter_map(arch::table)
        .collect();
    for ty in TYPES {
        // 64 distinct rows repeated: the k-quant searches are slow to quantize.
        let distinct = quantized(ty, &values(64 * COLS, 1), COLS);
        let data: Vec<u8> = distinct
            .iter()
            .copied()
            .cycle()
            .take(distinct.len() * ROWS / 64)
            .collect();
        let w = QMatrix {
            ty,
            rows: ROWS,
            cols: COLS,
            data: &data,
        };
        let x_q = quantized(w.act_type(), &values(TOKS * COLS, 2), COLS);
        let mut y = vec![0f32; TOKS * ROWS];
        let mut g = c.benchmark_group(format!("gemm/{}", ty.to_string().to_lowercase()));
        g.throughput(Throughput::Elements((ROWS * COLS * TOKS) as u64));
        for k in &tables {
            if k.isa != Isa::Scalar {
                g.bench_function(format!("{}/rows", k.isa.name()), |b| {
                    b.iter(|| by_rows(k, w, black_box(&x_q), &mut y))
                });
            }
            g.bench_function(format!("{}/matmul", k.isa.name()), |b| {
                b.iter(|| ops::matmul(k, w, black_box(&x_q), TOKS, &mut y))
            });
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    targets = bench_gemm
}
criterion_main!(benches);
