//! Fused matrices and RoPE factor tensors on small synthetic files: a fused
//! `attn_qkv` gives the logits of the same rows as `attn_q/k/v`; phi3 loads
//! with or without LongRoPE factors, but not with half of the pair. Fused
//! parts are row ranges of one tensor on every backend (CPU: sub-slices of
//! the file, also through the Q5_0 repack and the packed decode layouts;
//! reference: copies of the rows).

use std::sync::Arc;

use gguf::{GgmlType, GgufFile, GgufWriter, Value};
use model::weights::RopeFactorWeights;
use model::{Backend, CacheType, KvCache, LogitsMode, Model, ModelError, RefBackend, Scratch};

const E: u64 = 32;
const FF: u64 = 64;
const V: u64 = 16;
/// Rows of q (4 heads of 8) and of k and v (2 KV heads of 8).
const Q: u64 = 32;
const KV: u64 = 16;
const LONG: &str = "rope_factors_long.weight";
const SHORT: &str = "rope_factors_short.weight";

/// `n` pseudo-random f32s in [-0.25, 0.25) from `seed`.
fn values(n: u64, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2654435761).wrapping_add(1);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(1664525).wrapping_add(1013904223);
            ((s >> 8) as f32 / (1 << 24) as f32 - 0.5) * 0.5
        })
        .collect()
}

fn put(w: &mut GgufWriter, name: &str, dims: &[u64], v: &[f32]) {
    let bytes = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    w.add_tensor(name, GgmlType::F32, dims, bytes)
        .expect("add tensor");
}

/// A matrix of type `ty` (F32 as is, else quantized row by row).
fn put_matrix(w: &mut GgufWriter, ty: GgmlType, name: &str, dims: &[u64], v: &[f32]) {
    if ty == GgmlType::F32 {
        return put(w, name, dims, v);
    }
    let cols = dims[0] as usize;
    let rb = kernels::quant::row_bytes(ty, cols);
    let mut bytes = vec![0u8; rb * v.len() / cols];
    for (row, out) in v.chunks(cols).zip(bytes.chunks_mut(rb)) {
        kernels::quant::quantize_row(ty, row, out).expect("quantize");
    }
    w.add_tensor(name, ty, dims, bytes).expect("add tensor");
}

/// How the file stores its matrices.
struct Spec {
    arch: &'static str,
    fused_qkv: bool,
    /// RoPE factor tensors to write.
    factors: &'static [&'static str],
    /// `{arch}.rope.scaling.type`, if any.
    scaling: Option<&'static str>,
}

impl Spec {
    /// No factors, no scaling type.
    fn plain(arch: &'static str, fused_qkv: bool) -> Spec {
        Spec {
            arch,
            fused_qkv,
            factors: &[],
            scaling: None,
        }
    }
}

fn build(spec: &Spec) -> Arc<GgufFile> {
    build_typed(spec, GgmlType::F32)
}

/// `build` with the block's matrices of type `ty`.
fn build_typed(spec: &Spec, ty: GgmlType) -> Arc<GgufFile> {
    let mut w = GgufWriter::new();
    let a = spec.arch;
    w.add_kv("general.architecture", Value::String(a.into()));
    for (k, v) in [
        ("embedding_length", E as u32),
        ("block_count", 1),
        ("feed_forward_length", FF as u32),
        ("attention.head_count", 4),
        ("attention.head_count_kv", 2),
        ("context_length", 64),
        ("vocab_size", V as u32),
    ] {
        w.add_kv(&format!("{a}.{k}"), Value::U32(v));
    }
    w.add_kv(
        &format!("{a}.attention.layer_norm_rms_epsilon"),
        Value::F32(1e-5),
    );
    if let Some(kind) = spec.scaling {
        w.add_kv(
            &format!("{a}.rope.scaling.type"),
            Value::String(kind.into()),
        );
    }
    put(&mut w, "token_embd.weight", &[E, V], &values(E * V, 1));
    put(&mut w, "output_norm.weight", &[E], &values(E, 2));
    put(&mut w, "blk.0.attn_norm.weight", &[E], &values(E, 3));
    let (q, k, v) = (values(E * Q, 4), values(E * KV, 5), values(E * KV, 6));
    if spec.fused_qkv {
        let qkv: Vec<f32> = [q, k, v].concat();
        put_matrix(&mut w, ty, "blk.0.attn_qkv.weight", &[E, Q + 2 * KV], &qkv);
    } else {
        put_matrix(&mut w, ty, "blk.0.attn_q.weight", &[E, Q], &q);
        put_matrix(&mut w, ty, "blk.0.attn_k.weight", &[E, KV], &k);
        put_matrix(&mut w, ty, "blk.0.attn_v.weight", &[E, KV], &v);
    }
    put_matrix(
        &mut w,
        ty,
        "blk.0.attn_output.weight",
        &[Q, E],
        &values(Q * E, 7),
    );
    if a == "qwen3" {
        put(&mut w, "blk.0.attn_q_norm.weight", &[8], &values(8, 20));
        put(&mut w, "blk.0.attn_k_norm.weight", &[8], &values(8, 21));
    }
    put(&mut w, "blk.0.ffn_norm.weight", &[E], &values(E, 8));
    let (gate, up) = (values(E * FF, 9), values(E * FF, 10));
    if a == "phi3" {
        put_matrix(
            &mut w,
            ty,
            "blk.0.ffn_up.weight",
            &[E, 2 * FF],
            &[gate, up].concat(),
        );
    } else {
        put_matrix(&mut w, ty, "blk.0.ffn_gate.weight", &[E, FF], &gate);
        put_matrix(&mut w, ty, "blk.0.ffn_up.weight", &[E, FF], &up);
    }
    put_matrix(
        &mut w,
        ty,
        "blk.0.ffn_down.weight",
        &[FF, E],
        &values(FF * E, 11),
    );
    for (i, name) in spec.factors.iter().enumerate() {
        let f: Vec<f32> = values(4, 12 + i as u32)
            .iter()
            .map(|x| 1.0 + 8.0 * x.abs())
            .collect();
        put(&mut w, name, &[4], &f);
    }
    Arc::new(GgufFile::from_bytes(&w.to_bytes()).expect("valid gguf"))
}

/// Logits of every position of a 5-token prompt, then of one more token.
fn run<B: Backend>(m: &Model<B>) -> Vec<f32> {
    let mut kv = KvCache::for_model(m, 1, 8, CacheType::F32, None).unwrap();
    let mut s = Scratch::new(m, 5, 8, 5).unwrap();
    let mut out = m
        .forward(&[1, 5, 2, 9, 3], 0, &mut kv, &mut s, LogitsMode::All)
        .unwrap()
        .to_vec();
    let l = m
        .forward(&[7], 5, &mut kv, &mut s, LogitsMode::Last)
        .unwrap();
    out.extend_from_slice(l);
    assert!(out.iter().all(|v| v.is_finite()));
    out
}

#[test]
fn fused_qkv_equals_separate_projections() {
    for arch in ["llama", "phi3"] {
        let load = |fused_qkv| {
            Model::from_file(build(&Spec::plain(arch, fused_qkv)))
                .unwrap_or_else(|e| panic!("{arch}: {e}"))
        };
        let (split, fused) = (load(false), load(true));
        assert_eq!(bits(run(&split)), bits(run(&fused)), "{arch}");
        let w = &fused.weights().layers[0].attn;
        assert_eq!(
            (w.wq.row_start, w.wk.row_start, w.wv.row_start),
            (0, Q as usize, (Q + KV) as usize)
        );
    }
}

fn bits(v: Vec<f32>) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Quantized fused parts start mid-tensor: on the CPU backend (the file's
/// bytes, the Q5_0-to-Q8_0 repack, the packed decode layouts) and on the
/// reference backend (its own copies), fused QKV and gate/up files give
/// the logits of the same rows stored apart.
#[test]
fn quantized_fused_parts_on_every_backend() {
    for ty in [GgmlType::Q5_0, GgmlType::Q8_0, GgmlType::Q4_0] {
        for arch in ["llama", "phi3"] {
            let file = |fused| build_typed(&Spec::plain(arch, fused), ty);
            let cpu = |fused, repack: bool, pack: bool| {
                let mut m = Model::from_file(file(fused)).unwrap();
                if repack {
                    let bytes = m.repack_q5_0(usize::MAX).unwrap();
                    assert_eq!(bytes > 0, ty == GgmlType::Q5_0, "repacked {bytes} bytes");
                }
                if pack {
                    m.pack_for_decode(usize::MAX).unwrap();
                }
                bits(run(&m))
            };
            let what = format!("{arch} {ty}");
            let split = cpu(false, false, false);
            for (repack, pack) in [(false, false), (true, false), (false, true), (true, true)] {
                let got = cpu(true, repack, pack);
                assert_eq!(got, split, "{what}: repack {repack} pack {pack}");
            }
            let reference = |fused| {
                bits(run(
                    &Model::with_backend(file(fused), RefBackend).expect("reference")
                ))
            };
            assert_eq!(reference(true), reference(false), "{what}: reference");
        }
    }
}

#[test]
fn phi3_longrope_factors_are_optional_but_paired() {
    for factors in [&[][..], &[LONG, SHORT][..]] {
        let m = Model::from_file(build(&Spec {
            arch: "phi3",
            fused_qkv: true,
            factors,
            scaling: None,
        }))
        .expect("phi3 loads");
        run(&m);
    }
    for (factors, missing) in [(&[LONG][..], SHORT), (&[SHORT][..], LONG)] {
        let e = Model::from_file(build(&Spec {
            arch: "phi3",
            fused_qkv: true,
            factors,
            scaling: None,
        }))
        .unwrap_err();
        assert!(
            matches!(&e, ModelError::MissingTensor { name } if name == missing),
            "{e}"
        );
    }
}

/// Different LongRoPE factor sets give different logits, and the set
/// follows the context size (context_length 64 is the original one here).
#[test]
fn phi3_factors_follow_the_context() {
    let m = Model::from_file(build(&Spec {
        arch: "phi3",
        fused_qkv: true,
        factors: &[LONG, SHORT],
        scaling: None,
    }))
    .unwrap();
    let c = m.config();
    let last = |n_ctx: usize| {
        let mut kv = KvCache::new(c, n_ctx, CacheType::F32).unwrap();
        let mut s = Scratch::new(&m, 5, n_ctx, 1).unwrap();
        m.forward(&[1, 5, 2, 9, 3], 0, &mut kv, &mut s, LogitsMode::Last)
            .unwrap()
            .to_vec()
    };
    assert_eq!(
        last(8),
        last(64),
        "short factors up to the original context"
    );
    assert_ne!(last(64), last(65), "long factors beyond it");
}

/// Which factor tensors each architecture reads (llama.cpp's loaders):
/// llama `rope_freqs`, or the LongRoPE pair with scaling type `longrope`;
/// qwen3 none (its graph passes no factors).
#[test]
fn rope_factor_tensors_per_architecture() {
    const FREQS: &str = "rope_freqs.weight";
    let cases: [(&str, Option<&str>, &'static [&'static str], &str); 5] = [
        ("llama", None, &[FREQS, LONG, SHORT], "freqs"),
        ("llama", Some("linear"), &[LONG, SHORT], "none"),
        (
            "llama",
            Some("longrope"),
            &[FREQS, LONG, SHORT],
            "long/short",
        ),
        ("phi3", None, &[FREQS, LONG, SHORT], "long/short"),
        ("qwen3", None, &[FREQS, LONG, SHORT], "none"),
    ];
    for (arch, scaling, factors, want) in cases {
        let file = build(&Spec {
            arch,
            fused_qkv: arch == "phi3",
            factors,
            scaling,
        });
        let m = Model::from_file(file).unwrap_or_else(|e| panic!("{arch}: {e}"));
        run(&m);
        let got = match &m.weights().rope_factors {
            RopeFactorWeights::None => "none",
            RopeFactorWeights::Freqs(_) => "freqs",
            RopeFactorWeights::LongShort { .. } => "long/short",
        };
        assert_eq!(got, want, "{arch} {scaling:?}");
    }
}
