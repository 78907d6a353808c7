//! The AVX2 tile kernels behind `Kernels::gemm`: byte rows of the `GemmFn`
//! contract viewed as blocks, then the typed kernels of `gemm_legacy` and
//! `gemm_kquant`. Types without a tile kernel get `None` (the row dot runs);
//! rows misaligned for their block type run the AVX2 row dot per output.
//!
//! Soundness as in `super`: these functions are reached only through the
//! `AVX2` table, handed out after AVX2, FMA and F16C were detected.

use bytemuck::Pod;
use gguf::GgmlType;

use super::{gemm_batched, gemm_kquant, gemm_legacy};
use crate::arch::GemmFn;
use crate::gemm::gemm_by_rows;
use crate::quant::{row_bytes, vec_dot_type};

/// The tile kernel for weights of type `w`, if there is one.
pub(in crate::arch) fn lookup(w: GgmlType) -> Option<GemmFn> {
    use GgmlType::*;
    Some(match w {
        Q8_0 => gemm_q8_0,
        Q4_0 => gemm_q4_0,
        Q5_0 => gemm_q5_0,
        Q4_K => gemm_q4_k,
        Q6_K => gemm_q6_k,
        _ => return None,
    })
}

/// The tile kernel of llama.cpp's batched k-quant order
/// (`quant::batched`) for weights of type `w`, if there is one.
pub(in crate::arch) fn batched_lookup(w: GgmlType) -> Option<GemmFn> {
    use GgmlType::*;
    Some(match w {
        Q4_K => gemm_q4_k_batched,
        Q5_K => gemm_q5_k_batched,
        Q6_K => gemm_q6_k_batched,
        _ => return None,
    })
}

/// A family of M x N tile kernels of one weight type (`M` weight rows by
/// `N` tokens); each output equals the AVX2 row dot bit for bit.
pub(in crate::arch::x86) trait Tiles {
    /// Weight block.
    type W: Pod;
    /// Activation block.
    type A: Pod;
    /// Whether the tiles compute `quant::batched::dot` (else the row dot).
    const BATCHED: bool = false;
    /// out[t][r] = dot(w[r], a[t]).
    // w: M rows of nb blocks, a: N rows of nb blocks -> out: [N][M]
    fn tile<const M: usize, const N: usize>(
        w: &[&[Self::W]; M],
        a: &[&[Self::A]; N],
    ) -> [[f32; M]; N];
}

/// The whole product in RM x RN tiles (then 1-row and 1-token tiles at the
/// edges). Misaligned rows run the AVX2 row dot per output instead.
// w: [rows, n] of `ty`, a: [toks, n] of vec_dot_type(ty) -> y[t * ys + r]
#[allow(clippy::too_many_arguments)]
pub(in crate::arch::x86) fn run<T: Tiles, const RM: usize, const RN: usize>(
    ty: GgmlType,
    n: usize,
    w: &[u8],
    rows: usize,
    a: &[u8],
    toks: usize,
    y: &mut [f32],
    ys: usize,
) {
    debug_assert_eq!(n % ty.block_size(), 0, "gemm: {n} is not whole {ty} blocks");
    let (wb, ab) = (row_bytes(ty, n), row_bytes(vec_dot_type(ty), n));
    let (w, a) = (&w[..rows * wb], &a[..toks * ab]);
    let (Ok(w), Ok(a)) = (
        bytemuck::try_cast_slice::<u8, T::W>(w),
        bytemuck::try_cast_slice::<u8, T::A>(a),
    ) else {
        let dot = if T::BATCHED {
            crate::arch::batched_dot(ty)
        } else {
            super::dot(ty)
        };
        let dot = dot.expect("types with a tile kernel have a row dot");
        return gemm_by_rows(dot, n, w, wb, a, ab, y, ys);
    };
    let nb = n / ty.block_size();
    let mut r = 0;
    while r + RM <= rows {
        row_tiles::<T, RM, RN>(w, a, nb, r, y, ys);
        r += RM;
    }
    while r < rows {
        row_tiles::<T, 1, RN>(w, a, nb, r, y, ys);
        r += 1;
    }
}

/// Rows `r0..r0 + M` against every token, N tokens at a time, then four,
/// then one.
// w: [rows, nb] blocks, a: [toks, nb] blocks -> y[t * ys + r0 + 0..M]
fn row_tiles<T: Tiles, const M: usize, const N: usize>(
    w: &[T::W],
    a: &[T::A],
    nb: usize,
    r0: usize,
    y: &mut [f32],
    ys: usize,
) {
    let toks = a.len() / nb.max(1);
    let wr: [&[T::W]; M] = std::array::from_fn(|k| &w[(r0 + k) * nb..(r0 + k + 1) * nb]);
    let t0 = tiles_while::<T, M, N>(&wr, a, nb, 0, toks, r0, y, ys);
    // the rest four tokens at a time (each tile unpacks the weight blocks
    // once), then one
    let t0 = if N > 4 {
        tiles_while::<T, M, 4>(&wr, a, nb, t0, toks, r0, y, ys)
    } else {
        t0
    };
    tiles_while::<T, M, 1>(&wr, a, nb, t0, toks, r0, y, ys);
}

/// M x K tiles of rows `wr` from token `t0` while K tokens are left;
/// returns the first token not done.
#[allow(clippy::too_many_arguments)]
fn tiles_while<T: Tiles, const M: usize, const K: usize>(
    wr: &[&[T::W]; M],
    a: &[T::A],
    nb: usize,
    mut t0: usize,
    toks: usize,
    r0: usize,
    y: &mut [f32],
    ys: usize,
) -> usize {
    while t0 + K <= toks {
        let at: [&[T::A]; K] = std::array::from_fn(|k| &a[(t0 + k) * nb..(t0 + k + 1) * nb]);
        for (k, o) in T::tile(wr, &at).iter().enumerate() {
            y[(t0 + k) * ys + r0..][..M].copy_from_slice(o);
        }
        t0 += K;
    }
    t0
}

/// `$name`: the `GemmFn` of `$ty` weights in M x N tiles of `$tiles`
/// (1 x 4 unless given: panels of 8 rows by 16 tokens serve the batched
/// k-quant order).
macro_rules! gemm_fn {
    ($m:literal x $n:literal: $($name:ident: $tiles:ty, $ty:ident;)*) => {$(
        // w: [rows, n] weight bytes, a: [toks, n] activation bytes -> y[t * ys + r]
        fn $name(n: usize, w: &[u8], rows: usize, a: &[u8], toks: usize, y: &mut [f32], ys: usize) {
            run::<$tiles, $m, $n>(GgmlType::$ty, n, w, rows, a, toks, y, ys)
        }
    )*};
    ($($rest:tt)*) => { gemm_fn! { 1 x 4: $($rest)* } };
}

gemm_fn! {
    gemm_q8_0: gemm_legacy::Q8_0Tiles, Q8_0;
    gemm_q4_0: gemm_legacy::Q4_0Tiles, Q4_0;
    gemm_q5_0: gemm_legacy::Q5_0Tiles, Q5_0;
    gemm_q4_k: gemm_kquant::Q4KTiles, Q4_K;
    gemm_q6_k: gemm_kquant::Q6KTiles, Q6_K;
}

gemm_fn! {
    8 x 16:
    gemm_q4_k_batched: gemm_batched::Q4KBatched, Q4_K;
    gemm_q5_k_batched: gemm_batched::Q5KBatched, Q5_K;
    gemm_q6_k_batched: gemm_batched::Q6KBatched, Q6_K;
}
