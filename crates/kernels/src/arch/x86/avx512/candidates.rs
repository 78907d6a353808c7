//! The decode kernels the calibration (`arch::tune`) may choose for the
//! default AVX-512 table, per weight type, the table's own `rows` kernel
//! first. Every one must equal the table's row dot (`dot`) bit for bit:
//! here the llama.cpp-order types, whose row dot is the AVX2 one, so the
//! plain row-by-row loop is always a candidate. Types whose row dot is a
//! 512-bit kernel have no alternative of the same order yet.
//!
//! To offer a new kernel, add one `Candidate::rows("name", kernel)` line
//! to its type (a new stable name: cached choices among the old set are
//! then timed again), and a test that it equals the row dot (see
//! `rows_tests.rs`; `tests::candidates_equal_the_row_dot` checks all of
//! them on random rows too).

use super::rows;
use crate::arch::tune::Candidate;
use crate::arch::x86::avx2::rows::{quarters_q4_0, quarters_q5_0, quarters_q8_0};
use gguf::GgmlType;

/// The row dot (AVX2, llama.cpp's order) once per row.
const ROW_DOT: Candidate = Candidate::row_dot("avx2-row-dot");

/// The candidates for weights of type `w`, the table's own kernel first.
pub(super) fn lookup(w: GgmlType) -> &'static [Candidate] {
    use GgmlType::*;
    match w {
        Q4_K => const { &[Candidate::rows("avx512-pairs", rows::rows_q4_k), ROW_DOT] },
        Q6_K => const { &[Candidate::rows("avx512-pairs", rows::rows_q6_k), ROW_DOT] },
        Q4_0 => const { &[Candidate::rows("avx2-quarters", quarters_q4_0), ROW_DOT] },
        Q5_0 => const { &[Candidate::rows("avx2-quarters", quarters_q5_0), ROW_DOT] },
        Q8_0 => const { &[Candidate::rows("avx2-quarters", quarters_q8_0), ROW_DOT] },
        _ => &[],
    }
}
