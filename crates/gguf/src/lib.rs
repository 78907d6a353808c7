//! GGUF v2/v3 reader and writer.
#![deny(unsafe_code)]

mod types;

pub use types::GgmlType;
