//! Decode attention (one query position over an f16 KV cache) on one
//! thread: the standard and flash backends on the AVX2 and AVX-512 tables
//! (and the scalar reference), for the head shapes of the tested models
//! (Gemma 3 270M: 4 query heads on 1 KV head of 256; the TinyLlama-shaped
//! 1.1B: 32 on 4 of 64) at a few cache lengths. Throughput counts the
//! multiply-adds of q·K and w·V.
//!
//! Run: `cargo bench -p kernels --bench attention [-- <filter, e.g. flash>]`.

mod common;

use common::values;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use half::f16;
use kernels::arch::Isa;
use kernels::attention::{attention_with, work_per_thread, AttentionBackend, AttnParams, KvRef};
use kernels::pool::ThreadPool;

fn bench_attention(c: &mut Criterion) {
    let pool = ThreadPool::new(1);
    let shapes = [("gemma3-270m", 4, 1, 256), ("tinyllama-1.1b", 32, 4, 64)];
    for (name, n_head, n_kv_head, head_dim) in shapes {
        for ctx in [192, 1024] {
            let p = AttnParams {
                n_head,
                n_kv_head,
                head_dim,
                scale: 1.0 / (head_dim as f32).sqrt(),
                window: None,
                kv_start: 0,
            };
            let row = n_kv_head * head_dim;
            let half = |seed| -> Vec<f16> {
                values(ctx * row, seed)
                    .into_iter()
                    .map(f16::from_f32)
                    .collect()
            };
            let (k, v) = (half(2), half(3));
            let q = values(n_head * head_dim, 1);
            let mut work = vec![0f32; work_per_thread(ctx, head_dim)];
            let mut out = vec![0f32; n_head * head_dim];
            let mut g = c.benchmark_group(format!("attention/{name}/ctx{ctx}"));
            g.throughput(Throughput::Elements((2 * ctx * n_head * head_dim) as u64));
            for isa in [Isa::Scalar, Isa::Avx2, Isa::Avx512] {
                if !isa.detected() {
                    continue;
                }
                for backend in [AttentionBackend::Standard, AttentionBackend::Flash] {
                    g.bench_function(format!("{backend}/{isa}"), |b| {
                        b.iter(|| {
                            attention_with(
                                backend,
                                isa,
                                &pool,
                                &p,
                                black_box(&q),
                                ctx - 1,
                                1,
                                KvRef::F16(&k),
                                KvRef::F16(&v),
                                &mut work,
                                &mut out,
                            )
                            .expect("attention arguments are consistent")
                        })
                    });
                }
            }
            g.finish();
        }
    }
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = bench_attention
}
criterion_main!(benches);
