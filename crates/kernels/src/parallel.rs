//! Threaded matvec / matmul / activation quantization over a [`ThreadPool`].
//!
//! Output rows (weight rows) are split into contiguous blocks of a multiple
//! of 16 rows, claimed dynamically by the pool's threads; each row is still
//! computed by the same single-threaded code (`ops::matvec_rows`, the same
//! row dot, or for large k-quant batches on x86 the batched order, which
//! the tiles equal bit for bit), so results
//! are bit-identical for any thread count. Activation
//! quantization is split by tokens when a batch has several.

use std::sync::Mutex;

use crate::arch::Kernels;
use crate::error::KernelError;
use crate::gemm::matmul_chunks;
use crate::matvec_tokens::matvec_rows_tokens;
use crate::ops::{self, QMatrix};
use crate::pool::{block_size, ThreadPool};
use crate::quant;
use crate::GgmlType;

/// Weight rows per block are a multiple of this.
const ROW_ALIGN: usize = 16;

/// `ops::matvec` with the rows of `w` split across the pool.
///
/// w: [rows, cols] row-major, x_q: [cols] quantized to `w.act_type()` -> y: [rows]
pub fn par_matvec(pool: &ThreadPool, k: &Kernels, w: QMatrix, x_q: &[u8], y: &mut [f32]) {
    let y = &mut y[..w.rows];
    let block = block_size(w.rows, pool.n_threads(), ROW_ALIGN);
    pool.par_cols(y, w.rows, block, &mut [0u8; 0], 0, |c, _| {
        let rows = c.cols();
        ops::matvec_rows(k, w, x_q, rows, c.row(0));
    });
}

/// Bytes of weight rows one pass of `par_matvec_tokens` keeps in cache
/// while every token runs over them (batches of more than `SUB_TOKENS`
/// tokens, which the multi-token kernels take in chunks).
const TOKEN_PASS_BYTES: usize = 32 << 10;

/// Weight rows and tokens of one call of the multi-token kernels in
/// `par_matvec_tokens` (its outputs go through a stack buffer of
/// `SUB_ROWS * SUB_TOKENS` floats); `SUB_ROWS` is a multiple of every
/// packed layout's group and of `ROW_ALIGN`.
const SUB_ROWS: usize = 256;
const SUB_TOKENS: usize = 8;

/// `par_matvec` for `n` activation rows: y[t] = w · x_q[t], each token's
/// products by the table's decode kernels (`matvec_tokens`: the
/// multi-token kernels, which unpack each weight block once for several
/// tokens, else the matrix-vector kernel per token, packed layouts
/// included), so every output equals `par_matvec` of that token bit for
/// bit. The weights stream from memory once: each thread runs all tokens
/// over a few rows (`SUB_ROWS`; for more than `SUB_TOKENS` tokens a pass
/// of `TOKEN_PASS_BYTES`) before moving on, so the other tokens read those
/// rows from cache. For batches of single tokens of several sequences,
/// where the weights are the whole cost.
///
/// w: [rows, cols], x_q: [n, act_row_bytes] quantized -> y: [n, rows] row-major
pub fn par_matvec_tokens(
    pool: &ThreadPool,
    k: &Kernels,
    w: QMatrix,
    x_q: &[u8],
    n: usize,
    y: &mut [f32],
) {
    let y = &mut y[..n * w.rows];
    let xb = w.act_row_bytes();
    let pass = (TOKEN_PASS_BYTES / w.row_bytes().max(1)) / ROW_ALIGN * ROW_ALIGN;
    // up to SUB_TOKENS tokens run in one call per block of rows: no passes
    let pass = if n <= SUB_TOKENS {
        usize::MAX / 2
    } else {
        pass.max(ROW_ALIGN)
    };
    let block = block_size(w.rows, pool.n_threads(), ROW_ALIGN);
    pool.par_cols(y, w.rows, block, &mut [0u8; 0], 0, |c, _| {
        let rows = c.cols();
        let mut buf = [0f32; SUB_ROWS * SUB_TOKENS];
        let mut r0 = rows.start;
        while r0 < rows.end {
            let r1 = (r0 + pass).min(rows.end);
            for s0 in (r0..r1).step_by(SUB_ROWS) {
                let s1 = (s0 + SUB_ROWS).min(r1);
                for t0 in (0..n).step_by(SUB_TOKENS) {
                    let t1 = (t0 + SUB_TOKENS).min(n);
                    let acts = &x_q[t0 * xb..t1 * xb];
                    matvec_rows_tokens(k, w, acts, t1 - t0, s0..s1, &mut buf, SUB_ROWS);
                    for t in t0..t1 {
                        let out = &mut c.row(t)[s0 - rows.start..s1 - rows.start];
                        out.copy_from_slice(&buf[(t - t0) * SUB_ROWS..][..s1 - s0]);
                    }
                }
            }
            r0 = r1;
        }
    });
}

/// `ops::matmul` with the rows of `w` split across the pool: each thread
/// runs the tile kernels on its blocks of weight rows for the whole batch.
///
/// w: [rows, cols], x_q: [n, act_row_bytes] quantized -> y: [n, rows] row-major
pub fn par_matmul(pool: &ThreadPool, k: &Kernels, w: QMatrix, x_q: &[u8], n: usize, y: &mut [f32]) {
    par_matmul_as_chunk(pool, k, w, x_q, n, n, y);
}

/// `par_matmul` for `n` tokens, each summed in the order that a batch of
/// `chunk` tokens gets (`Kernels::gemm_batch`): rows of several sequences
/// run together get, token by token, what each sequence's own chunk
/// would have got alone.
///
/// w: [rows, cols], x_q: [n, act_row_bytes] quantized -> y: [n, rows] row-major
pub fn par_matmul_as_chunk(
    pool: &ThreadPool,
    k: &Kernels,
    w: QMatrix,
    x_q: &[u8],
    n: usize,
    chunk: usize,
    y: &mut [f32],
) {
    let y = &mut y[..n * w.rows];
    let g = k
        .gemm_batch(w.ty, chunk)
        .unwrap_or_else(|| panic!("matmul: no kernel for {} weights", w.ty));
    let block = block_size(w.rows, pool.n_threads(), ROW_ALIGN);
    pool.par_cols(y, w.rows, block, &mut [0u8; 0], 0, |c, _| {
        let rows = c.cols();
        let start = rows.start;
        matmul_chunks(&g, w, x_q, n, rows, |t, r, v| {
            c.row(t)[r - start..][..v.len()].copy_from_slice(v)
        });
    });
}

/// `ops::quantize_acts` with the tokens split across the pool.
///
/// x: [n, cols] f32 -> out: [n, act_row_bytes] in `vec_dot_type(w_ty)`.
pub fn par_quantize_acts(
    pool: &ThreadPool,
    k: &Kernels,
    w_ty: GgmlType,
    cols: usize,
    x: &[f32],
    out: &mut [u8],
) -> Result<(), KernelError> {
    let n = x.len() / cols.max(1);
    if pool.n_threads() <= 1 || n < 2 {
        return ops::quantize_acts(k, w_ty, cols, x, out);
    }
    let rb = quant::row_bytes(quant::vec_dot_type(w_ty), cols);
    let out = &mut out[..n * rb];
    let per_block = n.div_ceil(pool.n_threads() * 2);
    let err: Mutex<Option<KernelError>> = Mutex::new(None);
    pool.par_cols(out, n * rb, per_block * rb, &mut [0u8; 0], 0, |c, _| {
        let toks = c.cols().start / rb..c.cols().end / rb;
        let xs = &x[toks.start * cols..toks.end * cols];
        if let Err(e) = ops::quantize_acts(k, w_ty, cols, xs, c.row(0)) {
            *err.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
        }
    });
    match err.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Fewest elements for which `par_zip` splits the work (below, a pool
/// round trip costs more than the loop; a decode step's gate is 2k-6k).
const PAR_ZIP_MIN: usize = 1 << 15;

/// `f(&mut x[i..j], &y[i..j])` over parts of `x` and `y` spread across the
/// pool (parts of a multiple of 64 elements): for element-wise operations
/// such as `ops::geglu` / `ops::swiglu`, which then give the same result
/// for any split. Runs `f(x, y)` inline for short inputs or one thread.
///
/// x: [n], y: [n] -> x: [n]
pub fn par_zip(pool: &ThreadPool, x: &mut [f32], y: &[f32], f: impl Fn(&mut [f32], &[f32]) + Sync) {
    let n = x.len().min(y.len());
    let (x, y) = (&mut x[..n], &y[..n]);
    if pool.n_threads() <= 1 || n < PAR_ZIP_MIN {
        return f(x, y);
    }
    let block = block_size(n, pool.n_threads(), 64);
    pool.par_cols(x, n, block, &mut [0u8; 0], 0, |c, _| {
        let cols = c.cols();
        f(c.row(0), &y[cols]);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::ops::tests::pseudo;
    use crate::packed::PackedMatrix;

    #[test]
    fn par_zip_geglu_swiglu_equal_the_single_threaded_ops() {
        for n in [
            1,
            100,
            PAR_ZIP_MIN - 1,
            PAR_ZIP_MIN + 37,
            3 * PAR_ZIP_MIN + 5,
        ] {
            let g0: Vec<f32> = pseudo(n, 21).iter().map(|v| v * 12.0).collect();
            let u = pseudo(n, 22);
            for threads in [1, 2, 3] {
                let pool = ThreadPool::new(threads);
                for op in [ops::geglu as fn(&mut [f32], &[f32]), ops::swiglu] {
                    let mut want = g0.clone();
                    op(&mut want, &u);
                    let mut got = g0.clone();
                    par_zip(&pool, &mut got, &u, op);
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&got), bits(&want), "n {n} threads {threads}");
                }
            }
        }
    }

    #[test]
    fn threaded_equals_single_threaded_bit_for_bit() {
        let k = crate::arch::select();
        let (rows, cols, n) = (203, 512, 5);
        let wf = pseudo(rows * cols, 11);
        let x = pseudo(n * cols, 12);
        let pools = [ThreadPool::new(1), ThreadPool::new(2), ThreadPool::new(3)];
        for ty in [
            GgmlType::Q8_0,
            GgmlType::Q4_K,
            GgmlType::Q6_K,
            GgmlType::Q5_0,
        ] {
            let rb = quant::row_bytes(ty, cols);
            let mut wq = vec![0u8; rows * rb];
            for (r, o) in wf.chunks(cols).zip(wq.chunks_mut(rb)) {
                quant::quantize_row(ty, r, o).unwrap();
            }
            let w = QMatrix {
                ty,
                rows,
                cols,
                data: &wq,
                packed: None,
            };
            let ab = w.act_row_bytes();
            let mut xq = vec![0u8; n * ab];
            ops::quantize_acts(k, ty, cols, &x, &mut xq).unwrap();
            let mut y1 = vec![0f32; n * rows];
            ops::matmul(k, w, &xq, n, &mut y1);
            let mut v1 = vec![0f32; rows];
            ops::matvec(k, w, &xq, &mut v1);
            for pool in &pools {
                let mut xq2 = vec![0u8; n * ab];
                par_quantize_acts(pool, k, ty, cols, &x, &mut xq2).unwrap();
                assert_eq!(xq, xq2, "{ty} quantize, {} threads", pool.n_threads());
                let mut y2 = vec![f32::NAN; n * rows];
                par_matmul(pool, k, w, &xq, n, &mut y2);
                assert_eq!(y1, y2, "{ty} matmul, {} threads", pool.n_threads());
                let mut v2 = vec![f32::NAN; rows];
                par_matvec(pool, k, w, &xq, &mut v2);
                assert_eq!(v1, v2, "{ty} matvec, {} threads", pool.n_threads());
            }
        }
    }

    /// Several tokens through the decode kernels, weights read once: each
    /// token's outputs equal its own `par_matvec`, with and without the
    /// table's repacked layout, for 1..=9 tokens (every chunk remainder of
    /// the multi-token kernels) and row counts that end mid-pass.
    #[test]
    fn matvec_tokens_equal_one_matvec_per_token() {
        let k = crate::arch::select();
        let (cols, n_max) = (512, 9);
        let x = pseudo(n_max * cols, 32);
        for ty in [
            GgmlType::Q8_0,
            GgmlType::Q4_0,
            GgmlType::Q5_0,
            GgmlType::Q4_K,
            GgmlType::Q6_K,
        ] {
            let rb = quant::row_bytes(ty, cols);
            // more rows than a pass of TOKEN_PASS_BYTES and a SUB_ROWS call,
            // and an odd tail
            let rows = (2 * TOKEN_PASS_BYTES / rb).max(SUB_ROWS) + 37;
            let wf = pseudo(rows * cols, 31);
            let mut wq = vec![0u8; rows * rb];
            for (r, o) in wf.chunks(cols).zip(wq.chunks_mut(rb)) {
                quant::quantize_row(ty, r, o).unwrap();
            }
            let plain = QMatrix::new(ty, rows, cols, &wq);
            let packed = k.packing(ty).map(|p| PackedMatrix::pack(p, plain).unwrap());
            let ab = plain.act_row_bytes();
            let mut xq = vec![0u8; n_max * ab];
            ops::quantize_acts(k, ty, cols, &x, &mut xq).unwrap();
            let views = [None, packed.as_ref().map(PackedMatrix::view)];
            let pools = [1, 2, 3].map(ThreadPool::new);
            for (w, pool) in views
                .iter()
                .map(|p| QMatrix {
                    packed: *p,
                    ..plain
                })
                .flat_map(|w| pools.iter().map(move |p| (w, p)))
            {
                let mut want = vec![f32::NAN; n_max * rows];
                for t in 0..n_max {
                    par_matvec(pool, k, w, &xq[t * ab..], &mut want[t * rows..]);
                }
                for n in 1..=n_max {
                    let mut got = vec![f32::NAN; n * rows];
                    par_matvec_tokens(pool, k, w, &xq, n, &mut got);
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    let what = format!(
                        "{ty}, {n} tokens, {} threads, packed {}",
                        pool.n_threads(),
                        w.packed.is_some()
                    );
                    assert_eq!(bits(&got), bits(&want[..n * rows]), "{what}");
                }
            }
        }
    }
}
