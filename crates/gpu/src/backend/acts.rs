//! The activation registers on the device and the ops of a step on them,
//! each recorded into the step's encoder ([`super::step::Step`]).

use std::ops::Range;
use std::sync::Arc;

use gguf::GgmlType;
use kernels::ops::rope_cache;
use kernels::types::RopeParams;
use model::backend::{AttnShape, Buf, Dims, KvPlace, KvWindow, ReadKind, Readout, Rows};
use model::{Activation, Linear, ModelError, Span, Weights};

use super::kv::GpuKv;
use super::read::Reader;
use super::step::{RopeKey, Step, StepStats};
use super::{model_err, GpuMatrix, GpuVector};
use crate::device::Gpu;
use crate::error::GpuError;
use crate::ops::attention::{attention_at, kv_write_at, Attn, KvRegion, Rows as AttnRows};
use crate::ops::elementwise::{add, add_bias, scale, softcap};
use crate::ops::glu::{glu, Glu};
use crate::ops::matvec::{act_type, matmul, matvec, DotPath};
use crate::ops::norm::{rmsnorm, rmsnorm_in_place};
use crate::ops::quantize::{quantize, QuantActs};
use crate::ops::rope::rope_at;
use crate::ops::rows::{get_rows, table_type};
use crate::ops::topk::top_k;

/// Activations of one forward pass on the device.
pub struct GpuActs {
    dims: Dims,
    /// One buffer per register, `[Buf::rows, Buf::width]` f32.
    regs: Vec<wgpu::Buffer>,
    /// Quantized activations, one set per activation type in use, sized
    /// for `max_batch` rows of the widest input.
    quant: Vec<QuantActs>,
    step: Step,
    reader: Reader,
    /// The host copy of a peeked register.
    peeked: Vec<f32>,
}

impl std::fmt::Debug for GpuActs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuActs")
            .field("dims", &self.dims)
            .field("reader", &self.reader)
            .finish()
    }
}

impl GpuActs {
    pub(crate) fn new(
        gpu: Arc<Gpu>,
        d: &Dims,
        w: &Weights<super::GpuBackend>,
    ) -> Result<GpuActs, GpuError> {
        let unsupported = |what: String| Err(GpuError::Unsupported(what));
        if table_type(w.tok_embd.m.ty).is_none() {
            return unsupported(format!(
                "{}: {} embedding rows cannot be gathered on the GPU yet (F32, F16, Q8_0, Q4_K, Q6_K)",
                w.tok_embd.name, w.tok_embd.m.ty
            ));
        }
        let mut quant: Vec<QuantActs> = Vec::new();
        for m in w.matrices() {
            let Some(at) = act_type(m.m.ty) else {
                return unsupported(format!(
                    "{}: {} weights have no GPU matvec yet",
                    m.name, m.m.ty
                ));
            };
            let n = d.max_batch * m.cols;
            match quant.iter_mut().find(|q| q.ty == at) {
                Some(q) if q.n >= n => {}
                Some(q) => *q = QuantActs::new(&gpu, at, n)?,
                None => quant.push(QuantActs::new(&gpu, at, n)?),
            }
        }
        let regs = Buf::ALL
            .iter()
            .map(|b| gpu.storage("register", 4 * (b.rows(d) * b.width(d)) as u64))
            .collect();
        // a RoPE cache per layer at most (one per distinct parameters)
        let rope = w.layers.len().max(1) * d.max_batch * d.head_dim;
        Ok(GpuActs {
            dims: *d,
            regs,
            quant,
            reader: Reader::new(&gpu, d.logit_rows, d.n_vocab),
            step: Step::new(gpu.clone(), d.max_batch, rope),
            peeked: Vec::new(),
        })
    }

    fn width(&self, b: Buf) -> usize {
        b.width(&self.dims)
    }

    /// The step's first error, as the model's.
    pub(crate) fn check(&mut self) -> Result<(), ModelError> {
        self.step.take_error().map_err(model_err)
    }

    /// Starts a step: a step recorded and never read is submitted first.
    pub(crate) fn begin_step(&mut self) -> Option<StepStats> {
        self.flush()
    }

    /// Submits what was recorded, if anything.
    pub(crate) fn flush(&mut self) -> Option<StepStats> {
        if !self.step.pending() {
            return None;
        }
        match self.step.submit(|_| {}) {
            Ok((s, _)) => Some(s),
            Err(e) => {
                self.step.fail(e);
                None
            }
        }
    }

    pub(crate) fn embed(&mut self, table: &GpuMatrix, tokens: &[u32], s: Option<f32>) {
        let n = tokens.len();
        self.step.ids_host[..n].copy_from_slice(tokens);
        self.step.n_ids = n;
        let (x, e) = (&self.regs[Buf::X as usize], self.dims.n_embd);
        let ids = self.step.ids.clone();
        self.step.run(|enc| {
            get_rows(enc, table, &ids, n, x)?;
            match s {
                Some(s) => scale(enc, x, n * e, s),
                None => Ok(()),
            }
        });
    }

    pub(crate) fn rmsnorm(&mut self, src: Buf, dst: Buf, w: &GpuVector, eps: f32, n: usize) {
        let e = self.width(src);
        let (x, y) = (&self.regs[src as usize], &self.regs[dst as usize]);
        self.step.run(|enc| match src == dst {
            true => rmsnorm_in_place(enc, y, &w.buf, e, n, eps),
            false => rmsnorm(enc, x, &w.buf, y, e, n, eps),
        });
    }

    /// dst[j] = rmsnorm(src[r]) * w for the j-th row r of `rows`: the rows
    /// copied to dst (runs of consecutive rows at once), normed there.
    pub(crate) fn rmsnorm_rows(
        &mut self,
        src: Buf,
        dst: Buf,
        w: &GpuVector,
        eps: f32,
        rows: &Rows,
    ) {
        assert_ne!(src, dst, "rmsnorm_rows in place");
        let e = self.width(src);
        let rb = 4 * e as u64;
        let (x, y) = (&self.regs[src as usize], &self.regs[dst as usize]);
        let m = rows.count();
        self.step.run(|enc| {
            // (first source row, first destination row, rows) of each run
            let mut run: Option<(usize, usize, usize)> = None;
            let mut copy = |r: Option<(usize, usize, usize)>| {
                if let Some((s, d, len)) = r {
                    enc.enc.copy_buffer_to_buffer(
                        x,
                        s as u64 * rb,
                        y,
                        d as u64 * rb,
                        len as u64 * rb,
                    );
                }
            };
            rows.each(|j, r| match &mut run {
                Some((s, _, len)) if *s + *len == r => *len += 1,
                _ => {
                    copy(run.take());
                    run = Some((r, j, 1));
                }
            });
            copy(run);
            rmsnorm_in_place(enc, y, &w.buf, e, m, eps)
        });
    }

    pub(crate) fn head_norm(&mut self, buf: Buf, w: &GpuVector, eps: f32, n: usize) {
        let hd = w.host.len();
        let rows = n * self.width(buf) / hd;
        let y = &self.regs[buf as usize];
        self.step
            .run(|enc| rmsnorm_in_place(enc, y, &w.buf, hd, rows, eps));
    }

    /// The offset of the step's angle cache for `p` and `ff` (made on the
    /// host by the CPU's `rope_cache` on first use in the step).
    fn rope_cache(&mut self, p: &RopeParams, ff: Option<&GpuVector>, spans: &[Span]) -> usize {
        let factors = ff.map_or(0, |f| Arc::as_ptr(&f.host) as usize);
        let st = &mut self.step;
        if let Some(k) = st
            .rope_keys
            .iter()
            .find(|k| k.params == *p && k.factors == factors)
        {
            return k.offset;
        }
        let offset = st.rope_used;
        let nd = p.n_dims;
        for sp in spans {
            for (i, t) in sp.rows().enumerate() {
                let at = offset + t * nd;
                let c = &mut st.rope_host[at..at + nd];
                rope_cache(p, sp.pos + i, ff.map(|f| f.host.as_slice()), c);
            }
        }
        let n = spans.iter().map(|s| s.start + s.len).max().unwrap_or(0);
        st.rope_used = offset + n * nd;
        st.rope_keys.push(RopeKey {
            params: *p,
            factors,
            offset,
        });
        offset
    }

    pub(crate) fn rope(
        &mut self,
        p: &RopeParams,
        ff: Option<&GpuVector>,
        head_dim: usize,
        spans: &[Span],
    ) {
        let n = spans.iter().map(|s| s.start + s.len).max().unwrap_or(0);
        if (self.step.rope_keys.len() + 1) * n * p.n_dims > self.step.rope_host.len() {
            self.step.fail(GpuError::Unsupported(
                "more distinct RoPE parameters in a step than layers".into(),
            ));
            return;
        }
        let off = self.rope_cache(p, ff, spans);
        let (nq, nk) = (self.width(Buf::Q) / head_dim, self.width(Buf::K) / head_dim);
        let (q, k) = (&self.regs[Buf::Q as usize], &self.regs[Buf::K as usize]);
        let cache = &self.step.rope.clone();
        self.step.run(|enc| {
            rope_at(enc, q, cache, off, p.mode, n, nq, head_dim, p.n_dims)?;
            rope_at(enc, k, cache, off, p.mode, n, nk, head_dim, p.n_dims)
        });
    }

    pub(crate) fn add_bias(&mut self, buf: Buf, b: &GpuVector, n: usize) {
        let e = self.width(buf);
        let x = &self.regs[buf as usize];
        self.step
            .run(|enc| add_bias(enc, x, &b.buf, n * e, b.host.len()));
    }

    pub(crate) fn add(&mut self, dst: Buf, src: Buf, n: usize) {
        let e = self.width(dst);
        let (x, y) = (&self.regs[dst as usize], &self.regs[src as usize]);
        self.step.run(|enc| add(enc, x, y, n * e));
    }

    pub(crate) fn scale(&mut self, buf: Buf, s: f32, n: usize) {
        let e = self.width(buf);
        let x = &self.regs[buf as usize];
        self.step.run(|enc| scale(enc, x, n * e, s));
    }

    pub(crate) fn softcap(&mut self, buf: Buf, cap: f32, n: usize) {
        let e = self.width(buf);
        let x = &self.regs[buf as usize];
        self.step.run(|enc| softcap(enc, x, n * e, cap));
    }

    /// out = src · wᵀ over `n` rows for each `(w, out)`, `src` quantized
    /// once per activation type: the matvec for one row, the tiled matmul
    /// for more (the same sums, so a row's outputs do not depend on it).
    pub(crate) fn project(
        &mut self,
        src: Buf,
        outs: &[(&Linear<GpuMatrix>, Buf)],
        n: usize,
        path: DotPath,
    ) {
        let x = &self.regs[src as usize];
        let (regs, quant) = (&self.regs, &self.quant);
        self.step.run(|enc| {
            let mut done: Option<GgmlType> = None;
            for &(w, dst) in outs {
                let at = act_type(w.m.ty).ok_or_else(|| GpuError::Shape {
                    op: "project",
                    reason: format!("{}: no GPU matvec for {}", w.name, w.m.ty),
                })?;
                let q = quant
                    .iter()
                    .find(|q| q.ty == at)
                    .ok_or_else(|| GpuError::Shape {
                        op: "project",
                        reason: format!("{}: no {at} activation buffers", w.name),
                    })?;
                let q = q.first(n * w.cols);
                if done != Some(at) {
                    quantize(enc, x, &q)?;
                    done = Some(at);
                }
                match n {
                    1 => matvec(enc, &w.m, &q, &regs[dst as usize], path)?,
                    _ => matmul(enc, &w.m, &q, &regs[dst as usize], path)?,
                }
            }
            Ok(())
        });
    }

    pub(crate) fn glu(&mut self, act: Activation, n: usize) {
        let len = n * self.width(Buf::Hb);
        let (g, u) = (&self.regs[Buf::Hb as usize], &self.regs[Buf::Hb2 as usize]);
        let act = match act {
            Activation::Silu => Glu::Silu,
            Activation::GeluTanh => Glu::Gelu,
        };
        self.step.run(|enc| glu(enc, g, u, len, act));
    }

    /// K and V rows `rows` into the layer's cache at positions `pos ..`
    /// of `place` (both copies of a ring).
    pub(crate) fn kv_write(
        &mut self,
        kv: &GpuKv,
        layer: usize,
        place: KvPlace,
        pos: usize,
        rows: Range<usize>,
    ) {
        let (kb, vb) = &kv.layers[layer];
        let regions = match place.ring {
            Some(r) => [
                Some(KvRegion {
                    base: place.base,
                    row0: pos % r,
                    n_rows: r,
                }),
                Some(KvRegion {
                    base: place.base + r,
                    row0: pos % r,
                    n_rows: r,
                }),
            ],
            None => [
                Some(KvRegion {
                    base: place.base + pos,
                    row0: 0,
                    n_rows: rows.len(),
                }),
                None,
            ],
        };
        let (k, v) = (&self.regs[Buf::K as usize], &self.regs[Buf::V as usize]);
        self.step.run(|enc| {
            for reg in regions.into_iter().flatten() {
                for (src, cache) in [(k, kb), (v, vb)] {
                    kv_write_at(enc, src, rows.start, rows.len(), kv.row, cache, kv.ty, reg)?;
                }
            }
            Ok(())
        });
    }

    pub(crate) fn attend(
        &mut self,
        kv: &GpuKv,
        layer: usize,
        win: KvWindow,
        sh: &AttnShape,
        pos: usize,
        rows: Range<usize>,
    ) {
        let a = Attn {
            n_head: sh.n_head,
            n_kv_head: sh.n_kv_head,
            head_dim: sh.head_dim,
            scale: sh.scale,
            window: sh.window,
            kv_start: win.kv_start,
            kv: kv.ty,
        };
        let at = AttnRows {
            q: rows.start,
            kv: win.first,
        };
        let (kb, vb) = &kv.layers[layer];
        let (q, out) = (&self.regs[Buf::Q as usize], &self.regs[Buf::Att as usize]);
        self.step
            .run(|enc| attention_at(enc, &a, q, pos, rows.len(), kb, vb, out, at));
    }

    /// The first `n` rows of `buf` (the step so far was submitted).
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn peek(&mut self, buf: Buf, n: usize) -> &[f32] {
        let len = n * self.width(buf);
        match self.step.gpu.read_f32(&self.regs[buf as usize], len) {
            Ok(v) => self.peeked = v,
            Err(e) => {
                self.step.fail(e);
                self.peeked.clear();
            }
        }
        &self.peeked
    }

    /// Nothing in the browser, where a read cannot block (debug taps only).
    #[cfg(target_arch = "wasm32")]
    pub(crate) fn peek(&mut self, _buf: Buf, _n: usize) -> &[f32] {
        self.peeked.clear();
        &self.peeked
    }

    /// Records the read of `rows` logits rows (top-k on the device when
    /// asked), submits the step and starts mapping the result.
    pub(crate) fn read_begin(&mut self, rows: usize, what: ReadKind) -> Option<StepStats> {
        let nv = self.dims.n_vocab;
        let what = match what {
            ReadKind::TopK(k) => ReadKind::TopK(k.min(nv)),
            w => w,
        };
        if rows == 0 {
            self.reader.empty(what);
            return self.flush();
        }
        if let ReadKind::TopK(k) = what {
            let gpu = self.step.gpu.clone();
            self.reader.fit_top_k(&gpu, rows, k);
            let (x, r) = (&self.regs[Buf::Logits as usize], &self.reader);
            self.step
                .run(|enc| top_k(enc, x, nv, rows, k, &r.top_ids, &r.top_vals));
        }
        let (reader, logits) = (&mut self.reader, &self.regs[Buf::Logits as usize]);
        let r = self.step.submit(|enc| reader.copy(enc, logits, rows, what));
        match r {
            Ok((s, index)) => {
                self.reader.map(index);
                Some(s)
            }
            Err(e) => {
                self.step.fail(e);
                self.reader.empty(what);
                None
            }
        }
    }

    pub(crate) fn read_ready(&mut self) -> bool {
        let gpu = self.step.gpu.clone();
        self.reader.ready(&gpu)
    }

    pub(crate) fn read_wait(&mut self) -> Result<Readout<'_>, ModelError> {
        let gpu = self.step.gpu.clone();
        let r = self.reader.wait(&gpu);
        self.check()?;
        r.map_err(model_err)?;
        Ok(self.reader.readout())
    }
}
