//! Converting a tensor's rows from one type to another on several threads.
//! Each row is converted on its own (float row, then ggml's reference
//! quantizer), so the bytes do not depend on the number of threads.

use gguf::GgmlType;
use kernels::quant::{dequantize_row, quantize_row};
use kernels::KernelError;

/// Rows of `row_len` elements, `src` of type `from` -> `dst` of type `to`,
/// split into contiguous runs of rows over up to `n_threads` threads.
// src: [n_rows * row_bytes(from)] -> dst: [n_rows * row_bytes(to)]
pub(crate) fn convert_rows(
    from: GgmlType,
    to: GgmlType,
    row_len: usize,
    src: &[u8],
    dst: &mut [u8],
    n_threads: usize,
) -> Result<(), KernelError> {
    let src_row = from.row_bytes(row_len as u64).unwrap_or(0) as usize;
    let dst_row = to.row_bytes(row_len as u64).unwrap_or(0) as usize;
    if src_row == 0 || dst_row == 0 {
        return Ok(());
    }
    let n_rows = dst.len() / dst_row;
    let per_thread = n_rows.div_ceil(n_threads.clamp(1, n_rows.max(1)));
    let rows = Rows {
        from,
        to,
        row_len,
        src_row,
        dst_row,
    };
    if per_thread >= n_rows {
        return rows.convert(src, dst);
    }
    std::thread::scope(|s| {
        let workers: Vec<_> = src
            .chunks(per_thread * src_row)
            .zip(dst.chunks_mut(per_thread * dst_row))
            .map(|(sc, dc)| s.spawn(move || rows.convert(sc, dc)))
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().expect("a quantizer thread panicked"))
    })
}

/// The shape of a conversion: types and row sizes.
#[derive(Clone, Copy)]
struct Rows {
    from: GgmlType,
    to: GgmlType,
    row_len: usize,
    src_row: usize,
    dst_row: usize,
}

impl Rows {
    /// One thread's run of rows.
    fn convert(self, src: &[u8], dst: &mut [u8]) -> Result<(), KernelError> {
        let mut row = vec![0.0f32; self.row_len];
        let rows = src
            .chunks_exact(self.src_row)
            .zip(dst.chunks_exact_mut(self.dst_row));
        for (s, d) in rows {
            dequantize_row(self.from, s, &mut row)?;
            quantize_row(self.to, &row, d)?;
        }
        Ok(())
    }
}
