//! Flash attention against the standard backend and an f64 reference: MHA
//! and GQA, sliding windows, f32 and f16 caches, lengths around the tile
//! size, prefill and decode, every inner-loop ISA, 1-3 threads.
//!
//! Tolerances: f32 cache, flash vs standard: 1e-5 absolute on outputs of
//! magnitude <= 0.5 (values are uniform in [-0.5, 0.5]), i.e. ~2e-5 relative
//! to the value scale. f16 cache: flash vs the exact f64 result on the same
//! f16 keys/values and f16-rounded query: 1e-5; flash vs standard: 2e-3,
//! because standard rounds each softmax weight to f16 (as ggml's mul_mat
//! with an f16 V does) while flash keeps them in f32.

use half::f16;

use super::flash::BC;
use super::simd::{self, SCALAR};
use super::*;

fn pseudo(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(1664525).wrapping_add(1013904223);
            (s >> 8) as f32 / (1 << 24) as f32 - 0.5
        })
        .collect()
}

/// Exact (f64) attention of the given values: q: [n_tok, n_head, hd] ->
/// [n_tok, n_head, hd].
fn exact(p: &AttnParams, q: &[f32], pos0: usize, n_tok: usize, k: &[f32], v: &[f32]) -> Vec<f32> {
    let hd = p.head_dim;
    let mut out = vec![0.0; n_tok * p.n_head * hd];
    for t in 0..n_tok {
        let pos = pos0 + t;
        for h in 0..p.n_head {
            let g = h / (p.n_head / p.n_kv_head);
            let qh = &q[(t * p.n_head + h) * hd..][..hd];
            let keys = p.first_key(pos)..pos + 1;
            let s: Vec<f64> = keys
                .clone()
                .map(|j| {
                    let kr = &k[(j * p.n_kv_head + g) * hd..][..hd];
                    let d: f64 = qh.iter().zip(kr).map(|(a, b)| *a as f64 * *b as f64).sum();
                    d * p.scale as f64
                })
                .collect();
            let mx = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = s.iter().map(|x| (x - mx).exp()).collect();
            let sum: f64 = e.iter().sum();
            for d in 0..hd {
                let acc: f64 = keys
                    .clone()
                    .zip(&e)
                    .map(|(j, w)| w * v[(j * p.n_kv_head + g) * hd + d] as f64)
                    .sum();
                out[(t * p.n_head + h) * hd + d] = (acc / sum) as f32;
            }
        }
    }
    out
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn round16(x: &[f32]) -> Vec<f32> {
    x.iter().map(|&v| f16::from_f32(v).to_f32()).collect()
}

fn isas() -> Vec<Isa> {
    let mut v = vec![Isa::Scalar];
    for isa in [Isa::Avx2, Isa::Simd128] {
        if flash_isa(isa) == isa {
            v.push(isa);
        }
    }
    v
}

struct Case {
    p: AttnParams,
    pos0: usize,
    n_tok: usize,
}

fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    let geoms = [(4, 4, 8), (8, 2, 64), (6, 3, 20), (2, 1, 256)];
    for (gi, &(n_head, n_kv_head, head_dim)) in geoms.iter().enumerate() {
        for window in [None, Some(5), Some(BC + 3)] {
            for n_ctx in [1, BC - 1, BC + 1, 3 * BC + 5] {
                // prefill of every row, decode of the last, and a middle chunk
                let mut shapes = vec![(0, n_ctx), (n_ctx - 1, 1)];
                if n_ctx > 7 {
                    shapes.push((n_ctx - 7, 7));
                }
                for (pos0, n_tok) in shapes {
                    let p = AttnParams {
                        n_head,
                        n_kv_head,
                        head_dim,
                        scale: 0.9 / (head_dim as f32).sqrt() * (1.0 + gi as f32),
                        window,
                        kv_start: 0,
                    };
                    v.push(Case { p, pos0, n_tok });
                }
            }
        }
    }
    v
}

#[allow(clippy::too_many_arguments)]
fn run_flash(threads: usize, isa: Isa, c: &Case, q: &[f32], k: KvRef, v: KvRef) -> Vec<f32> {
    let pool = ThreadPool::new(threads);
    let mut work = vec![0.0; threads * flash_work_per_thread(c.p.head_dim)];
    let mut out = vec![f32::NAN; c.n_tok * c.p.n_head * c.p.head_dim];
    flash_attention(
        &pool, isa, &c.p, q, c.pos0, c.n_tok, k, v, &mut work, &mut out,
    )
    .unwrap();
    out
}

fn run_standard(c: &Case, q: &[f32], k: KvRef, v: KvRef) -> Vec<f32> {
    let pool = ThreadPool::new(1);
    let mut work = vec![0.0; work_per_thread(c.pos0 + c.n_tok, c.p.head_dim)];
    let mut out = vec![f32::NAN; c.n_tok * c.p.n_head * c.p.head_dim];
    attention(&pool, &c.p, q, c.pos0, c.n_tok, k, v, &mut work, &mut out).unwrap();
    out
}

#[test]
fn flash_matches_standard_f32_cache() {
    for (i, c) in cases().iter().enumerate() {
        let n_ctx = c.pos0 + c.n_tok;
        let kvn = n_ctx * c.p.n_kv_head * c.p.head_dim;
        let q = pseudo(c.n_tok * c.p.n_head * c.p.head_dim, 10 + i as u32);
        let k = pseudo(kvn, 20 + i as u32);
        let v = pseudo(kvn, 30 + i as u32);
        let (kr, vr) = (KvRef::F32(&k), KvRef::F32(&v));
        let want = run_standard(c, &q, kr, vr);
        let ex = exact(&c.p, &q, c.pos0, c.n_tok, &k, &v);
        assert!(max_diff(&want, &ex) < 1e-5, "standard vs exact {:?}", c.p);
        for isa in isas() {
            let got = run_flash(1, isa, c, &q, kr, vr);
            let d = max_diff(&got, &want);
            assert!(
                d < 1e-5,
                "{isa} {:?} pos0 {} n_tok {}: {d}",
                c.p,
                c.pos0,
                c.n_tok
            );
            for threads in [2, 3] {
                let got_t = run_flash(threads, isa, c, &q, kr, vr);
                assert_eq!(got, got_t, "{isa} {threads} threads {:?}", c.p);
            }
        }
    }
}

#[test]
fn flash_matches_exact_and_standard_f16_cache() {
    for (i, c) in cases().iter().enumerate() {
        let n_ctx = c.pos0 + c.n_tok;
        let kvn = n_ctx * c.p.n_kv_head * c.p.head_dim;
        let q = pseudo(c.n_tok * c.p.n_head * c.p.head_dim, 40 + i as u32);
        let k: Vec<f16> = pseudo(kvn, 50 + i as u32)
            .iter()
            .map(|&x| f16::from_f32(x))
            .collect();
        let v: Vec<f16> = pseudo(kvn, 60 + i as u32)
            .iter()
            .map(|&x| f16::from_f32(x))
            .collect();
        let (kr, vr) = (KvRef::F16(&k), KvRef::F16(&v));
        let k32: Vec<f32> = k.iter().map(|x| x.to_f32()).collect();
        let v32: Vec<f32> = v.iter().map(|x| x.to_f32()).collect();
        let ex = exact(&c.p, &round16(&q), c.pos0, c.n_tok, &k32, &v32);
        let std = run_standard(c, &q, kr, vr);
        // the same cache held as f32 (`F16AsF32`): the same bits
        let (kw, vw) = (KvRef::F16AsF32(&k32), KvRef::F16AsF32(&v32));
        assert_eq!(
            run_standard(c, &q, kw, vw),
            std,
            "standard F16AsF32 {:?}",
            c.p
        );
        for isa in isas() {
            let got = run_flash(1, isa, c, &q, kr, vr);
            assert_eq!(
                run_flash(1, isa, c, &q, kw, vw),
                got,
                "{isa} F16AsF32 {:?}",
                c.p
            );
            let d = max_diff(&got, &ex);
            assert!(d < 1e-5, "{isa} {:?} vs exact: {d}", c.p);
            let d = max_diff(&got, &std);
            assert!(d < 2e-3, "{isa} {:?} vs standard: {d}", c.p);
            let got_t = run_flash(2, isa, c, &q, kr, vr);
            assert_eq!(got, got_t, "{isa} 2 threads {:?}", c.p);
        }
    }
}

#[test]
fn flash_prefill_equals_token_by_token() {
    let p = AttnParams {
        n_head: 8,
        n_kv_head: 2,
        head_dim: 32,
        scale: 0.3,
        window: Some(40),
        kv_start: 0,
    };
    let n = 3 * BC + 5;
    let q = pseudo(n * 8 * 32, 7);
    let k = pseudo(n * 2 * 32, 8);
    let v = pseudo(n * 2 * 32, 9);
    for isa in isas() {
        let all = Case {
            p,
            pos0: 0,
            n_tok: n,
        };
        let full = run_flash(2, isa, &all, &q, KvRef::F32(&k), KvRef::F32(&v));
        for t in 0..n {
            let one = Case {
                p,
                pos0: t,
                n_tok: 1,
            };
            let qt = &q[t * 8 * 32..(t + 1) * 8 * 32];
            let got = run_flash(1, isa, &one, qt, KvRef::F32(&k), KvRef::F32(&v));
            assert_eq!(got, &full[t * 8 * 32..(t + 1) * 8 * 32], "{isa} token {t}");
        }
    }
}

#[test]
fn simd_ops_match_scalar() {
    for isa in isas() {
        let ops = simd::ops_for(isa);
        for n in [1, 7, 8, 20, 64, 100, 256] {
            let a = pseudo(n, 1);
            let b = pseudo(n, 2);
            let bh: Vec<f16> = b.iter().map(|&x| f16::from_f32(x)).collect();
            let mag: f32 = a.iter().zip(&b).map(|(x, y)| (x * y).abs()).sum();
            let tol = 1e-6 * mag + 1e-7;
            assert!(((ops.dot_f32)(&a, &b) - (SCALAR.dot_f32)(&a, &b)).abs() <= tol);
            assert!(((ops.dot_f16)(&a, &bh) - (SCALAR.dot_f16)(&a, &bh)).abs() <= tol);
            let (mut o1, mut o2) = (a.clone(), a.clone());
            (ops.axpy_f32)(&mut o1, 0.7, &b);
            (SCALAR.axpy_f32)(&mut o2, 0.7, &b);
            assert!(max_diff(&o1, &o2) <= 1e-7, "{isa} axpy_f32 n {n}");
            (ops.axpy_f16)(&mut o1, -1.3, &bh);
            (SCALAR.axpy_f16)(&mut o2, -1.3, &bh);
            assert!(max_diff(&o1, &o2) <= 2e-7, "{isa} axpy_f16 n {n}");
            (ops.scale)(&mut o1, 0.37);
            (SCALAR.scale)(&mut o2, 0.37);
            assert!(max_diff(&o1, &o2) <= 2e-7, "{isa} scale n {n}");
            let s: Vec<f32> = pseudo(n, 3).iter().map(|x| x * 20.0).collect();
            let m = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let (mut e1, mut e2) = (s.clone(), s.clone());
            let s1 = (ops.exp_sum)(&mut e1, m);
            let s2 = (SCALAR.exp_sum)(&mut e2, m);
            assert_eq!(e1, e2, "{isa} exp n {n}");
            assert!((s1 - s2).abs() <= 1e-6 * s2, "{isa} exp sum n {n}");
        }
    }
}

#[test]
fn row_loops_equal_one_call_per_row_bit_for_bit() {
    for isa in isas() {
        let ops = simd::ops_for(isa);
        for (d, rows, stride) in [
            (1, 3, 5),
            (7, 1, 7),
            (8, 4, 24),
            (64, 9, 256),
            (100, 5, 133),
            (256, 3, 256),
        ] {
            let q = round16(&pseudo(d, 4));
            let kv: Vec<f16> = pseudo((rows - 1) * stride + d, 5)
                .iter()
                .map(|&x| f16::from_f32(x))
                .collect();
            let mut s = vec![0f32; rows];
            (ops.dots_f16)(&q, &kv, stride, &mut s);
            for (j, &sj) in s.iter().enumerate() {
                let want = (ops.dot_f16)(&q, &kv[j * stride..][..d]);
                assert_eq!(sj.to_bits(), want.to_bits(), "{isa} dots_f16 d {d} row {j}");
            }
            let w = pseudo(rows, 6);
            let (mut o1, mut o2) = (pseudo(d, 7), pseudo(d, 7));
            (ops.axpys_f16)(&mut o1, &w, &kv, stride);
            for (j, &wj) in w.iter().enumerate() {
                (ops.axpy_f16)(&mut o2, wj, &kv[j * stride..][..d]);
            }
            let bits = |o: &[f32]| o.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&o1), bits(&o2), "{isa} axpys_f16 d {d}");
            // several heads at once (the AVX-512 table too): each the bits
            // of its own call
            for table in [ops, simd::ops_for(Isa::Avx512)] {
                for g in 1..=5 {
                    let qs: Vec<Vec<f32>> = (0..g).map(|h| round16(&pseudo(d, 20 + h))).collect();
                    let ws: Vec<Vec<f32>> = (0..g).map(|h| pseudo(rows, 30 + h)).collect();
                    let qr: Vec<&[f32]> = qs.iter().map(Vec::as_slice).collect();
                    let wr: Vec<&[f32]> = ws.iter().map(Vec::as_slice).collect();
                    let mut sg = vec![vec![0f32; rows]; g as usize];
                    let mut sr: Vec<&mut [f32]> = sg.iter_mut().map(Vec::as_mut_slice).collect();
                    table.half_dots_heads(&qr, KvRef::F16(&kv), 0, stride, &mut sr);
                    let mut og: Vec<Vec<f32>> = (0..g).map(|h| pseudo(d, 40 + h)).collect();
                    let mut or: Vec<&mut [f32]> = og.iter_mut().map(Vec::as_mut_slice).collect();
                    table.half_axpys_heads(&mut or, &wr, KvRef::F16(&kv), 0, stride);
                    for h in 0..g as usize {
                        let mut s1 = vec![0f32; rows];
                        (table.dots_f16)(&qs[h], &kv, stride, &mut s1);
                        assert_eq!(
                            bits(&sg[h]),
                            bits(&s1),
                            "{isa} dots heads {g} head {h} d {d}"
                        );
                        let mut o1 = pseudo(d, 40 + h as u32);
                        (table.axpys_f16)(&mut o1, &ws[h], &kv, stride);
                        assert_eq!(
                            bits(&og[h]),
                            bits(&o1),
                            "{isa} axpys heads {g} head {h} d {d}"
                        );
                    }
                }
            }
            // the same f16 values held as f32: the same bits
            let kv32: Vec<f32> = kv.iter().map(|x| x.to_f32()).collect();
            let mut s32 = vec![0f32; rows];
            ops.half_dots(&q, KvRef::F16AsF32(&kv32), 0, stride, &mut s32);
            assert_eq!(bits(&s32), bits(&s), "{isa} half_dots F16AsF32 d {d}");
            let mut o3 = pseudo(d, 7);
            (ops.axpys_f16w)(&mut o3, &w, &kv32, stride);
            assert_eq!(bits(&o3), bits(&o1), "{isa} axpys_f16w d {d}");
            // rounding to f16: ties, subnormals, overflow, every exponent
            let mut x: Vec<f32> = pseudo(d, 8).iter().map(|v| v * 70000.0).collect();
            x.extend([
                1.0 + 1.0 / 2048.0,
                1.0 + 3.0 / 2048.0,
                3e-6,
                -7e-8,
                65520.0,
                -1e9,
                0.0,
            ]);
            x.extend((0..64).map(|e| 2f32.powi(e - 30) * 1.337));
            let mut r = x.clone();
            (ops.round_f16)(&mut r);
            for (a, b) in x.iter().zip(&r) {
                assert_eq!(
                    b.to_bits(),
                    f16::from_f32(*a).to_f32().to_bits(),
                    "{isa} round_f16 {a}"
                );
            }
        }
    }
}

#[test]
fn flash_needs_only_head_dim_scratch_and_checks_it() {
    // a long context with hd elements of scratch per thread
    let p = AttnParams {
        n_head: 2,
        n_kv_head: 1,
        head_dim: 16,
        scale: 0.25,
        window: None,
        kv_start: 0,
    };
    let n = 2000;
    let q = pseudo(2 * 16, 1);
    let k = pseudo(n * 16, 2);
    let v = pseudo(n * 16, 3);
    let c = Case {
        p,
        pos0: n - 1,
        n_tok: 1,
    };
    let got = run_flash(2, Isa::Scalar, &c, &q, KvRef::F32(&k), KvRef::F32(&v));
    let ex = exact(&p, &q, n - 1, 1, &k, &v);
    assert!(max_diff(&got, &ex) < 1e-5);
    let mut out = vec![0.0; 32];
    let e = flash_attention(
        &ThreadPool::new(1),
        Isa::Scalar,
        &p,
        &q,
        n - 1,
        1,
        KvRef::F32(&k),
        KvRef::F32(&v),
        &mut [0.0; 15],
        &mut out,
    );
    assert!(matches!(
        e,
        Err(AttnError::BufferTooSmall { what: "work", .. })
    ));
}

#[test]
fn backend_names_and_auto_resolution() {
    for b in AttentionBackend::ALL {
        assert_eq!(AttentionBackend::parse(b.name()), Some(b));
    }
    assert_eq!(
        AttentionBackend::parse(" ON"),
        Some(AttentionBackend::Flash)
    );
    assert_eq!(
        AttentionBackend::parse("off"),
        Some(AttentionBackend::Standard)
    );
    assert_eq!(AttentionBackend::parse("fast"), None);
    let t = AttentionBackend::AUTO_FLASH_MIN_LEN;
    use AttentionBackend::{Auto, Flash, Standard};
    for n_tok in [1, 2] {
        assert_eq!(Auto.resolve(t - 1, n_tok, false), Standard);
        assert_eq!(Auto.resolve(t, n_tok, false), Flash);
        assert_eq!(Standard.resolve(1 << 20, n_tok, true), Standard);
        assert_eq!(Flash.resolve(n_tok, n_tok, true), Flash);
    }
    // prompt chunks on the standard backend's head-group loops at any
    // length; decode as without them
    assert_eq!(Auto.resolve(1 << 20, 2, true), Standard);
    assert_eq!(Auto.resolve(t, 1, true), Flash);
    assert_eq!(Auto.resolve(t - 1, 1, true), Standard);
    let half = [f16::ZERO; 8];
    assert!(!grouped_loops(Isa::Scalar, &KvRef::F16(&half)));
    assert!(!grouped_loops(Isa::Avx2, &KvRef::F32(&[0.0; 8])));
    if Isa::Avx2.detected() {
        assert!(grouped_loops(Isa::Avx2, &KvRef::F16(&half)));
    }
}

#[test]
fn attention_with_runs_the_resolved_backend() {
    let p = AttnParams {
        n_head: 4,
        n_kv_head: 2,
        head_dim: 8,
        scale: 0.5,
        window: None,
        kv_start: 0,
    };
    let n = 9;
    let q = pseudo(n * 32, 1);
    let k = pseudo(n * 16, 2);
    let v = pseudo(n * 16, 3);
    let pool = ThreadPool::new(1);
    let mut work = vec![0.0; work_per_thread(n, 8)];
    let mut outs = Vec::new();
    for b in AttentionBackend::ALL {
        let mut out = vec![0.0; n * 32];
        let used = attention_with(
            b,
            Isa::Scalar,
            &pool,
            &p,
            &q,
            0,
            n,
            KvRef::F32(&k),
            KvRef::F32(&v),
            &mut work,
            &mut out,
        )
        .unwrap();
        assert_eq!(used, b.resolve(n, n, false));
        outs.push(out);
    }
    let c = Case {
        p,
        pos0: 0,
        n_tok: n,
    };
    assert_eq!(
        outs[0],
        run_standard(&c, &q, KvRef::F32(&k), KvRef::F32(&v))
    );
    assert_eq!(
        outs[1],
        run_flash(1, Isa::Scalar, &c, &q, KvRef::F32(&k), KvRef::F32(&v))
    );
    assert_eq!(outs[2], outs[0]); // 9 keys: Auto is Standard
}
