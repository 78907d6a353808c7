//! Batches of sequences: each sequence's logits in a batched run equal,
//! bit for bit, those of the same sequence run alone (same prompt chunk,
//! then one token per step). Eight prompts of different lengths join at
//! different steps, one is cancelled midway and its slot reused.

mod common;

use common::workspace;
use model::{AttentionBackend, Batch, CacheType, KvCache, LogitsMode, Model, Scratch};

const N_SEQ: usize = 8;
const STEPS: usize = 14;
const N_CTX: usize = 64;
/// The sequence cancelled at step `CANCEL_AT` (its slot then serves a late
/// newcomer, sequence `N_SEQ`).
const CANCELLED: usize = 3;
const CANCEL_AT: usize = 6;

/// A prompt of `len` token ids below `n_vocab`, different per `seed`.
fn prompt(seed: usize, len: usize, n_vocab: usize) -> Vec<u32> {
    let mut s = (seed as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % n_vocab as u64) as u32
        })
        .collect()
}

fn argmax(x: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate() {
        if v > x[best] {
            best = i;
        }
    }
    best as u32
}

/// One sequence of the schedule.
struct Seq {
    prompt: Vec<u32>,
    /// Step at which it joins.
    join: usize,
    /// Step after which it stops (exclusive).
    stop: usize,
    /// KV slot.
    slot: usize,
}

fn schedule(n_vocab: usize) -> Vec<Seq> {
    let mut seqs: Vec<Seq> = (0..N_SEQ)
        .map(|i| Seq {
            prompt: prompt(i, 1 + (i * 5) % 13, n_vocab),
            join: i / 2,
            stop: if i == CANCELLED { CANCEL_AT } else { STEPS },
            slot: i,
        })
        .collect();
    seqs.push(Seq {
        prompt: prompt(99, 9, n_vocab),
        join: CANCEL_AT + 1,
        stop: STEPS,
        slot: CANCELLED,
    });
    seqs
}

/// Logits of each step of `seq` run alone: the prompt in one chunk, then
/// its greedy tokens one at a time.
fn alone(m: &Model, seq: &Seq) -> Vec<Vec<f32>> {
    let mut kv = KvCache::new(m.config(), N_CTX, CacheType::F32).unwrap();
    let mut s = Scratch::new(m, 16, N_CTX, 1).unwrap();
    let mut out = Vec::new();
    let mut logits = m
        .forward(&seq.prompt, 0, &mut kv, &mut s, LogitsMode::Last)
        .unwrap()
        .to_vec();
    let steps = seq.stop - seq.join;
    for pos in seq.prompt.len()..seq.prompt.len() + steps - 1 {
        let t = argmax(&logits);
        out.push(logits);
        logits = m
            .forward(&[t], pos, &mut kv, &mut s, LogitsMode::Last)
            .unwrap()
            .to_vec();
    }
    out.push(logits);
    out
}

/// Logits of each step of every sequence, all run in shared batches.
fn batched(m: &Model, seqs: &[Seq]) -> Vec<Vec<Vec<f32>>> {
    let v = m.config().n_vocab;
    let mut kv = KvCache::with_slots(m.config(), N_SEQ, N_CTX, CacheType::F32).unwrap();
    let mut s = Scratch::new(m, 64, N_CTX, N_SEQ).unwrap();
    let mut out: Vec<Vec<Vec<f32>>> = seqs.iter().map(|_| Vec::new()).collect();
    let mut batch = Batch::with_capacity(64);
    for step in 0..STEPS {
        batch.clear();
        let mut members = Vec::new();
        for (i, q) in seqs.iter().enumerate() {
            if step < q.join || step >= q.stop {
                continue;
            }
            if step == q.join {
                // a newcomer reuses a cancelled sequence's slot
                kv.clear(q.slot);
                batch.push_seq(&q.prompt, 0, q.slot, true);
            } else {
                let last = out[i].last().unwrap();
                let pos = q.prompt.len() + (step - q.join) - 1;
                batch.push(argmax(last), pos, q.slot, true);
            }
            members.push(i);
        }
        let logits = m.decode(&batch, &mut kv, &mut s).unwrap();
        assert_eq!(logits.len(), members.len() * v);
        for (j, &i) in members.iter().enumerate() {
            out[i].push(logits[j * v..(j + 1) * v].to_vec());
        }
    }
    out
}

fn check(m: &Model, what: &str) {
    let seqs = schedule(m.config().n_vocab);
    let all = batched(m, &seqs);
    for (i, q) in seqs.iter().enumerate() {
        let solo = alone(m, q);
        assert_eq!(solo.len(), all[i].len(), "{what}: sequence {i} steps");
        for (step, (a, b)) in solo.iter().zip(&all[i]).enumerate() {
            let same = a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(
                same,
                "{what}: sequence {i}, step {step}: batched logits differ"
            );
        }
    }
}

fn load(path: &std::path::Path) -> Option<Model> {
    if !path.exists() {
        test_support::missing(path.display(), test_support::FETCH_MODEL);
        return None;
    }
    Some(
        Model::load(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .with_kernels(common::test_kernels()),
    )
}

#[test]
fn tiny_models_batched_equal_alone() {
    for name in [
        "tiny-f16",
        "tiny-q8_0",
        "tiny-q4_0",
        "tiny-q4_k_m",
        "tiny-mha-q4_k_m",
    ] {
        let path = workspace().join(format!("tests/fixtures/models/{name}.gguf"));
        let Some(m) = load(&path) else { continue };
        for attn in [AttentionBackend::Standard, AttentionBackend::Flash] {
            let m = load(&path).unwrap().with_attention(attn);
            check(&m, &format!("{name} {attn:?}"));
        }
        // two threads, and the repacked decode layouts (read by the
        // single-token steps run alone, not by the batched ones)
        let mut m = m.with_threads(2);
        m.pack_for_decode(usize::MAX).unwrap();
        check(&m, &format!("{name} 2 threads, packed"));
    }
}

#[test]
fn gemma_batched_equals_alone() {
    let Some(m) = load(&workspace().join("models/gemma-3-270m-q4_k_m.gguf")) else {
        return;
    };
    let mut m = m.with_threads(2);
    m.pack_for_decode(usize::MAX).unwrap();
    check(&m, "gemma-3-270m");
}

#[test]
fn slots_copy_a_prefix_and_refuse_bad_batches() {
    let path = workspace().join("tests/fixtures/models/tiny-q8_0.gguf");
    let Some(m) = load(&path) else { return };
    let v = m.config().n_vocab;
    let p = prompt(7, 12, v);
    let mut kv = KvCache::with_slots(m.config(), 2, N_CTX, CacheType::F32).unwrap();
    let mut s = Scratch::new(&m, 16, N_CTX, 2).unwrap();
    // slot 0 holds the prompt; slot 1 gets its first 8 positions and runs the rest
    let want = m
        .forward(&p, 0, &mut kv, &mut s, LogitsMode::Last)
        .unwrap()
        .to_vec();
    kv.copy_prefix(0, 1, 8).unwrap();
    assert_eq!((kv.seq_len(0), kv.seq_len(1)), (12, 8));
    let mut b = Batch::with_capacity(8);
    b.push_seq(&p[8..], 8, 1, true);
    let got = m.decode(&b, &mut kv, &mut s).unwrap();
    assert!(want
        .iter()
        .zip(got)
        .all(|(x, y)| x.to_bits() == y.to_bits()));
    assert_eq!(kv.seq_len(1), 12);
    // errors, not panics
    assert!(kv.copy_prefix(0, 2, 1).is_err());
    assert!(kv.copy_prefix(1, 0, 13).is_err());
    for bad in [
        // a gap after the cached positions
        (0, 13usize),
        // no such slot
        (2, 0),
    ] {
        b.clear();
        b.push(1, bad.1, bad.0, true);
        assert!(m.decode(&b, &mut kv, &mut s).is_err(), "{bad:?}");
    }
    // one sequence in two runs
    b.clear();
    b.push(1, 12, 0, true);
    b.push(1, 12, 1, true);
    b.push(2, 13, 0, true);
    assert!(m.decode(&b, &mut kv, &mut s).is_err());
    // more output rows than the scratch holds
    b.clear();
    b.push_seq(&[1, 2, 3], 12, 0, false);
    for (i, t) in [1u32, 2, 3].into_iter().enumerate() {
        b.push(t, 12 + i, 1, true);
    }
    assert!(m.decode(&b, &mut kv, &mut s).is_err());
    kv.truncate(0, 4);
    kv.clear(1);
    assert_eq!((kv.seq_len(0), kv.seq_len(1)), (4, 0));
}

/// A prompt's logits do not depend on what else shares its batch: other
/// sequences' chunks of every length, below and above the size where
/// k-quant products switch to llama.cpp's batched order.
#[test]
fn neighbours_do_not_change_a_sequence() {
    for name in ["tiny-q4_0", "tiny-q4_k_m"] {
        let path = workspace().join(format!("tests/fixtures/models/{name}.gguf"));
        let Some(m) = load(&path) else { continue };
        let v = m.config().n_vocab;
        for len in [3, 5, 9] {
            let p = prompt(1, len, v);
            let mut kv = KvCache::new(m.config(), N_CTX, CacheType::F32).unwrap();
            let mut s = Scratch::new(&m, 64, N_CTX, 4).unwrap();
            let want = m
                .forward(&p, 0, &mut kv, &mut s, LogitsMode::Last)
                .unwrap()
                .to_vec();
            for k in 1..24 {
                let mut kv = KvCache::with_slots(m.config(), 3, N_CTX, CacheType::F32).unwrap();
                let mut b = Batch::with_capacity(64);
                b.push_seq(&prompt(2, k, v), 0, 1, true);
                b.push_seq(&p, 0, 0, true);
                b.push_seq(&prompt(3, 1 + k % 3, v), 0, 2, false);
                let got = &m.decode(&b, &mut kv, &mut s).unwrap()[v..];
                let same = want
                    .iter()
                    .zip(got)
                    .all(|(x, y)| x.to_bits() == y.to_bits());
                assert!(same, "{name}: prompt of {len} beside a chunk of {k}");
            }
        }
    }
}

/// Gemma 3's sliding-window layers kept as rings (window + one batch)
/// give the logits of the whole cache, bit for bit, past the window and
/// after a rewind; a rewind further back than a batch drops the slot.
#[test]
fn gemma_ring_cache_equals_the_whole_cache() {
    let Some(m) = load(&workspace().join("models/gemma-3-270m-q4_k_m.gguf")) else {
        return;
    };
    let m = m.with_threads(2);
    let c = m.config();
    let window = c.sliding_window.expect("gemma 3 has local layers");
    let (n_ctx, chunk) = (4096, 64);
    let p = prompt(5, window + 90, c.n_vocab);
    let mut full = KvCache::new(c, n_ctx, CacheType::F16).unwrap();
    let mut ring = KvCache::with_rings(c, 1, n_ctx, CacheType::F16, chunk).unwrap();
    assert!(
        ring.n_bytes() < full.n_bytes() / 2,
        "{} vs {}",
        ring.n_bytes(),
        full.n_bytes()
    );
    let mut s = Scratch::new(&m, chunk, n_ctx, 1).unwrap();
    let mut run = |kv: &mut KvCache, tokens: &[u32], pos: usize| {
        let mut out = Vec::new();
        for (i, part) in tokens.chunks(chunk).enumerate() {
            let l = m
                .forward(part, pos + i * chunk, kv, &mut s, LogitsMode::Last)
                .unwrap();
            out.push(l.to_vec());
        }
        out
    };
    let same = |a: &[Vec<f32>], b: &[Vec<f32>], what: &str| {
        for (x, y) in a.iter().zip(b) {
            assert!(
                x.iter().zip(y).all(|(u, v)| u.to_bits() == v.to_bits()),
                "{what}"
            );
        }
    };
    same(&run(&mut full, &p, 0), &run(&mut ring, &p, 0), "prompt");
    // decode steps past the window
    let steps: Vec<u32> = prompt(6, 12, c.n_vocab);
    for (i, &t) in steps.iter().enumerate() {
        let pos = p.len() + i;
        same(
            &run(&mut full, &[t], pos),
            &run(&mut ring, &[t], pos),
            "decode",
        );
    }
    // rewind by one batch, then go on: still equal
    let back = p.len() + steps.len() - chunk;
    assert_eq!(ring.truncate(0, back), back);
    full.truncate(0, back);
    let more = prompt(7, 30, c.n_vocab);
    same(
        &run(&mut full, &more, back),
        &run(&mut ring, &more, back),
        "after a rewind",
    );
    // further back than a batch: the ring slot is dropped, and calls that
    // need it are refused
    assert_eq!(ring.truncate(0, 10), 0);
    assert!(m
        .forward(&[1], 10, &mut ring, &mut s, LogitsMode::Last)
        .is_err());
    // more tokens per call than the rings were sized for
    let mut ring = KvCache::with_rings(c, 1, n_ctx, CacheType::F16, 8).unwrap();
    assert!(m
        .forward(&p[..9], 0, &mut ring, &mut s, LogitsMode::Last)
        .is_err());
}
