//! GGUF v2/v3 reader and writer.
//!
//! [`GgufFile`] validates a whole file up front (header, typed metadata,
//! tensor infos, tensor placement) without panicking or allocating more than
//! the file's size can justify, then hands out zero-copy tensor views.
//! [`GgufWriter`] writes files with the same conventions as gguf-py and
//! llama.cpp (tensors in order, each padded to the alignment with zeros).
#![deny(unsafe_code)]

mod buf;
mod cursor;
mod error;
mod file;
mod infos;
mod metadata;
mod reader;
mod storage;
mod tensor;
mod types;
mod value;
mod writer;

pub use buf::AlignedBuf;
pub use error::GgufError;
pub use file::GgufFile;
pub use infos::{MAX_DIMS, MAX_TENSOR_NAME_LEN};
pub use metadata::Metadata;
pub use reader::{ALIGNMENT_KEY, DEFAULT_ALIGNMENT, MAGIC, MAX_ARRAY_DEPTH};
pub use tensor::TensorInfo;
pub use types::GgmlType;
pub use value::{Array, Value};
pub use writer::GgufWriter;
