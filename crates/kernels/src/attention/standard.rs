//! The standard (reference) backend: per query head, one row of scores over
//! every visible key, a softmax, then the weighted sum of the values. With an
//! f16 cache the query and the attention weights are rounded to f16 before
//! their dot products, as ggml does when it multiplies f16 K/V by f32
//! activations.

use super::simd::{self, AttnOps};
use super::{check, work_per_thread, AttnError, AttnParams, KvRef};
use crate::exact::{self, F32Order};
use crate::pool::ThreadPool;

/// Most query heads of one KV head computed together (each key and value
/// row widened once for all of them).
pub(super) const GROUP: usize = 4;

/// Attention for `n_tok` consecutive query positions `pos0 .. pos0 + n_tok`,
/// query heads spread over the pool's threads (each head computed by the
/// same code whatever the thread count).
///
/// q: [n_tok, n_head, head_dim] (roped), k/v: cache with positions
/// `0 .. pos0 + n_tok` filled -> out: [n_tok, n_head, head_dim].
/// `work` is scratch: `work_per_thread(pos0 + n_tok, head_dim)` elements per
/// thread (fewer threads are used if it holds fewer parts; at least one).
#[allow(clippy::too_many_arguments)]
pub fn attention(
    pool: &ThreadPool,
    p: &AttnParams,
    q: &[f32],
    pos0: usize,
    n_tok: usize,
    k: KvRef,
    v: KvRef,
    work: &mut [f32],
    out: &mut [f32],
) -> Result<(), AttnError> {
    run(pool, &simd::SCALAR, p, q, pos0, n_tok, k, v, work, out)
}

/// [`attention`] with the f16-cache dot products and value sums on the
/// loops of `ops` (`simd::ops_for(isa)` from `attention_with`): the same
/// results up to float summation order and fused multiply-adds. An f32
/// cache runs the `exact` (llama.cpp order) code with any `ops`.
#[allow(clippy::too_many_arguments)]
pub(super) fn run(
    pool: &ThreadPool,
    ops: &AttnOps,
    p: &AttnParams,
    q: &[f32],
    pos0: usize,
    n_tok: usize,
    k: KvRef,
    v: KvRef,
    work: &mut [f32],
    out: &mut [f32],
) -> Result<(), AttnError> {
    let hd = p.head_dim;
    let n_ctx_used = pos0 + n_tok;
    let per_thread = work_per_thread(n_ctx_used, hd);
    check(p, q, pos0, n_tok, k, v, work, per_thread, out)?;
    if hd == 0 || p.n_head == 0 {
        return Ok(());
    }
    let out = &mut out[..n_tok * p.n_head * hd];
    // llama.cpp's f32 reduction orders (`exact`): K·Q has a permuted
    // (non-contiguous) Q, so ggml takes `vec_dot_f32` for it at any batch
    // size; V·softmax goes through tinyBLAS for batches (rows padded to 256).
    let orders = (F32Order::Lanes64, F32Order::for_batch(n_tok, 256));
    // out viewed as [n_tok, n_head * hd]; a block of columns = one head
    // up to GROUP heads of one KV head share each widened key and value
    // row (f16 caches; the same bits as one head at a time)
    let per_kv = p.n_head / p.n_kv_head;
    let grouped = !matches!(k, KvRef::F32(_));
    pool.par_cols(out, p.n_head * hd, hd, work, per_thread, |c, w| {
        let cols = c.cols();
        let (first, end) = (cols.start / hd, cols.end / hd);
        let mut h = first;
        while h < end {
            // heads h .. h + g: the rest of h's KV group in this thread's range
            let g = if grouped {
                (per_kv - h % per_kv).min(end - h).min(GROUP)
            } else {
                1
            };
            let (scores, qbufs) = w.split_at_mut(GROUP * n_ctx_used);
            let bufs = (&mut scores[..g * n_ctx_used], &mut qbufs[..g * hd]);
            for t in 0..n_tok {
                let row = c.row(t);
                let o = &mut row[(h - first) * hd..(h - first + g) * hd];
                let qt = &q[(t * p.n_head + h) * hd..][..g * hd];
                heads(
                    p,
                    ops,
                    orders,
                    qt,
                    pos0 + t,
                    h,
                    k,
                    v,
                    (&mut *bufs.0, &mut *bufs.1),
                    o,
                );
            }
            h += g;
        }
    });
    Ok(())
}

/// Query heads `h .. h + g` of one KV head at position `pos`, `g =
/// q.len() / head_dim` (at most [`GROUP`]; 1 for an f32 cache): for each,
/// o = softmax(q·Kᵀ * scale) · V over the visible keys. An f16 cache takes
/// the head-group loops (each key and value row widened once for the
/// group, each head's bits those of a group of one); an f32 cache, the
/// `exact` (llama.cpp order) dots and weighted sums.
/// q, o: [g, head_dim]; scores: [g, >= pos + 1]; qbufs: [g, head_dim]
#[allow(clippy::too_many_arguments)]
pub(super) fn heads(
    p: &AttnParams,
    ops: &AttnOps,
    (kq_order, kqv_order): (F32Order, F32Order),
    q: &[f32],
    pos: usize,
    h: usize,
    k: KvRef,
    v: KvRef,
    (scores, qbufs): (&mut [f32], &mut [f32]),
    o: &mut [f32],
) {
    let hd = p.head_dim;
    let g = q.len() / hd;
    let n = scores.len() / g;
    let kv_row = p.n_kv_head * hd;
    let kvh = h / (p.n_head / p.n_kv_head);
    let lo = p.first_key(pos);
    let from = (lo - p.kv_start) * kv_row + kvh * hd;
    // The softmax runs over 0..=pos with masked keys at -inf, so its
    // grouping matches ggml's over the whole (padded) row.
    let mut rows: [&mut [f32]; GROUP] = Default::default();
    for (r, sc) in rows.iter_mut().zip(scores.chunks_exact_mut(n)) {
        sc[..lo].fill(f32::NEG_INFINITY);
        *r = &mut sc[lo..=pos];
    }
    match k {
        KvRef::F32(kc) => {
            for (qh, sc) in q.chunks_exact(hd).zip(rows.iter_mut()) {
                for (j, s) in (lo..=pos).zip(sc.iter_mut()) {
                    let kr = &kc[(j - p.kv_start) * kv_row + kvh * hd..][..hd];
                    *s = exact::dot(kq_order, qh, kr) * p.scale;
                }
            }
        }
        KvRef::F16(_) | KvRef::F16AsF32(_) => {
            qbufs.copy_from_slice(q);
            (ops.round_f16)(qbufs);
            let mut qs: [&[f32]; GROUP] = [&[]; GROUP];
            for (r, qb) in qs.iter_mut().zip(qbufs.chunks_exact(hd)) {
                *r = qb;
            }
            ops.half_dots_heads(&qs[..g], k, from, kv_row, &mut rows[..g]);
            for sc in &mut rows[..g] {
                for s in sc.iter_mut() {
                    *s *= p.scale;
                }
            }
        }
    }
    let half = !matches!(v, KvRef::F32(_));
    let mut ws: [&[f32]; GROUP] = [&[]; GROUP];
    for (w, sc) in ws.iter_mut().zip(scores.chunks_exact_mut(n)) {
        (ops.softmax)(&mut sc[..=pos]);
        if half {
            (ops.round_f16)(&mut sc[lo..=pos]);
        }
        *w = &sc[lo..=pos];
    }
    o.fill(0.0);
    match v {
        KvRef::F32(vc) => {
            let v_row = |j: usize| &vc[(lo + j - p.kv_start) * kv_row + kvh * hd..][..hd];
            for (oh, w) in o.chunks_exact_mut(hd).zip(&ws[..g]) {
                exact::weighted_sum(kqv_order, lo, w, v_row, oh);
            }
        }
        KvRef::F16(_) | KvRef::F16AsF32(_) => {
            let mut outs: [&mut [f32]; GROUP] = Default::default();
            for (r, oh) in outs.iter_mut().zip(o.chunks_exact_mut(hd)) {
                *r = oh;
            }
            ops.half_axpys_heads(&mut outs[..g], &ws[..g], v, from, kv_row);
        }
    }
}
