//! The CPU backend's activations: the registers in host memory, quantized
//! activations, attention and RoPE scratch, and the top-k read buffers.

use gguf::GgmlType;
use kernels::arch::Kernels;
use kernels::attention::work_per_thread;
use kernels::error::KernelError;
use kernels::ops::QMatrix;
use kernels::quant;
use kernels::ThreadPool;

use crate::backend::host::HostBufs;
use crate::backend::{Dims, ReadKind};
use crate::error::ModelError;
use crate::memory::{self, AllocFailure, Budget};

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

/// Working memory of one forward pass on the CPU.
#[derive(Debug)]
pub struct CpuActs {
    pub(crate) bufs: HostBufs,
    /// Quantized activations [max_batch, largest activation row in bytes].
    pub(crate) xq: ActBuf,
    /// Attention scratch, per thread: scores [n_ctx] + f16-rounded query
    /// head [head_dim] (`attention::work_per_thread`).
    pub(crate) attn_work: Vec<f32>,
    /// RoPE cos/sin [head_dim].
    pub(crate) rope: Vec<f32>,
    /// The last read: its kind and rows.
    pub(crate) read: Option<(ReadKind, usize)>,
    /// Top-k reads: ids and logits [rows, k] (grown on the first read of
    /// a k above 1).
    pub(crate) top_ids: Vec<u32>,
    pub(crate) top_vals: Vec<f32>,
}

impl CpuActs {
    /// Buffers for `d` with `act_bytes` per quantized activation row and
    /// attention scratch for `threads` threads. Allocated zeroed and
    /// fallibly like the KV cache: sizes beyond memory are a
    /// [`ModelError::OutOfMemory`], and pages are committed as used.
    pub(crate) fn new(d: &Dims, act_bytes: usize, threads: usize) -> Result<CpuActs, ModelError> {
        const WHAT: &str = "the forward-pass scratch buffers";
        let work = d
            .n_ctx
            .checked_add(d.head_dim)
            .and_then(|_| threads.checked_mul(work_per_thread(d.n_ctx, d.head_dim)));
        let xq_len = d.max_batch.checked_mul(act_bytes);
        let total = HostBufs::lens(d)
            .chain([work])
            .map(|n| n.map(|n| (n, 4)))
            .chain([xq_len.map(|n| (n, 1)), Some((d.head_dim, 4))])
            .collect::<Option<Vec<_>>>()
            .ok_or(AllocFailure::Overflow)
            .and_then(memory::checked_bytes);
        let budget = Budget::new(WHAT, d.n_ctx, total)?;
        // Every length below is part of `total`, so none overflows.
        Ok(CpuActs {
            bufs: HostBufs::new(d, &budget)?,
            xq: ActBuf {
                bytes: budget.zeroed(d.max_batch * act_bytes)?,
                ty: None,
            },
            attn_work: budget.zeroed(threads * work_per_thread(d.n_ctx, d.head_dim))?,
            rope: budget.zeroed(d.head_dim)?,
            read: None,
            // room for a top-1 read of every row (larger k grow them once)
            top_ids: vec![0; d.logit_rows],
            top_vals: vec![0.0; d.logit_rows],
        })
    }
}

/// The largest activation row (bytes) the projections of types `tys` with
/// `cols` columns quantize to.
pub(crate) fn act_bytes(mats: impl Iterator<Item = (GgmlType, usize)>) -> usize {
    mats.map(|(ty, cols)| quant::row_bytes(quant::vec_dot_type(ty), cols))
        .max()
        .unwrap_or(0)
}
