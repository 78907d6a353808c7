//! Activation registers in host memory (the CPU and reference backends'),
//! the element-wise ops both run on them (the single-threaded kernels of
//! `kernels::reference`, which are the CPU tables' too), and the top-k of
//! logits rows.

use gguf::GgmlType;
use kernels::reference as rk;
use kernels::types::RopeParams;

use super::{Buf, Dims, ReadKind, Readout, Rows};
use crate::batch::Span;
use crate::error::ModelError;
use crate::memory::Budget;

/// The `Backend` methods of the f32 ops on host registers, for a backend
/// whose activations (`$acts`) hold `bufs: HostBufs` and `rope: Vec<f32>`
/// (the RoPE cos/sin scratch): the CPU and reference backends run the same
/// single-threaded ops.
macro_rules! host_f32_ops {
    ($acts:ty) => {
        fn rmsnorm(&self, a: &mut $acts, src: Buf, dst: Buf, w: &Vec<f32>, eps: f32, n: usize) {
            a.bufs.rmsnorm(src, dst, w, eps, n);
        }

        fn rmsnorm_rows(
            &self,
            a: &mut $acts,
            src: Buf,
            dst: Buf,
            w: &Vec<f32>,
            eps: f32,
            rows: &Rows,
        ) {
            a.bufs.rmsnorm_rows(src, dst, w, eps, rows);
        }

        fn head_norm(&self, a: &mut $acts, buf: Buf, w: &Vec<f32>, eps: f32, n: usize) {
            a.bufs.rmsnorm(buf, buf, w, eps, n);
        }

        fn rope(
            &self,
            a: &mut $acts,
            rp: &RopeParams,
            ff: Option<&Vec<f32>>,
            head_dim: usize,
            spans: &[Span],
        ) {
            let ff = ff.map(|f| f.as_slice());
            a.bufs.rope(rp, ff, head_dim, spans, &mut a.rope);
        }

        fn add_bias(&self, a: &mut $acts, buf: Buf, b: &Vec<f32>, n: usize) {
            a.bufs.add_bias(buf, b, n);
        }

        fn add(&self, a: &mut $acts, dst: Buf, src: Buf, n: usize) {
            a.bufs.add(dst, src, n);
        }

        fn scale(&self, a: &mut $acts, buf: Buf, s: f32, n: usize) {
            a.bufs.scale(buf, s, n);
        }

        fn softcap(&self, a: &mut $acts, buf: Buf, cap: f32, n: usize) {
            a.bufs.softcap(buf, cap, n);
        }

        fn peek<'a>(&self, a: &'a mut $acts, buf: Buf, n: usize) -> &'a [f32] {
            a.bufs.get(buf, n)
        }
    };
}
pub(crate) use host_f32_ops;

/// One zeroed f32 vector per register, `[Buf::rows, Buf::width]` each.
#[derive(Debug)]
pub(crate) struct HostBufs {
    bufs: [Vec<f32>; Buf::ALL.len()],
    pub(crate) dims: Dims,
}

impl HostBufs {
    /// Elements of every register for `d` (`None`: overflow).
    pub(crate) fn lens(d: &Dims) -> impl Iterator<Item = Option<usize>> + '_ {
        Buf::ALL
            .into_iter()
            .map(|b| b.rows(d).checked_mul(b.width(d)))
    }

    /// Allocates every register within `budget` (which counted `lens`).
    pub(crate) fn new(d: &Dims, budget: &Budget) -> Result<HostBufs, ModelError> {
        let mut bufs: [Vec<f32>; Buf::ALL.len()] = Default::default();
        for (slot, b) in bufs.iter_mut().zip(Buf::ALL) {
            *slot = budget.zeroed(b.rows(d) * b.width(d))?;
        }
        Ok(HostBufs { bufs, dims: *d })
    }

    /// The first `n` rows of `b`.
    #[inline]
    pub(crate) fn get(&self, b: Buf, n: usize) -> &[f32] {
        &self.bufs[b as usize][..n * b.width(&self.dims)]
    }

    /// The first `n` rows of `b`, mutably.
    #[inline]
    pub(crate) fn get_mut(&mut self, b: Buf, n: usize) -> &mut [f32] {
        let w = b.width(&self.dims);
        &mut self.bufs[b as usize][..n * w]
    }

    /// The whole of `src` and of `dst` (distinct registers).
    #[inline]
    pub(crate) fn pair(&mut self, src: Buf, dst: Buf) -> (&[f32], &mut [f32]) {
        let (i, j) = (src as usize, dst as usize);
        assert_ne!(i, j, "pair: {src:?} twice");
        if i < j {
            let (lo, hi) = self.bufs.split_at_mut(j);
            (&lo[i], &mut hi[0])
        } else {
            let (lo, hi) = self.bufs.split_at_mut(i);
            (&hi[0], &mut lo[j])
        }
    }

    /// Takes `b`'s storage out (to lend it, e.g. to a reader thread).
    pub(crate) fn take(&mut self, b: Buf) -> Vec<f32> {
        std::mem::take(&mut self.bufs[b as usize])
    }

    /// Puts storage taken by `take` back.
    pub(crate) fn put(&mut self, b: Buf, v: Vec<f32>) {
        self.bufs[b as usize] = v;
    }
}

/// The ops on registers that are the same on every host backend.
impl HostBufs {
    /// X[t] = table[tokens[t]] (* scale); table: [n_rows, cols] of `ty`.
    pub(crate) fn embed(
        &mut self,
        name: &str,
        ty: GgmlType,
        table: &[u8],
        tokens: &[u32],
        scale: Option<f32>,
    ) -> Result<(), ModelError> {
        let e = Buf::X.width(&self.dims);
        let x = self.get_mut(Buf::X, tokens.len());
        for (xt, &tok) in x.chunks_exact_mut(e).zip(tokens) {
            rk::get_rows(ty, table, tok as usize, xt).map_err(|source| ModelError::Kernel {
                name: name.to_string(),
                source,
            })?;
            if let Some(sc) = scale {
                rk::scale(xt, sc);
            }
        }
        Ok(())
    }

    /// dst = rmsnorm(src) * w over `n` rows (in place when `src == dst`;
    /// `w` shorter than a row: per part of its length, e.g. per head).
    pub(crate) fn rmsnorm(&mut self, src: Buf, dst: Buf, w: &[f32], eps: f32, n: usize) {
        if src == dst {
            rk::rmsnorm(self.get_mut(dst, n), w, eps);
        } else {
            let len = n * src.width(&self.dims);
            let (x, y) = self.pair(src, dst);
            rk::rmsnorm_into(&x[..len], w, eps, &mut y[..len]);
        }
    }

    /// dst[j] = rmsnorm(src[r]) * w for the j-th row r of `rows`.
    pub(crate) fn rmsnorm_rows(&mut self, src: Buf, dst: Buf, w: &[f32], eps: f32, rows: &Rows) {
        let e = src.width(&self.dims);
        let (x, y) = self.pair(src, dst);
        rows.each(|j, r| {
            rk::rmsnorm_into(&x[r * e..(r + 1) * e], w, eps, &mut y[j * e..(j + 1) * e])
        });
    }

    /// RoPE of Q and K rows at their spans' positions; `cache: [head_dim]`.
    pub(crate) fn rope(
        &mut self,
        rp: &RopeParams,
        ff: Option<&[f32]>,
        head_dim: usize,
        spans: &[Span],
        cache: &mut [f32],
    ) {
        let (qd, kd) = (Buf::Q.width(&self.dims), Buf::K.width(&self.dims));
        for sp in spans {
            for (i, t) in sp.rows().enumerate() {
                rk::rope_cache(rp, sp.pos + i, ff, cache);
                let q = &mut self.get_mut(Buf::Q, t + 1)[t * qd..];
                rk::rope_apply(rp.mode, rp.n_dims, cache, head_dim, q);
                let k = &mut self.get_mut(Buf::K, t + 1)[t * kd..];
                rk::rope_apply(rp.mode, rp.n_dims, cache, head_dim, k);
            }
        }
    }

    /// buf[t] += b for `n` rows.
    pub(crate) fn add_bias(&mut self, buf: Buf, b: &[f32], n: usize) {
        for row in self.get_mut(buf, n).chunks_exact_mut(b.len()) {
            rk::add(row, b);
        }
    }

    /// dst += src over `n` rows.
    pub(crate) fn add(&mut self, dst: Buf, src: Buf, n: usize) {
        let len = n * dst.width(&self.dims);
        let (y, x) = self.pair(src, dst);
        rk::add(&mut x[..len], &y[..len]);
    }

    /// buf *= s over `n` rows.
    pub(crate) fn scale(&mut self, buf: Buf, s: f32, n: usize) {
        rk::scale(self.get_mut(buf, n), s);
    }

    /// buf = tanh(buf / cap) * cap over `n` rows.
    pub(crate) fn softcap(&mut self, buf: Buf, cap: f32, n: usize) {
        for l in self.get_mut(buf, n) {
            *l = (*l * (1.0 / cap)).tanh() * cap;
        }
    }
}

/// The `k` largest values of each row of `logits: [rows, n_vocab]`, largest
/// first (the lower id first on ties; NaN never taken before a number), into
/// `ids`/`vals: [rows, k]`. `k = 1` is the first argmax, as the sampler's.
pub fn top_k(logits: &[f32], n_vocab: usize, k: usize, ids: &mut [u32], vals: &mut [f32]) {
    if k == 0 || n_vocab == 0 {
        return;
    }
    let better = |v: f32, i: usize, bv: f32, bi: usize| v > bv || (v == bv && i < bi);
    for (r, row) in logits.chunks_exact(n_vocab).enumerate() {
        let (ri, rv) = (&mut ids[r * k..(r + 1) * k], &mut vals[r * k..(r + 1) * k]);
        let mut len = 0;
        for (i, &v) in row.iter().enumerate() {
            if v.is_nan() {
                continue;
            }
            if len == k && !better(v, i, rv[k - 1], ri[k - 1] as usize) {
                continue;
            }
            // insertion into the sorted prefix
            let mut at = len.min(k - 1);
            while at > 0 && better(v, i, rv[at - 1], ri[at - 1] as usize) {
                rv[at] = rv[at - 1];
                ri[at] = ri[at - 1];
                at -= 1;
            }
            rv[at] = v;
            ri[at] = i as u32;
            len = (len + 1).min(k);
        }
        // fewer than k numbers: pad with the first ids not taken, as -inf
        for j in len..k {
            ri[j] = 0;
            rv[j] = f32::NEG_INFINITY;
        }
    }
}

/// A read of `rows` logits rows done on the host: for `TopK(k)`, fills
/// `ids`/`vals` (grown to `[rows, k]` when too small: the first read of a
/// larger k allocates).
pub(crate) fn host_read(
    logits: &[f32],
    n_vocab: usize,
    rows: usize,
    kind: ReadKind,
    ids: &mut Vec<u32>,
    vals: &mut Vec<f32>,
) {
    if let ReadKind::TopK(k) = kind {
        let k = k.min(n_vocab);
        if ids.len() < rows * k {
            ids.resize(rows * k, 0);
            vals.resize(rows * k, 0.0);
        }
        top_k(&logits[..rows * n_vocab], n_vocab, k, ids, vals);
    }
}

/// The result of `host_read`.
pub(crate) fn host_readout<'a>(
    logits: &'a [f32],
    n_vocab: usize,
    rows: usize,
    kind: ReadKind,
    ids: &'a [u32],
    vals: &'a [f32],
) -> Readout<'a> {
    match kind {
        ReadKind::Logits => Readout::Logits(&logits[..rows * n_vocab]),
        ReadKind::TopK(k) => {
            let k = k.min(n_vocab);
            Readout::TopK {
                k,
                ids: &ids[..rows * k],
                logits: &vals[..rows * k],
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_orders_and_breaks_ties_by_id() {
        let logits = [1.0, 3.0, 3.0, -1.0, 2.0, f32::NAN, 0.5, 3.0];
        let (mut ids, mut vals) = ([0u32; 8], [0f32; 8]);
        top_k(&logits, 4, 2, &mut ids[..4], &mut vals[..4]);
        assert_eq!(ids[..4], [1, 2, 3, 0]);
        assert_eq!(vals[..4], [3.0, 3.0, 3.0, 2.0]);
        top_k(&logits, 8, 1, &mut ids[..1], &mut vals[..1]);
        assert_eq!((ids[0], vals[0]), (1, 3.0));
    }
}
