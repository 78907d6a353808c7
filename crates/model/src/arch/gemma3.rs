//! Gemma 3 block:
//! q, k, v = n·Wq, n·Wk, n·Wv with n = rmsnorm(x);
//! q, k = rope(rmsnorm_head(q)), rope(rmsnorm_head(k)); q *= q_scale;
//! x += post_attn_norm(Wo·attn(q, k, v))  (sliding window on local layers);
//! x += post_ffn_norm(Wdown·(gelu_tanh(Wgate·n) * Wup·n)) with n = rmsnorm(x).

use kernels::ops;
use kernels::parallel::par_zip;

use crate::error::ModelError;
use crate::forward::{attend, project, rope_qk};
use crate::kv_cache::KvCache;
use crate::model::Model;
use crate::scratch::{tap, Scratch};

/// Layer `il` over `n` tokens at positions `pos ..`, updating `s.x` in place.
pub(crate) fn block(
    m: &Model,
    il: usize,
    pos: usize,
    n: usize,
    kv: &mut KvCache,
    s: &mut Scratch,
) -> Result<(), ModelError> {
    let c = m.config();
    let l = &m.weights().layers[il];
    let (e, qd, kd, ff) = (c.n_embd, c.q_dim(), c.kv_dim(), c.n_ff);
    let missing = |what: &str| ModelError::MissingTensor {
        name: format!("blk.{il}.{what}.weight"),
    };
    let q_norm = l.q_norm.as_deref().ok_or_else(|| missing("attn_q_norm"))?;
    let k_norm = l.k_norm.as_deref().ok_or_else(|| missing("attn_k_norm"))?;
    let post_attn = l
        .post_attn_norm
        .as_deref()
        .ok_or_else(|| missing("post_attention_norm"))?;
    let post_ffn = l
        .post_ffn_norm
        .as_deref()
        .ok_or_else(|| missing("post_ffw_norm"))?;

    // attention: xb = rmsnorm(x) * attn_norm; q, k, v = xb · Wq/Wk/Wv
    ops::rmsnorm_into(&s.x[..n * e], &l.attn_norm, c.rms_eps, &mut s.xb[..n * e]);
    tap(&mut s.tap, "attn_norm", il, &s.xb[..n * e]);
    project(m, &l.wq, &s.xb, n, &mut s.xq, false, &mut s.q[..n * qd])?;
    project(m, &l.wk, &s.xb, n, &mut s.xq, true, &mut s.k[..n * kd])?;
    project(m, &l.wv, &s.xb, n, &mut s.xq, true, &mut s.v[..n * kd])?;
    tap(&mut s.tap, "Qcur_mm", il, &s.q[..n * qd]);
    tap(&mut s.tap, "Kcur_mm", il, &s.k[..n * kd]);
    // per-head RMS norm of q and k, then RoPE (NeoX), then q *= q_scale
    ops::rmsnorm(&mut s.q[..n * qd], q_norm, c.rms_eps);
    ops::rmsnorm(&mut s.k[..n * kd], k_norm, c.rms_eps);
    tap(&mut s.tap, "Qcur_normed", il, &s.q[..n * qd]);
    tap(&mut s.tap, "Kcur_normed", il, &s.k[..n * kd]);
    rope_qk(m, il, pos, n, s);
    tap(&mut s.tap, "Qcur", il, &s.q[..n * qd]);
    tap(&mut s.tap, "Kcur", il, &s.k[..n * kd]);
    tap(&mut s.tap, "Vcur", il, &s.v[..n * kd]);
    if let Some(qs) = c.q_scale {
        ops::scale(&mut s.q[..n * qd], qs);
    }
    attend(m, il, pos, n, kv, s)?;
    tap(&mut s.tap, "kqv_out", il, &s.att[..n * qd]);
    // x += rmsnorm(att · Wo) * post_attn_norm
    project(m, &l.wo, &s.att, n, &mut s.xq, false, &mut s.xb2[..n * e])?;
    tap(&mut s.tap, "attn_out", il, &s.xb2[..n * e]);
    ops::rmsnorm(&mut s.xb2[..n * e], post_attn, c.rms_eps);
    tap(&mut s.tap, "attn_post_norm", il, &s.xb2[..n * e]);
    ops::add(&mut s.x[..n * e], &s.xb2[..n * e]);
    tap(&mut s.tap, "sa_out", il, &s.x[..n * e]);

    // feed-forward: xb = rmsnorm(x) * ffn_norm; hb = gelu(xb·Wgate) * (xb·Wup)
    ops::rmsnorm_into(&s.x[..n * e], &l.ffn_norm, c.rms_eps, &mut s.xb[..n * e]);
    tap(&mut s.tap, "ffn_norm", il, &s.xb[..n * e]);
    project(m, &l.gate, &s.xb, n, &mut s.xq, false, &mut s.hb[..n * ff])?;
    project(m, &l.up, &s.xb, n, &mut s.xq, true, &mut s.hb2[..n * ff])?;
    tap(&mut s.tap, "ffn_gate", il, &s.hb[..n * ff]);
    tap(&mut s.tap, "ffn_up", il, &s.hb2[..n * ff]);
    par_zip(m.pool(), &mut s.hb[..n * ff], &s.hb2[..n * ff], ops::geglu);
    tap(&mut s.tap, "ffn_geglu", il, &s.hb[..n * ff]);
    // x += rmsnorm(hb · Wdown) * post_ffn_norm
    project(m, &l.down, &s.hb, n, &mut s.xq, false, &mut s.xb2[..n * e])?;
    tap(&mut s.tap, "ffn_out", il, &s.xb2[..n * e]);
    ops::rmsnorm(&mut s.xb2[..n * e], post_ffn, c.rms_eps);
    tap(&mut s.tap, "ffn_post_norm", il, &s.xb2[..n * e]);
    ops::add(&mut s.x[..n * e], &s.xb2[..n * e]);
    tap(&mut s.tap, "l_out", il, &s.x[..n * e]);
    Ok(())
}
