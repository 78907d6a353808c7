//! Hand-computed expectations for each stage and for the chain order.

use super::*;

fn ids(c: &Candidates) -> Vec<u32> {
    c.as_slice().iter().map(|c| c.id).collect()
}

fn filled(logits: &[f32]) -> Candidates {
    let mut c = Candidates::new();
    c.fill(logits);
    c
}

/// Logits whose softmax is exactly `probs` (up to rounding).
fn ln(probs: &[f32]) -> Vec<f32> {
    probs.iter().map(|p| p.ln()).collect()
}

fn off() -> SamplerParams {
    SamplerParams {
        temperature: 1.0,
        ..SamplerParams::greedy()
    }
}

#[test]
fn penalties_divide_positive_multiply_negative_then_subtract() {
    let mut c = filled(&[2.0, -1.0, 0.5, 3.0]);
    let mut counts = vec![0u32; 4];
    let window = [0u32, 1, 1, 2, 99]; // 99 is outside the vocabulary: ignored
    c.penalize(window.iter().copied(), &mut counts, 2.0, 0.5, 0.25);
    let l: Vec<f32> = c.as_slice().iter().map(|c| c.logit).collect();
    // t0: 2/2 - (1*0.5 + 0.25); t1: -1*2 - (2*0.5 + 0.25); t2: 0.5/2 - 0.75; t3 unseen.
    assert_eq!(l, vec![0.25, -3.25, -0.5, 3.0]);
    assert!(
        counts.iter().all(|&n| n == 0),
        "scratch counts must be cleared"
    );
}

#[test]
fn top_k_keeps_k_best_sorted_with_id_tiebreak() {
    let mut c = filled(&[1.0, 5.0, 3.0, 5.0, 2.0]);
    c.top_k(3);
    assert_eq!(ids(&c), vec![1, 3, 2]);
    assert!(c.is_sorted());
    let mut c = filled(&[1.0, 2.0]);
    c.top_k(0); // disabled
    assert_eq!(ids(&c), vec![0, 1]);
    c.top_k(10); // larger than the list
    assert_eq!(ids(&c), vec![1, 0]);
}

#[test]
fn top_p_keeps_minimal_prefix_reaching_p() {
    let probs = [0.15, 0.5, 0.05, 0.3];
    let cases: [(f32, usize, &[u32]); 5] = [
        (0.45, 0, &[1]),
        (0.75, 0, &[1, 3]),
        (0.81, 0, &[1, 3, 0]),
        (0.45, 3, &[1, 3, 0]),
        (1.0, 0, &[0, 1, 2, 3]), // disabled: untouched, unsorted
    ];
    for (p, min_keep, want) in cases {
        let mut c = filled(&ln(&probs));
        c.top_p(p, min_keep);
        assert_eq!(ids(&c), want, "top_p({p}, min_keep {min_keep})");
    }
}

#[test]
fn top_p_large_vocab_prefix_path_matches_full_sort() {
    // 3000 tokens: a few strong ones scattered, a long flat tail.
    let mut logits: Vec<f32> = (0..3000)
        .map(|i| ((i * 7919) % 1000) as f32 * 1e-3)
        .collect();
    for (k, &i) in [17usize, 2500, 999, 1234].iter().enumerate() {
        logits[i] = 12.0 - k as f32;
    }
    for p in [0.5f32, 0.9, 0.95, 0.999] {
        let mut c = filled(&logits);
        c.top_p(p, 0);
        // Naive reference: full sort by probability, cumulative sum.
        let mut s = filled(&logits);
        s.softmax();
        s.sort();
        let mut cum = 0.0f32;
        let n = s
            .as_slice()
            .iter()
            .position(|c| {
                cum += c.p;
                cum >= p
            })
            .map_or(s.len(), |i| i + 1);
        let want: Vec<u32> = s.as_slice()[..n].iter().map(|c| c.id).collect();
        assert_eq!(ids(&c), want, "p = {p}");
    }
}

#[test]
fn min_p_is_relative_to_the_best_probability() {
    let probs = [0.15, 0.5, 0.05, 0.3];
    // Threshold 0.2 * 0.5 = 0.1 drops only token 2; order is preserved.
    let mut c = filled(&ln(&probs));
    c.min_p(0.2, 0);
    assert_eq!(ids(&c), vec![0, 1, 3]);
    // Threshold 0.5 * 0.5 = 0.25 keeps tokens 1 and 3.
    let mut c = filled(&ln(&probs));
    c.min_p(0.5, 0);
    assert_eq!(ids(&c), vec![1, 3]);
    // Only token 1 passes 0.9, but min_keep = 3 keeps the three best.
    let mut c = filled(&ln(&probs));
    c.min_p(0.9, 3);
    assert_eq!(ids(&c), vec![1, 3, 0]);
    // Disabled.
    let mut c = filled(&ln(&probs));
    c.min_p(0.0, 0);
    assert_eq!(c.len(), 4);
}

#[test]
fn typical_orders_by_distance_to_entropy() {
    // H = 1.1421 nats; -ln p = [0.693, 1.204, 1.897, 2.996] for p = [.5, .3, .15, .05];
    // distances [0.449, 0.062, 0.755, 1.854] -> order 1, 0, 2, 3 (ids below are permuted).
    let probs = [0.15, 0.5, 0.05, 0.3]; // ids: 0 -> .15, 1 -> .5, 2 -> .05, 3 -> .3
    let mut c = filled(&ln(&probs));
    c.typical(0.5, 0); // cum: 0.3 (not > 0.5), 0.8 -> keep 2
    assert_eq!(ids(&c), vec![3, 1]);
    let mut c = filled(&ln(&probs));
    c.typical(0.2, 0);
    assert_eq!(ids(&c), vec![3]);
    let mut c = filled(&ln(&probs));
    c.typical(0.2, 3);
    assert_eq!(ids(&c), vec![3, 1, 0]);
}

#[test]
fn temperature_scales_or_keeps_best() {
    let mut c = filled(&[1.0, 2.0, 3.0]);
    c.temperature(0.5);
    let l: Vec<f32> = c.as_slice().iter().map(|c| c.logit).collect();
    assert_eq!(l, vec![2.0, 4.0, 6.0]);
    let mut c = filled(&[1.0, 3.0, 3.0, 2.0]);
    c.temperature(0.0);
    assert_eq!(ids(&c), vec![1]);
}

#[test]
fn pick_walks_the_cumulative_distribution() {
    let logits = ln(&[0.5, 0.3, 0.2]);
    for (u, want) in [
        (0.0, 0),
        (0.49, 0),
        (0.51, 1),
        (0.79, 1),
        (0.81, 2),
        (0.999_999, 2),
    ] {
        let mut c = filled(&logits);
        assert_eq!(c.pick(u), Some(want), "u = {u}");
    }
    assert_eq!(Candidates::new().pick(0.5), None);
}

#[test]
fn penalties_run_before_top_k() {
    // Token 0 is best until its repeat penalty (5 / 10 = 0.5) drops it below token 1.
    let mut s = Sampler::new(SamplerParams {
        top_k: 1,
        repeat_penalty: 10.0,
        ..off()
    });
    s.accept(0);
    assert_eq!(s.sample(&[5.0, 4.0, 1.0], false).unwrap().id, 1);
}

#[test]
fn min_p_runs_before_temperature() {
    // Untempered p = [.6, .3, .1]: min-p 0.2 (threshold .12) removes token 2. A high
    // temperature applied first would flatten it to ~[.36, .34, .30] and keep token 2.
    let mut s = Sampler::new(SamplerParams {
        min_p: 0.2,
        temperature: 10.0,
        seed: 7,
        ..off()
    });
    let logits = ln(&[0.6, 0.3, 0.1]);
    let mut hist = [0usize; 3];
    for _ in 0..4000 {
        hist[s.sample(&logits, false).unwrap().id as usize] += 1;
    }
    assert_eq!(hist[2], 0, "{hist:?}");
    // Tempered over the survivors: .6^.1 / (.6^.1 + .3^.1) = 0.5173.
    let f0 = hist[0] as f64 / 4000.0;
    assert!((f0 - 0.5173).abs() < 0.03, "{hist:?}");
}

#[test]
fn top_k_runs_before_top_p() {
    // top-k 2 leaves [.5, .3] -> renormalised [.625, .375]; top-p 0.6 then keeps one token.
    // Had top-p run first on the full distribution, 0.6 would need two tokens.
    let mut s = Sampler::new(SamplerParams {
        top_k: 2,
        top_p: 0.6,
        ..off()
    });
    s.sample(&ln(&[0.5, 0.3, 0.2]), false).unwrap();
    assert_eq!(s.candidates().len(), 1);
    assert_eq!(s.candidates()[0].id, 0);
}

#[test]
fn sampling_frequencies_follow_the_distribution() {
    let mut s = Sampler::new(SamplerParams { seed: 123, ..off() });
    let logits = ln(&[0.7, 0.2, 0.1]);
    let n = 20_000;
    let mut hist = [0usize; 3];
    for _ in 0..n {
        hist[s.sample(&logits, false).unwrap().id as usize] += 1;
    }
    for (h, p) in hist.iter().zip([0.7, 0.2, 0.1]) {
        assert!((*h as f64 / n as f64 - p).abs() < 0.015, "{hist:?}");
    }
}

#[test]
fn greedy_is_argmax_and_temperature_zero_respects_penalties() {
    let logits = [0.1, 2.5, -1.0, 2.4];
    let mut g = Sampler::new(SamplerParams::greedy());
    assert_eq!(g.sample(&logits, false).unwrap().id, 1);
    let mut d = Sampler::new(SamplerParams {
        temperature: 0.0,
        ..SamplerParams::default()
    });
    assert_eq!(d.sample(&logits, false).unwrap().id, 1);
    let mut p = Sampler::new(SamplerParams {
        temperature: 0.0,
        repeat_penalty: 1.1,
        ..SamplerParams::default()
    });
    p.accept(1); // 2.5 / 1.1 = 2.27 < 2.4
    assert_eq!(p.sample(&logits, false).unwrap().id, 3);
}

#[test]
fn same_seed_same_sequence_and_reset_restarts() {
    let logits: Vec<f32> = (0..50).map(|i| ((i * 37) % 11) as f32 * 0.3).collect();
    let params = SamplerParams {
        seed: 99,
        ..SamplerParams::default()
    };
    let run = |s: &mut Sampler| -> Vec<u32> {
        (0..64)
            .map(|_| {
                let id = s.sample(&logits, false).unwrap().id;
                s.accept(id);
                id
            })
            .collect()
    };
    let mut a = Sampler::new(params.clone());
    let mut b = Sampler::new(params.clone());
    let first = run(&mut a);
    assert_eq!(first, run(&mut b));
    a.reset();
    assert_eq!(first, run(&mut a));
    let mut c = Sampler::new(SamplerParams {
        seed: 100,
        ..params
    });
    assert_ne!(first, run(&mut c));
}

#[test]
fn logprob_is_of_the_raw_distribution() {
    let mut s = Sampler::new(SamplerParams::greedy());
    let r = s.sample(&[0.0, 3f32.ln()], true).unwrap();
    assert_eq!(r.id, 1);
    assert!((r.logprob.unwrap() - 0.75f32.ln()).abs() < 1e-6);
    assert_eq!(s.sample(&[0.0, 1.0], false).unwrap().logprob, None);
}

#[test]
fn window_keeps_last_n_and_empty_logits_error() {
    let mut s = Sampler::new(SamplerParams {
        penalty_last_n: 3,
        ..SamplerParams::default()
    });
    for t in 1..=4 {
        s.accept(t);
    }
    assert_eq!(s.history().collect::<Vec<_>>(), vec![2, 3, 4]);
    assert_eq!(s.sample(&[], false), Err(SamplerError::EmptyLogits));
}

/// Issue 13: out-of-range values keep llama.cpp's meaning and never panic: temperature
/// <= 0 is greedy, top-p >= 1 and min-p <= 0 switch the stage off, top-p <= 0 and
/// min-p > 1 keep the best candidate, any finite penalty is applied.
#[test]
fn out_of_range_values_keep_their_meaning_without_panics() {
    let logits = ln(&[0.1, 0.6, 0.3]);
    let draw = |p: SamplerParams, window: &[u32]| {
        let mut s = Sampler::new(p);
        for &t in window {
            s.accept(t);
        }
        (0..20)
            .map(|_| s.sample(&logits, true).unwrap().id)
            .collect::<Vec<_>>()
    };
    for t in [-1.0, -0.0, 0.0, f32::MIN] {
        let p = SamplerParams {
            temperature: t,
            ..off()
        };
        assert!(draw(p, &[]).iter().all(|&id| id == 1), "temp {t}");
    }
    for (top_p, min_p) in [(-1.0, 0.0), (0.0, 0.0), (1.0, 5.0), (1.0, 1.5)] {
        let p = SamplerParams {
            top_p,
            min_p,
            ..off()
        };
        assert!(draw(p, &[]).iter().all(|&id| id == 1), "{top_p} {min_p}");
    }
    // top-p >= 1 and min-p <= 0 are off: every token can be drawn.
    for (top_p, min_p) in [(1.0, -1.0), (7.0, 0.0), (f32::MAX, f32::MIN)] {
        let p = SamplerParams {
            top_p,
            min_p,
            seed: 3,
            ..off()
        };
        let mut s = Sampler::new(p);
        let mut seen = [false; 3];
        for _ in 0..200 {
            seen[s.sample(&logits, false).unwrap().id as usize] = true;
        }
        assert_eq!(seen, [true; 3], "{top_p} {min_p}");
    }
    // Any finite penalty: zero, negative, huge.
    for (rep, freq, pres) in [
        (0.0, 0.0, 0.0),
        (-2.0, -1e30, 1e30),
        (f32::MAX, f32::MAX, f32::MIN),
        (1e-30, 3.0, -3.0),
    ] {
        for temp in [0.0, 0.8] {
            let p = SamplerParams {
                temperature: temp,
                repeat_penalty: rep,
                frequency_penalty: freq,
                presence_penalty: pres,
                penalty_last_n: 4,
                ..off()
            };
            assert!(draw(p, &[1, 1, 2]).iter().all(|&id| id < 3));
        }
    }
}

/// Issue 13: a penalty window of usize::MAX reserved that many slots (a capacity
/// overflow panic).
#[test]
fn huge_penalty_window_reserves_a_bounded_buffer() {
    let mut s = Sampler::new(SamplerParams {
        penalty_last_n: usize::MAX,
        repeat_penalty: 1.5,
        ..SamplerParams::default()
    });
    for t in 0..10 {
        s.accept(t);
    }
    assert_eq!(s.history().count(), 10);
    assert!(s.sample(&[0.0, 1.0], false).unwrap().id < 2);
}

/// A greedy sampler asks the backend for the argmax only (unless it wants
/// log-probabilities), and sampling that argmax gives what sampling the
/// logits gives.
#[test]
fn greedy_samplers_read_back_the_argmax_only() {
    let logits = [0.5, 2.0, -1.0, 2.0];
    let mut g = Sampler::new(SamplerParams::greedy());
    assert_eq!(g.read_kind(false), ReadKind::TopK(1));
    assert_eq!(g.read_kind(true), ReadKind::Logits);
    let full = g.sample(&logits, false).unwrap();
    let best = argmax(&logits);
    let top1 = Row::TopK {
        ids: &[best],
        logits: &[logits[best as usize]],
    };
    let row = g.sample_row(top1, false).unwrap();
    assert_eq!((full.id, row.id, row.logprob), (1, 1, None));
    let d = Sampler::new(SamplerParams::default());
    assert_eq!(d.read_kind(false), ReadKind::TopK(40));
    assert_eq!(d.read_kind(true), ReadKind::Logits);
    let all = Sampler::new(SamplerParams {
        top_k: 0,
        ..SamplerParams::default()
    });
    assert_eq!(all.read_kind(false), ReadKind::Logits);
    let pen = Sampler::new(SamplerParams {
        repeat_penalty: 1.3,
        ..SamplerParams::greedy()
    });
    assert_eq!(
        pen.read_kind(false),
        ReadKind::Logits,
        "penalties need logits"
    );
}

/// A sampler whose chain starts with top-k (no penalties) asks the backend
/// for the k best only, and sampling them draws what sampling every logit
/// draws, seed for seed (ties included: the lower id first).
#[test]
fn top_k_samplers_read_back_the_k_best_only() {
    let mut x = 12345u64;
    let mut logits: Vec<f32> = (0..1000)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((x >> 40) as f32 / (1u64 << 24) as f32) * 8.0 - 4.0
        })
        .collect();
    for i in [17, 400, 999] {
        logits[i] = 3.9; // ties near the top
    }
    let mut order: Vec<u32> = (0..logits.len() as u32).collect();
    order.sort_by(|&i, &j| {
        logits[j as usize]
            .total_cmp(&logits[i as usize])
            .then(i.cmp(&j))
    });
    let chains = [
        SamplerParams::default(),
        SamplerParams {
            top_k: 5,
            top_p: 0.5,
            seed: 7,
            ..SamplerParams::default()
        },
        SamplerParams {
            top_k: 1,
            temperature: 0.7,
            ..SamplerParams::default()
        },
        SamplerParams {
            top_k: 64,
            typical_p: 0.9,
            min_p: 0.0,
            temperature: 1.5,
            seed: 3,
            ..SamplerParams::default()
        },
    ];
    for p in chains {
        let (mut full, mut top) = (Sampler::new(p.clone()), Sampler::new(p.clone()));
        let ReadKind::TopK(k) = top.read_kind(false) else {
            panic!("{p:?} reads every logit")
        };
        let ids = &order[..k];
        let vals: Vec<f32> = ids.iter().map(|&i| logits[i as usize]).collect();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let a = full.sample(&logits, false).unwrap().id;
            let row = Row::TopK { ids, logits: &vals };
            assert_eq!(a, top.sample_row(row, false).unwrap().id, "{p:?}");
            seen.insert(a);
        }
        assert!(k == 1 || seen.len() > 1, "{p:?}: always {seen:?}");
    }
}

#[test]
fn top_log_softmax_orders_and_normalises() {
    let xs = [1.0, 3.0, 3.0, -2.0, 0.5];
    let mut out = Vec::new();
    super::top_log_softmax(&xs, 3, &mut out);
    let ids: Vec<u32> = out.iter().map(|e| e.0).collect();
    assert_eq!(ids, [1, 2, 0]);
    for (id, lp) in &out {
        let want = super::log_softmax_at(&xs, *id as usize);
        assert!((lp - want).abs() < 1e-6, "{id}: {lp} vs {want}");
    }
    super::top_log_softmax(&xs, 0, &mut out);
    assert!(out.is_empty());
    super::top_log_softmax(&[0.0, 0.0], 5, &mut out);
    assert_eq!(out.len(), 2);
    assert!((out[0].1 - 0.5f32.ln()).abs() < 1e-6);
}
