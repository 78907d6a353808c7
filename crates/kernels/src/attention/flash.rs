//! Flash attention: keys and values are streamed in tiles of `BC` positions;
//! for each tile, every query of a chunk (query rows x heads sharing one KV
//! head, at most `MAX_Q` of them) computes its scores, updates its running
//! max `m` and sum `l` (rescaling its output accumulator when `m` grows) and
//! adds `p · V_tile`; the output is divided by `l` at the end. A K/V tile is
//! thus loaded once for all the chunk's queries, and no row of N scores is
//! ever stored.
//!
//! Tiles start at multiples of `BC` (absolute positions), so the arithmetic
//! for one (row, head) depends only on its position: results do not depend
//! on the thread count, on how rows are chunked, or on whether a prompt is
//! evaluated at once or token by token.

use super::simd::AttnOps;
use super::{AttnParams, KvRef};
use crate::pool::ThreadPool;

/// Keys per tile.
pub(super) const BC: usize = 32;
/// Queries (row, head) sharing the K/V tiles of one pass over the cache.
const MAX_Q: usize = 64;
/// Query rows per task in prefill.
const ROWS_PER_TASK: usize = 16;

/// q: [n_tok, n_head, hd], k/v: [>= pos0 + n_tok, n_kv_head, hd]
/// -> out: [n_tok, n_head, hd] (exactly). work: hd elements per thread.
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
) {
    let hd = p.head_dim;
    let row_len = p.n_head * hd;
    let total = out.len();
    let block = task_len(p, n_tok, pool.n_threads());
    let call = Call {
        ops,
        p,
        q,
        pos0,
        k,
        v,
    };
    // out viewed as one flat row; a task is a block of `block` elements:
    // whole query rows (all heads), or heads of one row.
    pool.par_cols(out, total, block, work, hd, |c, w| {
        let cols = c.cols();
        let o = c.row(0);
        let mut at = cols.start;
        while at < cols.end {
            let t = at / row_len;
            let in_row = at % row_len;
            let (rows, heads, len) = if in_row == 0 && cols.end - at >= row_len {
                let n = (cols.end - at) / row_len;
                (t..t + n, 0..p.n_head, n * row_len)
            } else {
                let end = cols.end.min((t + 1) * row_len);
                (t..t + 1, in_row / hd..(end - t * row_len) / hd, end - at)
            };
            let off = at - cols.start;
            call.rows_heads(rows, heads, &mut w[..hd], &mut o[off..off + len]);
            at += len;
        }
    });
}

/// Elements of `out` per task: whole rows when there are enough of them to
/// keep every thread busy, else head blocks of single rows: whole KV groups
/// (K/V read once for the group), split into a divisor of the group size
/// only when there are fewer blocks than threads.
fn task_len(p: &AttnParams, n_tok: usize, threads: usize) -> usize {
    let hd = p.head_dim;
    let row_len = p.n_head * hd;
    if threads <= 1 {
        return n_tok * row_len;
    }
    if n_tok >= 2 * threads {
        let rows = (n_tok / (4 * threads)).clamp(1, ROWS_PER_TASK);
        return rows * row_len;
    }
    let gs = p.n_head / p.n_kv_head;
    let mut heads = gs;
    while heads > 1 && (p.n_head / heads) * n_tok < threads {
        // next smaller divisor of the group size
        heads = (1..heads)
            .rev()
            .find(|&d| gs.is_multiple_of(d))
            .unwrap_or(1);
    }
    heads * hd
}

/// The arguments shared by every task of one call.
struct Call<'a> {
    ops: &'a AttnOps,
    p: &'a AttnParams,
    q: &'a [f32],
    pos0: usize,
    k: KvRef<'a>,
    v: KvRef<'a>,
}

impl Call<'_> {
    /// Query rows `rows` x heads `heads` -> o: [rows.len(), heads.len() * hd].
    /// qbuf: [hd]
    fn rows_heads(
        &self,
        rows: std::ops::Range<usize>,
        heads: std::ops::Range<usize>,
        qbuf: &mut [f32],
        o: &mut [f32],
    ) {
        let gs = self.p.n_head / self.p.n_kv_head;
        let mut h = heads.start;
        while h < heads.end {
            // heads of one KV group, at most MAX_Q of them, with as many
            // rows as fit in MAX_Q queries
            let g = h / gs;
            let h_end = heads.end.min((g + 1) * gs).min(h + MAX_Q);
            let rows_per = (MAX_Q / (h_end - h)).max(1);
            let mut t = rows.start;
            while t < rows.end {
                let t_end = rows.end.min(t + rows_per);
                let chunk = Chunk {
                    rows: t - rows.start..t_end - rows.start,
                    t0: rows.start,
                    heads: h..h_end,
                    h0: heads.start,
                    o_stride: heads.len() * self.p.head_dim,
                    kvh: g,
                };
                self.chunk(&chunk, qbuf, o);
                t = t_end;
            }
            h = h_end;
        }
    }

    /// One pass over the cache for the queries of `c`.
    fn chunk(&self, c: &Chunk, qbuf: &mut [f32], o: &mut [f32]) {
        let p = self.p;
        let hd = p.head_dim;
        let nh = c.heads.len();
        let n_q = c.rows.len() * nh;
        debug_assert!(n_q <= MAX_Q);
        let mut m = [f32::NEG_INFINITY; MAX_Q];
        let mut l = [0f32; MAX_Q];
        let mut scores = [0f32; BC];
        for r in c.rows.clone() {
            for hi in 0..nh {
                c.out(o, r, hi, hd).fill(0.0);
            }
        }
        let pos = |r: usize| self.pos0 + c.t0 + r;
        let first = p.first_key(pos(c.rows.start));
        let end = pos(c.rows.end - 1) + 1;
        let kv_off = c.kvh * hd;
        let kv_row = p.n_kv_head * hd;
        let mut j0 = first / BC * BC;
        while j0 < end {
            for r in c.rows.clone() {
                let lo = p.first_key(pos(r)).max(j0);
                let hi = (pos(r) + 1).min(j0 + BC);
                if lo >= hi {
                    continue;
                }
                let sc = &mut scores[..hi - lo];
                for (hi_, h) in c.heads.clone().enumerate() {
                    let qi = (r - c.rows.start) * nh + hi_;
                    let qh = &self.q[((c.t0 + r) * p.n_head + h) * hd..][..hd];
                    // scores of the visible keys of this tile
                    match self.k {
                        KvRef::F32(kc) => {
                            for (j, s) in (lo..hi).zip(sc.iter_mut()) {
                                let kr = &kc[(j - p.kv_start) * kv_row + kv_off..][..hd];
                                *s = (self.ops.dot_f32)(qh, kr) * p.scale;
                            }
                        }
                        KvRef::F16(_) | KvRef::F16AsF32(_) => {
                            qbuf.copy_from_slice(qh);
                            (self.ops.round_f16)(qbuf);
                            let from = (lo - p.kv_start) * kv_row + kv_off;
                            self.ops.half_dots(qbuf, self.k, from, kv_row, sc);
                            for s in sc.iter_mut() {
                                *s *= p.scale;
                            }
                        }
                    }
                    // online softmax: raise the running max, rescale
                    let oq = c.out(o, r, hi_, hd);
                    let mx = sc.iter().copied().fold(m[qi], f32::max);
                    if mx > m[qi] {
                        if l[qi] > 0.0 {
                            let alpha = super::simd::exp(m[qi] - mx);
                            l[qi] *= alpha;
                            (self.ops.scale)(oq, alpha);
                        }
                        m[qi] = mx;
                    }
                    l[qi] += (self.ops.exp_sum)(sc, m[qi]);
                    match self.v {
                        KvRef::F32(vc) => {
                            for (j, &w) in (lo..hi).zip(sc.iter()) {
                                (self.ops.axpy_f32)(
                                    oq,
                                    w,
                                    &vc[(j - p.kv_start) * kv_row + kv_off..][..hd],
                                );
                            }
                        }
                        KvRef::F16(_) | KvRef::F16AsF32(_) => {
                            let from = (lo - p.kv_start) * kv_row + kv_off;
                            self.ops.half_axpys(oq, sc, self.v, from, kv_row);
                        }
                    }
                }
            }
            j0 += BC;
        }
        for r in c.rows.clone() {
            for hi in 0..nh {
                let qi = (r - c.rows.start) * nh + hi;
                // no visible key (a zero window) leaves zeros
                let inv = if l[qi] > 0.0 { 1.0 / l[qi] } else { 0.0 };
                (self.ops.scale)(c.out(o, r, hi, hd), inv);
            }
        }
    }
}

/// Queries of one pass: rows `t0 + rows` of the call, heads `heads` (all in
/// KV group `kvh`); the task's output is [.., o_stride] with head `h0` first.
struct Chunk {
    rows: std::ops::Range<usize>,
    t0: usize,
    heads: std::ops::Range<usize>,
    h0: usize,
    o_stride: usize,
    kvh: usize,
}

impl Chunk {
    /// The output of row `r` (task-relative), `hi`-th head of the chunk.
    fn out<'o>(&self, o: &'o mut [f32], r: usize, hi: usize, hd: usize) -> &'o mut [f32] {
        let h = self.heads.start + hi - self.h0;
        &mut o[r * self.o_stride + h * hd..][..hd]
    }
}
