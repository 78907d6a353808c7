//! The decode kernels the calibration (`arch::tune`) may choose for the
//! default AVX-512 table, per weight type, the table's own `rows` kernel
//! first. Every one must equal the table's row dot (`dot`) bit for bit:
//! here the llama.cpp-order types, whose row dot is the AVX2 one, so the
//! plain row-by-row loop is always a candidate. Types without a list here
//! run the table's `rows` kernel (or the row dot) untimed.
//!
//! To offer a new kernel, add one `Candidate::rows("name", kernel)` line
//! to its type (a new stable name: cached choices among the old set are
//! then timed again), and a test that it equals the row dot (see
//! `rows_tests.rs`; the conformance test (`crate::conformance`) checks all
//! of them on random rows too).

use super::{rows, rows_legacy};
use crate::arch::tune::Candidate;
use crate::arch::x86::avx2::rows::{quarters_q4_0, quarters_q5_0, quarters_q8_0};
use gguf::GgmlType;

/// The AVX2 quarters kernels of Q4_0, Q5_0, Q8_0 (four rows from the four
/// quarters of the matrix, 256-bit steps).
const QUARTERS: [Candidate; 3] = [
    Candidate::rows("avx2-quarters", quarters_q4_0),
    Candidate::rows("avx2-quarters", quarters_q5_0),
    Candidate::rows("avx2-quarters", quarters_q8_0),
];

/// The row dot (AVX2, llama.cpp's order) once per row.
const ROW_DOT: Candidate = Candidate::row_dot("avx2-row-dot");

/// The candidates for weights of type `w`, the table's own kernel first.
pub(super) fn lookup(w: GgmlType) -> &'static [Candidate] {
    use GgmlType::*;
    match w {
        Q4_K => const { &[Candidate::rows("avx512-pairs", rows::rows_q4_k), ROW_DOT] },
        Q6_K => const { &[Candidate::rows("avx512-pairs", rows::rows_q6_k), ROW_DOT] },
        Q4_0 => {
            const {
                &[
                    Candidate::rows("avx512-vnni-pairs", rows_legacy::rows_q4_0),
                    QUARTERS[0],
                    ROW_DOT,
                ]
            }
        }
        Q5_0 => {
            const {
                &[
                    Candidate::rows("avx512-vnni-pairs", rows_legacy::rows_q5_0),
                    QUARTERS[1],
                    ROW_DOT,
                ]
            }
        }
        Q8_0 => {
            const {
                &[
                    Candidate::rows("avx512-vnni-pairs", rows_legacy::rows_q8_0),
                    QUARTERS[2],
                    ROW_DOT,
                ]
            }
        }
        Q4_1 => {
            const {
                &[
                    Candidate::rows("avx512-vnni-pairs", rows_legacy::rows_q4_1),
                    ROW_DOT,
                ]
            }
        }
        Q5_1 => {
            const {
                &[
                    Candidate::rows("avx512-vnni-pairs", rows_legacy::rows_q5_1),
                    ROW_DOT,
                ]
            }
        }
        _ => &[],
    }
}
