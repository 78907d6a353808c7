//! Scaled dot-product attention over a KV cache (standard, scalar).
//!
//! Causal, optionally sliding-window, GQA-aware: query head `h` reads KV head
//! `h / (n_head / n_kv_head)`; K/V are never repeated. With an f16 cache the
//! query and the attention weights are rounded to f16 before their dot
//! products, as ggml does when it multiplies f16 K/V by f32 activations.

use half::f16;

use crate::pool::ThreadPool;

/// A borrowed per-layer K or V cache: [n_ctx, n_kv_head, head_dim] row-major.
#[derive(Clone, Copy, Debug)]
pub enum KvRef<'a> {
    F32(&'a [f32]),
    F16(&'a [f16]),
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
}

/// Error for inconsistent attention arguments.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttnError {
    #[error("attention: n_head {n_head} is not a multiple of n_kv_head {n_kv_head}")]
    HeadRatio { n_head: usize, n_kv_head: usize },
    #[error("attention: {what} has {got} elements, need at least {need}")]
    BufferTooSmall {
        what: &'static str,
        got: usize,
        need: usize,
    },
}

impl KvRef<'_> {
    fn len(&self) -> usize {
        match self {
            KvRef::F32(s) => s.len(),
            KvRef::F16(s) => s.len(),
        }
    }
}

/// Scratch elements `attention` needs per thread for `n_ctx_used = pos0 + n_tok`.
pub fn work_per_thread(n_ctx_used: usize, head_dim: usize) -> usize {
    n_ctx_used + head_dim
}

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
    if p.n_kv_head == 0 || p.n_head / p.n_kv_head * p.n_kv_head != p.n_head {
        return Err(AttnError::HeadRatio {
            n_head: p.n_head,
            n_kv_head: p.n_kv_head,
        });
    }
    let hd = p.head_dim;
    let n_ctx_used = pos0 + n_tok;
    let kv_row = p.n_kv_head * hd;
    let per_thread = work_per_thread(n_ctx_used, hd);
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
    if hd == 0 || p.n_head == 0 {
        return Ok(());
    }
    let out = &mut out[..n_tok * p.n_head * hd];
    // out viewed as [n_tok, n_head * hd]; a block of columns = one head
    pool.par_cols(out, p.n_head * hd, hd, work, per_thread, |c, w| {
        let (scores, qbuf) = w.split_at_mut(n_ctx_used);
        let cols = c.cols();
        for h in cols.start / hd..cols.end / hd {
            let off = h * hd - cols.start;
            for t in 0..n_tok {
                let qh = &q[(t * p.n_head + h) * hd..][..hd];
                let o = &mut c.row(t)[off..off + hd];
                head(p, qh, pos0 + t, h, k, v, scores, &mut qbuf[..hd], o);
            }
        }
    });
    Ok(())
}

/// One query head at position `pos`: o = softmax(q·Kᵀ * scale) · V over the
/// visible keys. scores: [>= pos + 1], qbuf: [head_dim], o: [head_dim]
#[allow(clippy::too_many_arguments)]
fn head(
    p: &AttnParams,
    qh: &[f32],
    pos: usize,
    h: usize,
    k: KvRef,
    v: KvRef,
    scores: &mut [f32],
    qbuf: &mut [f32],
    o: &mut [f32],
) {
    let hd = p.head_dim;
    let kv_row = p.n_kv_head * hd;
    let kvh = h / (p.n_head / p.n_kv_head);
    let lo = p.window.map_or(0, |w| (pos + 1).saturating_sub(w));
    // The softmax runs over 0..=pos with masked keys at -inf, so its
    // grouping matches ggml's over the whole (padded) row.
    scores[..lo].fill(f32::NEG_INFINITY);
    let sc = &mut scores[lo..=pos];
    match k {
        KvRef::F32(kc) => {
            for (j, s) in (lo..=pos).zip(sc.iter_mut()) {
                let kr = &kc[j * kv_row + kvh * hd..][..hd];
                *s = dot_f32(qh, kr) * p.scale;
            }
        }
        KvRef::F16(kc) => {
            for (d, s) in qbuf.iter_mut().zip(qh) {
                *d = f16::from_f32(*s).to_f32();
            }
            for (j, s) in (lo..=pos).zip(sc.iter_mut()) {
                let kr = &kc[j * kv_row + kvh * hd..][..hd];
                *s = dot_f16(qbuf, kr) * p.scale;
            }
        }
    }
    crate::ops::softmax(&mut scores[..=pos]);
    let sc = &scores[lo..=pos];
    o.fill(0.0);
    match v {
        KvRef::F32(vc) => {
            for (j, &w) in (lo..=pos).zip(sc.iter()) {
                let vr = &vc[j * kv_row + kvh * hd..][..hd];
                axpy(o, w, vr.iter().copied());
            }
        }
        KvRef::F16(vc) => {
            for (j, &w) in (lo..=pos).zip(sc.iter()) {
                let w = f16::from_f32(w).to_f32();
                let vr = &vc[j * kv_row + kvh * hd..][..hd];
                axpy(o, w, vr.iter().map(|x| x.to_f32()));
            }
        }
    }
}

#[inline]
fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[inline]
fn dot_f16(a: &[f32], b: &[f16]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y.to_f32()).sum()
}

#[inline]
fn axpy(o: &mut [f32], w: f32, x: impl Iterator<Item = f32>) {
    for (oi, xi) in o.iter_mut().zip(x) {
        *oi += w * xi;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Naive reference: full score matrix with an explicit -inf mask.
    fn reference(
        p: &AttnParams,
        q: &[f32],
        pos0: usize,
        n_tok: usize,
        k: &[f32],
        v: &[f32],
    ) -> Vec<f32> {
        let hd = p.head_dim;
        let n_ctx = pos0 + n_tok;
        let mut out = vec![0.0; n_tok * p.n_head * hd];
        for t in 0..n_tok {
            let pos = pos0 + t;
            for h in 0..p.n_head {
                let g = h * p.n_kv_head / p.n_head;
                let mut s: Vec<f32> = (0..n_ctx)
                    .map(|j| {
                        let masked = j > pos || p.window.is_some_and(|w| pos - j >= w);
                        if masked {
                            return f32::NEG_INFINITY;
                        }
                        (0..hd)
                            .map(|d| {
                                q[(t * p.n_head + h) * hd + d] * k[(j * p.n_kv_head + g) * hd + d]
                            })
                            .sum::<f32>()
                            * p.scale
                    })
                    .collect();
                crate::ops::softmax(&mut s);
                for d in 0..hd {
                    out[(t * p.n_head + h) * hd + d] = (0..n_ctx)
                        .map(|j| s[j] * v[(j * p.n_kv_head + g) * hd + d])
                        .sum();
                }
            }
        }
        out
    }

    fn pseudo(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(1664525).wrapping_add(1013904223);
                (s >> 8) as f32 / (1 << 24) as f32 - 0.5
            })
            .collect()
    }

    #[test]
    fn matches_reference_gqa_window_f32_and_f16() {
        for window in [None, Some(3)] {
            let p = AttnParams {
                n_head: 4,
                n_kv_head: 2,
                head_dim: 8,
                scale: 0.35,
                window,
            };
            let (pos0, n_tok) = (5, 4);
            let n_ctx = pos0 + n_tok;
            let q = pseudo(n_tok * 4 * 8, 1);
            let k = pseudo(n_ctx * 2 * 8, 2);
            let v = pseudo(n_ctx * 2 * 8, 3);
            let want = reference(&p, &q, pos0, n_tok, &k, &v);
            let mut out = vec![0.0; want.len()];
            let one = ThreadPool::new(1);
            let mut work = vec![0.0; work_per_thread(n_ctx, 8)];
            attention(
                &one,
                &p,
                &q,
                pos0,
                n_tok,
                KvRef::F32(&k),
                KvRef::F32(&v),
                &mut work,
                &mut out,
            )
            .unwrap();
            for (a, b) in out.iter().zip(&want) {
                assert!((a - b).abs() < 1e-5, "{window:?}: {a} vs {b}");
            }
            let kh: Vec<f16> = k.iter().map(|&x| f16::from_f32(x)).collect();
            let vh: Vec<f16> = v.iter().map(|&x| f16::from_f32(x)).collect();
            attention(
                &one,
                &p,
                &q,
                pos0,
                n_tok,
                KvRef::F16(&kh),
                KvRef::F16(&vh),
                &mut work,
                &mut out,
            )
            .unwrap();
            for (a, b) in out.iter().zip(&want) {
                assert!((a - b).abs() < 2e-3, "f16 {window:?}: {a} vs {b}");
            }
            // two and three threads: bit-identical to one
            for threads in [2, 3] {
                let pool = ThreadPool::new(threads);
                let mut work = vec![0.0; threads * work_per_thread(n_ctx, 8)];
                let mut out2 = vec![f32::NAN; out.len()];
                attention(
                    &pool,
                    &p,
                    &q,
                    pos0,
                    n_tok,
                    KvRef::F16(&kh),
                    KvRef::F16(&vh),
                    &mut work,
                    &mut out2,
                )
                .unwrap();
                assert_eq!(out, out2, "{threads} threads {window:?}");
            }
        }
    }

    #[test]
    fn single_key_returns_its_value() {
        let p = AttnParams {
            n_head: 2,
            n_kv_head: 1,
            head_dim: 2,
            scale: 1.0,
            window: None,
        };
        let (k, v) = ([1.0, 2.0], [3.0, -4.0]);
        let mut out = [0.0; 4];
        attention(
            &ThreadPool::new(2),
            &p,
            &[1.0; 4],
            0,
            1,
            KvRef::F32(&k),
            KvRef::F32(&v),
            &mut [0.0; 6],
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [3.0, -4.0, 3.0, -4.0]);
    }

    #[test]
    fn rejects_bad_shapes() {
        let p = AttnParams {
            n_head: 3,
            n_kv_head: 2,
            head_dim: 2,
            scale: 1.0,
            window: None,
        };
        let e = attention(
            &ThreadPool::new(1),
            &p,
            &[0.0; 6],
            0,
            1,
            KvRef::F32(&[0.0; 4]),
            KvRef::F32(&[0.0; 4]),
            &mut [0.0; 3],
            &mut [0.0; 6],
        );
        assert!(matches!(e, Err(AttnError::HeadRatio { .. })));
        let p = AttnParams { n_head: 2, ..p };
        let e = attention(
            &ThreadPool::new(1),
            &p,
            &[0.0; 4],
            0,
            2,
            KvRef::F32(&[0.0; 4]),
            KvRef::F32(&[0.0; 4]),
            &mut [0.0; 4],
            &mut [0.0; 8],
        );
        assert!(matches!(
            e,
            Err(AttnError::BufferTooSmall { what: "q", .. })
        ));
        let e = attention(
            &ThreadPool::new(1),
            &p,
            &[0.0; 8],
            0,
            2,
            KvRef::F32(&[0.0; 8]),
            KvRef::F32(&[0.0; 8]),
            &mut [0.0; 3],
            &mut [0.0; 8],
        );
        assert!(matches!(
            e,
            Err(AttnError::BufferTooSmall { what: "work", .. })
        ));
    }
}
