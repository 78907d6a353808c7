//! Weight-streaming speed of each row dot product: one 4096 x 4096 matrix-vector
//! product per iteration (every weight row against one activation row), per
//! type and ISA table; throughput is weight bytes, so criterion reports GB/s.
//!
//! Run: `cargo bench -p kernels --bench vec_dot [-- <filter, e.g. q4_k>]`.
//! The matrix (9 MB for Q4_K, 17 MB for Q8_0) is larger than L2, so the
//! numbers include streaming the weights from L3 / memory, as in decoding.

mod common;

use common::values;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use kernels::arch::{self, Isa, Kernels};
use kernels::quant;
use kernels::GgmlType;

const ROWS: usize = 4096;
const COLS: usize = 4096;
/// Distinct rows quantized; the matrix repeats them (quantizing 16M weights
/// with the k-quant searches would take longer than the benchmark).
const DISTINCT: usize = 64;

const TYPES: [GgmlType; 13] = [
    GgmlType::Q8_0,
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
    GgmlType::F32,
    GgmlType::F16,
    GgmlType::BF16,
];

/// w: [ROWS, COLS] of type `ty` (DISTINCT rows repeated).
fn matrix(ty: GgmlType) -> Vec<u8> {
    let rb = quant::row_bytes(ty, COLS);
    let mut distinct = vec![0u8; DISTINCT * rb];
    for (r, row) in distinct.chunks_exact_mut(rb).enumerate() {
        quant::quantize_row(ty, &values(COLS, r as u64 + 1), row).expect("quantizable type");
    }
    let mut data = Vec::with_capacity(ROWS * rb);
    for r in 0..ROWS {
        let d = r % DISTINCT;
        data.extend_from_slice(&distinct[d * rb..(d + 1) * rb]);
    }
    data
}

// w: [ROWS, COLS] bytes, act: [COLS] in vec_dot_type(ty) -> y: [ROWS]
// (the row dot resolved once per matrix, as `ops::matvec` does)
fn matvec(k: &Kernels, ty: GgmlType, w: &[u8], act: &[u8], y: &mut [f32]) {
    let rb = quant::row_bytes(ty, COLS);
    let dot = k.dot(ty).expect("type with a dot product");
    for (yi, row) in y.iter_mut().zip(w.chunks_exact(rb)) {
        *yi = dot(COLS, row, act);
    }
}

fn bench_vec_dot(c: &mut Criterion) {
    let tables: Vec<&Kernels> = [Isa::Scalar, Isa::Avx2, Isa::Avx512]
        .into_iter()
        .filter_map(arch::table)
        .collect();
    for ty in TYPES {
        let w = matrix(ty);
        let act_ty = quant::vec_dot_type(ty);
        let mut act = vec![0u8; quant::row_bytes(act_ty, COLS)];
        quant::quantize_row(act_ty, &values(COLS, 999), &mut act).expect("activation type");
        let mut y = vec![0.0f32; ROWS];
        let mut g = c.benchmark_group(format!("vec_dot/{}", ty.to_string().to_lowercase()));
        g.throughput(Throughput::Bytes(w.len() as u64));
        for k in &tables {
            g.bench_function(k.isa.name(), |b| {
                b.iter(|| {
                    matvec(k, ty, black_box(&w), black_box(&act), &mut y);
                    black_box(&y);
                })
            });
        }
        g.finish();
    }
}

fn bench_quantize_act(c: &mut Criterion) {
    let x = values(COLS, 7);
    for ty in [GgmlType::Q8_0, GgmlType::Q8_K] {
        let mut out = vec![0u8; quant::row_bytes(ty, COLS)];
        let mut g = c.benchmark_group(format!("quantize_row/{}", ty.to_string().to_lowercase()));
        g.throughput(Throughput::Bytes((COLS * 4) as u64));
        for isa in [Isa::Scalar, Isa::Avx2, Isa::Avx512] {
            let Some(k) = arch::table(isa) else { continue };
            g.bench_function(isa.name(), |b| {
                b.iter(|| (k.quantize_row)(ty, black_box(&x), &mut out).unwrap())
            });
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = bench_vec_dot, bench_quantize_act
}
criterion_main!(benches);
