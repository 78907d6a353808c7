//! Gemma 3 270M (Q4_K_M) against the llama.cpp fixtures in
//! `tests/fixtures/ref/gemma-3-270m-q4_k_m.{logits,greedy}.json` (llama.cpp
//! 0c1e57098, f32 KV cache, 1 thread, flash attention off; 13 prompts incl.
//! a 610-token one beyond the 512-token sliding window).
//!
//! * logits: on every prompt, the last-position top-1 equals llama.cpp's, the
//!   top-20 sets share all 20 ids, and |Δlogit| over llama.cpp's top 20
//!   stays under `MAX_TOP20_DIFF_EXACT` (measured: 0, bit-identical);
//! * greedy: the 32-token continuation equals llama.cpp's up to its first
//!   near tie (top-1/top-2 margin below `TIE_MARGIN_EXACT`, 0.02; measured:
//!   all 32 steps on all 13 prompts).
//!
//! Those bounds hold on the llama.cpp-order path (`exact_path`: the x86
//! tables, standard attention). Other kernel orders (`WASM_CHORD_ISA=scalar`,
//! NEON, `WASM_CHORD_AVX512_WIDE=1`) and flash attention
//! (`WASM_CHORD_ATTN=flash|auto`) are held to llama.cpp's own spread
//! (`TIE_MARGIN`, `MIN_TOP20_OVERLAP`, `MAX_TOP20_DIFF`).
//!
//! Kernels come from `kernels::arch::select()` (the best available ISA, or
//! `WASM_CHORD_ISA`). Skipped, with a message, when the model file or the
//! fixtures are absent (`scripts/fetch-model.sh`).

mod common;

use common::{json_ids, json_margins, json_top, must_match_prefix, read_json, top_k, workspace};
use kernels::arch::Isa;
use model::{AttentionBackend, CacheType, KvCache, LogitsMode, Model, Scratch};
use serde_json::Value;

const MODEL: &str = "models/gemma-3-270m-q4_k_m.gguf";
const REF: &str = "tests/fixtures/ref/gemma-3-270m-q4_k_m";

/// llama.cpp evaluates a prompt in micro-batches of 512 tokens (`n_ubatch`).
const UBATCH: usize = 512;

// Tolerances. llama.cpp does not agree with itself to better than this on
// Gemma 3 (hidden states reach 1e5; one activation that lands within ~1e-6 of
// a Q8_0/Q8_K rounding boundary flips and the post-norms amplify it: on `fox`
// our layers match llama.cpp's to ~1e-7 relative until block 4, where one
// `ffn_norm` value of token 3 sits 1.9e-6 from a Q8_0 rounding boundary, and
// from there that row differs by 1e-3 .. 5e-2 relative). Measured with
// llama-cpp-python 0.3.36 on this file, same settings as the fixtures except
// (a) an f16 KV cache, (b) token-by-token prefill (another summation order):
//   max |Δlogit| over the fixture top 20: (a) 0.27 .. 1.31, (b) 0 .. 0.66;
//   top-20 overlap with the fixture:      (a) 17 .. 20,    (b) 19 .. 20;
//   ids dropping out of the top 20 were within 0.39 of the 20th logit;
//   last-position top-1 on `long` (fixture margin 0.177): 529, not 742, in (a)
//   and (b); greedy runs part from the fixture at steps whose fixture margin
//   was <= 0.177 (7 of 13 prompts in (a), 4 in (b)).
// Reproduce with `crates/model/tests/ref/gemma_spread.py`; per-layer tensors
// of llama.cpp come from `crates/model/tests/ref/dump_layers.py`.

/// A step (or last-position top-1) is a near tie when llama.cpp's
/// top-1/top-2 margin is below this: above the largest margin at which
/// llama.cpp's own variants (a)/(b) chose differently (0.177). Used off the
/// llama.cpp-order path.
const TIE_MARGIN: f64 = 0.25;

/// The near-tie margin on the llama.cpp-order path (x86 kernels in llama.cpp's
/// order incl. its batched k-quant order, standard attention): the issue's
/// 0.02. Measured there: all 13 prompts' logits bit-identical to the
/// fixtures and 13/13 greedy runs identical for all 32 steps.
const TIE_MARGIN_EXACT: f64 = 0.02;

/// Bound on |ours − llama.cpp| over llama.cpp's top 20 on the llama.cpp-order
/// path (measured: 0 on all 13 prompts).
const MAX_TOP20_DIFF_EXACT: f32 = 1e-3;

/// Bound on |ours − llama.cpp| over llama.cpp's top-20 logits (its own f16
/// cache moves them by up to 1.31).
const MAX_TOP20_DIFF: f32 = 1.5;

/// Minimum top-20 overlap (llama.cpp's own f16-cache worst is 17) ...
const MIN_TOP20_OVERLAP: usize = 17;

/// Minimum top-20 overlap on the llama.cpp-order path (measured 20 on all 13
/// prompts).
const MIN_TOP20_OVERLAP_EXACT: usize = 20;

/// ... and every fixture top-20 id missing from ours must be a boundary swap:
/// within this of the fixture's 20th logit (llama.cpp's own: <= 0.39).
const TOP20_BOUNDARY: f32 = 0.5;

/// Prompts of the greedy check by default (the full set takes > 3 minutes on
/// 2 shared cores); `WASM_CHORD_GEMMA_ALL=1` runs all 13.
const GREEDY_SUBSET: [&str; 6] = ["capital", "code", "count", "fox", "qa", "chat"];

fn load() -> Option<Model> {
    let path = workspace().join(MODEL);
    if !path.exists() {
        test_support::missing(path.display(), test_support::FETCH_MODEL);
        return None;
    }
    // The fixtures were recorded with flash attention off: standard by
    // default; WASM_CHORD_ATTN=standard|flash|auto forces a backend.
    let attn = std::env::var("WASM_CHORD_ATTN")
        .ok()
        .and_then(|s| AttentionBackend::parse(&s))
        .unwrap_or(AttentionBackend::Standard);
    let model = Model::load(&path)
        .expect("load gemma 3 270m")
        .with_attention(attn);
    eprintln!("kernels: {:?}, attention: {attn}", model.kernels().isa);
    Some(model)
}

/// Whether the model runs llama.cpp 0c1e57098's float order op for op: the
/// x86 tables (AVX2, or AVX-512 without `WASM_CHORD_AVX512_WIDE=1`, which
/// keeps llama.cpp's AVX2 order for its types and the batched k-quant
/// order) with standard attention.
fn exact_path(model: &Model) -> bool {
    let wide = std::env::var("WASM_CHORD_AVX512_WIDE").is_ok_and(|v| v.trim() == "1");
    let isa = model.kernels().isa;
    (isa == Isa::Avx2 || (isa == Isa::Avx512 && !wide))
        && model.attention() == AttentionBackend::Standard
}

fn fixture(kind: &str) -> Option<Value> {
    let r = read_json(&format!("{REF}.{kind}.json"));
    if r.is_none() {
        test_support::missing(format!("fixture {REF}.{kind}.json"), "a committed fixture");
    }
    r
}

/// Prefill `ids` from an empty cache in micro-batches of `UBATCH` and leave
/// the last position's logits in the returned vector; `kv`/`s` are reused
/// by the caller for decoding.
fn prefill(model: &Model, ids: &[u32], kv: &mut KvCache, s: &mut Scratch) -> Vec<f32> {
    let mut out = Vec::new();
    let mut pos = 0;
    for part in ids.chunks(UBATCH) {
        let last = pos + part.len() == ids.len();
        let mode = if last {
            LogitsMode::Last
        } else {
            LogitsMode::None
        };
        let l = model.forward(part, pos, kv, s, mode).expect("prefill");
        if last {
            out = l.to_vec();
        }
        pos += part.len();
    }
    out
}

fn state(model: &Model, n_ctx: usize) -> (KvCache, Scratch) {
    let kv = KvCache::new(model.config(), n_ctx, CacheType::F32).unwrap();
    let s = Scratch::new(model, UBATCH, n_ctx, 1).unwrap();
    (kv, s)
}

/// Top-1/top-2 margin of a logits row.
fn margin(l: &[f32]) -> f32 {
    let t = top_k(l, 2);
    l[t[0]] - l[t[1]]
}

/// One prompt's comparison with the fixture.
struct PromptCmp {
    top1: usize,
    overlap: usize,
    max_diff: f32,
    /// Fixture top-20 ids missing from ours: (id, fixture logit − 20th logit).
    missing: Vec<(usize, f32)>,
}

fn compare_top20(ours: &[f32], top: &[(usize, f32)]) -> PromptCmp {
    let mine = top_k(ours, 20);
    let cut = top[19].1;
    let missing: Vec<(usize, f32)> = top
        .iter()
        .filter(|t| !mine.contains(&t.0))
        .map(|&(i, v)| (i, v - cut))
        .collect();
    PromptCmp {
        top1: mine[0],
        overlap: 20 - missing.len(),
        max_diff: top
            .iter()
            .map(|&(i, v)| (ours[i] - v).abs())
            .fold(0f32, f32::max),
        missing,
    }
}

#[test]
fn gemma3_fixture_logits_match_llama_cpp() {
    let (Some(model), Some(r)) = (load(), fixture("logits")) else {
        return;
    };
    let n_vocab = model.config().n_vocab;
    let prompts = r["prompts"].as_array().expect("prompts");
    assert_eq!(prompts.len(), 13, "fixture prompt count");
    let t0 = std::time::Instant::now();
    let mut failures = Vec::new();
    let (mut worst, mut strict) = (0f32, 0);
    for p in prompts {
        let name = p["name"].as_str().expect("name");
        let ids = json_ids(&p["ids"]);
        let top = json_top(&p["top"]);
        assert_eq!(top.len(), 20, "{name}: fixture top-20");
        assert_eq!(p["argmax"].as_u64(), Some(top[0].0 as u64));

        let (mut kv, mut s) = state(&model, ids.len());
        let ours = prefill(&model, &ids, &mut kv, &mut s);
        assert_eq!(ours.len(), n_vocab);
        let c = compare_top20(&ours, &top);
        let ref_margin = top[0].1 - top[1].1;
        let lse_ref = p["logsumexp"].as_f64().expect("logsumexp");
        let mx = ours.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let lse = mx
            + ours
                .iter()
                .map(|&l| (l as f64 - mx).exp())
                .sum::<f64>()
                .ln();
        eprintln!(
            "{name:>9} ({:3} tok): top1 {:6} (ref {:6}, ref margin {ref_margin:.3}) top20 {}/20 \
             max|Δ|top20 {:.4} Δlogsumexp {:+.4} missing {:?}",
            ids.len(),
            c.top1,
            top[0].0,
            c.overlap,
            c.max_diff,
            lse - lse_ref,
            c.missing
        );
        worst = worst.max(c.max_diff);
        if c.top1 == top[0].0 && c.overlap >= 19 {
            strict += 1;
        }
        // top-1: identical, unless llama.cpp's own margin is a near tie and
        // ours is one of the ids within that tie.
        let tie = if exact_path(&model) {
            TIE_MARGIN_EXACT
        } else {
            TIE_MARGIN
        };
        let tied = top
            .iter()
            .any(|&(i, v)| i == c.top1 && f64::from(top[0].1 - v) < tie);
        if c.top1 != top[0].0 && !tied {
            failures.push(format!(
                "{name}: top-1 {} != llama.cpp {}",
                c.top1, top[0].0
            ));
        }
        // On the llama.cpp-order path the logits must be llama.cpp's; the
        // 512-bit row dots, the scalar reference, NEON / simd128 and flash
        // attention sum in other orders: llama.cpp's own-spread bounds above.
        let exact = exact_path(&model);
        let (min_overlap, max_diff) = if exact {
            (MIN_TOP20_OVERLAP_EXACT, MAX_TOP20_DIFF_EXACT)
        } else {
            (MIN_TOP20_OVERLAP, MAX_TOP20_DIFF)
        };
        if c.overlap < min_overlap {
            failures.push(format!("{name}: top-20 overlap {}/20", c.overlap));
        }
        if let Some(m) = c.missing.iter().find(|m| m.1 > TOP20_BOUNDARY) {
            failures.push(format!(
                "{name}: llama.cpp's top-20 id {} ({:.3} above the 20th) missing from ours",
                m.0, m.1
            ));
        }
        if c.max_diff > max_diff {
            failures.push(format!("{name}: max |Δlogit| over top 20 = {}", c.max_diff));
        }
    }
    eprintln!(
        "logits: {} prompts, {strict} with identical top-1 and top-20 overlap >= 19, \
         worst max|Δ| over top 20 {worst:.4}, {:.1}s",
        prompts.len(),
        t0.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn gemma3_fixture_greedy_matches_llama_cpp() {
    let (Some(model), Some(r)) = (load(), fixture("greedy")) else {
        return;
    };
    let prompts = r["prompts"].as_array().expect("prompts");
    assert_eq!(prompts.len(), 13, "fixture prompt count");
    let t0 = std::time::Instant::now();
    let mut failures = Vec::new();
    let all = std::env::var_os("WASM_CHORD_GEMMA_ALL").is_some_and(|v| v != "0");
    let (mut full, mut run) = (0, 0);
    for p in prompts {
        let name = p["name"].as_str().expect("name");
        if !all && !GREEDY_SUBSET.contains(&name) {
            continue;
        }
        run += 1;
        let ids = json_ids(&p["ids"]);
        let want = json_ids(&p["generated"]);
        let margins = json_margins(&p["steps"]);
        assert_eq!(margins.len(), want.len());

        let (mut kv, mut s) = state(&model, ids.len() + want.len());
        let mut logits = prefill(&model, &ids, &mut kv, &mut s);
        let mut got = Vec::with_capacity(want.len());
        let mut our_margins = Vec::with_capacity(want.len());
        for step in 0..want.len() {
            let next = top_k(&logits, 1)[0] as u32;
            got.push(next);
            our_margins.push(margin(&logits));
            if step + 1 == want.len() {
                break;
            }
            let l = model
                .forward(&[next], ids.len() + step, &mut kv, &mut s, LogitsMode::Last)
                .expect("decode step");
            logits.clear();
            logits.extend_from_slice(l);
        }

        let tie = if exact_path(&model) {
            TIE_MARGIN_EXACT
        } else {
            TIE_MARGIN
        };
        let need = must_match_prefix(&margins, tie);
        let same = got.iter().zip(&want).take_while(|(a, b)| a == b).count();
        if same == want.len() {
            full += 1;
            eprintln!("{name:>9}: 32/32 identical (first ref near tie at step {need})");
        } else {
            eprintln!(
                "{name:>9}: first divergence at step {same} (ref margin {:.4}, ours {:.4}; \
                 ref first near tie at step {need})",
                margins[same], our_margins[same]
            );
        }
        if same < need {
            failures.push(format!(
                "{name}: diverged at step {same} (ref margin {:.4}) before the first near tie \
                 at {need}\n ours {got:?}\n  ref {want:?}",
                margins[same]
            ));
        }
    }
    eprintln!(
        "greedy: {full}/{run} prompts identical for all 32 steps, {:.1}s",
        t0.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "{failures:#?}");
}
