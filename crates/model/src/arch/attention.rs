//! The attention part of a block: `x += post_norm(attn(q, k, v) · Wo)`.

use crate::backend::{Backend, Buf};
use crate::batch::Span;
use crate::error::ModelError;
use crate::forward::{attend, rope_qk};
use crate::kv_cache::KvCache;
use crate::model::Model;
use crate::scratch::{tap, Scratch};

use super::{add_to_residual, OutputTaps};

/// The attention part of layer `il` over the `n` rows of a batch.
pub(super) fn part<B: Backend>(
    m: &Model<B>,
    il: usize,
    spans: &[Span],
    n: usize,
    kv: &mut KvCache<B>,
    s: &mut Scratch<B>,
) -> Result<(), ModelError> {
    let c = m.config();
    let b = m.backend();
    let a = &m.weights().layers[il].attn;

    // xb = rmsnorm(x) * norm; q, k, v = xb · Wq/Wk/Wv (one activation
    // quantization when the types agree)
    b.rmsnorm(&mut s.acts, Buf::X, Buf::Xb, &a.norm, c.rms_eps, n);
    tap(b, s, "attn_norm", il, Buf::Xb, n);
    let qkv = [(&a.wq, Buf::Q), (&a.wk, Buf::K), (&a.wv, Buf::V)];
    b.project(&mut s.acts, Buf::Xb, &qkv, &s.runs)?;
    if let Some(bias) = &a.qkv_bias {
        b.add_bias(&mut s.acts, Buf::Q, &bias.q, n);
        b.add_bias(&mut s.acts, Buf::K, &bias.k, n);
        b.add_bias(&mut s.acts, Buf::V, &bias.v, n);
    }
    tap(b, s, "Qcur_mm", il, Buf::Q, n);
    tap(b, s, "Kcur_mm", il, Buf::K, n);
    if let Some(norm) = &a.qk_norm {
        // per-head RMS norm (weights of one head's width)
        b.head_norm(&mut s.acts, Buf::Q, &norm.q, c.rms_eps, n);
        b.head_norm(&mut s.acts, Buf::K, &norm.k, c.rms_eps, n);
        tap(b, s, "Qcur_normed", il, Buf::Q, n);
        tap(b, s, "Kcur_normed", il, Buf::K, n);
    }
    rope_qk(m, il, spans, kv.n_ctx(), s);
    tap(b, s, "Qcur", il, Buf::Q, n);
    tap(b, s, "Kcur", il, Buf::K, n);
    tap(b, s, "Vcur", il, Buf::V, n);
    if let Some(qs) = c.q_scale {
        b.scale(&mut s.acts, Buf::Q, qs, n);
    }
    attend(m, il, spans, kv, s)?;
    tap(b, s, "kqv_out", il, Buf::Att, n);

    // x += post_norm(att · Wo)
    b.project(&mut s.acts, Buf::Att, &[(&a.wo, Buf::Xb2)], &s.runs)?;
    let taps = OutputTaps {
        out: "attn_out",
        normed: "attn_post_norm",
        residual: "sa_out",
    };
    add_to_residual(m, il, n, a.post_norm.as_ref(), taps, s);
    Ok(())
}
