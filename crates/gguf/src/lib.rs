//! GGUF v2/v3 reader and writer.
//!
//! [`GgufFile`] validates a whole file up front (header, typed metadata,
//! tensor infos, tensor placement) without panicking or allocating more than
//! the file's size can justify, then hands out zero-copy tensor views.
//! [`GgufWriter`] (in memory) and [`GgufStreamWriter`] (header first, then
//! each tensor's data as it is produced) write files with the same conventions as gguf-py and
//! llama.cpp (tensors in order, each padded to the alignment with zeros); a
//! file from gguf-py or llama.cpp read and written back is byte-identical.
//!
//! Validation rules, and where they differ from llama.cpp's `gguf.cpp`:
//! - versions 2 and 3 only; a byte-swapped version field is reported as a
//!   big-endian file;
//! - every count and length is checked against the bytes left before anything
//!   is allocated (an array of `n` u32 needs `4n` bytes, of `n` strings `8n`);
//! - keys, string values and tensor names must be UTF-8 (llama.cpp accepts any
//!   bytes in values; a typed [`GgufError::InvalidUtf8`] is returned instead);
//! - keys are non-empty and unique, tensor names unique and shorter than 64 bytes;
//! - arrays of arrays are accepted up to [`MAX_ARRAY_DEPTH`] (llama.cpp
//!   rejects them, gguf-py writes them);
//! - `general.alignment` must be a u32 power of two;
//! - at most 4 dims, each `<= i64::MAX`, product `<= i64::MAX`; dims of 0
//!   (empty tensors) are allowed like in llama.cpp; rows must be whole blocks;
//! - tensor offsets must be multiples of the alignment, lie inside the data
//!   section and not overlap (llama.cpp additionally requires tensors to be
//!   packed in file order; this reader accepts any non-overlapping order).
#![deny(unsafe_code)]

mod buf;
mod cursor;
mod error;
mod file;
mod infos;
mod layout;
mod metadata;
#[cfg(not(target_arch = "wasm32"))]
mod open;
mod reader;
mod storage;
mod stream;
mod tensor;
mod types;
mod value;
mod writer;

pub use buf::AlignedBuf;
pub use error::GgufError;
pub use file::GgufFile;
pub use infos::{MAX_DIMS, MAX_TENSOR_NAME_LEN};
pub use metadata::Metadata;
#[cfg(not(target_arch = "wasm32"))]
pub use open::file_kind;
pub use reader::{ALIGNMENT_KEY, DEFAULT_ALIGNMENT, MAGIC, MAX_ARRAY_DEPTH};
pub use stream::{GgufStreamWriter, TensorDataWriter};
pub use tensor::TensorInfo;
pub use types::GgmlType;
pub use value::{Array, Value};
pub use writer::GgufWriter;
