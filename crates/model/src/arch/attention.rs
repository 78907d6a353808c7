//! The attention part of a block: `x += post_norm(attn(q, k, v) · Wo)`.

use kernels::ops;

use crate::batch::Span;
use crate::error::ModelError;
use crate::forward::{attend, project, rope_qk};
use crate::kv_cache::KvCache;
use crate::model::Model;
use crate::scratch::{tap, Scratch};

use super::{add_to_residual, OutputTaps};

/// The attention part of layer `il` over the `n` rows of a batch.
pub(super) fn part(
    m: &Model,
    il: usize,
    spans: &[Span],
    n: usize,
    kv: &mut KvCache,
    s: &mut Scratch,
) -> Result<(), ModelError> {
    let c = m.config();
    let a = &m.weights().layers[il].attn;
    let (e, qd, kd) = (c.n_embd, c.q_dim(), c.kv_dim());

    // xb = rmsnorm(x) * norm; q, k, v = xb · Wq/Wk/Wv (one activation
    // quantization when the types agree)
    ops::rmsnorm_into(&s.x[..n * e], &a.norm, c.rms_eps, &mut s.xb[..n * e]);
    tap(&mut s.tap, "attn_norm", il, &s.xb[..n * e]);
    project(
        m,
        &a.wq,
        &s.xb,
        &s.runs,
        &mut s.xq,
        false,
        &mut s.q[..n * qd],
    )?;
    project(
        m,
        &a.wk,
        &s.xb,
        &s.runs,
        &mut s.xq,
        true,
        &mut s.k[..n * kd],
    )?;
    project(
        m,
        &a.wv,
        &s.xb,
        &s.runs,
        &mut s.xq,
        true,
        &mut s.v[..n * kd],
    )?;
    if let Some(b) = &a.qkv_bias {
        add_rows(&mut s.q[..n * qd], &b.q);
        add_rows(&mut s.k[..n * kd], &b.k);
        add_rows(&mut s.v[..n * kd], &b.v);
    }
    tap(&mut s.tap, "Qcur_mm", il, &s.q[..n * qd]);
    tap(&mut s.tap, "Kcur_mm", il, &s.k[..n * kd]);
    if let Some(norm) = &a.qk_norm {
        // per-head RMS norm (weights of one head's width)
        ops::rmsnorm(&mut s.q[..n * qd], &norm.q, c.rms_eps);
        ops::rmsnorm(&mut s.k[..n * kd], &norm.k, c.rms_eps);
        tap(&mut s.tap, "Qcur_normed", il, &s.q[..n * qd]);
        tap(&mut s.tap, "Kcur_normed", il, &s.k[..n * kd]);
    }
    rope_qk(m, il, spans, kv.n_ctx(), s);
    tap(&mut s.tap, "Qcur", il, &s.q[..n * qd]);
    tap(&mut s.tap, "Kcur", il, &s.k[..n * kd]);
    tap(&mut s.tap, "Vcur", il, &s.v[..n * kd]);
    if let Some(qs) = c.q_scale {
        ops::scale(&mut s.q[..n * qd], qs);
    }
    attend(m, il, spans, kv, s)?;
    tap(&mut s.tap, "kqv_out", il, &s.att[..n * qd]);

    // x += post_norm(att · Wo)
    project(
        m,
        &a.wo,
        &s.att,
        &s.runs,
        &mut s.xq,
        false,
        &mut s.xb2[..n * e],
    )?;
    let taps = OutputTaps {
        out: "attn_out",
        normed: "attn_post_norm",
        residual: "sa_out",
    };
    add_to_residual(c, il, n, a.post_norm.as_deref(), taps, s);
    Ok(())
}

/// x[t] += b for every row t of x: [n, b.len()].
fn add_rows(x: &mut [f32], b: &[f32]) {
    for row in x.chunks_exact_mut(b.len()) {
        ops::add(row, b);
    }
}
