//! Loading synthetic GGUF files: a consistent llama loads and runs; metadata
//! that contradicts the tensors, unsupported architectures and missing keys
//! are refused with typed errors.

use std::sync::Arc;

use gguf::{Array, GgmlType, GgufFile, GgufWriter, Value};
use model::{CacheType, KvCache, LogitsMode, Model, ModelError, Scratch};

const E: u64 = 32;
const FF: u64 = 64;
const V: u64 = 16;

struct Spec {
    arch: &'static str,
    vocab: u64,
    n_head: u32,
    n_kv_head: u32,
    with_block_count: bool,
    block_count: u32,
    k_rows: u64,
    /// More F32 tensors: (name, ggml dims).
    extra: &'static [(&'static str, &'static [u64])],
}

impl Default for Spec {
    fn default() -> Self {
        Spec {
            arch: "llama",
            vocab: V,
            n_head: 4,
            n_kv_head: 2,
            with_block_count: true,
            block_count: 1,
            k_rows: 16,
            extra: &[],
        }
    }
}

fn f32_tensor(w: &mut GgufWriter, name: &str, dims: &[u64], seed: u32) {
    let n: u64 = dims.iter().product();
    let mut s = seed.wrapping_mul(2654435761).wrapping_add(1);
    let data: Vec<u8> = (0..n)
        .flat_map(|_| {
            s = s.wrapping_mul(1664525).wrapping_add(1013904223);
            let v = ((s >> 8) as f32 / (1 << 24) as f32 - 0.5) * 0.5;
            v.to_le_bytes()
        })
        .collect();
    w.add_tensor(name, GgmlType::F32, dims, data)
        .expect("add tensor");
}

fn build(spec: &Spec) -> Arc<GgufFile> {
    let mut w = GgufWriter::new();
    let a = spec.arch;
    w.add_kv("general.architecture", Value::String(a.into()));
    w.add_kv(&format!("{a}.embedding_length"), Value::U32(E as u32));
    if spec.with_block_count {
        w.add_kv(&format!("{a}.block_count"), Value::U32(spec.block_count));
    }
    w.add_kv(&format!("{a}.feed_forward_length"), Value::U32(FF as u32));
    w.add_kv(
        &format!("{a}.attention.head_count"),
        Value::U32(spec.n_head),
    );
    w.add_kv(
        &format!("{a}.attention.head_count_kv"),
        Value::U32(spec.n_kv_head),
    );
    w.add_kv(&format!("{a}.context_length"), Value::U32(64));
    w.add_kv(
        &format!("{a}.attention.layer_norm_rms_epsilon"),
        Value::F32(1e-5),
    );
    w.add_kv(&format!("{a}.vocab_size"), Value::U32(spec.vocab as u32));
    f32_tensor(&mut w, "token_embd.weight", &[E, V], 1);
    f32_tensor(&mut w, "output_norm.weight", &[E], 2);
    f32_tensor(&mut w, "blk.0.attn_norm.weight", &[E], 3);
    f32_tensor(&mut w, "blk.0.attn_q.weight", &[E, E], 4);
    f32_tensor(&mut w, "blk.0.attn_k.weight", &[E, spec.k_rows], 5);
    f32_tensor(&mut w, "blk.0.attn_v.weight", &[E, 16], 6);
    f32_tensor(&mut w, "blk.0.attn_output.weight", &[E, E], 7);
    f32_tensor(&mut w, "blk.0.ffn_norm.weight", &[E], 8);
    f32_tensor(&mut w, "blk.0.ffn_gate.weight", &[E, FF], 9);
    f32_tensor(&mut w, "blk.0.ffn_up.weight", &[E, FF], 10);
    f32_tensor(&mut w, "blk.0.ffn_down.weight", &[FF, E], 11);
    for (i, (name, dims)) in spec.extra.iter().enumerate() {
        f32_tensor(&mut w, name, dims, 12 + i as u32);
    }
    Arc::new(GgufFile::from_bytes(&w.to_bytes()).expect("valid gguf"))
}

#[test]
fn consistent_model_loads_and_runs() {
    let m = Model::from_file(build(&Spec::default())).expect("load");
    let c = m.config();
    assert_eq!(
        (c.n_embd, c.n_head, c.n_kv_head, c.head_dim, c.n_vocab),
        (32, 4, 2, 8, 16)
    );
    assert!(m.weights().tied_output);
    let mut kv = KvCache::new(c, 8, CacheType::F16).unwrap();
    let mut s = Scratch::new(&m, 4, 8, 4).unwrap();
    let all = m
        .forward(&[1, 2, 3], 0, &mut kv, &mut s, LogitsMode::All)
        .unwrap()
        .to_vec();
    assert_eq!(all.len(), 3 * 16);
    assert!(all.iter().all(|v| v.is_finite()));
    // token by token gives the same last logits as the batch
    let mut kv2 = KvCache::new(c, 8, CacheType::F16).unwrap();
    let mut last = Vec::new();
    for (p, t) in [1u32, 2, 3].into_iter().enumerate() {
        last = m
            .forward(&[t], p, &mut kv2, &mut s, LogitsMode::Last)
            .unwrap()
            .to_vec();
    }
    assert_eq!(&last[..], &all[32..]);
    // run-time checks
    let e = m
        .forward(&[99], 3, &mut kv, &mut s, LogitsMode::Last)
        .unwrap_err();
    assert!(
        matches!(e, ModelError::TokenOutOfRange { token: 99, .. }),
        "{e}"
    );
    let e = m
        .forward(&[1; 6], 3, &mut kv, &mut s, LogitsMode::Last)
        .unwrap_err();
    assert!(
        matches!(e, ModelError::BatchTooLarge { n: 6, max: 4 }),
        "{e}"
    );
    let e = m
        .forward(&[1; 2], 7, &mut kv, &mut s, LogitsMode::Last)
        .unwrap_err();
    assert!(
        matches!(
            e,
            ModelError::ContextFull {
                pos: 7,
                end: 9,
                n_ctx: 8
            }
        ),
        "{e}"
    );
}

#[test]
fn vocab_size_contradicting_embeddings_is_refused() {
    let e = Model::from_file(build(&Spec {
        vocab: 20,
        ..Spec::default()
    }))
    .unwrap_err();
    match e {
        ModelError::TensorShape {
            name,
            expected,
            found,
        } => {
            assert_eq!(name, "token_embd.weight");
            assert_eq!((expected, found), (vec![E, 20], vec![E, V]));
        }
        other => panic!("wrong error: {other}"),
    }
}

#[test]
fn kv_head_count_contradicting_attn_k_is_refused() {
    let e = Model::from_file(build(&Spec {
        n_kv_head: 4,
        ..Spec::default()
    }))
    .unwrap_err();
    assert!(
        matches!(&e, ModelError::TensorShape { name, .. } if name == "blk.0.attn_k.weight"),
        "{e}"
    );
    let e = Model::from_file(build(&Spec {
        k_rows: 24,
        ..Spec::default()
    }))
    .unwrap_err();
    assert!(e.to_string().contains("blk.0.attn_k.weight"), "{e}");
}

#[test]
fn bad_head_ratio_unsupported_arch_and_missing_key_are_refused() {
    let e = Model::from_file(build(&Spec {
        n_kv_head: 3,
        ..Spec::default()
    }))
    .unwrap_err();
    assert!(matches!(e, ModelError::InvalidConfig(_)), "{e}");
    let e = Model::from_file(build(&Spec {
        arch: "gpt2",
        ..Spec::default()
    }))
    .unwrap_err();
    assert!(
        matches!(&e, ModelError::UnsupportedArch { arch } if arch == "gpt2"),
        "{e}"
    );
    let e = Model::from_file(build(&Spec {
        with_block_count: false,
        ..Spec::default()
    }))
    .unwrap_err();
    assert!(
        matches!(&e, ModelError::MissingKey { key } if key == "llama.block_count"),
        "{e}"
    );
}

/// Found by the `session_load` fuzz target: a block count of 1.7e9 made the
/// loader reserve per-layer storage for it (an allocation of ~1 TB) before
/// looking for the tensors.
#[test]
fn huge_block_count_is_refused_before_allocating() {
    for n in [
        model::config::MAX_LAYERS as u32 + 1,
        1_667_855_729,
        u32::MAX,
    ] {
        let e = Model::from_file(build(&Spec {
            block_count: n,
            ..Spec::default()
        }))
        .unwrap_err();
        assert!(
            matches!(&e, ModelError::InvalidConfig(m) if m.contains("llama.block_count")),
            "{n}: {e}"
        );
    }
    // Within the limit, a block count the tensors do not back is a missing tensor.
    let e = Model::from_file(build(&Spec {
        block_count: 2,
        ..Spec::default()
    }))
    .unwrap_err();
    assert!(e.to_string().contains("blk.1."), "{e}");
}

/// `build(spec)` with a tokenizer of `n` tokens.
fn with_tokens(spec: &Spec, n: usize) -> Arc<GgufFile> {
    let mut w = GgufWriter::from_gguf(&build(spec));
    let tokens = (0..n).map(|i| format!("t{i}")).collect();
    w.add_kv("tokenizer.ggml.tokens", Value::Array(Array::String(tokens)));
    Arc::new(GgufFile::from_bytes(&w.to_bytes()).expect("valid gguf"))
}

/// Issue 13: a tokenizer with more tokens than the output head made
/// `perplexity` index past a logits row.
#[test]
fn tokenizer_longer_than_the_embeddings_is_refused() {
    let e = Model::from_file(with_tokens(&Spec::default(), V as usize + 1)).unwrap_err();
    assert!(
        matches!(
            &e,
            ModelError::VocabTooLarge { tokens: 17, tensor, rows: 16 } if tensor == "token_embd.weight"
        ),
        "{e}"
    );
    assert!(e.to_string().contains("17 tokens"), "{e}");
    for n in [V as usize, 3] {
        Model::from_file(with_tokens(&Spec::default(), n)).expect("fits");
    }
}

/// Issue 13: `vec![..; n]` aborted on a KV cache larger than memory.
#[test]
fn kv_cache_and_scratch_of_impossible_sizes_are_errors() {
    let m = Model::from_file(build(&Spec::default())).expect("load");
    let c = m.config();
    let e = KvCache::new(c, usize::MAX / 4, CacheType::F16).unwrap_err();
    assert!(
        matches!(
            e,
            ModelError::OutOfMemory {
                bytes: None,
                why: model::AllocFailure::Overflow,
                ..
            }
        ),
        "{e}"
    );
    // 2^40 positions of 16 f16 K and V: 2^46 bytes, reported.
    let e = KvCache::new(c, 1 << 40, CacheType::F16).unwrap_err();
    match &e {
        ModelError::OutOfMemory { bytes, n_ctx, .. } => {
            assert_eq!((*bytes, *n_ctx), (Some(1 << 46), 1 << 40))
        }
        other => panic!("wrong error: {other}"),
    }
    assert!(e.to_string().contains("70368744177664 bytes"), "{e}");
    if model::memory_limit().is_some() {
        assert!(e.to_string().contains("physical memory"), "{e}");
    }
    let e = Scratch::new(&m, 4, usize::MAX - 2, 4).unwrap_err();
    assert!(matches!(e, ModelError::OutOfMemory { .. }), "{e}");
    let e = Scratch::new(&m, usize::MAX / 8, 8, 1).unwrap_err();
    assert!(matches!(e, ModelError::OutOfMemory { .. }), "{e}");
}

/// Resident memory of this process (Linux), in bytes.
fn rss() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Issue 13: the f16 cache was written in full at allocation, so all of it
/// was resident from the start; pages are now committed as positions are
/// written, for every cache type.
#[test]
fn kv_cache_memory_is_committed_as_positions_are_written() {
    let m = Model::from_file(build(&Spec::default())).expect("load");
    let n_ctx = 1 << 24; // f16: 2 * 2^24 * 16 * 2 bytes = 1 GiB
    for ty in [CacheType::F16, CacheType::F32, CacheType::F16AsF32] {
        let Some(before) = rss() else { return };
        let mut kv = KvCache::new(m.config(), n_ctx, ty).unwrap();
        let mut s = Scratch::new(&m, 4, n_ctx, 4).unwrap();
        m.forward(&[1, 2, 3], 0, &mut kv, &mut s, LogitsMode::Last)
            .unwrap();
        let grown = rss().unwrap().saturating_sub(before);
        assert!(kv.n_bytes() >= 1 << 30);
        assert!(grown < 64 << 20, "{ty:?}: RSS grew by {grown} bytes");
    }
}

/// The tensors an architecture's layout names are required at load: a
/// gemma3 file without its per-head and post norms is refused (never found
/// missing in the middle of a forward pass); with them it loads and runs.
#[test]
fn layout_tensors_are_required_at_load() {
    const GEMMA_NORMS: &[(&str, &[u64])] = &[
        ("blk.0.attn_q_norm.weight", &[8]),
        ("blk.0.attn_k_norm.weight", &[8]),
        ("blk.0.post_attention_norm.weight", &[E]),
        ("blk.0.post_ffw_norm.weight", &[E]),
    ];
    for (skip, (missing, _)) in GEMMA_NORMS.iter().enumerate() {
        let extra: Vec<_> = GEMMA_NORMS
            .iter()
            .enumerate()
            .filter(|&(i, _)| i != skip)
            .map(|(_, &t)| t)
            .collect();
        let spec = Spec {
            arch: "gemma3",
            extra: Box::leak(extra.into_boxed_slice()),
            ..Spec::default()
        };
        let e = Model::from_file(build(&spec)).unwrap_err();
        match e {
            ModelError::MissingTensor { name } => assert_eq!(&name, missing),
            e => panic!("{e}"),
        }
    }
    let spec = Spec {
        arch: "gemma3",
        extra: GEMMA_NORMS,
        ..Spec::default()
    };
    let m = Model::from_file(build(&spec)).expect("gemma3 with its norms");
    let l = &m.weights().layers[0];
    assert!(l.attn.qk_norm.is_some() && l.ffn.post_norm.is_some());
    let mut kv = KvCache::new(m.config(), 8, CacheType::F32).unwrap();
    let mut s = Scratch::new(&m, 4, 8, 4).unwrap();
    let out = m
        .forward(&[1, 2], 0, &mut kv, &mut s, LogitsMode::Last)
        .unwrap();
    assert!(out.iter().all(|v| v.is_finite()));
    // the llama layout ignores those tensors
    let spec = Spec {
        extra: GEMMA_NORMS,
        ..Spec::default()
    };
    let m = Model::from_file(build(&spec)).expect("llama");
    assert!(m.weights().layers[0].attn.qk_norm.is_none());
}
