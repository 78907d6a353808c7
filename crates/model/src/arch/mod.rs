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

use crate::backend::{Backend, Buf};
use crate::batch::Span;
use crate::error::ModelError;
use crate::kv_cache::KvCache;
use crate::model::Model;
use crate::scratch::{tap, Scratch};

/// Layer `il` over the `n` rows of a batch (its sequences' `spans`),
/// updating the residual stream `X` in place.
pub(crate) fn block<B: Backend>(
    m: &Model<B>,
    il: usize,
    spans: &[Span],
    n: usize,
    kv: &mut KvCache<B>,
    s: &mut Scratch<B>,
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

/// `x += post_norm(o)` for a part's output `o` in `Xb2`, for `n` tokens.
fn add_to_residual<B: Backend>(
    m: &Model<B>,
    il: usize,
    n: usize,
    post_norm: Option<&B::Vector>,
    taps: OutputTaps,
    s: &mut Scratch<B>,
) {
    let b = m.backend();
    tap(b, s, taps.out, il, Buf::Xb2, n);
    if let Some(w) = post_norm {
        b.rmsnorm(&mut s.acts, Buf::Xb2, Buf::Xb2, w, m.config().rms_eps, n);
        tap(b, s, taps.normed, il, Buf::Xb2, n);
    }
    b.add(&mut s.acts, Buf::X, Buf::Xb2, n);
    tap(b, s, taps.residual, il, Buf::X, n);
}
