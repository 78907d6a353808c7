//! Standard vs naive reference, flash vs standard, SIMD vs scalar.

use super::*;
use crate::exact::F32Order;

/// Naive reference: full score matrix with an explicit -inf mask.
fn reference(
    p: &AttnParams,
    q: &[f32],
    pos0: usize,
    n_tok: usize,
    k: &[f32],
    v: &[f32],
) -> Vec<f32> {
    let hd = p.head_dim;
    let n_ctx = pos0 + n_tok;
    let mut out = vec![0.0; n_tok * p.n_head * hd];
    for t in 0..n_tok {
        let pos = pos0 + t;
        for h in 0..p.n_head {
            let g = h * p.n_kv_head / p.n_head;
            let mut s: Vec<f32> = (0..n_ctx)
                .map(|j| {
                    let masked = j > pos || p.window.is_some_and(|w| pos - j >= w);
                    if masked {
                        return f32::NEG_INFINITY;
                    }
                    (0..hd)
                        .map(|d| q[(t * p.n_head + h) * hd + d] * k[(j * p.n_kv_head + g) * hd + d])
                        .sum::<f32>()
                        * p.scale
                })
                .collect();
            crate::ops::softmax(&mut s);
            for d in 0..hd {
                out[(t * p.n_head + h) * hd + d] = (0..n_ctx)
                    .map(|j| s[j] * v[(j * p.n_kv_head + g) * hd + d])
                    .sum();
            }
        }
    }
    out
}

fn pseudo(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(1664525).wrapping_add(1013904223);
            (s >> 8) as f32 / (1 << 24) as f32 - 0.5
        })
        .collect()
}

#[test]
fn matches_reference_gqa_window_f32_and_f16() {
    for window in [None, Some(3)] {
        let p = AttnParams {
            n_head: 4,
            n_kv_head: 2,
            head_dim: 8,
            scale: 0.35,
            window,
            kv_start: 0,
        };
        let (pos0, n_tok) = (5, 4);
        let n_ctx = pos0 + n_tok;
        let q = pseudo(n_tok * 4 * 8, 1);
        let k = pseudo(n_ctx * 2 * 8, 2);
        let v = pseudo(n_ctx * 2 * 8, 3);
        let want = reference(&p, &q, pos0, n_tok, &k, &v);
        let mut out = vec![0.0; want.len()];
        let one = ThreadPool::new(1);
        let mut work = vec![0.0; work_per_thread(n_ctx, 8)];
        attention(
            &one,
            &p,
            &q,
            pos0,
            n_tok,
            KvRef::F32(&k),
            KvRef::F32(&v),
            &mut work,
            &mut out,
        )
        .unwrap();
        for (a, b) in out.iter().zip(&want) {
            assert!((a - b).abs() < 1e-5, "{window:?}: {a} vs {b}");
        }
        let kh: Vec<f16> = k.iter().map(|&x| f16::from_f32(x)).collect();
        let vh: Vec<f16> = v.iter().map(|&x| f16::from_f32(x)).collect();
        attention(
            &one,
            &p,
            &q,
            pos0,
            n_tok,
            KvRef::F16(&kh),
            KvRef::F16(&vh),
            &mut work,
            &mut out,
        )
        .unwrap();
        for (a, b) in out.iter().zip(&want) {
            assert!((a - b).abs() < 2e-3, "f16 {window:?}: {a} vs {b}");
        }
        // two and three threads: bit-identical to one
        for threads in [2, 3] {
            let pool = ThreadPool::new(threads);
            let mut work = vec![0.0; threads * work_per_thread(n_ctx, 8)];
            let mut out2 = vec![f32::NAN; out.len()];
            attention(
                &pool,
                &p,
                &q,
                pos0,
                n_tok,
                KvRef::F16(&kh),
                KvRef::F16(&vh),
                &mut work,
                &mut out2,
            )
            .unwrap();
            assert_eq!(out, out2, "{threads} threads {window:?}");
        }
    }
}

#[test]
fn single_key_returns_its_value() {
    let p = AttnParams {
        n_head: 2,
        n_kv_head: 1,
        head_dim: 2,
        scale: 1.0,
        window: None,
        kv_start: 0,
    };
    let (k, v) = ([1.0, 2.0], [3.0, -4.0]);
    let mut out = [0.0; 4];
    attention(
        &ThreadPool::new(2),
        &p,
        &[1.0; 4],
        0,
        1,
        KvRef::F32(&k),
        KvRef::F32(&v),
        &mut vec![0.0; 2 * work_per_thread(1, 2)],
        &mut out,
    )
    .unwrap();
    assert_eq!(out, [3.0, -4.0, 3.0, -4.0]);
}

#[test]
fn rejects_bad_shapes() {
    let p = AttnParams {
        n_head: 3,
        n_kv_head: 2,
        head_dim: 2,
        scale: 1.0,
        window: None,
        kv_start: 0,
    };
    let e = attention(
        &ThreadPool::new(1),
        &p,
        &[0.0; 6],
        0,
        1,
        KvRef::F32(&[0.0; 4]),
        KvRef::F32(&[0.0; 4]),
        &mut [0.0; 3],
        &mut [0.0; 6],
    );
    assert!(matches!(e, Err(AttnError::HeadRatio { .. })));
    let p = AttnParams { n_head: 2, ..p };
    let e = attention(
        &ThreadPool::new(1),
        &p,
        &[0.0; 4],
        0,
        2,
        KvRef::F32(&[0.0; 4]),
        KvRef::F32(&[0.0; 4]),
        &mut [0.0; 4],
        &mut [0.0; 8],
    );
    assert!(matches!(
        e,
        Err(AttnError::BufferTooSmall { what: "q", .. })
    ));
    let e = attention(
        &ThreadPool::new(1),
        &p,
        &[0.0; 8],
        0,
        2,
        KvRef::F32(&[0.0; 8]),
        KvRef::F32(&[0.0; 8]),
        &mut [0.0; 3],
        &mut [0.0; 8],
    );
    assert!(matches!(
        e,
        Err(AttnError::BufferTooSmall { what: "work", .. })
    ));
}

/// The standard backend on an ISA's SIMD loops: an f16 cache matches the
/// scalar loops up to summation order (head_dim 72 covers the 32-wide
/// unrolled part, an 8-wide step and a scalar tail); an f32 cache runs the
/// same `exact` code on every ISA, bit for bit.
#[test]
fn standard_simd_matches_scalar() {
    let p = AttnParams {
        n_head: 6,
        n_kv_head: 2,
        head_dim: 76,
        scale: 0.12,
        window: Some(9),
        kv_start: 0,
    };
    let (pos0, n_tok) = (13, 3);
    let n_ctx = pos0 + n_tok;
    let kv = n_ctx * p.n_kv_head * p.head_dim;
    let q: Vec<f32> = pseudo(n_tok * p.n_head * p.head_dim, 41)
        .iter()
        .map(|x| 4.0 * x)
        .collect();
    let (k, v) = (pseudo(kv, 42), pseudo(kv, 43));
    let kh: Vec<f16> = k.iter().map(|&x| f16::from_f32(x)).collect();
    let vh: Vec<f16> = v.iter().map(|&x| f16::from_f32(x)).collect();
    let isa = crate::arch::select().isa;
    for threads in [1, 2] {
        let pool = ThreadPool::new(threads);
        let mut work = vec![0.0; threads * work_per_thread(n_ctx, p.head_dim)];
        for (kr, vr, tol) in [
            (KvRef::F16(&kh), KvRef::F16(&vh), 1e-5),
            (KvRef::F32(&k), KvRef::F32(&v), 0.0),
        ] {
            let n_out = n_tok * p.n_head * p.head_dim;
            let (mut a, mut b) = (vec![0.0; n_out], vec![f32::NAN; n_out]);
            attention(&pool, &p, &q, pos0, n_tok, kr, vr, &mut work, &mut a).unwrap();
            let used = attention_with(
                AttentionBackend::Standard,
                isa,
                &pool,
                &p,
                &q,
                pos0,
                n_tok,
                kr,
                vr,
                &mut work,
                &mut b,
            )
            .unwrap();
            assert_eq!(used, AttentionBackend::Standard);
            for (i, (x, y)) in a.iter().zip(&b).enumerate() {
                assert!((x - y).abs() <= tol, "{isa:?} {threads}t [{i}]: {x} vs {y}");
            }
        }
    }
}

/// A cache that passes only the rows from `kv_start` (a ring buffer's
/// window) gives the same outputs, bit for bit, as the whole cache, on
/// both backends and both element types; a start past the first visible
/// key is an error.
#[test]
fn rows_from_kv_start_equal_the_whole_cache() {
    let (n_head, n_kv_head, hd) = (4, 2, 16);
    let row = n_kv_head * hd;
    let (pos0, n_tok) = (300, 5);
    let n_ctx = pos0 + n_tok;
    let q = pseudo(n_tok * n_head * hd, 7);
    let k = pseudo(n_ctx * row, 8);
    let v = pseudo(n_ctx * row, 9);
    let kh: Vec<f16> = k.iter().map(|&x| f16::from_f32(x)).collect();
    let vh: Vec<f16> = v.iter().map(|&x| f16::from_f32(x)).collect();
    let pool = ThreadPool::new(2);
    let mut work = vec![0.0; 2 * work_per_thread(n_ctx, hd).max(256 * hd)];
    for window in [Some(40), Some(1), None] {
        let full = AttnParams {
            n_head,
            n_kv_head,
            head_dim: hd,
            scale: 0.3,
            window,
            kv_start: 0,
        };
        let first = full.first_key(pos0);
        for backend in [AttentionBackend::Standard, AttentionBackend::Flash] {
            for half in [false, true] {
                let kv = |from: usize| {
                    if half {
                        (KvRef::F16(&kh[from * row..]), KvRef::F16(&vh[from * row..]))
                    } else {
                        (KvRef::F32(&k[from * row..]), KvRef::F32(&v[from * row..]))
                    }
                };
                let mut run = |p: &AttnParams, (kc, vc): (KvRef, KvRef)| {
                    let mut out = vec![f32::NAN; n_tok * n_head * hd];
                    attention_with(
                        backend,
                        Isa::Scalar,
                        &pool,
                        p,
                        &q,
                        pos0,
                        n_tok,
                        kc,
                        vc,
                        &mut work,
                        &mut out,
                    )
                    .map(|_| out)
                };
                let want = run(&full, kv(0)).unwrap();
                for start in [first, first.saturating_sub(3)] {
                    let p = AttnParams {
                        kv_start: start,
                        ..full
                    };
                    let got = run(&p, kv(start)).unwrap();
                    let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                    assert_eq!(
                        bits(&got),
                        bits(&want),
                        "{backend:?} {window:?} f16 {half} start {start}"
                    );
                }
                let late = AttnParams {
                    kv_start: first + 1,
                    ..full
                };
                assert!(matches!(
                    run(&late, kv(first + 1)),
                    Err(AttnError::KvStart { .. })
                ));
            }
        }
    }
}

/// Grouped heads (query heads of one KV head at once) give each head
/// the bits of `heads` with that head alone, on every thread split.
#[test]
fn grouped_heads_equal_one_head_at_a_time() {
    for isa in [Isa::Scalar, Isa::Avx2, Isa::Avx512] {
        let ops = simd::ops_for(isa);
        for (n_head, n_kv_head, hd, window, kv_start) in [
            (8, 2, 64, None, 0),
            (4, 1, 256, Some(5), 3),
            (6, 3, 40, None, 0),
            (3, 1, 8, None, 0),
            (8, 1, 64, None, 0),
            (14, 2, 64, Some(7), 2),
        ] {
            let p = AttnParams {
                n_head,
                n_kv_head,
                head_dim: hd,
                scale: 0.3,
                window,
                kv_start,
            };
            let (pos0, n_tok) = (9, 3);
            let rows = pos0 + n_tok - kv_start;
            let q = pseudo(n_tok * n_head * hd, 1);
            let k: Vec<f16> = pseudo(rows * n_kv_head * hd, 2)
                .iter()
                .map(|&x| f16::from_f32(x))
                .collect();
            let v: Vec<f16> = pseudo(rows * n_kv_head * hd, 3)
                .iter()
                .map(|&x| f16::from_f32(x))
                .collect();
            let (k, v) = (KvRef::F16(&k), KvRef::F16(&v));
            let per = work_per_thread(pos0 + n_tok, hd);
            let mut want = vec![0f32; n_tok * n_head * hd];
            let orders = (F32Order::Lanes64, F32Order::for_batch(n_tok, 256));
            let mut w = vec![0f32; per];
            for t in 0..n_tok {
                for h in 0..n_head {
                    let (sc, qb) = w.split_at_mut(pos0 + n_tok);
                    let qh = &q[(t * n_head + h) * hd..][..hd];
                    let o = &mut want[(t * n_head + h) * hd..][..hd];
                    let bufs = (sc, &mut qb[..hd]);
                    standard::heads(&p, ops, orders, qh, pos0 + t, h, k, v, bufs, o);
                }
            }
            for threads in [1, 2, 3] {
                let pool = ThreadPool::new(threads);
                let mut work = vec![0f32; threads * per];
                let mut out = vec![0f32; want.len()];
                standard::run(&pool, ops, &p, &q, pos0, n_tok, k, v, &mut work, &mut out).unwrap();
                let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
                assert_eq!(
                    bits(&out),
                    bits(&want),
                    "{isa} {n_head}/{n_kv_head} hd {hd} t {threads}"
                );
            }
        }
    }
}
