//! Shared helpers for comparing against llama.cpp reference logits.
#![allow(dead_code)]

use std::path::PathBuf;

use model::{CacheType, KvCache, LogitsMode, Model, Scratch};

/// Kernel table for reference comparisons: the one `kernels::arch::select()`
/// picks (on x86 the llama.cpp-order kernels), unless `WASM_CHORD_ISA` names
/// another available one (`scalar` checks the portable reference).
pub fn test_kernels() -> &'static kernels::arch::Kernels {
    std::env::var("WASM_CHORD_ISA")
        .ok()
        .and_then(|s| kernels::arch::Isa::parse(&s))
        .and_then(kernels::arch::table)
        .unwrap_or_else(kernels::arch::select)
}

/// Workspace root (two levels above this crate).
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Indices of the `k` largest values, largest first.
pub fn top_k(x: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[b].total_cmp(&x[a]).then(a.cmp(&b)));
    idx.truncate(k);
    idx
}

/// Outcome of a logits comparison.
#[derive(Debug)]
pub struct LogitsCmp {
    pub top1_equal: bool,
    pub top20_overlap: usize,
    pub max_abs_diff: f32,
}

/// Compare our logits with reference values at the given ids.
pub fn compare(ours: &[f32], ref_top: &[usize], ref_vals: &[(usize, f32)]) -> LogitsCmp {
    let mine = top_k(ours, 20);
    let overlap = mine
        .iter()
        .filter(|i| ref_top[..20.min(ref_top.len())].contains(i))
        .count();
    let max_abs_diff = ref_vals
        .iter()
        .map(|&(i, v)| (ours[i] - v).abs())
        .fold(0.0f32, f32::max);
    LogitsCmp {
        top1_equal: mine[0] == ref_top[0],
        top20_overlap: overlap,
        max_abs_diff,
    }
}

/// Greedy decoding: prefill `prompt` in one batch, then `n` single-token steps.
/// Returns the generated ids and the last-token logits after the prompt.
pub fn greedy(model: &Model, prompt: &[u32], n: usize, cache: CacheType) -> (Vec<u32>, Vec<f32>) {
    let n_ctx = prompt.len() + n + 1;
    let mut kv = KvCache::new(model.config(), n_ctx, cache).unwrap();
    let mut s = Scratch::new(model, prompt.len(), n_ctx, 1).unwrap();
    let logits = model
        .forward(prompt, 0, &mut kv, &mut s, LogitsMode::Last)
        .expect("prefill");
    let first = logits.to_vec();
    let mut out = Vec::new();
    let mut next = top_k(&first, 1)[0] as u32;
    for i in 0..n {
        out.push(next);
        if i + 1 == n {
            break;
        }
        let l = model
            .forward(&[next], prompt.len() + i, &mut kv, &mut s, LogitsMode::Last)
            .expect("decode step");
        next = top_k(l, 1)[0] as u32;
    }
    (out, first)
}

/// Number of leading generated tokens that must match: up to (excluding) the
/// first reference step whose top-1/top-2 margin is below `tie`.
pub fn must_match_prefix(margins: &[f64], tie: f64) -> usize {
    margins
        .iter()
        .position(|&m| m < tie)
        .unwrap_or(margins.len())
}

/// Last-token logits of `ids`, prefilled in chunks of `chunk` tokens.
pub fn prompt_logits(model: &Model, ids: &[u32], chunk: usize, cache: CacheType) -> Vec<f32> {
    let mut kv = KvCache::new(model.config(), ids.len(), cache).unwrap();
    let mut s = Scratch::new(model, chunk, ids.len(), 1).unwrap();
    let mut pos = 0;
    let mut out = Vec::new();
    for part in ids.chunks(chunk) {
        let last = pos + part.len() == ids.len();
        let mode = if last {
            LogitsMode::Last
        } else {
            LogitsMode::None
        };
        let l = model
            .forward(part, pos, &mut kv, &mut s, mode)
            .expect("forward");
        if last {
            out = l.to_vec();
        }
        pos += part.len();
    }
    out
}

/// Parse a JSON array of unsigned integers.
pub fn json_ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_u64().expect("id") as u32)
        .collect()
}

/// A fixture's `[[id, logit], ...]` list.
pub fn json_top(v: &serde_json::Value) -> Vec<(usize, f32)> {
    v.as_array()
        .expect("top")
        .iter()
        .map(|e| {
            (
                e[0].as_u64().expect("id") as usize,
                e[1].as_f64().expect("logit") as f32,
            )
        })
        .collect()
}

/// A greedy fixture's top-1/top-2 margin of each step.
pub fn json_margins(steps: &serde_json::Value) -> Vec<f64> {
    steps
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["margin"].as_f64().expect("margin"))
        .collect()
}

/// Read a JSON file relative to the workspace, or `None` if it is absent.
pub fn read_json(rel: &str) -> Option<serde_json::Value> {
    let p = workspace().join(rel);
    let text = std::fs::read_to_string(&p).ok()?;
    Some(serde_json::from_str(&text).expect("valid JSON"))
}
