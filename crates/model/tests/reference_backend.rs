//! The backend seam holds: the reference backend (scalar reference kernels,
//! its own weights, KV storage and registers, reads completed on another
//! thread) runs the same forward code as the CPU backend and gives the CPU
//! backend's scalar-table logits bit for bit, for a prefill, greedy steps
//! read as top-1 (asynchronously) and a batch of two sequences, for every
//! committed tiny model (llama, llama 3 `rope_freqs`, qwen2, qwen3, phi3
//! with a fused QKV and gate/up, gemma3) and phi3's long LongRoPE factors.

mod common;

use std::sync::Arc;

use common::workspace;
use model::{
    AttentionBackend, Batch, CacheType, KvCache, LogitsMode, Model, ReadKind, Readout, RefBackend,
    Scratch,
};

fn bits(x: &[f32]) -> Vec<u32> {
    x.iter().map(|v| v.to_bits()).collect()
}

/// The CPU backend on the scalar table (standard attention, two threads)
/// and the reference backend, on one file.
fn both(path: &std::path::Path) -> (Model, Model<RefBackend>) {
    let file = Arc::new(gguf::GgufFile::open(path).expect("open"));
    let cpu = Model::from_file(file.clone())
        .expect("cpu")
        .with_kernels(kernels::arch::scalar())
        .with_attention(AttentionBackend::Standard)
        .with_threads(2);
    let reference = Model::with_backend(file, RefBackend).expect("reference");
    (cpu, reference)
}

/// The ids of a read of top-1.
fn top1(r: Readout) -> Vec<u32> {
    match r {
        Readout::TopK { k: 1, ids, .. } => ids.to_vec(),
        r => panic!("expected top-1, got {r:?}"),
    }
}

/// Prefill logits, then `steps` greedy steps: the CPU's by argmax of its
/// logits, the reference's by an asynchronous top-1 read (polled until it
/// completes), each step's logits compared too, in caches of `n_ctx`
/// positions. Returns the times a poll found the read still in flight.
fn prefill_and_greedy(
    cpu: &Model,
    rf: &Model<RefBackend>,
    prompt: &[u32],
    steps: usize,
    n_ctx: usize,
) -> usize {
    let cache = CacheType::F16;
    let mut kv_c = KvCache::new(cpu.config(), n_ctx, cache).unwrap();
    let mut s_c = Scratch::new(cpu, prompt.len(), n_ctx, prompt.len()).unwrap();
    let mut kv_r = KvCache::for_model(rf, 1, n_ctx, cache, None).unwrap();
    let mut s_r = Scratch::new(rf, prompt.len(), n_ctx, prompt.len()).unwrap();

    let a = cpu
        .forward(prompt, 0, &mut kv_c, &mut s_c, LogitsMode::All)
        .unwrap()
        .to_vec();
    let b = rf
        .forward(prompt, 0, &mut kv_r, &mut s_r, LogitsMode::All)
        .unwrap();
    assert!(bits(&a) == bits(b), "prefill logits differ");

    let nv = cpu.config().n_vocab;
    let mut next = engine_argmax(&a[(prompt.len() - 1) * nv..]);
    let mut in_flight = 0;
    for step in 0..steps {
        let pos = prompt.len() + step;
        let a = cpu
            .forward(&[next], pos, &mut kv_c, &mut s_c, LogitsMode::Last)
            .unwrap()
            .to_vec();
        assert_eq!(
            rf.encode_tokens(&[next], pos, &mut kv_r, &mut s_r, LogitsMode::Last)
                .unwrap(),
            1
        );
        rf.read_begin(&mut s_r, ReadKind::TopK(1));
        while !rf.read_ready(&mut s_r) {
            in_flight += 1;
            std::thread::yield_now();
        }
        let got = top1(rf.read_wait(&mut s_r).unwrap());
        next = engine_argmax(&a);
        assert_eq!(got, [next], "step {step}: greedy tokens differ");
        // the same step's logits, read again in full
        rf.read_begin(&mut s_r, ReadKind::Logits);
        match rf.read_wait(&mut s_r).unwrap() {
            Readout::Logits(b) => assert!(bits(&a) == bits(b), "step {step}: logits differ"),
            r => panic!("{r:?}"),
        }
    }
    in_flight
}

/// The sampler's argmax (first maximum).
fn engine_argmax(x: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate() {
        if v > x[best] {
            best = i;
        }
    }
    best as u32
}

/// Two sequences in one batch (a prompt and a one-token step each), with
/// ring KV caches: the reference's logits equal the CPU's.
fn batch_of_two(cpu: &Model, rf: &Model<RefBackend>) {
    let (n_ctx, ty) = (32, CacheType::F16AsF32);
    let mut kv_c = KvCache::with_rings(cpu.config(), 2, n_ctx, ty, 8).unwrap();
    let mut s_c = Scratch::new(cpu, 8, n_ctx, 2).unwrap();
    let mut kv_r = KvCache::for_model(rf, 2, n_ctx, ty, Some(8)).unwrap();
    let mut s_r = Scratch::new(rf, 8, n_ctx, 2).unwrap();
    let mut batch = Batch::with_capacity(8);
    batch.push_seq(&[3, 17, 42, 9, 100], 0, 0, true);
    batch.push_seq(&[7, 8], 0, 1, true);
    let a = cpu.decode(&batch, &mut kv_c, &mut s_c).unwrap().to_vec();
    let b = rf.decode(&batch, &mut kv_r, &mut s_r).unwrap();
    assert!(bits(&a) == bits(b), "batch logits differ");
    batch.clear();
    batch.push(11, 5, 0, true);
    batch.push(12, 2, 1, true);
    let a = cpu.decode(&batch, &mut kv_c, &mut s_c).unwrap().to_vec();
    let b = rf.decode(&batch, &mut kv_r, &mut s_r).unwrap();
    assert!(bits(&a) == bits(b), "batch step logits differ");
}

#[test]
fn reference_backend_equals_the_scalar_cpu_backend() {
    let mut in_flight = 0;
    for path in test_support::tiny_models(&workspace()) {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let (cpu, rf) = both(&path);
        let prompt = [1, 15, 300, 42, 7, 99, 250, 3, 64];
        in_flight += prefill_and_greedy(&cpu, &rf, &prompt, 10, prompt.len() + 11);
        batch_of_two(&cpu, &rf);
        eprintln!("{name}: reference backend equals the CPU backend");
    }
    assert!(in_flight > 0, "no read was ever found in flight");
}

/// Gemma 3 (per-head norms, post-norms, GELU, sliding windows, soft-cap):
/// a short prompt and a few greedy steps.
#[test]
fn reference_backend_runs_gemma() {
    let path = workspace().join("models/gemma-3-270m-q4_k_m.gguf");
    if !path.exists() {
        test_support::missing(path.display(), test_support::FETCH_MODEL);
        return;
    }
    let (cpu, rf) = both(&path);
    prefill_and_greedy(&cpu, &rf, &[2, 818, 5279, 529, 7001, 563], 3, 10);
}

/// Phi-3 in a context longer than the one it was extended from: the long
/// LongRoPE factors (the test above runs the short ones).
#[test]
fn reference_backend_runs_phi3_long_factors() {
    let path = workspace().join("tests/fixtures/models/tiny-phi3-q4_k_m.gguf");
    let (cpu, rf) = both(&path);
    let n_ctx = cpu.config().n_ctx_orig + 1;
    prefill_and_greedy(&cpu, &rf, &[1, 15, 300, 42, 7], 3, n_ctx);
}
