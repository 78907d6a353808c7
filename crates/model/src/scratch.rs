//! Preallocated activations for a batch of up to `max_batch` tokens, so that
//! `Model::forward` allocates nothing.

use gguf::GgmlType;
use kernels::arch::Kernels;
use kernels::attention::work_per_thread;
use kernels::error::KernelError;
use kernels::ops::QMatrix;
use kernels::quant;
use kernels::ThreadPool;

use crate::error::ModelError;
use crate::forward::Run;
use crate::memory::{self, AllocFailure, Budget};
use crate::model::Model;

/// Quantized activations, remembering which type they were quantized to.
#[derive(Debug)]
pub(crate) struct ActBuf {
    pub(crate) bytes: Vec<u8>,
    ty: Option<GgmlType>,
}

impl ActBuf {
    /// Quantize `x: [n, w.cols]` for weights like `w` unless `keep` is set and
    /// the buffer already holds `x` in the right type (same input, several
    /// weights: Q/K/V, gate/up).
    pub(crate) fn quantize_for(
        &mut self,
        pool: &ThreadPool,
        k: &Kernels,
        w: &QMatrix,
        x: &[f32],
        keep: bool,
    ) -> Result<(), KernelError> {
        let act = w.act_type();
        if keep && self.ty == Some(act) {
            return Ok(());
        }
        self.ty = None;
        kernels::parallel::par_quantize_acts(pool, k, w.ty, w.cols, x, &mut self.bytes)?;
        self.ty = Some(act);
        Ok(())
    }
}

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

/// Call the tap, if any, with `x`.
#[inline]
pub(crate) fn tap(t: &mut Option<Tap>, name: &str, layer: usize, x: &[f32]) {
    if let Some(Tap(f)) = t {
        f(name, layer, x);
    }
}

/// Working memory of one sequence's forward pass.
#[derive(Debug)]
pub struct Scratch {
    pub(crate) max_batch: usize,
    pub(crate) n_ctx: usize,
    pub(crate) logit_rows: usize,
    /// Residual stream [max_batch, n_embd].
    pub(crate) x: Vec<f32>,
    /// Normed input of a sub-block [max_batch, n_embd].
    pub(crate) xb: Vec<f32>,
    /// Output of a sub-block [max_batch, n_embd].
    pub(crate) xb2: Vec<f32>,
    /// [max_batch, n_head * head_dim]
    pub(crate) q: Vec<f32>,
    /// [max_batch, n_kv_head * head_dim]
    pub(crate) k: Vec<f32>,
    pub(crate) v: Vec<f32>,
    /// Attention output [max_batch, n_head * head_dim].
    pub(crate) att: Vec<f32>,
    /// FFN hidden [max_batch, n_ff] (gate, then the activation).
    pub(crate) hb: Vec<f32>,
    /// FFN up projection [max_batch, n_ff].
    pub(crate) hb2: Vec<f32>,
    /// Quantized activations [max_batch, largest activation row in bytes].
    pub(crate) xq: ActBuf,
    /// Attention scratch, per thread: scores [n_ctx] + f16-rounded query
    /// head [head_dim] (`attention::work_per_thread`).
    pub(crate) attn_work: Vec<f32>,
    /// RoPE cos/sin [head_dim].
    pub(crate) rope: Vec<f32>,
    /// Logits [logit_rows, n_vocab].
    pub(crate) logits: Vec<f32>,
    /// Row runs of the current batch's projections (`forward::Run`).
    pub(crate) runs: Vec<Run>,
    /// Row runs of its output head.
    pub(crate) out_runs: Vec<Run>,
    /// Debug hook (none by default).
    pub(crate) tap: Option<Tap>,
}

impl Scratch {
    /// Buffers for batches of up to `max_batch` tokens, positions below
    /// `n_ctx`, and logits for up to `logit_rows` tokens per call; attention
    /// scratch for `model.threads()` threads. Allocated zeroed and fallibly
    /// like the KV cache: sizes beyond memory are a
    /// [`ModelError::OutOfMemory`], and pages are committed as used.
    pub fn new(
        model: &Model,
        max_batch: usize,
        n_ctx: usize,
        logit_rows: usize,
    ) -> Result<Scratch, ModelError> {
        const WHAT: &str = "the forward-pass scratch buffers";
        let c = model.config();
        let b = max_batch.max(1);
        let rows = logit_rows.max(1);
        let act_bytes = model
            .weights()
            .matrices()
            .map(|w| quant::row_bytes(quant::vec_dot_type(w.ty), w.cols))
            .max()
            .unwrap_or(0);
        let work = n_ctx.checked_add(c.head_dim).and_then(|_| {
            model
                .threads()
                .checked_mul(work_per_thread(n_ctx, c.head_dim))
        });
        // Element counts of the f32 buffers (None: overflow), then the bytes.
        let f32_lens = [
            b.checked_mul(c.n_embd),   // x, xb, xb2
            b.checked_mul(c.q_dim()),  // q, att
            b.checked_mul(c.kv_dim()), // k, v
            b.checked_mul(c.n_ff),     // hb, hb2
            work,
            rows.checked_mul(c.n_vocab),
        ];
        let copies = [3, 2, 2, 2, 1, 1];
        let xq_len = b.checked_mul(act_bytes);
        let total = f32_lens
            .iter()
            .zip(copies)
            .map(|(n, k)| n.and_then(|n| n.checked_mul(k)).map(|n| (n, 4)))
            .chain([xq_len.map(|n| (n, 1)), Some((c.head_dim, 4))])
            .collect::<Option<Vec<_>>>()
            .ok_or(AllocFailure::Overflow)
            .and_then(memory::checked_bytes);
        let budget = Budget::new(WHAT, n_ctx, total)?;
        // Every length below is part of `total`, so none overflows.
        let f = |n: usize| budget.zeroed::<f32>(n);
        let (embd, q, kv, ff) = (b * c.n_embd, b * c.q_dim(), b * c.kv_dim(), b * c.n_ff);
        Ok(Scratch {
            max_batch: b,
            n_ctx,
            logit_rows: rows,
            x: f(embd)?,
            xb: f(embd)?,
            xb2: f(embd)?,
            q: f(q)?,
            k: f(kv)?,
            v: f(kv)?,
            att: f(q)?,
            hb: f(ff)?,
            hb2: f(ff)?,
            xq: ActBuf {
                bytes: budget.zeroed(b * act_bytes)?,
                ty: None,
            },
            attn_work: f(model.threads() * work_per_thread(n_ctx, c.head_dim))?,
            rope: f(c.head_dim)?,
            logits: f(rows * c.n_vocab)?,
            runs: Vec::with_capacity(b),
            out_runs: Vec::with_capacity(rows),
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

    /// Hidden state of the last forward call: [n_tokens, n_embd].
    pub fn hidden(&self) -> &[f32] {
        &self.x
    }
}
