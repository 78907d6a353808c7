//! The forward pass: embeddings -> transformer blocks -> final norm -> logits.
//!
//! Shared building blocks (projection, RoPE, attention over the cache) live
//! here; the block (attention and feed-forward parts) is in `arch/`, shaped
//! by each architecture's `layout::Layout`.

use kernels::attention::{attention_with, AttnParams};
use kernels::ops::{self, QMatrix};
use kernels::parallel::{par_matmul, par_matvec};

use crate::arch;
use crate::error::ModelError;
use crate::kv_cache::KvCache;
use crate::model::Model;
use crate::scratch::{tap, ActBuf, Scratch};
use crate::weights::Linear;

/// Which tokens of a batch get logits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogitsMode {
    /// Only the last token: [n_vocab].
    Last,
    /// Every token: [n_tokens, n_vocab].
    All,
    /// None (prefill chunks whose outputs are not needed): an empty slice.
    None,
}

impl Model {
    /// Run `tokens` at positions `pos .. pos + tokens.len()`, appending their
    /// keys/values to `kv`, and return the requested logits.
    ///
    /// Allocates nothing: all buffers come from `s`.
    pub fn forward<'s>(
        &self,
        tokens: &[u32],
        pos: usize,
        kv: &mut KvCache,
        s: &'s mut Scratch,
        mode: LogitsMode,
    ) -> Result<&'s [f32], ModelError> {
        self.check_call(tokens, pos, kv, s, mode)?;
        let c = self.config();
        let w = self.weights();
        let n = tokens.len();
        let e = c.n_embd;

        // token embeddings: x[t] = tok_embd[token] (* sqrt(n_embd) for Gemma)
        let table = w.tok_embd.view(self.file());
        for (t, &tok) in tokens.iter().enumerate() {
            let xt = &mut s.x[t * e..(t + 1) * e];
            ops::get_rows(table.ty, table.data, tok as usize, xt).map_err(|source| {
                ModelError::Kernel {
                    name: w.tok_embd.name.clone(),
                    source,
                }
            })?;
            if let Some(sc) = c.embed_scale {
                ops::scale(xt, sc);
            }
        }

        tap(&mut s.tap, "inp_scaled", 0, &s.x[..n * e]);
        for il in 0..c.n_layer {
            arch::block(self, il, pos, n, kv, s)?;
        }

        // final norm and output head, only for the rows that need logits
        let rows = match mode {
            LogitsMode::Last => n - 1..n,
            LogitsMode::All => 0..n,
            LogitsMode::None => return Ok(&[]),
        };
        let m = rows.len();
        ops::rmsnorm_into(
            &s.x[rows.start * e..rows.end * e],
            &w.output_norm,
            c.rms_eps,
            &mut s.xb[..m * e],
        );
        tap(&mut s.tap, "result_norm", 0, &s.xb[..m * e]);
        let logits = &mut s.logits[..m * c.n_vocab];
        project(self, &w.output, &s.xb[..m * e], m, &mut s.xq, false, logits)?;
        if let Some(cap) = c.final_logit_softcap {
            for l in logits.iter_mut() {
                *l = (*l * (1.0 / cap)).tanh() * cap;
            }
        }
        Ok(&s.logits[..m * c.n_vocab])
    }

    fn check_call(
        &self,
        tokens: &[u32],
        pos: usize,
        kv: &KvCache,
        s: &Scratch,
        mode: LogitsMode,
    ) -> Result<(), ModelError> {
        let c = self.config();
        let n = tokens.len();
        if n == 0 {
            return Err(ModelError::EmptyBatch);
        }
        if n > s.max_batch {
            return Err(ModelError::BatchTooLarge {
                n,
                max: s.max_batch,
            });
        }
        if mode == LogitsMode::All && n > s.logit_rows {
            return Err(ModelError::BatchTooLarge {
                n,
                max: s.logit_rows,
            });
        }
        if kv.n_layer() != c.n_layer || kv.row_len() != c.kv_dim() {
            return Err(ModelError::StateMismatch {
                what: "KV cache",
                detail: format!(
                    "{} layers of width {}, model has {} of width {}",
                    kv.n_layer(),
                    kv.row_len(),
                    c.n_layer,
                    c.kv_dim()
                ),
            });
        }
        if s.x.len() < s.max_batch * c.n_embd || s.logits.len() < s.logit_rows * c.n_vocab {
            return Err(ModelError::StateMismatch {
                what: "scratch",
                detail: "buffer sizes do not fit this model".into(),
            });
        }
        let end = pos + n;
        let n_ctx = kv.n_ctx().min(s.n_ctx);
        if end > n_ctx {
            return Err(ModelError::ContextFull { pos, end, n_ctx });
        }
        if let Some((index, &token)) = tokens
            .iter()
            .enumerate()
            .find(|(_, &t)| t as usize >= c.n_vocab)
        {
            return Err(ModelError::TokenOutOfRange {
                token,
                index,
                n_vocab: c.n_vocab,
            });
        }
        Ok(())
    }
}

/// y = x · wᵀ for `n` tokens: x: [n, w.cols] -> y: [n, w.rows].
///
/// `x` is quantized to the weight's activation type first, unless `reuse`
/// is set and `xq` already holds it in that type.
pub(crate) fn project(
    m: &Model,
    w: &Linear,
    x: &[f32],
    n: usize,
    xq: &mut ActBuf,
    reuse: bool,
    y: &mut [f32],
) -> Result<(), ModelError> {
    let k = m.kernels();
    let wm: QMatrix = w.view(m.file());
    let pool = m.pool();
    xq.quantize_for(pool, k, &wm, &x[..n * w.cols], reuse)
        .map_err(|source| ModelError::Kernel {
            name: w.name.clone(),
            source,
        })?;
    if n == 1 {
        par_matvec(pool, k, wm, &xq.bytes, &mut y[..w.rows]);
    } else {
        par_matmul(pool, k, wm, &xq.bytes, n, &mut y[..n * w.rows]);
    }
    Ok(())
}

/// Rotate q: [n, n_head * head_dim] and k: [n, n_kv_head * head_dim] for
/// positions `pos ..` with layer `il`'s RoPE.
pub(crate) fn rope_qk(m: &Model, il: usize, pos: usize, n: usize, s: &mut Scratch) {
    let c = m.config();
    let rp = c.layer_rope(il);
    let ff = m.weights().rope_freqs.as_deref();
    let (qd, kd) = (c.q_dim(), c.kv_dim());
    for t in 0..n {
        ops::rope_cache(&rp, pos + t, ff, &mut s.rope);
        ops::rope_apply(
            rp.mode,
            rp.n_dims,
            &s.rope,
            c.head_dim,
            &mut s.q[t * qd..(t + 1) * qd],
        );
        ops::rope_apply(
            rp.mode,
            rp.n_dims,
            &s.rope,
            c.head_dim,
            &mut s.k[t * kd..(t + 1) * kd],
        );
    }
}

/// Append k/v to the cache and attend: s.q -> s.att, both [n, n_head * head_dim].
pub(crate) fn attend(
    m: &Model,
    il: usize,
    pos: usize,
    n: usize,
    kv: &mut KvCache,
    s: &mut Scratch,
) -> Result<(), ModelError> {
    let c = m.config();
    let (qd, kd) = (c.q_dim(), c.kv_dim());
    kv.write(il, pos, &s.k[..n * kd], &s.v[..n * kd]);
    let (kc, vc) = kv.layer(il);
    let p = AttnParams {
        n_head: c.n_head,
        n_kv_head: c.n_kv_head,
        head_dim: c.head_dim,
        scale: c.kq_scale,
        window: c.layer_window(il),
    };
    attention_with(
        m.attention(),
        m.kernels().isa,
        m.pool(),
        &p,
        &s.q[..n * qd],
        pos,
        n,
        kc,
        vc,
        &mut s.attn_work,
        &mut s.att[..n * qd],
    )?;
    Ok(())
}
