//! Attention over a KV cache on the device (`shaders/attention.wgsl`,
//! flash style with an online softmax) and the KV write that fills the
//! cache (`shaders/kv.wgsl`).

use super::{kernel_id, need, u32_of};
use crate::error::GpuError;
use crate::kernel::{Encoder, KernelId};

const ATTENTION: KernelId = kernel_id!("attention", "attention");
const KV_WRITE: KernelId = kernel_id!("kv", "kv_write");

/// How a cache stores its values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvType {
    F32,
    /// f16 pairs in u32 words (no `shader-f16` needed).
    F16,
}

impl KvType {
    /// Bytes of `n` values.
    pub fn bytes(self, n: usize) -> u64 {
        match self {
            KvType::F32 => 4 * n as u64,
            KvType::F16 => 2 * n as u64,
        }
    }
}

/// The shape of one attention call (`kernels::attention::AttnParams`'s
/// fields, plus the cache's type).
#[derive(Clone, Copy, Debug)]
pub struct Attn {
    pub n_head: usize,
    pub n_kv_head: usize,
    pub head_dim: usize,
    pub scale: f32,
    pub window: Option<usize>,
    /// Position of cache row 0.
    pub kv_start: usize,
    pub kv: KvType,
}

/// Causal attention of `n_tok` queries at positions pos0.. over the cache.
///
/// q: [n_tok, n_head, head_dim], k, v: [rows, n_kv_head, head_dim] of
/// `a.kv` -> out: [n_tok, n_head, head_dim]
#[allow(clippy::too_many_arguments)]
pub fn attention(
    enc: &mut Encoder,
    a: &Attn,
    q: &wgpu::Buffer,
    pos0: usize,
    n_tok: usize,
    k: &wgpu::Buffer,
    v: &wgpu::Buffer,
    out: &wgpu::Buffer,
) -> Result<(), GpuError> {
    let rows = Rows { q: 0, kv: 0 };
    attention_at(enc, a, q, pos0, n_tok, k, v, out, rows)
}

/// Where an [`attention_at`] call's rows start: queries (and outputs) at
/// token row `q`, the cache row of position `kv_start` at row `kv`.
#[derive(Clone, Copy, Debug)]
pub struct Rows {
    pub q: usize,
    pub kv: usize,
}

/// [`attention`] over rows `at.q ..` of q and out, and a cache whose row
/// `at.kv` holds position `a.kv_start`.
#[allow(clippy::too_many_arguments)]
pub fn attention_at(
    enc: &mut Encoder,
    a: &Attn,
    q: &wgpu::Buffer,
    pos0: usize,
    n_tok: usize,
    k: &wgpu::Buffer,
    v: &wgpu::Buffer,
    out: &wgpu::Buffer,
    at: Rows,
) -> Result<(), GpuError> {
    let bad = |reason: String| {
        Err(GpuError::Shape {
            op: "attention",
            reason,
        })
    };
    if a.head_dim > 256 || a.n_kv_head == 0 || !a.n_head.is_multiple_of(a.n_kv_head) {
        return bad(format!(
            "{a:?}: head_dim <= 256 and n_head a multiple of n_kv_head"
        ));
    }
    if a.kv == KvType::F16 && !a.head_dim.is_multiple_of(2) {
        return bad(format!(
            "an f16 cache needs an even head_dim, not {}",
            a.head_dim
        ));
    }
    let first = a.window.map_or(0, |w| (pos0 + 1).saturating_sub(w));
    if a.kv_start > first {
        return bad(format!(
            "cache rows start at {}, after the first visible key {first}",
            a.kv_start
        ));
    }
    let q_len = (at.q + n_tok) * a.n_head * a.head_dim;
    need("attention", "q", q, q_len)?;
    need("attention", "out", out, q_len)?;
    let kv_len = (at.kv + pos0 + n_tok - a.kv_start) * a.n_kv_head * a.head_dim;
    for (what, b) in [("k", k), ("v", v)] {
        if b.size() < a.kv.bytes(kv_len) {
            return bad(format!(
                "{what}: {} bytes, {} needed",
                b.size(),
                a.kv.bytes(kv_len)
            ));
        }
    }
    let params = [
        u32_of("attention", "n_tok", n_tok)?,
        a.n_head as u32,
        a.n_kv_head as u32,
        a.head_dim as u32,
        u32_of("attention", "pos0", pos0)?,
        u32_of("attention", "kv_start", a.kv_start)?,
        u32_of("attention", "window", a.window.unwrap_or(0))?,
        a.scale.to_bits(),
        (a.kv == KvType::F16) as u32,
        u32_of("attention", "q row", at.q)?,
        u32_of("attention", "kv row", at.kv)?,
        0,
    ];
    let groups = enc.groups(u32_of("attention", "rows", n_tok * a.n_head)?, 1);
    let bufs = [
        q.as_entire_binding(),
        k.as_entire_binding(),
        v.as_entire_binding(),
        out.as_entire_binding(),
    ];
    enc.dispatch(ATTENTION, &params, &bufs, groups)
}

/// Writes `n_tok` rows of `width` values into `cache` at rows
/// (row0 + t) % n_rows.
///
/// src: [n_tok, width] f32 -> cache: [n_rows, width] of `kv`
#[allow(clippy::too_many_arguments)]
pub fn kv_write(
    enc: &mut Encoder,
    src: &wgpu::Buffer,
    n_tok: usize,
    width: usize,
    cache: &wgpu::Buffer,
    kv: KvType,
    row0: usize,
    n_rows: usize,
) -> Result<(), GpuError> {
    let region = KvRegion {
        base: 0,
        row0,
        n_rows,
    };
    kv_write_at(enc, src, 0, n_tok, width, cache, kv, region)
}

/// Where a [`kv_write_at`] puts token t: cache row base + (row0 + t) % n_rows.
#[derive(Clone, Copy, Debug)]
pub struct KvRegion {
    pub base: usize,
    pub row0: usize,
    pub n_rows: usize,
}

/// [`kv_write`] of src rows `src_row0 ..` into a region of the cache.
///
/// src: [src_row0 + n_tok, width] f32 -> cache: [base + n_rows, width] of `kv`
#[allow(clippy::too_many_arguments)]
pub fn kv_write_at(
    enc: &mut Encoder,
    src: &wgpu::Buffer,
    src_row0: usize,
    n_tok: usize,
    width: usize,
    cache: &wgpu::Buffer,
    kv: KvType,
    region: KvRegion,
) -> Result<(), GpuError> {
    let KvRegion { base, row0, n_rows } = region;
    if kv == KvType::F16 && !width.is_multiple_of(2) || n_rows == 0 || n_tok > n_rows {
        return Err(GpuError::Shape {
            op: "kv_write",
            reason: format!("{n_tok} rows of {width} ({kv:?}) into a cache of {n_rows} rows"),
        });
    }
    need("kv_write", "src", src, (src_row0 + n_tok) * width)?;
    if cache.size() < kv.bytes((base + n_rows) * width) {
        return Err(GpuError::Shape {
            op: "kv_write",
            reason: format!(
                "cache of {} bytes for {base} + {n_rows} rows of {width} {kv:?}",
                cache.size()
            ),
        });
    }
    let f16 = (kv == KvType::F16) as u32;
    let per_row = if f16 == 1 { width / 2 } else { width };
    let params = [
        u32_of("kv_write", "n_tok", n_tok)?,
        u32_of("kv_write", "width", width)?,
        u32_of("kv_write", "row0", row0 % n_rows)?,
        u32_of("kv_write", "n_rows", n_rows)?,
        f16,
        u32_of("kv_write", "src row", src_row0)?,
        u32_of("kv_write", "base", base)?,
        0,
    ];
    let groups = enc.groups(u32_of("kv_write", "words", n_tok * per_row)?, 256);
    enc.dispatch(
        KV_WRITE,
        &params,
        &[src.as_entire_binding(), cache.as_entire_binding()],
        groups,
    )
}
