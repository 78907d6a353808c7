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
        let row = cfg.kv_dim();
        let positions = n_seq.max(1).checked_mul(n_ctx);
        let total = positions
            .and_then(|p| KvCache::bytes_for(cfg.n_layer, p, row, ty))
            .ok_or(AllocFailure::Overflow);
        let budget = Budget::new("the KV cache", n_ctx, total)?;
        let n = n_seq.max(1) * n_ctx * row; // checked by bytes_for
        let mut layers = Vec::new();
        layers
            .try_reserve_exact(cfg.n_layer)
            .map_err(|_| budget.error(AllocFailure::Refused))?;
        for _ in 0..cfg.n_layer {
            layers.push(LayerCache {
                k: Store::new(ty, n, &budget)?,
                v: Store::new(ty, n, &budget)?,
            });
        }
        Ok(KvCache {
            ty,
            n_ctx,
            row,
            layers,
            used: vec![0; n_seq.max(1)],
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

    /// Drops positions `len..` of slot `seq`.
    pub fn truncate(&mut self, seq: usize, len: usize) {
        if let Some(u) = self.used.get_mut(seq) {
            *u = (*u).min(len);
        }
    }

    /// Gives slot `dst` the first `len` positions of slot `src` (which
    /// must hold them), dropping what `dst` held: a shared prompt prefix
    /// is computed once.
    pub fn copy_prefix(&mut self, src: usize, dst: usize, len: usize) -> Result<(), ModelError> {
        let n_seq = self.n_seq();
        if src >= n_seq || dst >= n_seq || len > self.seq_len(src) {
            return Err(ModelError::BadBatch(format!(
                "cannot copy {len} positions from slot {src} to slot {dst} ({n_seq} slots, slot {src} holds {})",
                self.seq_len(src)
            )));
        }
        if src != dst {
            let slot = self.n_ctx * self.row;
            let (from, to) = (src * slot, dst * slot);
            for l in &mut self.layers {
                l.k.copy_within(from..from + len * self.row, to);
                l.v.copy_within(from..from + len * self.row, to);
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
        let positions = self.n_seq() * self.n_ctx;
        2 * (self.layers.len() * positions * self.row * self.ty.element_bytes()) as u64
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
        let at = (seq * self.n_ctx + pos) * self.row;
        let l = &mut self.layers[layer];
        l.k.write(at, k);
        l.v.write(at, v);
    }

    /// Slot `seq` now holds `len` positions (after a forward pass wrote
    /// them: a rewind drops what followed).
    pub(crate) fn set_len(&mut self, seq: usize, len: usize) {
        self.used[seq] = len;
    }

    /// Borrow slot `seq`'s K and V of layer `layer` (all `n_ctx` positions).
    pub(crate) fn layer(&self, layer: usize, seq: usize) -> (KvRef<'_>, KvRef<'_>) {
        let slot = self.n_ctx * self.row;
        let r = seq * slot..(seq + 1) * slot;
        let l = &self.layers[layer];
        (l.k.view(r.clone()), l.v.view(r))
    }
}
