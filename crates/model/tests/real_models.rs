//! The real models beyond Gemma against llama.cpp's fixtures in
//! `tests/fixtures/ref/NAME.{logits,greedy}.json` (llama.cpp 0c1e57098
//! through llama-cpp-python, f32 KV cache, 1 thread, flash attention off;
//! `tools/gen_ref_fixtures.py`):
//! - Qwen2.5-Coder-0.5B and 1.5B-Instruct (arch `qwen2`: QKV biases, NeoX
//!   RoPE; Q5_0 / Q8_0 / Q4_K / Q6_K);
//! - SmolLM2-135M-Instruct (arch `llama`, Q4_1 / Q6_K ...).
//!
//! * logits: every prompt's last-position top-1 equals llama.cpp's (unless
//!   llama.cpp's own top-1/top-2 margin is below `TIE_MARGIN`), and on the
//!   llama.cpp-order path its top-20 logits are within `MAX_TOP20_DIFF_EXACT`;
//! * greedy: 32-token continuations equal llama.cpp's up to its first step
//!   whose top-2 margin is below `TIE_MARGIN`.
//!
//! The models come from `scripts/fetch-model.sh NAME` (see `MODELS`).

mod common;

use common::{
    json_ids, json_margins, json_top, must_match_prefix, prompt_logits, read_json, top_k, workspace,
};
use kernels::arch::Isa;
use model::{AttentionBackend, CacheType, KvCache, LogitsMode, Model, Scratch};

/// (file stem under models/ and tests/fixtures/ref/, fetch-model.sh name)
const MODELS: [(&str, &str); 3] = [
    ("qwen2.5-coder-0.5b-instruct-q4_k_m", "qwen2.5-coder-0.5b"),
    ("qwen2.5-coder-1.5b-instruct-q4_k_m", "qwen2.5-coder-1.5b"),
    ("smollm2-135m-instruct-q4_1", "smollm2-135m"),
];
/// llama.cpp's micro-batch.
const UBATCH: usize = 512;
/// The models issue's near-tie margin.
const TIE_MARGIN: f64 = 0.05;
/// |ours − llama.cpp| over llama.cpp's top 20 on the llama.cpp-order path.
const MAX_TOP20_DIFF_EXACT: f32 = 1e-3;

fn load((stem, fetch): (&str, &str)) -> Option<Model> {
    let path = workspace().join(format!("models/{stem}.gguf"));
    if !path.exists() {
        test_support::missing(path.display(), &format!("scripts/fetch-model.sh {fetch}"));
        return None;
    }
    Some(
        Model::load(&path)
            .unwrap_or_else(|e| panic!("{stem}: {e}"))
            .with_kernels(common::test_kernels())
            .with_attention(AttentionBackend::Standard),
    )
}

fn exact_path(m: &Model) -> bool {
    matches!(m.kernels().isa, Isa::Avx2 | Isa::Avx512)
}

fn fixture(stem: &str, kind: &str) -> Option<serde_json::Value> {
    let f = format!("tests/fixtures/ref/{stem}.{kind}.json");
    let r = read_json(&f);
    if r.is_none() {
        test_support::missing(format!("fixture {f}"), "a committed fixture");
    }
    r
}

#[test]
fn logits_match_llama_cpp() {
    for model in MODELS {
        logits(model);
    }
}

fn logits(model: (&str, &str)) {
    let (Some(m), Some(r)) = (load(model), fixture(model.0, "logits")) else {
        return;
    };
    eprintln!("{}:", model.0);
    let prompts = r["prompts"].as_array().expect("prompts");
    assert!(prompts.len() >= 10, "fixture prompt count");
    let mut failures = Vec::new();
    for p in prompts {
        let name = p["name"].as_str().expect("name");
        let ids = json_ids(&p["ids"]);
        let top = json_top(&p["top"]);
        let ours = prompt_logits(&m, &ids, UBATCH, CacheType::F32);
        let top1 = top_k(&ours, 1)[0];
        let diff = top
            .iter()
            .map(|&(i, v)| (ours[i] - v).abs())
            .fold(0f32, f32::max);
        eprintln!(
            "{name:>9} ({:3} tok): top1 {top1} (ref {}), max|Δ| top 20 {diff:.2e}",
            ids.len(),
            top[0].0
        );
        let tied = top
            .iter()
            .any(|&(i, v)| i == top1 && f64::from(top[0].1 - v) < TIE_MARGIN);
        if top1 != top[0].0 && !tied {
            failures.push(format!("{name}: top-1 {top1} != llama.cpp {}", top[0].0));
        }
        if exact_path(&m) && diff > MAX_TOP20_DIFF_EXACT {
            failures.push(format!("{name}: max |Δlogit| over top 20 = {diff}"));
        }
    }
    assert!(failures.is_empty(), "{}: {failures:#?}", model.0);
}

#[test]
fn greedy_matches_llama_cpp() {
    for model in MODELS {
        greedy(model);
    }
}

fn greedy(model: (&str, &str)) {
    let (Some(m), Some(r)) = (load(model), fixture(model.0, "greedy")) else {
        return;
    };
    eprintln!("{}:", model.0);
    let mut failures = Vec::new();
    for p in r["prompts"].as_array().expect("prompts") {
        let name = p["name"].as_str().expect("name");
        let ids = json_ids(&p["ids"]);
        let want = json_ids(&p["generated"]);
        let margins = json_margins(&p["steps"]);
        let n_ctx = ids.len() + want.len();
        let mut kv = KvCache::new(m.config(), n_ctx, CacheType::F32).unwrap();
        let mut s = Scratch::new(&m, UBATCH, n_ctx, 1).unwrap();
        let mut logits = Vec::new();
        for (i, part) in ids.chunks(UBATCH).enumerate() {
            let mode = if (i + 1) * UBATCH >= ids.len() {
                LogitsMode::Last
            } else {
                LogitsMode::None
            };
            logits = m
                .forward(part, i * UBATCH, &mut kv, &mut s, mode)
                .unwrap()
                .to_vec();
        }
        let mut got = Vec::new();
        for step in 0..want.len() {
            let next = top_k(&logits, 1)[0] as u32;
            got.push(next);
            if step + 1 < want.len() {
                let l = m.forward(&[next], ids.len() + step, &mut kv, &mut s, LogitsMode::Last);
                logits = l.unwrap().to_vec();
            }
        }
        let need = must_match_prefix(&margins, TIE_MARGIN);
        let same = got.iter().zip(&want).take_while(|(a, b)| a == b).count();
        eprintln!(
            "{name:>9}: {same}/{} identical (first near tie at step {need})",
            want.len()
        );
        if same < need {
            failures.push(format!(
                "{name}: diverged at step {same} before the near tie at {need}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}: {failures:#?}", model.0);
}
