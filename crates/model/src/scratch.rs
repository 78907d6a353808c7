//! Preallocated working memory for a batch of up to `max_batch` tokens, so
//! that `Model::forward` allocates nothing: the backend's activations plus
//! the row bookkeeping of the current step.

use crate::backend::cpu::CpuBackend;
use crate::backend::{Backend, Buf, Dims, ReadKind, Run};
use crate::config::Config;
use crate::error::ModelError;
use crate::model::Model;

/// A debug hook called at named points of the forward pass with
/// `(name, layer, tensor)`; names follow llama.cpp's graph (`attn_norm`,
/// `Qcur`, `kqv_out`, `l_out`, ...) so intermediate tensors can be compared
/// with llama.cpp's `cb_eval` dumps (`tests/ref/dump_layers.py`).
pub struct Tap(pub TapFn);

/// The callback of a [`Tap`]: `(name, layer, tensor)`.
pub type TapFn = Box<dyn FnMut(&str, usize, &[f32]) + Send>;

impl std::fmt::Debug for Tap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tap")
    }
}

/// Calls the tap, if any, with the first `n` rows of `buf` (read from the
/// backend only then).
#[inline]
pub(crate) fn tap<B: Backend>(
    b: &B,
    s: &mut Scratch<B>,
    name: &str,
    layer: usize,
    buf: Buf,
    n: usize,
) {
    if let Some(Tap(f)) = &mut s.tap {
        f(name, layer, b.peek(&mut s.acts, buf, n));
    }
}

/// Working memory of one forward pass (of one or more sequences).
#[derive(Debug)]
pub struct Scratch<B: Backend = CpuBackend> {
    pub(crate) max_batch: usize,
    pub(crate) n_ctx: usize,
    pub(crate) logit_rows: usize,
    /// The sizes the activations were made for.
    dims: Dims,
    /// The backend's activation registers.
    pub(crate) acts: B::Acts,
    /// Row runs of the current batch's projections (`backend::Run`).
    pub(crate) runs: Vec<Run>,
    /// Row runs of its output head.
    pub(crate) out_runs: Vec<Run>,
    /// Rows with logits of the last step.
    pub(crate) n_out: usize,
    /// A read started and not yet waited for.
    pub(crate) reading: Option<ReadKind>,
    /// Debug hook (none by default).
    pub(crate) tap: Option<Tap>,
}

impl<B: Backend> Scratch<B> {
    /// Buffers for batches of up to `max_batch` tokens, positions below
    /// `n_ctx`, and logits for up to `logit_rows` tokens per call (the CPU
    /// backend: attention scratch for `model.threads()` threads). Allocated
    /// zeroed and fallibly like the KV cache: sizes beyond memory are a
    /// [`ModelError::OutOfMemory`], and pages are committed as used.
    pub fn new(
        model: &Model<B>,
        max_batch: usize,
        n_ctx: usize,
        logit_rows: usize,
    ) -> Result<Scratch<B>, ModelError> {
        let c = model.config();
        let d = Dims {
            n_embd: c.n_embd,
            q_dim: c.q_dim(),
            kv_dim: c.kv_dim(),
            n_ff: c.n_ff,
            n_vocab: c.n_vocab,
            head_dim: c.head_dim,
            max_batch: max_batch.max(1),
            n_ctx,
            logit_rows: logit_rows.max(1),
        };
        Ok(Scratch {
            max_batch: d.max_batch,
            n_ctx,
            logit_rows: d.logit_rows,
            dims: d,
            acts: model.backend().acts(&d, model.weights())?,
            runs: Vec::with_capacity(d.max_batch),
            out_runs: Vec::with_capacity(d.logit_rows),
            n_out: 0,
            reading: None,
            tap: None,
        })
    }

    pub fn max_batch(&self) -> usize {
        self.max_batch
    }

    pub fn n_ctx(&self) -> usize {
        self.n_ctx
    }

    /// Install (or remove) a debug hook on the forward pass.
    pub fn set_tap(&mut self, tap: Option<Tap>) {
        self.tap = tap;
    }

    /// Whether the activations have the widths of a model of config `c`.
    pub(crate) fn fits(&self, c: &Config) -> bool {
        let d = &self.dims;
        (d.n_embd, d.q_dim, d.kv_dim, d.n_ff, d.n_vocab, d.head_dim)
            == (
                c.n_embd,
                c.q_dim(),
                c.kv_dim(),
                c.n_ff,
                c.n_vocab,
                c.head_dim,
            )
    }

    /// The backend's activations.
    pub fn acts(&self) -> &B::Acts {
        &self.acts
    }
}

impl Scratch<CpuBackend> {
    /// Hidden state of the last forward call: [n_tokens, n_embd].
    pub fn hidden(&self) -> &[f32] {
        self.acts.bufs.get(Buf::X, self.max_batch)
    }
}
