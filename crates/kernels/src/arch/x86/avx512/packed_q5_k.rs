//! `q5_k_x4`: Q5_K repacked for the default AVX-512 table's decode, the
//! `q4_k_x4` layout (`packed_q4_k`) plus two 64-byte planes of fifth bits
//! per block after the quants (720 bytes per 4 rows): the kernel is
//! `q4_k_x4`'s, or-ing each value's bit in at bit 4 (a shift and an
//! and-or; a byte mask test and a masked add measured slower). Each AVX2
//! i32 lane keeps its integer and each f32 lane its operations, so outputs
//! equal the AVX2 Q5_K row dot bit for bit.
//!
//! The table repacks Q5_K only once its row dot is the AVX2 one
//! (`llama_cpp_order`); until then the tests reach the layout directly.

use super::packed_kquant::packed_rows;
use super::packed_q4_k::{k4_x4, k4_x4_bytes, pack_k4_x4};
use crate::packed::Packing;
use gguf::GgmlType;

/// Bytes of one Q5_K block.
const BLOCK: usize = 176;
/// Bytes of the fifth-bit planes of one packed block.
const QH: usize = 128;

pub(super) static Q5_K_X4: Packing = Packing {
    name: "q5_k_x4",
    ty: GgmlType::Q5_K,
    group: 4,
    group_bytes: q5_k_x4_bytes,
    pack: pack_q5_k_x4,
    rows: rows_q5_k_x4,
};

fn q5_k_x4_bytes(cols: usize) -> usize {
    k4_x4_bytes(cols, QH)
}

/// Four Q5_K rows of `cols` columns (file layout) -> one `q5_k_x4` group.
// rows: [4 * row_bytes(Q5_K, cols)] -> out: [q5_k_x4_bytes(cols)]
fn pack_q5_k_x4(cols: usize, rows: &[u8], out: &mut [u8]) {
    pack_k4_x4::<QH>(cols, BLOCK, rows, out);
}

packed_rows!(rows_q5_k_x4, 4, q5_k_x4_bytes, k4_x4, 128);
