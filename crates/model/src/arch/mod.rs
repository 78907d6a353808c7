//! The transformer block every architecture runs, built from an attention
//! part and a feed-forward part; `layout::Layout` (through the weights it
//! loaded) says which optional pieces are there:
//!
//! ```text
//! n = rmsnorm(x);  q, k, v = n·Wq, n·Wk, n·Wv
//! q, k = rmsnorm_head(q), rmsnorm_head(k)              (qk_norm)
//! q, k = rope(q), rope(k);  q *= q_scale               (scale_queries)
//! o = attn(q, k, v)·Wo;  o = rmsnorm(o)                (post_norms)
//! x += o
//! n = rmsnorm(x);  h = act(n·Wgate) * (n·Wup)          (SiLU or GELU)
//! o = h·Wdown;  o = rmsnorm(o)                         (post_norms)
//! x += o
//! ```

mod attention;
mod ffn;

use kernels::ops;

use crate::batch::Span;
use crate::config::Config;
use crate::error::ModelError;
use crate::kv_cache::KvCache;
use crate::model::Model;
use crate::scratch::{tap, Scratch};

/// Layer `il` over the `n` rows of a batch (its sequences' `spans`),
/// updating `s.x` in place.
pub(crate) fn block(
    m: &Model,
    il: usize,
    spans: &[Span],
    n: usize,
    kv: &mut KvCache,
    s: &mut Scratch,
) -> Result<(), ModelError> {
    attention::part(m, il, spans, n, kv, s)?;
    ffn::part(m, il, n, s)
}

/// Tap names of a part's output: before the post-norm, after it, after
/// the residual add.
struct OutputTaps {
    out: &'static str,
    normed: &'static str,
    residual: &'static str,
}

/// `x += post_norm(o)` for a part's output `o` in `s.xb2`, for `n` tokens.
fn add_to_residual(
    c: &Config,
    il: usize,
    n: usize,
    post_norm: Option<&[f32]>,
    taps: OutputTaps,
    s: &mut Scratch,
) {
    let e = c.n_embd;
    tap(&mut s.tap, taps.out, il, &s.xb2[..n * e]);
    if let Some(w) = post_norm {
        ops::rmsnorm(&mut s.xb2[..n * e], w, c.rms_eps);
        tap(&mut s.tap, taps.normed, il, &s.xb2[..n * e]);
    }
    ops::add(&mut s.x[..n * e], &s.xb2[..n * e]);
    tap(&mut s.tap, taps.residual, il, &s.x[..n * e]);
}
