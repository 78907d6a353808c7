//! Prefill matrix products: `ops::matmul` (the table's tile kernels) against
//! the row dot per (row, token) it replaced, per weight type and ISA table.
//! One product per iteration of a 2048 x 1024 weight matrix (Gemma 3 270M's
//! scale; 1024 columns so every type has whole blocks) with 64 tokens;
//! throughput counts multiply-adds, so criterion's "elem/s" is MAC/s.
//!
//! Run: `cargo bench -p kernels --bench gemm [-- <filter, e.g. q5_0>]`.

mod common;

use common::{quantized, values};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use kernels::arch::{self, Isa, Kernels};
use kernels::ops::{self, QMatrix};
use kernels::GgmlType;

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
            packed: None,
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
    config = common::config();
    targets = bench_gemm
}
criterion_main!(benches);
