//! Activation registers in host memory (the CPU and reference backends'),
//! and the top-k of logits rows.

use super::{Buf, Dims, ReadKind, Readout};
use crate::error::ModelError;
use crate::memory::Budget;

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
