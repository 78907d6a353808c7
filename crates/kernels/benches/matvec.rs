//! Decode matrix-vector products: `ops::matvec` (the table's multi-row
//! kernel where it has one) against the row dot called once per row, per
//! weight type, on the default table. Two sizes: 512 x 2048 (fits in L2:
//! the kernels' compute speed) and 8192 x 2048 (tens of MB: from memory,
//! as decode reads its weights), and the table's repacked layout
//! (`kernels::packed`) where it has one. Throughput counts multiply-adds.
//!
//! Run: `cargo bench -p kernels --bench matvec [-- <filter, e.g. q4_k>]`.

mod common;

use common::{quantized, values};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use kernels::arch::{self, Kernels};
use kernels::ops::{self, QMatrix};
use kernels::packed::PackedMatrix;
use kernels::quant;
use kernels::GgmlType;

const COLS: usize = 2048;

const TYPES: [GgmlType; 5] = [
    GgmlType::Q8_0,
    GgmlType::Q4_K,
    GgmlType::Q6_K,
    GgmlType::Q5_0,
    GgmlType::Q4_0,
];

// w: [rows, COLS], x_q: [act_row_bytes] -> y: [rows], one row dot per row
fn by_rows(k: &Kernels, w: QMatrix, x_q: &[u8], y: &mut [f32]) {
    let dot = k.dot(w.ty).expect("type with a dot product");
    for (r, yr) in y.iter_mut().enumerate() {
        *yr = dot(w.cols, w.row(r), x_q);
    }
}

fn bench_matvec(c: &mut Criterion) {
    let k = arch::select();
    for ty in TYPES {
        // 64 distinct rows repeated: the k-quant searches are slow to quantize.
        let distinct = quantized(ty, &values(64 * COLS, 1), COLS);
        let x_q = quantized(quant::vec_dot_type(ty), &values(COLS, 2), COLS);
        for rows in [512, 8192, 65536] {
            let data: Vec<u8> = distinct
                .iter()
                .copied()
                .cycle()
                .take(distinct.len() * rows / 64)
                .collect();
            let w = QMatrix {
                ty,
                rows,
                cols: COLS,
                data: &data,
                packed: None,
            };
            let mut y = vec![0f32; rows];
            let name = format!("matvec/{}/{rows}", ty.to_string().to_lowercase());
            let mut g = c.benchmark_group(name);
            g.throughput(Throughput::Elements((rows * COLS) as u64));
            g.bench_function(format!("{}/row_dot", k.isa.name()), |b| {
                b.iter(|| by_rows(k, w, black_box(&x_q), &mut y))
            });
            g.bench_function(format!("{}/matvec", k.isa.name()), |b| {
                b.iter(|| ops::matvec(k, w, black_box(&x_q), &mut y))
            });
            if let Some(p) = k.packing(ty) {
                let packed = PackedMatrix::pack(p, w).expect("packing");
                let wp = QMatrix {
                    packed: Some(packed.view()),
                    ..w
                };
                g.bench_function(format!("{}/{}", k.isa.name(), p.name), |b| {
                    b.iter(|| ops::matvec(k, wp, black_box(&x_q), &mut y))
                });
            }
            g.finish();
        }
    }
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = bench_matvec
}
criterion_main!(benches);
