//! Errors of the byte-level kernel entry points (`quant::dequantize_row` …).

use gguf::GgmlType;
use thiserror::Error;

/// What went wrong when handing raw tensor bytes to a kernel.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KernelError {
    /// No kernel exists for this type (or for this operation on this type).
    #[error("no kernel for tensor type {0}")]
    Unsupported(GgmlType),
    /// A buffer's length does not fit the row it is meant to hold.
    #[error("{what} buffer for a {ty} row of {n} elements: expected length {expected}, got {got}")]
    Length {
        /// Which buffer: `"src"` or `"dst"`.
        what: &'static str,
        /// The tensor type being converted.
        ty: GgmlType,
        /// Elements in the row.
        n: usize,
        /// Required length (bytes for quantized buffers, elements for f32 ones).
        expected: usize,
        /// Actual length.
        got: usize,
    },
    /// The element count is not a whole number of blocks.
    #[error("a {ty} row needs a multiple of {block} elements, got {n}")]
    PartialBlock {
        /// The tensor type.
        ty: GgmlType,
        /// Elements per block of `ty`.
        block: usize,
        /// Elements requested.
        n: usize,
    },
    /// A byte buffer is not aligned enough to be viewed as blocks of `ty`.
    /// (The dispatch in `quant` copies misaligned blocks instead of returning
    /// this; it is kept for callers that need zero-copy views.)
    #[error(
        "{what} buffer for {ty} is misaligned: address {addr:#x} is not a multiple of {align}"
    )]
    Misaligned {
        /// Which buffer.
        what: &'static str,
        /// The block type it was to be viewed as.
        ty: GgmlType,
        /// The buffer's start address.
        addr: usize,
        /// The required alignment in bytes.
        align: usize,
    },
    /// A load-time copy (e.g. a repacked matrix) could not be allocated.
    #[error("cannot allocate {bytes} bytes for {what}")]
    OutOfMemory {
        /// What the memory was for.
        what: &'static str,
        /// Bytes requested.
        bytes: usize,
    },
}
