//! Preallocated key/value cache with one slot per sequence.
//!
//! Per layer and slot, K and V are `[n_ctx, n_kv_head, head_dim]` row-major,
//! indexed by absolute position (`n_ctx` is each slot's capacity). Each slot
//! knows how many positions it holds: writing at position `p` keeps `0..p`
//! and drops the rest (a rewind), and a slot can be cleared, truncated or
//! given another slot's prefix (prompt-prefix sharing). Keys are stored after RoPE (and Gemma's key norm). GQA
//! shares each KV head between `n_head / n_kv_head` query heads: nothing is
//! repeated. Sliding-window layers currently keep every position too (the
//! window is applied as a mask), which costs memory but no copies.
//!
//! This type keeps the bookkeeping (slots, their lengths, the rows each
//! position lives in); the storage is the backend's (`Backend::Kv`), written
//! and read by its ops. The CPU backend's buffers are allocated zeroed and
//! fallibly (`memory::zeroed_vec`): a cache larger than memory is an error,
//! never an abort, and its pages are committed only as positions are
//! written, so a large `n_ctx` costs address space, not resident memory,
//! until it is used.

use crate::backend::cpu::{CpuBackend, CpuKv};
use crate::backend::{Backend, KvPlace, KvStore, KvWindow};
use crate::config::Config;
use crate::error::ModelError;
use crate::memory::{AllocFailure, Budget};
use crate::model::Model;

/// Element type of the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheType {
    F32,
    F16,
    /// The values of `F16` (rounded to f16 on the way in) kept as f32
    /// words: the same results as `F16` for twice its memory, and no f16
    /// widening in attention (which targets without an f16 conversion
    /// instruction, wasm, do in software).
    F16AsF32,
}

impl CacheType {
    /// Bytes per stored element.
    pub fn element_bytes(self) -> usize {
        match self {
            CacheType::F32 | CacheType::F16AsF32 => 4,
            CacheType::F16 => 2,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct LayerShape {
    /// Rows of one slot.
    slot_rows: usize,
    /// A sliding-window layer kept as a ring: (window, ring positions R).
    /// Position p lives in rows p % R and p % R + R of its slot, so any R
    /// consecutive positions are consecutive rows.
    ring: Option<(usize, usize)>,
}

impl LayerShape {
    /// Where slot `seq`'s positions live.
    fn place(&self, seq: usize) -> KvPlace {
        KvPlace {
            base: seq * self.slot_rows,
            ring: self.ring.map(|(_, r)| r),
        }
    }
}

/// K/V storage for every layer of one or more sequences, in backend `B`.
#[derive(Debug)]
pub struct KvCache<B: Backend = CpuBackend> {
    ty: CacheType,
    /// Positions per slot.
    n_ctx: usize,
    /// n_kv_head * head_dim
    row: usize,
    layers: Vec<LayerShape>,
    store: B::Kv,
    /// Positions held by each slot.
    used: Vec<usize>,
    /// Most tokens per forward call and per sequence (ring layers are sized
    /// for it; unbounded without rings).
    max_batch: usize,
}

impl KvCache<CpuBackend> {
    /// Allocate a cache of one slot for `n_ctx` positions. Fails with
    /// [`ModelError::OutOfMemory`] (and the bytes asked for) when its size
    /// overflows, exceeds the memory ceiling ([`memory_limit`]) or is
    /// refused by the allocator.
    ///
    /// [`memory_limit`]: crate::memory_limit
    pub fn new(cfg: &Config, n_ctx: usize, ty: CacheType) -> Result<KvCache, ModelError> {
        KvCache::with_slots(cfg, 1, n_ctx, ty)
    }

    /// Allocate `n_seq` slots (sequences 0..n_seq) of `n_ctx` positions
    /// each, as [`KvCache::new`] (pages are committed as written).
    pub fn with_slots(
        cfg: &Config,
        n_seq: usize,
        n_ctx: usize,
        ty: CacheType,
    ) -> Result<KvCache, ModelError> {
        KvCache::build(cfg, n_seq, n_ctx, ty, None, CpuKv::new)
    }

    /// As [`KvCache::with_slots`], for forward calls of at most
    /// `max_batch` tokens per sequence: sliding-window layers then keep
    /// only their window and one batch (`window + max_batch` positions, as
    /// a ring) instead of `n_ctx` positions. A sequence can then be rewound
    /// by at most `max_batch` positions (`truncate` says what it kept).
    pub fn with_rings(
        cfg: &Config,
        n_seq: usize,
        n_ctx: usize,
        ty: CacheType,
        max_batch: usize,
    ) -> Result<KvCache, ModelError> {
        KvCache::build(cfg, n_seq, n_ctx, ty, Some(max_batch.max(1)), CpuKv::new)
    }

    /// Bytes a cache of `n_layer` layers, `n_ctx` positions of `row`
    /// elements (K and V each) and type `ty` holds; `None` when that
    /// overflows the address space.
    pub fn bytes_for(n_layer: usize, n_ctx: usize, row: usize, ty: CacheType) -> Option<u64> {
        let per_store = n_ctx.checked_mul(row)?.checked_mul(ty.element_bytes())?;
        let total = per_store.checked_mul(n_layer)?.checked_mul(2)?;
        u64::try_from(total).ok()
    }
}

impl<B: Backend> KvCache<B> {
    /// [`KvCache::with_rings`] (`max_batch: Some`) or
    /// [`KvCache::with_slots`] (`None`) in `model`'s backend.
    pub fn for_model(
        model: &Model<B>,
        n_seq: usize,
        n_ctx: usize,
        ty: CacheType,
        max_batch: Option<usize>,
    ) -> Result<KvCache<B>, ModelError> {
        let b = model.backend();
        let max_batch = max_batch.map(|m| m.max(1));
        KvCache::build(
            model.config(),
            n_seq,
            n_ctx,
            ty,
            max_batch,
            |ty, row, rows| b.kv(ty, row, rows),
        )
    }

    fn build(
        cfg: &Config,
        n_seq: usize,
        n_ctx: usize,
        ty: CacheType,
        max_batch: Option<usize>,
        alloc: impl FnOnce(CacheType, usize, &[usize]) -> Result<B::Kv, AllocFailure>,
    ) -> Result<KvCache<B>, ModelError> {
        let row = cfg.kv_dim();
        let n_seq = n_seq.max(1);
        // per layer: its ring, and the rows of one slot (a ring stores R twice)
        let shapes: Vec<(Option<(usize, usize)>, usize)> = (0..cfg.n_layer)
            .map(|il| {
                let ring = max_batch.and_then(|b| {
                    let w = cfg.layer_window(il)?;
                    let r = w.checked_add(b)?;
                    (r.checked_mul(2)? < n_ctx).then_some((w, r))
                });
                (ring, ring.map_or(n_ctx, |(_, r)| 2 * r))
            })
            .collect();
        let positions = shapes
            .iter()
            .try_fold(0usize, |acc, &(_, rows)| acc.checked_add(rows))
            .and_then(|p| p.checked_mul(n_seq));
        let total = positions
            .and_then(|p| KvCache::<CpuBackend>::bytes_for(1, p, row, ty))
            .ok_or(AllocFailure::Overflow);
        let budget = Budget::new("the KV cache", n_ctx, total)?;
        let mut layers = Vec::new();
        layers
            .try_reserve_exact(cfg.n_layer)
            .map_err(|_| budget.error(AllocFailure::Refused))?;
        let mut rows = Vec::new();
        rows.try_reserve_exact(cfg.n_layer)
            .map_err(|_| budget.error(AllocFailure::Refused))?;
        for (ring, slot_rows) in shapes {
            layers.push(LayerShape { slot_rows, ring });
            rows.push(n_seq * slot_rows); // part of `total`
        }
        let store = alloc(ty, row, &rows).map_err(|why| budget.error(why))?;
        Ok(KvCache {
            ty,
            n_ctx,
            row,
            layers,
            store,
            used: vec![0; n_seq],
            max_batch: max_batch.unwrap_or(usize::MAX),
        })
    }

    /// Number of slots.
    pub fn n_seq(&self) -> usize {
        self.used.len()
    }

    /// Positions slot `seq` holds (0 for a slot that does not exist).
    pub fn seq_len(&self, seq: usize) -> usize {
        self.used.get(seq).copied().unwrap_or(0)
    }

    /// Empties slot `seq`.
    pub fn clear(&mut self, seq: usize) {
        self.truncate(seq, 0);
    }

    /// Drops positions `len..` of slot `seq` and returns the positions it
    /// keeps: `len` (or fewer if it held fewer), or 0 when its ring layers
    /// no longer hold the window before `len` (a rewind of more than
    /// `max_batch` positions).
    pub fn truncate(&mut self, seq: usize, len: usize) -> usize {
        let ok = self.can_rewind(seq, len);
        let Some(u) = self.used.get_mut(seq) else {
            return 0;
        };
        *u = if ok { (*u).min(len) } else { 0 };
        *u
    }

    /// Whether slot `seq` can continue at position `pos`: from the start,
    /// or at most at its length and, with ring layers, no more than
    /// `max_batch` back.
    pub fn can_rewind(&self, seq: usize, pos: usize) -> bool {
        let used = self.seq_len(seq);
        pos == 0 || pos <= used && (!self.has_rings() || used - pos <= self.max_batch)
    }

    /// Whether some layers are rings.
    pub fn has_rings(&self) -> bool {
        self.layers.iter().any(|l| l.ring.is_some())
    }

    /// Most tokens a forward call may bring to one sequence.
    pub fn max_batch(&self) -> usize {
        self.max_batch
    }

    /// Gives slot `dst` the first `len` positions of slot `src` (which
    /// must hold them), dropping what `dst` held: a shared prompt prefix
    /// is computed once.
    pub fn copy_prefix(&mut self, src: usize, dst: usize, len: usize) -> Result<(), ModelError> {
        let n_seq = self.n_seq();
        if src >= n_seq || dst >= n_seq || !self.can_rewind(src, len) {
            return Err(ModelError::BadBatch(format!(
                "cannot copy {len} positions from slot {src} to slot {dst} ({n_seq} slots, slot {src} holds {})",
                self.seq_len(src)
            )));
        }
        if src != dst {
            for (il, l) in self.layers.iter().enumerate() {
                // a ring copies its whole slot; a full layer the prefix
                let n = match l.ring {
                    Some(_) => l.slot_rows,
                    None => len,
                };
                let (from, to) = (src * l.slot_rows, dst * l.slot_rows);
                self.store.copy_rows(il, from..from + n, to);
            }
        }
        self.used[dst] = len;
        Ok(())
    }

    pub fn n_ctx(&self) -> usize {
        self.n_ctx
    }

    pub fn cache_type(&self) -> CacheType {
        self.ty
    }

    pub fn n_layer(&self) -> usize {
        self.layers.len()
    }

    /// Width of one position: n_kv_head * head_dim.
    pub fn row_len(&self) -> usize {
        self.row
    }

    /// Bytes held by the cache (reserved; pages are committed as written).
    pub fn n_bytes(&self) -> u64 {
        let rows: usize = self.layers.iter().map(|l| l.slot_rows).sum();
        2 * (self.n_seq() * rows * self.row * self.ty.element_bytes()) as u64
    }

    /// Where slot `seq` keeps its positions in layer `layer`.
    pub(crate) fn place(&self, layer: usize, seq: usize) -> KvPlace {
        self.layers[layer].place(seq)
    }

    /// The storage (for the backend's ops).
    pub(crate) fn store(&self) -> &B::Kv {
        &self.store
    }

    /// The storage, mutably.
    pub(crate) fn store_mut(&mut self) -> &mut B::Kv {
        &mut self.store
    }

    /// Slot `seq` now holds `len` positions (after a forward pass wrote
    /// them: a rewind drops what followed).
    pub(crate) fn set_len(&mut self, seq: usize, len: usize) {
        self.used[seq] = len;
    }

    /// The rows of slot `seq` in layer `layer` that a call whose first
    /// query is at `pos0` attends to, and the position of their first row
    /// (`kv_start` of the attention): all `n_ctx` positions from 0, or a
    /// ring's rows from the first key visible from `pos0`.
    pub(crate) fn window(&self, layer: usize, seq: usize, pos0: usize) -> KvWindow {
        let l = &self.layers[layer];
        let (start, rows) = match l.ring {
            Some((w, r)) => ((pos0 + 1).saturating_sub(w), r),
            None => (0, l.slot_rows),
        };
        KvWindow {
            first: l.place(seq).row(start),
            rows,
            kv_start: start,
        }
    }
}
