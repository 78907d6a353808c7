//! The reference backend: the scalar reference kernels (`kernels::reference`)
//! on one thread, over its own copies of the weights (Q5_0 transcoded to
//! Q8_0 at load, the same values), its own f32 KV storage (f16-rounded
//! values for the f16 cache types) and activation registers, with reads
//! that complete later, on another thread (`reader`), as a device's do.
//!
//! It exists to keep the seam honest: it runs the same forward code as the
//! CPU backend, and its logits equal the CPU backend's on the scalar table
//! (standard attention) bit for bit.

mod reader;

use std::ops::Range;
use std::sync::Arc;

use gguf::{GgmlType, GgufFile};
use kernels::quant;
use kernels::reference::{self as rk, AttnParams, KvRef};
use kernels::types::RopeParams;

use super::host::{host_f32_ops, HostBufs};
use super::{
    AttnShape, Backend, Buf, Dims, KvPlace, KvStore, KvWindow, ReadKind, Readout, Rows, Run,
};
use crate::batch::Span;
use crate::error::ModelError;
use crate::kv_cache::CacheType;
use crate::layout::Activation;
use crate::memory::{self, zeroed_vec, AllocFailure, Budget};
use crate::weights::{Linear, Weights};
use reader::Reader;

/// The reference backend (no state: everything is in its buffers).
#[derive(Debug, Default)]
pub struct RefBackend;

/// A weight matrix, owned: its type (after transcoding) and bytes.
#[derive(Clone, Debug)]
pub struct RefMatrix {
    ty: GgmlType,
    data: Arc<Vec<u8>>,
}

/// Activations: registers, quantized activations, attention and RoPE
/// scratch, and the reader thread.
#[derive(Debug)]
pub struct RefActs {
    bufs: HostBufs,
    xq: Vec<u8>,
    xq_ty: Option<GgmlType>,
    work: Vec<f32>,
    rope: Vec<f32>,
    reader: Reader,
}

/// KV storage: f32 rows per layer (K, V), f16-rounded for f16 types.
#[derive(Debug)]
pub struct RefKv {
    round: bool,
    row: usize,
    layers: Vec<(Vec<f32>, Vec<f32>)>,
}

impl KvStore for RefKv {
    fn copy_rows(&mut self, layer: usize, src: Range<usize>, dst: usize) {
        let row = self.row;
        let (k, v) = &mut self.layers[layer];
        k.copy_within(src.start * row..src.end * row, dst * row);
        v.copy_within(src.start * row..src.end * row, dst * row);
    }
}

impl Backend for RefBackend {
    type Matrix = RefMatrix;
    type Vector = Vec<f32>;
    type Acts = RefActs;
    type Kv = RefKv;

    fn matrix(
        &self,
        file: &GgufFile,
        index: usize,
        ty: GgmlType,
        rows: Range<usize>,
        cols: usize,
    ) -> Result<RefMatrix, ModelError> {
        // a copy of these rows (a fused tensor's part: its row range)
        let t = &file.tensors()[index];
        let src = super::tensor_rows(file, index, ty, rows.clone(), cols);
        if ty != GgmlType::Q5_0 {
            return Ok(RefMatrix {
                ty,
                data: Arc::new(src.to_vec()),
            });
        }
        let n = rows.len() * cols;
        let mut data = vec![0u8; quant::row_bytes(GgmlType::Q8_0, n)];
        quant::repack_q5_0_as_q8_0(n, src, &mut data).map_err(|source| ModelError::Kernel {
            name: t.name.clone(),
            source,
        })?;
        Ok(RefMatrix {
            ty: GgmlType::Q8_0,
            data: Arc::new(data),
        })
    }

    fn vector(&self, v: Vec<f32>) -> Vec<f32> {
        v
    }

    fn acts(&self, d: &Dims, w: &Weights<RefBackend>) -> Result<RefActs, ModelError> {
        let act_bytes = w
            .matrices()
            .map(|m| quant::row_bytes(quant::vec_dot_type(m.m.ty), m.cols))
            .max()
            .unwrap_or(0);
        let work = rk::work_per_thread(d.n_ctx, d.head_dim);
        let total = HostBufs::lens(d)
            .chain([Some(work), Some(d.head_dim)])
            .map(|n| n.map(|n| (n, 4)))
            .chain([d.max_batch.checked_mul(act_bytes).map(|n| (n, 1))])
            .collect::<Option<Vec<_>>>()
            .ok_or(AllocFailure::Overflow)
            .and_then(memory::checked_bytes);
        let budget = Budget::new("the reference backend's activations", d.n_ctx, total)?;
        Ok(RefActs {
            bufs: HostBufs::new(d, &budget)?,
            xq: budget.zeroed(d.max_batch * act_bytes)?,
            xq_ty: None,
            work: budget.zeroed(work)?,
            rope: budget.zeroed(d.head_dim)?,
            reader: Reader::new(),
        })
    }

    fn kv(&self, ty: CacheType, row: usize, layer_rows: &[usize]) -> Result<RefKv, AllocFailure> {
        let mut layers = Vec::new();
        for &rows in layer_rows {
            let n = rows.checked_mul(row).ok_or(AllocFailure::Overflow)?;
            layers.push((zeroed_vec(n)?, zeroed_vec(n)?));
        }
        Ok(RefKv {
            round: ty != CacheType::F32,
            row,
            layers,
        })
    }

    fn embed(
        &self,
        a: &mut RefActs,
        table: &Linear<RefMatrix>,
        tokens: &[u32],
        scale: Option<f32>,
    ) -> Result<(), ModelError> {
        a.bufs
            .embed(&table.name, table.m.ty, &table.m.data, tokens, scale)
    }

    host_f32_ops!(RefActs);

    fn project(
        &self,
        a: &mut RefActs,
        src: Buf,
        outs: &[(&Linear<RefMatrix>, Buf)],
        runs: &[Run],
    ) -> Result<(), ModelError> {
        // the scalar row dots give every chunk order the same sums
        let n = runs.last().map_or(0, |r| r.start + r.len);
        a.xq_ty = None;
        for &(w, dst) in outs {
            let act = quant::vec_dot_type(w.m.ty);
            let (x, y) = a.bufs.pair(src, dst);
            if a.xq_ty != Some(act) {
                rk::quantize_acts(w.m.ty, w.cols, &x[..n * w.cols], &mut a.xq).map_err(
                    |source| ModelError::Kernel {
                        name: w.name.clone(),
                        source,
                    },
                )?;
                a.xq_ty = Some(act);
            }
            rk::matmul(w.m.ty, w.rows, w.cols, &w.m.data, &a.xq, n, y);
        }
        Ok(())
    }

    fn glu(&self, a: &mut RefActs, act: Activation, n: usize) {
        let len = n * Buf::Hb.width(&a.bufs.dims);
        let (u, g) = a.bufs.pair(Buf::Hb2, Buf::Hb);
        match act {
            Activation::Silu => rk::swiglu(&mut g[..len], &u[..len]),
            Activation::GeluTanh => rk::geglu(&mut g[..len], &u[..len]),
        }
    }

    fn kv_write(
        &self,
        a: &mut RefActs,
        kv: &mut RefKv,
        layer: usize,
        place: KvPlace,
        pos: usize,
        rows: Range<usize>,
    ) {
        let row = kv.row;
        let round = kv.round;
        let (ks, vs) = &mut kv.layers[layer];
        for (i, t) in rows.enumerate() {
            let at = place.row(pos + i);
            let copies = [Some(at), place.ring.map(|r| at + r)];
            for (store, buf) in [(&mut *ks, Buf::K), (&mut *vs, Buf::V)] {
                let src = &a.bufs.get(buf, t + 1)[t * row..];
                for r in copies.iter().flatten() {
                    let dst = &mut store[r * row..(r + 1) * row];
                    for (d, s) in dst.iter_mut().zip(src) {
                        *d = if round {
                            half::f16::from_f32(*s).to_f32()
                        } else {
                            *s
                        };
                    }
                }
            }
        }
    }

    fn attend(
        &self,
        a: &mut RefActs,
        kv: &RefKv,
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
        let r = win.first * kv.row..(win.first + win.rows) * kv.row;
        let (ks, vs) = &kv.layers[layer];
        let (k, v) = match kv.round {
            true => (KvRef::F16AsF32(&ks[r.clone()]), KvRef::F16AsF32(&vs[r])),
            false => (KvRef::F32(&ks[r.clone()]), KvRef::F32(&vs[r])),
        };
        let (q, att) = a.bufs.pair(Buf::Q, Buf::Att);
        rk::attention(
            &p,
            &q[rows.start * qd..rows.end * qd],
            pos,
            rows.len(),
            k,
            v,
            &mut a.work,
            &mut att[rows.start * qd..rows.end * qd],
        )?;
        Ok(())
    }

    fn read_begin(&self, a: &mut RefActs, rows: usize, what: ReadKind) {
        let logits = a.bufs.take(Buf::Logits);
        a.reader.begin(logits, a.bufs.dims.n_vocab, rows, what);
    }

    fn read_ready(&self, a: &mut RefActs) -> bool {
        a.reader.ready()
    }

    fn read_wait<'a>(&self, a: &'a mut RefActs) -> Result<Readout<'a>, ModelError> {
        if let Some(l) = a.reader.finish() {
            a.bufs.put(Buf::Logits, l);
        }
        let logits = a.bufs.get(Buf::Logits, a.bufs.dims.logit_rows);
        Ok(a.reader.readout(logits))
    }
}
