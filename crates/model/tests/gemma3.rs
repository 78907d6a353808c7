//! Gemma 3 270M (Q4_K_M) against llama.cpp: last-token logits and a 32-token
//! greedy continuation. Skipped (with a message) when the model file or the
//! reference is absent.

mod common;

use common::{compare, greedy, must_match_prefix, workspace};
use model::{CacheType, Model};
use serde_json::Value;

/// A greedy step counts as a near tie below this top-1/top-2 logit margin.
/// Gemma 3 is numerically touchy (hidden states reach 1e5 and tiny FFN
/// outputs are re-amplified by the post-FFN norm): llama.cpp itself moves its
/// logits by up to 0.75 between an f32 and an f16 KV cache on this prompt, so
/// the 0.02 margin used for the llama fixtures would demand more agreement
/// than llama.cpp has with itself. Every op was checked bit-for-bit against
/// llama.cpp's intermediate tensors instead (see the crate README).
const TIE_MARGIN: f64 = 0.25;

fn load(refname: &str) -> Option<(Model, Value)> {
    let path = workspace().join("models/gemma-3-270m-q4_k_m.gguf");
    if !path.exists() {
        test_support::missing(path.display(), test_support::FETCH_MODEL);
        return None;
    }
    let rpath = workspace().join("crates/model/tests/ref").join(refname);
    let Ok(text) = std::fs::read_to_string(&rpath) else {
        test_support::missing(rpath.display(), "a committed fixture");
        return None;
    };
    let model = Model::load(&path)
        .expect("load gemma")
        .with_kernels(common::test_kernels());
    Some((model, serde_json::from_str(&text).expect("reference json")))
}

fn ids(v: &Value) -> Vec<usize> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as usize)
        .collect()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn check(refname: &str, cache: CacheType) {
    let Some((model, r)) = load(refname) else {
        return;
    };
    let c = model.config();
    assert_eq!(
        (c.n_embd, c.n_layer, c.n_head, c.n_kv_head, c.head_dim),
        (640, 18, 4, 1, 256)
    );
    assert_eq!(c.n_vocab, r["n_vocab"].as_u64().unwrap() as usize);
    let prompt: Vec<u32> = ids(&r["tokens"]).into_iter().map(|t| t as u32).collect();
    let ref_greedy: Vec<u32> = ids(&r["greedy"]).into_iter().map(|t| t as u32).collect();
    let margins = floats(&r["greedy_margins"]);

    let t0 = std::time::Instant::now();
    let (gen, logits) = greedy(&model, &prompt, ref_greedy.len(), cache);
    let secs = t0.elapsed().as_secs_f64();

    let top = ids(&r["top_ids"]);
    let mut vals: Vec<(usize, f32)> = top
        .iter()
        .copied()
        .zip(floats(&r["top_logits"]).into_iter().map(|v| v as f32))
        .collect();
    vals.extend(
        ids(&r["probe_ids"])
            .into_iter()
            .zip(floats(&r["probe_logits"]).into_iter().map(|v| v as f32)),
    );
    let cmp = compare(&logits, &top, &vals);
    let need = must_match_prefix(&margins, TIE_MARGIN);
    let same = gen
        .iter()
        .zip(&ref_greedy)
        .take_while(|(a, b)| a == b)
        .count();
    eprintln!(
        "gemma3 {refname}: top1 {} top20 overlap {}/20 max|Δ| {:.4} over {} logits; greedy {same}/{} identical (must {need}); {:.2}s",
        cmp.top1_equal,
        cmp.top20_overlap,
        cmp.max_abs_diff,
        vals.len(),
        gen.len(),
        secs
    );
    assert!(cmp.top1_equal, "top-1 differs");
    assert!(
        cmp.top20_overlap >= 19,
        "top-20 overlap {}",
        cmp.top20_overlap
    );
    assert!(
        same >= need,
        "greedy diverged at {same}: ours {gen:?}\nref {ref_greedy:?}"
    );
}

#[test]
fn gemma3_270m_matches_llama_cpp_f32_cache() {
    check("gemma3-270m-q4km.f32kv.json", CacheType::F32);
}

#[test]
fn gemma3_270m_matches_llama_cpp_f16_cache() {
    check("gemma3-270m-q4km.f16kv.json", CacheType::F16);
}
