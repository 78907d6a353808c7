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
//! The buffers are allocated zeroed and fallibly (`memory::zeroed_vec`): a
//! cache larger than memory is an error, never an abort, and its pages are
//! committed only as positions are written, so a large `n_ctx` costs
//! address space, not resident memory, until it is used.

use half::f16;
use kernels::attention::KvRef;

use crate::config::Config;
use crate::error::ModelError;
use crate::memory::{AllocFailure, Budget};

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

#[derive(Clone, Debug)]
enum Store {
    F32(Vec<f32>),
    F16(Vec<f16>),
    F16AsF32(Vec<f32>),
}

impl Store {
    /// `n` zeroed elements, none of them written yet.
    fn new(ty: CacheType, n: usize, budget: &Budget) -> Result<Store, ModelError> {
        Ok(match ty {
            CacheType::F32 => Store::F32(budget.zeroed(n)?),
            CacheType::F16 => Store::F16(budget.zeroed(n)?),
            CacheType::F16AsF32 => Store::F16AsF32(budget.zeroed(n)?),
        })
    }

    fn write(&mut self, at: usize, x: &[f32]) {
        match self {
            Store::F32(s) => s[at..at + x.len()].copy_from_slice(x),
            Store::F16(s) => {
                for (d, v) in s[at..at + x.len()].iter_mut().zip(x) {
                    *d = f16::from_f32(*v);
                }
            }
            Store::F16AsF32(s) => {
                for (d, v) in s[at..at + x.len()].iter_mut().zip(x) {
                    *d = f16::from_f32(*v).to_f32();
                }
            }
        }
    }

    /// Elements `r`.
    fn view(&self, r: std::ops::Range<usize>) -> KvRef<'_> {
        match self {
            Store::F32(s) => KvRef::F32(&s[r]),
            Store::F16(s) => KvRef::F16(&s[r]),
            Store::F16AsF32(s) => KvRef::F16AsF32(&s[r]),
        }
    }

    /// Copies elements `src` to `dst` (same length, not overlapping).
    fn copy_within(&mut self, src: std::ops::Range<usize>, dst: usize) {
        match self {
            Store::F32(s) | Store::F16AsF32(s) => s.copy_within(src, dst),
            Store::F16(s) => s.copy_within(src, dst),
        }
    }
}

#[derive(Clone, Debug)]
struct LayerCache {
    k: Store,
    v: Store,
    /// Rows of one slot.
    slot_rows: usize,
    /// A sliding-window layer kept as a ring: (window, ring positions R).
    /// Position p lives in rows p % R and p % R + R of its slot, so any R
    /// consecutive positions are consecutive rows.
    ring: Option<(usize, usize)>,
}

impl LayerCache {
    /// The row of slot `seq` holding position `p` (the first copy in a ring).
    fn row_of(&self, seq: usize, p: usize) -> usize {
        let base = seq * self.slot_rows;
        match self.ring {
            Some((_, r)) => base + p % r,
            None => base + p,
        }
    }
}

/// K/V storage for every layer of one or more sequences.
#[derive(Clone, Debug)]
pub struct KvCache {
    ty: CacheType,
    /// Positions per slot.
    n_ctx: usize,
    /// n_kv_head * head_dim
    row: usize,
    layers: Vec<LayerCache>,
    /// Positions held by each slot.
    used: Vec<usize>,
    /// Most tokens per forward call and per sequence (ring layers are sized
    /// for it; unbounded without rings).
    max_batch: usize,
}

impl KvCache {
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
        KvCache::build(cfg, n_seq, n_ctx, ty, None)
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
        KvCache::build(cfg, n_seq, n_ctx, ty, Some(max_batch.max(1)))
    }

    fn build(
        cfg: &Config,
        n_seq: usize,
        n_ctx: usize,
        ty: CacheType,
        max_batch: Option<usize>,
    ) -> Result<KvCache, ModelError> {
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
            .and_then(|p| KvCache::bytes_for(1, p, row, ty))
            .ok_or(AllocFailure::Overflow);
        let budget = Budget::new("the KV cache", n_ctx, total)?;
        let mut layers = Vec::new();
        layers
            .try_reserve_exact(cfg.n_layer)
            .map_err(|_| budget.error(AllocFailure::Refused))?;
        for (ring, slot_rows) in shapes {
            let n = n_seq * slot_rows * row; // part of `total`
            layers.push(LayerCache {
                k: Store::new(ty, n, &budget)?,
                v: Store::new(ty, n, &budget)?,
                slot_rows,
                ring,
            });
        }
        Ok(KvCache {
            ty,
            n_ctx,
            row,
            layers,
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
            let row = self.row;
            for l in &mut self.layers {
                // a ring copies its whole slot; a full layer the prefix
                let n = match l.ring {
                    Some(_) => l.slot_rows,
                    None => len,
                };
                let (from, to) = (src * l.slot_rows * row, dst * l.slot_rows * row);
                l.k.copy_within(from..from + n * row, to);
                l.v.copy_within(from..from + n * row, to);
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

    /// Bytes a cache of `n_layer` layers, `n_ctx` positions of `row`
    /// elements (K and V each) and type `ty` holds; `None` when that
    /// overflows the address space.
    pub fn bytes_for(n_layer: usize, n_ctx: usize, row: usize, ty: CacheType) -> Option<u64> {
        let per_store = n_ctx.checked_mul(row)?.checked_mul(ty.element_bytes())?;
        let total = per_store.checked_mul(n_layer)?.checked_mul(2)?;
        u64::try_from(total).ok()
    }

    /// Store keys and values of slot `seq` at consecutive positions
    /// `pos ..` (`set_len` records them once every layer has).
    ///
    /// k, v: [n_tok, n_kv_head * head_dim]; the caller checks the bounds.
    pub(crate) fn write(&mut self, layer: usize, seq: usize, pos: usize, k: &[f32], v: &[f32]) {
        let row = self.row;
        let l = &mut self.layers[layer];
        for (i, (kr, vr)) in k.chunks_exact(row).zip(v.chunks_exact(row)).enumerate() {
            let at = l.row_of(seq, pos + i);
            l.k.write(at * row, kr);
            l.v.write(at * row, vr);
            if let Some((_, r)) = l.ring {
                l.k.write((at + r) * row, kr);
                l.v.write((at + r) * row, vr);
            }
        }
    }

    /// Slot `seq` now holds `len` positions (after a forward pass wrote
    /// them: a rewind drops what followed).
    pub(crate) fn set_len(&mut self, seq: usize, len: usize) {
        self.used[seq] = len;
    }

    /// Slot `seq`'s K and V of layer `layer` for a call whose first query
    /// is at `pos0`, and the position of their first row (`kv_start` of
    /// the attention): all `n_ctx` positions from 0, or a ring's rows from
    /// the first key visible from `pos0`.
    pub(crate) fn layer(
        &self,
        layer: usize,
        seq: usize,
        pos0: usize,
    ) -> (KvRef<'_>, KvRef<'_>, usize) {
        let l = &self.layers[layer];
        let (start, rows) = match l.ring {
            Some((w, r)) => ((pos0 + 1).saturating_sub(w), r),
            None => (0, l.slot_rows),
        };
        let first = l.row_of(seq, start) * self.row;
        let range = first..first + rows * self.row;
        (l.k.view(range.clone()), l.v.view(range), start)
    }
}
