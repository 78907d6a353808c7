//! The forward pass: embeddings -> transformer blocks -> final norm -> logits,
//! generic over the backend that runs its ops.
//!
//! A step is encoded (`Model::encode`), then read (`Model::read_begin`,
//! `read_ready`, `read_wait`); `forward` and `decode` do both. Shared
//! building blocks (projection, RoPE, attention over the cache) live here;
//! the block (attention and feed-forward parts) is in `arch/`, shaped by
//! each architecture's `layout::Layout`.

use crate::arch;
use crate::backend::{fill_runs, AttnShape, Backend, Buf, ReadKind, Readout, Rows};
use crate::batch::{self, Batch, Span};
use crate::error::ModelError;
use crate::kv_cache::KvCache;
use crate::model::Model;
use crate::scratch::{tap, Scratch};

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

impl<B: Backend> Model<B> {
    /// Run `tokens` at positions `pos .. pos + tokens.len()` of the cache's
    /// slot 0, and return the requested logits.
    ///
    /// Allocates nothing: all buffers come from `s`.
    pub fn forward<'s>(
        &self,
        tokens: &[u32],
        pos: usize,
        kv: &mut KvCache<B>,
        s: &'s mut Scratch<B>,
        mode: LogitsMode,
    ) -> Result<&'s [f32], ModelError> {
        self.encode_tokens(tokens, pos, kv, s, mode)?;
        self.read_logits(s)
    }

    /// Encode the forward pass of `tokens` at positions `pos ..` of slot 0
    /// (see [`Model::forward`]); returns the rows with logits, to read with
    /// [`Model::read_begin`].
    pub fn encode_tokens(
        &self,
        tokens: &[u32],
        pos: usize,
        kv: &mut KvCache<B>,
        s: &mut Scratch<B>,
        mode: LogitsMode,
    ) -> Result<usize, ModelError> {
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
        self.run(tokens, &span, Rows::Range(rows), kv, s)
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
        kv: &mut KvCache<B>,
        s: &'s mut Scratch<B>,
    ) -> Result<&'s [f32], ModelError> {
        self.encode(batch, kv, s)?;
        self.read_logits(s)
    }

    /// Encode the forward pass of `batch` (see [`Model::decode`]); returns
    /// the rows with logits, to read with [`Model::read_begin`].
    pub fn encode(
        &self,
        batch: &Batch,
        kv: &mut KvCache<B>,
        s: &mut Scratch<B>,
    ) -> Result<usize, ModelError> {
        let rows = Rows::Flags(batch.logits());
        self.run(batch.tokens(), batch.spans(), rows, kv, s)
    }

    /// Starts reading the last encoded step's outputs: every logit, or
    /// each row's top-k (a GPU then reads back k tokens, not the
    /// vocabulary).
    pub fn read_begin(&self, s: &mut Scratch<B>, what: ReadKind) {
        self.settle(s);
        self.backend().read_begin(&mut s.acts, s.n_out, what);
        s.reading = Some(what);
    }

    /// Whether the read started by [`Model::read_begin`] has completed
    /// (never blocks; `true` when none is pending).
    pub fn read_ready(&self, s: &mut Scratch<B>) -> bool {
        s.reading.is_none() || self.backend().read_ready(&mut s.acts)
    }

    /// The result of the read started by [`Model::read_begin`], waiting for
    /// it if needed: `[rows, n_vocab]` logits, or `[rows, k]` ids and logits
    /// (`Err`: the device failed in this step).
    pub fn read_wait<'s>(&self, s: &'s mut Scratch<B>) -> Result<Readout<'s>, ModelError> {
        if s.reading.take().is_none() {
            // nothing pending: an empty read
            self.backend().read_begin(&mut s.acts, 0, ReadKind::Logits);
        }
        self.backend().read_wait(&mut s.acts)
    }

    /// Completes a read left pending (its buffers are the backend's again;
    /// its result, an error included, was not wanted).
    fn settle(&self, s: &mut Scratch<B>) {
        if s.reading.take().is_some() {
            let _ = self.backend().read_wait(&mut s.acts);
        }
    }

    /// Every logit of the last step: [rows, n_vocab].
    fn read_logits<'s>(&self, s: &'s mut Scratch<B>) -> Result<&'s [f32], ModelError> {
        if s.n_out == 0 {
            return Ok(&[]);
        }
        self.read_begin(s, ReadKind::Logits);
        match self.read_wait(s)? {
            Readout::Logits(l) => Ok(l),
            Readout::TopK { .. } => unreachable!("a logits read returned top-k"),
        }
    }

    /// Encodes one step; returns its rows with logits.
    fn run(
        &self,
        tokens: &[u32],
        spans: &[Span],
        outputs: Rows,
        kv: &mut KvCache<B>,
        s: &mut Scratch<B>,
    ) -> Result<usize, ModelError> {
        self.settle(s);
        s.n_out = 0;
        self.check_call(tokens, spans, &outputs, kv, s)?;
        let c = self.config();
        let w = self.weights();
        let b = self.backend();
        let n = tokens.len();

        // token embeddings: x[t] = tok_embd[token] (* sqrt(n_embd) for Gemma)
        b.embed(&mut s.acts, &w.tok_embd, tokens, c.embed_scale)?;

        fill_runs(&mut s.runs, spans.iter().map(|sp| sp.len));
        match &outputs {
            Rows::Range(r) => fill_runs(&mut s.out_runs, [r.len()].into_iter()),
            Rows::Flags(f) => fill_runs(
                &mut s.out_runs,
                spans
                    .iter()
                    .map(|sp| f[sp.rows()].iter().filter(|&&l| l).count()),
            ),
        }

        tap(b, s, "inp_scaled", 0, Buf::X, n);
        for il in 0..c.n_layer {
            arch::block(self, il, spans, n, kv, s)?;
        }
        for sp in spans {
            kv.set_len(sp.seq, sp.pos + sp.len);
        }

        // final norm and output head, only for the rows that need logits
        let m = outputs.count();
        if m == 0 {
            return Ok(0);
        }
        b.rmsnorm_rows(
            &mut s.acts,
            Buf::X,
            Buf::Xb,
            &w.output_norm,
            c.rms_eps,
            &outputs,
        );
        tap(b, s, "result_norm", 0, Buf::Xb, m);
        b.project(
            &mut s.acts,
            Buf::Xb,
            &[(&w.output, Buf::Logits)],
            &s.out_runs,
        )?;
        if let Some(cap) = c.final_logit_softcap {
            b.softcap(&mut s.acts, Buf::Logits, cap, m);
        }
        s.n_out = m;
        Ok(m)
    }

    fn check_call(
        &self,
        tokens: &[u32],
        spans: &[Span],
        outputs: &Rows,
        kv: &KvCache<B>,
        s: &Scratch<B>,
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
        if !s.fits(c) {
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

/// Rotate q: [n, n_head * head_dim] and k: [n, n_kv_head * head_dim], each
/// row at its span's position, with layer `il`'s RoPE and the frequency
/// factors of a context of `n_ctx` positions per sequence.
pub(crate) fn rope_qk<B: Backend>(
    m: &Model<B>,
    il: usize,
    spans: &[Span],
    n_ctx: usize,
    s: &mut Scratch<B>,
) {
    let c = m.config();
    let rp = c.layer_rope(il);
    let ff = m.weights().rope_factors.for_context(n_ctx, c.n_ctx_orig);
    m.backend().rope(&mut s.acts, &rp, ff, c.head_dim, spans);
}

/// Append each span's k/v to its cache slot and attend over that slot:
/// s.q -> s.att, both [n, n_head * head_dim].
pub(crate) fn attend<B: Backend>(
    m: &Model<B>,
    il: usize,
    spans: &[Span],
    kv: &mut KvCache<B>,
    s: &mut Scratch<B>,
) -> Result<(), ModelError> {
    let c = m.config();
    let b = m.backend();
    let shape = AttnShape {
        n_head: c.n_head,
        n_kv_head: c.n_kv_head,
        head_dim: c.head_dim,
        scale: c.kq_scale,
        window: c.layer_window(il),
    };
    for sp in spans {
        let place = kv.place(il, sp.seq);
        b.kv_write(&mut s.acts, kv.store_mut(), il, place, sp.pos, sp.rows());
        let win = kv.window(il, sp.seq, sp.pos);
        b.attend(&mut s.acts, kv.store(), il, win, &shape, sp.pos, sp.rows())?;
    }
    Ok(())
}
