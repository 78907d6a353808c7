//! Scaled dot-product attention over a KV cache.
//!
//! Causal, optionally sliding-window, GQA-aware: query head `h` reads KV head
//! `h / (n_head / n_kv_head)`; K/V are never repeated. Two backends compute
//! the same function:
//! - `standard`: per query head, one row of scores over every visible key,
//!   a softmax, then the weighted sum of values (the reference; with an f16
//!   cache it rounds the query and the weights to f16 as ggml's mul_mat does;
//!   `attention_with` runs its f16-cache dots and value sums on the ISA's
//!   SIMD loops, the decode hot path);
//! - `flash`: tiles of `flash::BC` keys streamed once per group of query heads
//!   (and tile of query rows), online softmax, SIMD inner loops; O(Bc +
//!   head_dim) scratch per thread whatever the context length.
//!
//! [`AttentionBackend::Auto`] picks by the attended length.

mod flash;
#[cfg(test)]
mod flash_tests;
mod simd;
mod standard;
#[cfg(test)]
mod tests;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm_simd128;
#[cfg(target_arch = "x86_64")]
mod x86_avx2;
#[cfg(target_arch = "x86_64")]
mod x86_avx512;

use half::f16;

use crate::arch::Isa;
use crate::pool::ThreadPool;

pub use standard::attention;

/// A borrowed per-layer K or V cache: [n_ctx, n_kv_head, head_dim] row-major.
#[derive(Clone, Copy, Debug)]
pub enum KvRef<'a> {
    F32(&'a [f32]),
    F16(&'a [f16]),
    /// f16 values held as f32 (each exactly an f16): attended exactly as
    /// `F16` (same results), without widening f16 loads, for targets with
    /// no f16 conversion instruction (wasm).
    F16AsF32(&'a [f32]),
}

impl KvRef<'_> {
    fn len(&self) -> usize {
        match self {
            KvRef::F32(s) | KvRef::F16AsF32(s) => s.len(),
            KvRef::F16(s) => s.len(),
        }
    }
}

/// Head geometry and masking of one attention call.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AttnParams {
    pub n_head: usize,
    pub n_kv_head: usize,
    pub head_dim: usize,
    /// Multiplies q·k before the softmax.
    pub scale: f32,
    /// Sliding window: a query at position p sees keys at p - window + 1 ..= p.
    pub window: Option<usize>,
    /// Position of the first K/V row given: 0 for a cache indexed from
    /// position 0; a ring buffer passes the row of the first key the call
    /// needs (at most `first_key(pos0)`). Results do not depend on it.
    pub kv_start: usize,
}

impl AttnParams {
    /// First key position visible from a query at `pos`.
    fn first_key(&self, pos: usize) -> usize {
        self.window.map_or(0, |w| (pos + 1).saturating_sub(w))
    }
}

/// Error for inconsistent attention arguments.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttnError {
    #[error("attention: n_head {n_head} is not a multiple of n_kv_head {n_kv_head}")]
    HeadRatio { n_head: usize, n_kv_head: usize },
    #[error("attention: the K/V rows start at position {kv_start}, after the first visible key {first_key}")]
    KvStart { kv_start: usize, first_key: usize },
    #[error("attention: {what} has {got} elements, need at least {need}")]
    BufferTooSmall {
        what: &'static str,
        got: usize,
        need: usize,
    },
}

/// Which attention kernel a model runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AttentionBackend {
    /// Scores row + softmax + weighted sum per query head (the reference).
    Standard,
    /// Tiled online-softmax attention.
    Flash,
    /// `Standard` for prompt chunks where it runs head-group SIMD loops,
    /// else `Flash` when a call attends to at least
    /// [`AttentionBackend::AUTO_FLASH_MIN_LEN`] keys, else `Standard`
    /// ([`AttentionBackend::resolve`]).
    #[default]
    Auto,
}

impl AttentionBackend {
    /// Attended length (`pos0 + n_tok`) from which `Auto` uses `Flash`; see
    /// bench/results/attention.md for the measurement behind it.
    pub const AUTO_FLASH_MIN_LEN: usize = 256;

    /// Every backend.
    pub const ALL: [AttentionBackend; 3] = [Self::Standard, Self::Flash, Self::Auto];

    /// `standard`, `flash` or `auto`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::Flash => "flash",
            Self::Auto => "auto",
        }
    }

    /// Parses a name (case-insensitive); `on`/`off` (llama.cpp's `-fa`) mean
    /// flash/standard.
    pub fn parse(s: &str) -> Option<AttentionBackend> {
        match s.trim().to_ascii_lowercase().as_str() {
            "on" => Some(Self::Flash),
            "off" => Some(Self::Standard),
            s => Self::ALL.into_iter().find(|b| b.name() == s),
        }
    }

    /// The concrete backend (never `Auto`) for a call of `n_tok` query rows
    /// attending to `n_kv` key positions (`pos0 + n_tok`). `grouped`: the
    /// standard backend runs this call on head-group SIMD loops (f16
    /// cache, a table with them; [`grouped_loops`]). Those read each K/V
    /// row once for a group of query heads, as flash does, without the
    /// tiles' rescaling: ~30 % faster than flash for prompt chunks at every
    /// length measured, no faster in decode (where flash's larger head
    /// groups read the cache fewer times), bench/results/attention_2026-12-07.md.
    pub fn resolve(self, n_kv: usize, n_tok: usize, grouped: bool) -> AttentionBackend {
        match self {
            Self::Auto if grouped && n_tok > 1 => Self::Standard,
            Self::Auto if n_kv >= Self::AUTO_FLASH_MIN_LEN => Self::Flash,
            Self::Auto => Self::Standard,
            b => b,
        }
    }
}

impl std::fmt::Display for AttentionBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Scratch elements the standard backend needs per thread for
/// `n_ctx_used = pos0 + n_tok` (also enough for every other backend): a
/// row of scores and a rounded query for each head of a group.
pub fn work_per_thread(n_ctx_used: usize, head_dim: usize) -> usize {
    standard::GROUP * (n_ctx_used + head_dim)
}

/// Scratch elements the flash backend needs per thread: an f16-rounded
/// query head (its score tile and softmax state live on the stack).
pub fn flash_work_per_thread(head_dim: usize) -> usize {
    head_dim
}

/// Flash attention: the same inputs, outputs and contract as [`attention`]
/// (positions `pos0 .. pos0 + n_tok`, q: [n_tok, n_head, head_dim] ->
/// out: [n_tok, n_head, head_dim]), with `flash_work_per_thread(head_dim)`
/// elements of `work` per thread. `isa` selects the SIMD inner loops (the
/// scalar ones when it has none or this CPU cannot run them). Each output
/// depends only on its own query row and position, never on the thread
/// count or on the other rows of the call.
#[allow(clippy::too_many_arguments)]
pub fn flash_attention(
    pool: &ThreadPool,
    isa: Isa,
    p: &AttnParams,
    q: &[f32],
    pos0: usize,
    n_tok: usize,
    k: KvRef,
    v: KvRef,
    work: &mut [f32],
    out: &mut [f32],
) -> Result<(), AttnError> {
    check(
        p,
        q,
        pos0,
        n_tok,
        k,
        v,
        work,
        flash_work_per_thread(p.head_dim),
        out,
    )?;
    if p.head_dim == 0 || p.n_head == 0 {
        return Ok(());
    }
    let out = &mut out[..n_tok * p.n_head * p.head_dim];
    flash::run(pool, simd::ops_for(isa), p, q, pos0, n_tok, k, v, work, out);
    Ok(())
}

/// The instruction set flash attention's inner loops use for a kernel
/// table of `isa` (`Scalar` when there are no SIMD loops for it or this CPU
/// cannot run them).
pub fn flash_isa(isa: Isa) -> Isa {
    simd::ops_for(isa).isa
}

/// Whether the standard backend attends over `k` on head-group SIMD loops
/// with the table of `isa` (an f16 cache and a table that has them).
pub fn grouped_loops(isa: Isa, k: &KvRef) -> bool {
    matches!(k, KvRef::F16(_)) && simd::ops_for(isa).dots_heads.is_some()
}

/// Attention by `backend` (`Auto` resolved for `pos0 + n_tok` keys); returns
/// the backend that ran. `work` must hold what that backend needs per
/// thread (`work_per_thread(pos0 + n_tok, head_dim)` covers both).
#[allow(clippy::too_many_arguments)]
pub fn attention_with(
    backend: AttentionBackend,
    isa: Isa,
    pool: &ThreadPool,
    p: &AttnParams,
    q: &[f32],
    pos0: usize,
    n_tok: usize,
    k: KvRef,
    v: KvRef,
    work: &mut [f32],
    out: &mut [f32],
) -> Result<AttentionBackend, AttnError> {
    let used = backend.resolve(pos0 + n_tok, n_tok, grouped_loops(isa, &k));
    match used {
        AttentionBackend::Flash => flash_attention(pool, isa, p, q, pos0, n_tok, k, v, work, out)?,
        _ => standard::run(pool, simd::ops_for(isa), p, q, pos0, n_tok, k, v, work, out)?,
    }
    Ok(used)
}

/// Validates head ratio and buffer sizes (`per_thread`: the backend's
/// scratch for one thread).
#[allow(clippy::too_many_arguments)]
fn check(
    p: &AttnParams,
    q: &[f32],
    pos0: usize,
    n_tok: usize,
    k: KvRef,
    v: KvRef,
    work: &[f32],
    per_thread: usize,
    out: &[f32],
) -> Result<(), AttnError> {
    if p.n_kv_head == 0 || !p.n_head.is_multiple_of(p.n_kv_head) {
        return Err(AttnError::HeadRatio {
            n_head: p.n_head,
            n_kv_head: p.n_kv_head,
        });
    }
    let hd = p.head_dim;
    if p.kv_start > p.first_key(pos0) {
        return Err(AttnError::KvStart {
            kv_start: p.kv_start,
            first_key: p.first_key(pos0),
        });
    }
    let n_ctx_used = pos0 + n_tok - p.kv_start;
    let kv_row = p.n_kv_head * hd;
    let checks = [
        ("q", q.len(), n_tok * p.n_head * hd),
        ("out", out.len(), n_tok * p.n_head * hd),
        ("k cache", k.len(), n_ctx_used * kv_row),
        ("v cache", v.len(), n_ctx_used * kv_row),
        ("work", work.len(), per_thread),
    ];
    for (what, got, need) in checks {
        if got < need {
            return Err(AttnError::BufferTooSmall { what, got, need });
        }
    }
    Ok(())
}
