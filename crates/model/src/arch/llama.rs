//! Llama block (Llama 2/3, TinyLlama, Mistral):
//! x += Wo·attn(rope(Wq·n), rope(Wk·n), Wv·n) with n = rmsnorm(x);
//! x += Wdown·(silu(Wgate·n) * Wup·n) with n = rmsnorm(x).

use kernels::ops;
use kernels::parallel::par_zip;

use crate::error::ModelError;
use crate::forward::{attend, project, rope_qk};
use crate::kv_cache::KvCache;
use crate::model::Model;
use crate::scratch::Scratch;

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

    // attention: xb = rmsnorm(x) * attn_norm
    ops::rmsnorm_into(&s.x[..n * e], &l.attn_norm, c.rms_eps, &mut s.xb[..n * e]);
    // q, k, v = xb · Wq/Wk/Wv  (one activation quantization when types agree)
    project(m, &l.wq, &s.xb, n, &mut s.xq, false, &mut s.q[..n * qd])?;
    project(m, &l.wk, &s.xb, n, &mut s.xq, true, &mut s.k[..n * kd])?;
    project(m, &l.wv, &s.xb, n, &mut s.xq, true, &mut s.v[..n * kd])?;
    rope_qk(m, il, pos, n, s);
    attend(m, il, pos, n, kv, s)?;
    // x += att · Wo
    project(m, &l.wo, &s.att, n, &mut s.xq, false, &mut s.xb2[..n * e])?;
    ops::add(&mut s.x[..n * e], &s.xb2[..n * e]);

    // feed-forward: xb = rmsnorm(x) * ffn_norm; hb = silu(xb·Wgate) * (xb·Wup)
    ops::rmsnorm_into(&s.x[..n * e], &l.ffn_norm, c.rms_eps, &mut s.xb[..n * e]);
    project(m, &l.gate, &s.xb, n, &mut s.xq, false, &mut s.hb[..n * ff])?;
    project(m, &l.up, &s.xb, n, &mut s.xq, true, &mut s.hb2[..n * ff])?;
    par_zip(m.pool(), &mut s.hb[..n * ff], &s.hb2[..n * ff], ops::swiglu);
    // x += hb · Wdown
    project(m, &l.down, &s.hb, n, &mut s.xq, false, &mut s.xb2[..n * e])?;
    ops::add(&mut s.x[..n * e], &s.xb2[..n * e]);
    Ok(())
}
