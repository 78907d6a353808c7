//! What the multi-row decode kernels (`Kernels::rows`) of the ISA tables
//! share: the cast of byte rows to blocks, with the row-dot fallback for
//! rows misaligned for their block type, and (in tests) the check that a
//! rows kernel equals its table's row dot bit for bit.

use super::RowDotFn;
use crate::quant::{row_bytes, vec_dot_type};
use bytemuck::Pod;
use gguf::GgmlType;

/// Casts `y.len()` consecutive rows of `n` elements of type `ty` and the
/// activation row to blocks and runs `f(rows, nb, act, y)`; misaligned or
/// empty rows go through `dot` (the table's row dot), one row at a time.
// w: [y.len() * row_bytes(ty, n)], a: [row_bytes(vec_dot_type(ty), n)] -> y
#[inline(always)]
pub(crate) fn cast_rows<W: Pod, A: Pod>(
    ty: GgmlType,
    n: usize,
    w: &[u8],
    a: &[u8],
    y: &mut [f32],
    dot: RowDotFn,
    f: impl Fn(&[W], usize, &[A], &mut [f32]),
) {
    let rb = row_bytes(ty, n);
    let nb = n / ty.block_size();
    let wb = &w[..y.len() * rb];
    let ab = &a[..row_bytes(vec_dot_type(ty), n)];
    match (bytemuck::try_cast_slice(wb), bytemuck::try_cast_slice(ab)) {
        (Ok(x), Ok(act)) if nb > 0 && n == nb * ty.block_size() => f(x, nb, act, y),
        _ => {
            for (i, yi) in y.iter_mut().enumerate() {
                *yi = dot(n, &wb[i * rb..(i + 1) * rb], ab);
            }
        }
    }
}

/// `k.rows(t)` over the rows of `w` equals `k.dot(t)` row by row, bit for
/// bit (no rows: three outputs of an empty product).
#[cfg(test)]
pub(crate) fn check_rows(
    k: &super::Kernels,
    t: GgmlType,
    n: usize,
    w: &[u8],
    a: &[u8],
    what: &str,
) {
    let rb = row_bytes(t, n);
    let nr = w.len().checked_div(rb).unwrap_or(3);
    let dot = k.dot(t).unwrap();
    let mut y = vec![f32::NAN; nr];
    k.rows(t).unwrap()(n, w, a, &mut y);
    for (r, got) in y.iter().enumerate() {
        let want = dot(n, &w[r * rb..(r + 1) * rb], a);
        assert_eq!(
            got.to_bits(),
            want.to_bits(),
            "{t} n={n} row {r} of {nr} ({what}): rows {got} vs row dot {want}"
        );
    }
}
