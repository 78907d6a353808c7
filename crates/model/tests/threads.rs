//! The forward pass gives bit-identical logits (and hidden states) on 1, 2
//! and 3 threads: prefill in batches with logits for every token, then
//! single-token decode steps.

use std::path::PathBuf;

use model::{CacheType, KvCache, LogitsMode, Model, Scratch};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Logits of every prompt token (prefill in batches of `batch`), then of
/// `n_gen` greedy decode steps, concatenated.
fn run(model: &Model, prompt: &[u32], batch: usize, n_gen: usize) -> Vec<f32> {
    let c = model.config();
    let n_ctx = prompt.len() + n_gen + 1;
    let mut kv = KvCache::new(c, n_ctx, CacheType::F16).unwrap();
    let mut s = Scratch::new(model, batch, n_ctx, batch).unwrap();
    let mut all = Vec::new();
    let mut pos = 0;
    for chunk in prompt.chunks(batch) {
        let l = model
            .forward(chunk, pos, &mut kv, &mut s, LogitsMode::All)
            .unwrap();
        all.extend_from_slice(l);
        pos += chunk.len();
    }
    let n_vocab = c.n_vocab;
    for _ in 0..n_gen {
        let last = &all[all.len() - n_vocab..];
        let next = (0..n_vocab)
            .max_by(|&a, &b| last[a].total_cmp(&last[b]))
            .unwrap() as u32;
        let l = model
            .forward(&[next], pos, &mut kv, &mut s, LogitsMode::Last)
            .unwrap();
        all.extend_from_slice(l);
        pos += 1;
    }
    all
}

fn check(path: PathBuf, prompt_len: usize, batch: usize, n_gen: usize) -> bool {
    if !path.exists() {
        test_support::missing(path.display(), test_support::FETCH_MODEL);
        return false;
    }
    let mut model = Model::load(&path).unwrap();
    let n_vocab = model.config().n_vocab as u32;
    let prompt: Vec<u32> = (0..prompt_len as u32)
        .map(|i| (i * 7919 + 13) % n_vocab)
        .collect();
    assert_eq!(model.threads(), 1);
    let want = run(&model, &prompt, batch, n_gen);
    for threads in [2, 3] {
        model.set_threads(threads);
        assert_eq!(model.threads(), threads);
        let got = run(&model, &prompt, batch, n_gen);
        assert_eq!(want.len(), got.len());
        let diff = want
            .iter()
            .zip(&got)
            .position(|(a, b)| a.to_bits() != b.to_bits());
        assert_eq!(
            diff,
            None,
            "{}: {threads} threads differ from 1 thread",
            path.display()
        );
    }
    true
}

#[test]
fn tiny_models_identical_logits_on_1_2_3_threads() {
    let mut checked = 0;
    for name in ["tiny-q4_k_m", "tiny-q8_0", "tiny-f16", "tiny-mha-q4_k_m"] {
        let path = workspace().join(format!("tests/fixtures/models/{name}.gguf"));
        checked += check(path, 21, 8, 6) as usize;
    }
    assert!(checked > 0, "no fixture model found");
}

/// The real Gemma 3 270M (skipped without it): sliding-window layers, Q8_0
/// head of 262144 rows, Q5_0 / Q4_K / Q6_K layers.
#[test]
fn gemma_identical_logits_on_1_2_3_threads() {
    check(
        workspace().join("models/gemma-3-270m-q4_k_m.gguf"),
        12,
        5,
        3,
    );
}
