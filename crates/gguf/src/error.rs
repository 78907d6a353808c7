//! The one error type of this crate: every way a GGUF file can be rejected.

use crate::types::GgmlType;

/// Why a GGUF file could not be read (or a tensor could not be added to a
/// [`GgufWriter`](crate::GgufWriter)).
///
/// Every variant names what is wrong and where: the key or tensor involved,
/// the byte offset in the file when it matters, and the offending numbers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GgufError {
    /// The file could not be opened or mapped.
    #[error("cannot read '{path}': {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },

    /// The path names a directory, a FIFO, a device or another non-regular file.
    #[error("'{path}' is a {kind}, not a regular file")]
    NotAFile { path: String, kind: &'static str },

    /// The memory to read the file into could not be allocated.
    #[error("cannot allocate {bytes} bytes to read '{path}' into memory")]
    OutOfMemory { path: String, bytes: u64 },

    /// The first four bytes are not `GGUF`.
    #[error("not a GGUF file: magic is {found:02x?}, expected \"GGUF\"")]
    BadMagic { found: [u8; 4] },

    /// Version 0, 1 (GGUFv1 has 32-bit counts) or newer than 3.
    #[error("unsupported GGUF version {version} (supported: 2 and 3)")]
    UnsupportedVersion { version: u32 },

    /// The version field reads as a byte-swapped small number: the file was
    /// written big-endian, which this reader does not support.
    #[error("GGUF version field is {version:#010x}: the file is big-endian, only little-endian files are supported")]
    BigEndian { version: u32 },

    /// The file ends before a field it declares.
    #[error("file truncated in {what} at byte {offset}: needs {needed} bytes, {available} left")]
    Truncated {
        what: String,
        offset: u64,
        needed: u64,
        available: u64,
    },

    /// `tensor_count` or `kv_count` cannot fit in the rest of the file.
    #[error("{what} is {count} but the remaining {remaining} bytes hold at most {max}")]
    CountTooLarge {
        what: &'static str,
        count: u64,
        max: u64,
        remaining: u64,
    },

    /// An array declares more elements than the rest of the file can hold
    /// (checked before anything is allocated).
    #[error("array in key '{key}' at byte {offset} declares {count} elements of at least {min_elem_bytes} bytes, only {remaining} bytes left")]
    ArrayTooLong {
        key: String,
        offset: u64,
        count: u64,
        min_elem_bytes: u64,
        remaining: u64,
    },

    /// Arrays nested deeper than [`MAX_ARRAY_DEPTH`](crate::MAX_ARRAY_DEPTH).
    #[error("array in key '{key}' is nested {depth} levels deep (at most {max})")]
    NestingTooDeep {
        key: String,
        depth: usize,
        max: usize,
    },

    /// A metadata value type id outside 0..=12.
    #[error("key '{key}' has unknown value type id {type_id} at byte {offset}")]
    UnknownValueType {
        key: String,
        type_id: u32,
        offset: u64,
    },

    /// A key, string value or tensor name that is not UTF-8.
    #[error("{what} at byte {offset} is not valid UTF-8")]
    InvalidUtf8 { what: String, offset: u64 },

    /// A metadata key of length zero.
    #[error("metadata key #{index} at byte {offset} is empty")]
    EmptyKey { index: u64, offset: u64 },

    /// The same metadata key twice.
    #[error("duplicate metadata key '{key}' (entries #{first} and #{second})")]
    DuplicateKey {
        key: String,
        first: u64,
        second: u64,
    },

    /// `general.alignment` is not stored as a u32.
    #[error("key 'general.alignment' must be a u32, found {found}")]
    AlignmentType { found: &'static str },

    /// An alignment that is zero or not a power of two.
    #[error("alignment {alignment} is not a nonzero power of two")]
    BadAlignment { alignment: u64 },

    /// A tensor name of [`MAX_TENSOR_NAME_LEN`](crate::MAX_TENSOR_NAME_LEN) bytes or more.
    #[error("tensor name '{name}' is {len} bytes long (must be < {max})")]
    TensorNameTooLong { name: String, len: u64, max: u64 },

    /// The same tensor name twice.
    #[error("duplicate tensor name '{name}' (tensors #{first} and #{second})")]
    DuplicateTensor {
        name: String,
        first: u64,
        second: u64,
    },

    /// More than 4 dimensions.
    #[error("tensor '{name}' has {n_dims} dimensions (at most {max})")]
    TooManyDims { name: String, n_dims: u32, max: u32 },

    /// A dimension above `i64::MAX` (ggml stores dims as signed 64-bit).
    #[error("tensor '{name}' dimension {index} is {value}, above i64::MAX")]
    DimTooLarge {
        name: String,
        index: usize,
        value: u64,
    },

    /// The product of the dimensions does not fit in an `i64`.
    #[error("tensor '{name}' with dims {dims:?} has more than i64::MAX elements")]
    ElementCountOverflow { name: String, dims: Vec<u64> },

    /// A tensor type id that is not a known [`GgmlType`].
    #[error("tensor '{name}' has unknown ggml type id {type_id}")]
    UnknownTensorType { name: String, type_id: u32 },

    /// The row length (dims\[0\]) is not a multiple of the type's block size.
    #[error("tensor '{name}' of type {ty} has rows of {row_len} elements, not a multiple of the block size {block_size}")]
    RowNotBlockMultiple {
        name: String,
        ty: GgmlType,
        row_len: u64,
        block_size: u64,
    },

    /// The size in bytes of a tensor does not fit in a `u64`.
    #[error("tensor '{name}' of type {ty} with dims {dims:?} has a byte size that overflows u64")]
    TensorSizeOverflow {
        name: String,
        ty: GgmlType,
        dims: Vec<u64>,
    },

    /// The padding before the data section is missing although tensors exist.
    #[error(
        "data section should start at byte {data_offset} but the file is only {file_len} bytes"
    )]
    DataSectionMissing { data_offset: u64, file_len: u64 },

    /// A tensor offset that is not a multiple of the file's alignment.
    #[error("tensor '{name}' offset {offset} is not a multiple of the alignment {alignment}")]
    OffsetMisaligned {
        name: String,
        offset: u64,
        alignment: u64,
    },

    /// A tensor whose bytes extend past the end of the data section.
    #[error("tensor '{name}' at offset {offset} with {size} bytes ends past the data section of {data_len} bytes")]
    TensorOutOfBounds {
        name: String,
        offset: u64,
        size: u64,
        data_len: u64,
    },

    /// Two tensors whose byte ranges intersect.
    #[error("tensor '{first}' (bytes {first_offset}..{first_end}) overlaps tensor '{second}' starting at {second_offset}")]
    TensorOverlap {
        first: String,
        first_offset: u64,
        first_end: u64,
        second: String,
        second_offset: u64,
    },

    /// [`GgufWriter::add_tensor`](crate::GgufWriter::add_tensor) got a data
    /// buffer of the wrong length.
    #[error("tensor '{name}' needs {expected} bytes of data, got {got}")]
    DataSizeMismatch {
        name: String,
        expected: u64,
        got: u64,
    },
}
