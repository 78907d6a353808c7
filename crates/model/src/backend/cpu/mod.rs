//! The CPU backend: the kernel tables chosen at run time (`kernels::arch`),
//! the thread pool, the attention kernels and the repacked weight layouts.
//! Bit-exact with llama.cpp's CPU build; every op is the call the forward
//! pass made before the seam, on the same buffers.

mod acts;
mod kv;
mod model;
mod weights;

use std::ops::Range;
use std::sync::Arc;

use gguf::{GgmlType, GgufFile};
use kernels::arch::Kernels;
use kernels::attention::{attention_with, AttnParams};
use kernels::ops::{self, QMatrix};
use kernels::parallel::{par_matmul_as_chunk, par_matvec, par_matvec_tokens, par_zip};
use kernels::quant::{self, batched::order_is_batched};
use kernels::types::{AttentionBackend, RopeParams};
use kernels::ThreadPool;

pub use acts::CpuActs;
pub use kv::CpuKv;
pub use weights::{CpuMatrix, Repacked};

use super::host::{host_f32_ops, host_read, host_readout};
use super::{AttnShape, Backend, Buf, Dims, KvPlace, KvWindow, ReadKind, Readout, Rows, Run};
use crate::batch::Span;
use crate::error::ModelError;
use crate::kv_cache::CacheType;
use crate::layout::Activation;
use crate::memory::AllocFailure;
use crate::weights::{Linear, Weights};

/// The CPU backend of a model: its file (weights are views into it), kernel
/// table, thread pool and attention setting.
#[derive(Debug)]
pub struct CpuBackend {
    file: Arc<GgufFile>,
    kernels: &'static Kernels,
    /// Threads of the forward pass (created once, reused by every call).
    pool: ThreadPool,
    /// Attention kernel of the forward pass.
    attention: AttentionBackend,
}

impl CpuBackend {
    /// The selected kernel table, one thread, automatic attention.
    pub fn new(file: Arc<GgufFile>) -> CpuBackend {
        CpuBackend {
            file,
            kernels: kernels::arch::select(),
            pool: ThreadPool::new(1),
            attention: AttentionBackend::default(),
        }
    }

    fn matrix_view<'a>(&'a self, w: &'a Linear<CpuMatrix>) -> QMatrix<'a> {
        w.view(&self.file)
    }
}

/// A gated activation in place: `g = act(g) * u`.
type Glu = fn(&mut [f32], &[f32]);

impl Backend for CpuBackend {
    type Matrix = CpuMatrix;
    type Vector = Vec<f32>;
    type Acts = CpuActs;
    type Kv = CpuKv;

    fn matrix(
        &self,
        _file: &GgufFile,
        _index: usize,
        _ty: GgmlType,
        _rows: Range<usize>,
        _cols: usize,
    ) -> Result<CpuMatrix, ModelError> {
        // zero-copy: the file's bytes, found by index and first row when used
        Ok(CpuMatrix {
            repacked: None,
            packed: None,
        })
    }

    fn vector(&self, v: Vec<f32>) -> Vec<f32> {
        v
    }

    fn acts(&self, d: &Dims, w: &Weights<CpuBackend>) -> Result<CpuActs, ModelError> {
        // activation rows for the file's types (a repacked Q5_0 quantizes
        // to Q8_0 as well)
        let bytes = acts::act_bytes(w.matrices().map(|m| (m.ty, m.cols)));
        CpuActs::new(d, bytes, self.pool.n_threads())
    }

    fn kv(&self, ty: CacheType, row: usize, layer_rows: &[usize]) -> Result<CpuKv, AllocFailure> {
        CpuKv::new(ty, row, layer_rows)
    }

    fn embed(
        &self,
        a: &mut CpuActs,
        table: &Linear<CpuMatrix>,
        tokens: &[u32],
        scale: Option<f32>,
    ) -> Result<(), ModelError> {
        let t = self.matrix_view(table);
        a.bufs.embed(&table.name, t.ty, t.data, tokens, scale)
    }

    host_f32_ops!(CpuActs);

    fn project(
        &self,
        a: &mut CpuActs,
        src: Buf,
        outs: &[(&Linear<CpuMatrix>, Buf)],
        runs: &[Run],
    ) -> Result<(), ModelError> {
        let n = runs.last().map_or(0, |r| r.start + r.len);
        let (k, pool) = (self.kernels, &self.pool);
        for (i, &(w, dst)) in outs.iter().enumerate() {
            let wm = self.matrix_view(w);
            let (x, y) = a.bufs.pair(src, dst);
            // one quantization of `src` for every matrix of its type
            a.xq.quantize_for(pool, k, &wm, &x[..n * w.cols], i > 0)
                .map_err(|source| ModelError::Kernel {
                    name: w.name.clone(),
                    source,
                })?;
            let rb = quant::row_bytes(wm.act_type(), w.cols);
            for r in runs {
                let act = &a.xq.bytes[r.start * rb..(r.start + r.len) * rb];
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
        }
        Ok(())
    }

    fn glu(&self, a: &mut CpuActs, act: Activation, n: usize) {
        let glu: Glu = match act {
            Activation::Silu => ops::swiglu,
            Activation::GeluTanh => ops::geglu,
        };
        let len = n * Buf::Hb.width(&a.bufs.dims);
        let (u, g) = a.bufs.pair(Buf::Hb2, Buf::Hb);
        par_zip(&self.pool, &mut g[..len], &u[..len], glu);
    }

    fn kv_write(
        &self,
        a: &mut CpuActs,
        kv: &mut CpuKv,
        layer: usize,
        place: KvPlace,
        pos: usize,
        rows: Range<usize>,
    ) {
        let kd = Buf::K.width(&a.bufs.dims);
        let k = &a.bufs.get(Buf::K, rows.end)[rows.start * kd..];
        let v = &a.bufs.get(Buf::V, rows.end)[rows.start * kd..];
        kv.write(layer, place, pos, k, v);
    }

    fn attend(
        &self,
        a: &mut CpuActs,
        kv: &CpuKv,
        layer: usize,
        win: KvWindow,
        sh: &AttnShape,
        pos: usize,
        rows: Range<usize>,
    ) -> Result<(), ModelError> {
        let p = AttnParams {
            n_head: sh.n_head,
            n_kv_head: sh.n_kv_head,
            head_dim: sh.head_dim,
            scale: sh.scale,
            window: sh.window,
            kv_start: win.kv_start,
        };
        let qd = Buf::Q.width(&a.bufs.dims);
        let (kc, vc) = kv.rows(layer, win.first, win.rows);
        let (q, att) = a.bufs.pair(Buf::Q, Buf::Att);
        attention_with(
            self.attention,
            self.kernels.isa,
            &self.pool,
            &p,
            &q[rows.start * qd..rows.end * qd],
            pos,
            rows.len(),
            kc,
            vc,
            &mut a.attn_work,
            &mut att[rows.start * qd..rows.end * qd],
        )?;
        Ok(())
    }

    fn read_begin(&self, a: &mut CpuActs, rows: usize, what: ReadKind) {
        let nv = a.bufs.dims.n_vocab;
        let logits = a.bufs.get(Buf::Logits, rows);
        host_read(logits, nv, rows, what, &mut a.top_ids, &mut a.top_vals);
        a.read = Some((what, rows));
    }

    fn read_ready(&self, _a: &mut CpuActs) -> bool {
        true
    }

    fn read_wait<'a>(&self, a: &'a mut CpuActs) -> Result<Readout<'a>, ModelError> {
        let (what, rows) = a.read.unwrap_or((ReadKind::Logits, 0));
        let nv = a.bufs.dims.n_vocab;
        let logits = a.bufs.get(Buf::Logits, rows);
        Ok(host_readout(
            logits,
            nv,
            rows,
            what,
            &a.top_ids,
            &a.top_vals,
        ))
    }
}
