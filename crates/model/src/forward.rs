//! The forward pass: embeddings -> transformer blocks -> final norm -> logits.
//!
//! Shared building blocks (projection, RoPE, attention over the cache) live
//! here; the block (attention and feed-forward parts) is in `arch/`, shaped
//! by each architecture's `layout::Layout`.

use kernels::attention::{attention_with, AttnParams};
use kernels::ops::{self, QMatrix};
use kernels::parallel::{par_matmul_as_chunk, par_matvec, par_matvec_tokens};
use kernels::quant::{self, batched::order_is_batched};

use std::ops::Range;

use crate::arch;
use crate::batch::{self, Batch, Span};
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

/// The rows of a forward pass that produce logits, in output order.
#[derive(Clone, Debug)]
enum Outputs<'a> {
    Range(Range<usize>),
    Flags(&'a [bool]),
}

impl Outputs<'_> {
    fn count(&self) -> usize {
        match self {
            Outputs::Range(r) => r.len(),
            Outputs::Flags(f) => f.iter().filter(|&&l| l).count(),
        }
    }

    /// Calls `f(j, row)` for the j-th output row.
    fn each(&self, mut f: impl FnMut(usize, usize)) {
        match self {
            Outputs::Range(r) => r.clone().enumerate().for_each(|(j, r)| f(j, r)),
            Outputs::Flags(fl) => fl
                .iter()
                .enumerate()
                .filter(|(_, &l)| l)
                .enumerate()
                .for_each(|(j, (r, _))| f(j, r)),
        }
    }
}

/// Consecutive rows of a batch whose products all take the order that a
/// lone chunk of `chunk` tokens gets (`kernels::quant::batched`): each
/// sequence's rows then equal those of the sequence run alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Run {
    pub start: usize,
    pub len: usize,
    pub chunk: usize,
}

/// Runs over rows given as consecutive groups of `lens` rows (a group: one
/// sequence's chunk), merging neighbours that take the same order.
fn fill_runs(runs: &mut Vec<Run>, lens: impl Iterator<Item = usize>) {
    runs.clear();
    let mut start = 0;
    for len in lens.filter(|&l| l > 0) {
        match runs.last_mut() {
            Some(r) if order_is_batched(r.chunk) == order_is_batched(len) => r.len += len,
            _ => runs.push(Run {
                start,
                len,
                chunk: len,
            }),
        }
        start += len;
    }
}

impl Model {
    /// Run `tokens` at positions `pos .. pos + tokens.len()` of the cache's
    /// slot 0, and return the requested logits.
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
        let n = tokens.len();
        let span = [Span {
            seq: 0,
            pos,
            start: 0,
            len: n,
        }];
        let rows = match mode {
            LogitsMode::Last => n.saturating_sub(1)..n,
            LogitsMode::All => 0..n,
            LogitsMode::None => 0..0,
        };
        self.run(tokens, &span, Outputs::Range(rows), kv, s)
    }

    /// Run a batch of tokens of one or more sequences (KV cache slots) in
    /// one pass, and return the logits of its rows flagged for them,
    /// `[batch.n_outputs(), n_vocab]` in batch order. Each row gets the
    /// results of its sequence run alone with the same chunks.
    ///
    /// Allocates nothing: all buffers come from `s`.
    pub fn decode<'s>(
        &self,
        batch: &Batch,
        kv: &mut KvCache,
        s: &'s mut Scratch,
    ) -> Result<&'s [f32], ModelError> {
        let rows = Outputs::Flags(batch.logits());
        self.run(batch.tokens(), batch.spans(), rows, kv, s)
    }

    fn run<'s>(
        &self,
        tokens: &[u32],
        spans: &[Span],
        outputs: Outputs,
        kv: &mut KvCache,
        s: &'s mut Scratch,
    ) -> Result<&'s [f32], ModelError> {
        self.check_call(tokens, spans, &outputs, kv, s)?;
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

        fill_runs(&mut s.runs, spans.iter().map(|sp| sp.len));
        match &outputs {
            Outputs::Range(r) => fill_runs(&mut s.out_runs, [r.len()].into_iter()),
            Outputs::Flags(f) => fill_runs(
                &mut s.out_runs,
                spans
                    .iter()
                    .map(|sp| f[sp.rows()].iter().filter(|&&l| l).count()),
            ),
        }

        tap(&mut s.tap, "inp_scaled", 0, &s.x[..n * e]);
        for il in 0..c.n_layer {
            arch::block(self, il, spans, n, kv, s)?;
        }
        for sp in spans {
            kv.set_len(sp.seq, sp.pos + sp.len);
        }

        // final norm and output head, only for the rows that need logits
        let m = outputs.count();
        if m == 0 {
            return Ok(&[]);
        }
        outputs.each(|j, r| {
            ops::rmsnorm_into(
                &s.x[r * e..(r + 1) * e],
                &w.output_norm,
                c.rms_eps,
                &mut s.xb[j * e..(j + 1) * e],
            )
        });
        tap(&mut s.tap, "result_norm", 0, &s.xb[..m * e]);
        let logits = &mut s.logits[..m * c.n_vocab];
        project(
            self,
            &w.output,
            &s.xb,
            &s.out_runs,
            &mut s.xq,
            false,
            logits,
        )?;
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
        spans: &[Span],
        outputs: &Outputs,
        kv: &KvCache,
        s: &Scratch,
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
        let m = outputs.count();
        if m > s.logit_rows {
            return Err(ModelError::BatchTooLarge {
                n: m,
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
        let n_ctx = kv.n_ctx().min(s.n_ctx);
        batch::check_spans(spans, kv.n_seq(), n_ctx, |q| kv.seq_len(q))?;
        for sp in spans {
            if sp.len > kv.max_batch() || !kv.can_rewind(sp.seq, sp.pos) {
                return Err(ModelError::BadBatch(format!(
                    "sequence {}: {} tokens at position {} do not fit its sliding-window rings \
                     (at most {} tokens per call, and as many positions back from {})",
                    sp.seq,
                    sp.len,
                    sp.pos,
                    kv.max_batch(),
                    kv.seq_len(sp.seq)
                )));
            }
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

/// y = x · wᵀ for the rows of `runs`: x: [n, w.cols] -> y: [n, w.rows].
///
/// `x` is quantized to the weight's activation type first, unless `reuse`
/// is set and `xq` already holds it in that type. Each run takes its own
/// kernel order (a single row: the matrix-vector kernels).
pub(crate) fn project(
    m: &Model,
    w: &Linear,
    x: &[f32],
    runs: &[Run],
    xq: &mut ActBuf,
    reuse: bool,
    y: &mut [f32],
) -> Result<(), ModelError> {
    let n = runs.last().map_or(0, |r| r.start + r.len);
    let k = m.kernels();
    let wm: QMatrix = w.view(m.file());
    let pool = m.pool();
    xq.quantize_for(pool, k, &wm, &x[..n * w.cols], reuse)
        .map_err(|source| ModelError::Kernel {
            name: w.name.clone(),
            source,
        })?;
    let rb = quant::row_bytes(wm.act_type(), w.cols);
    for r in runs {
        let act = &xq.bytes[r.start * rb..(r.start + r.len) * rb];
        let out = &mut y[r.start * w.rows..(r.start + r.len) * w.rows];
        if r.len == 1 {
            par_matvec(pool, k, wm, act, out);
        } else if !order_is_batched(r.chunk) {
            // rows in the row-dot order: the decode kernels, weights read once
            par_matvec_tokens(pool, k, wm, act, r.len, out);
        } else {
            par_matmul_as_chunk(pool, k, wm, act, r.len, r.chunk, out);
        }
    }
    Ok(())
}

/// Rotate q: [n, n_head * head_dim] and k: [n, n_kv_head * head_dim], each
/// row at its span's position, with layer `il`'s RoPE and the frequency
/// factors of a context of `n_ctx` positions per sequence.
pub(crate) fn rope_qk(m: &Model, il: usize, spans: &[Span], n_ctx: usize, s: &mut Scratch) {
    let c = m.config();
    let rp = c.layer_rope(il);
    let ff = m.weights().rope_factors.for_context(n_ctx, c.n_ctx_orig);
    let (qd, kd) = (c.q_dim(), c.kv_dim());
    for sp in spans {
        for (i, t) in sp.rows().enumerate() {
            ops::rope_cache(&rp, sp.pos + i, ff, &mut s.rope);
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
}

/// Append each span's k/v to its cache slot and attend over that slot:
/// s.q -> s.att, both [n, n_head * head_dim].
pub(crate) fn attend(
    m: &Model,
    il: usize,
    spans: &[Span],
    kv: &mut KvCache,
    s: &mut Scratch,
) -> Result<(), ModelError> {
    let c = m.config();
    let (qd, kd) = (c.q_dim(), c.kv_dim());
    let p = AttnParams {
        n_head: c.n_head,
        n_kv_head: c.n_kv_head,
        head_dim: c.head_dim,
        scale: c.kq_scale,
        window: c.layer_window(il),
        kv_start: 0,
    };
    for sp in spans {
        let r = sp.rows();
        let (k, v) = (
            &s.k[r.start * kd..r.end * kd],
            &s.v[r.start * kd..r.end * kd],
        );
        kv.write(il, sp.seq, sp.pos, k, v);
        let (kc, vc, kv_start) = kv.layer(il, sp.seq, sp.pos);
        attention_with(
            m.attention(),
            m.kernels().isa,
            m.pool(),
            &AttnParams { kv_start, ..p },
            &s.q[r.start * qd..r.end * qd],
            sp.pos,
            sp.len,
            kc,
            vc,
            &mut s.attn_work,
            &mut s.att[r.start * qd..r.end * qd],
        )?;
    }
    Ok(())
}
