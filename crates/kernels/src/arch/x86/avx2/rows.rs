//! Multi-row decode kernels that need only AVX2 (+FMA, F16C): Q4_0, Q5_0
//! and Q8_0 four rows at a time, a group taking one row from each quarter
//! of the matrix (four sequential streams, four independent accumulation
//! chains; `legacy::rows4_*`), each output equal bit for bit to the AVX2
//! row dot. Offered to the calibration (`arch::tune`) by the AVX2 table
//! and by the AVX-512 one (`avx2-quarters`).

use super::legacy::{rows4_q4_0, rows4_q5_0, rows4_q8_0};
use crate::arch::rows::cast_rows;
use crate::blocks::{BlockQ4_0, BlockQ5_0, BlockQ8_0};
use gguf::GgmlType;

/// Rows four at a time through `$four`, a group taking one row from each
/// quarter of the matrix; the last `rows % 4` rows through the row dot.
macro_rules! rows4_fn {
    ($name:ident, $ty:ident, $w:ty, $four:ident) => {
        // w: [y.len() * row_bytes($ty, n)], a: [row_bytes(Q8_0, n)] -> y
        pub(in crate::arch::x86) fn $name(n: usize, w: &[u8], a: &[u8], y: &mut [f32]) {
            let dot = super::dot(GgmlType::$ty).expect("row dot of a type with a rows kernel");
            let f = |x: &[$w], nb, act: &[BlockQ8_0], y: &mut [f32]| {
                let m = y.len() / 4;
                let row = |r: usize| &x[r * nb..(r + 1) * nb];
                // SAFETY: AVX2, FMA and F16C were detected before a table
                // offering these kernels (AVX2 or AVX-512) was handed out.
                let four = |r: [usize; 4]| unsafe { $four(r.map(row), act) };
                for q in 0..m {
                    let r = [q, q + m, q + 2 * m, q + 3 * m];
                    for (&i, v) in r.iter().zip(four(r)) {
                        y[i] = v;
                    }
                }
                let rb = crate::quant::row_bytes(GgmlType::$ty, n);
                for i in 4 * m..y.len() {
                    y[i] = dot(n, &w[i * rb..(i + 1) * rb], a);
                }
            };
            cast_rows(GgmlType::$ty, n, w, a, y, dot, f)
        }
    };
}

rows4_fn!(quarters_q4_0, Q4_0, BlockQ4_0, rows4_q4_0);
rows4_fn!(quarters_q5_0, Q5_0, BlockQ5_0, rows4_q5_0);
rows4_fn!(quarters_q8_0, Q8_0, BlockQ8_0, rows4_q8_0);

/// The AVX2 table's decode candidates (`arch::tune`): its own choice, the
/// row dot once per row, first; then the quarters kernels.
pub(super) fn candidates(w: GgmlType) -> &'static [crate::arch::tune::Candidate] {
    use crate::arch::tune::Candidate;
    use GgmlType::*;
    const ROW_DOT: Candidate = Candidate::row_dot("avx2-row-dot");
    match w {
        Q4_0 => const { &[ROW_DOT, Candidate::rows("avx2-quarters", quarters_q4_0)] },
        Q5_0 => const { &[ROW_DOT, Candidate::rows("avx2-quarters", quarters_q5_0)] },
        Q8_0 => const { &[ROW_DOT, Candidate::rows("avx2-quarters", quarters_q8_0)] },
        _ => &[],
    }
}
