//! `GgufFile`: a validated GGUF file that owns its bytes and lends tensor views.

use std::collections::HashMap;

use crate::buf::AlignedBuf;
use crate::error::GgufError;
use crate::metadata::Metadata;
use crate::reader::{self, Parsed};
use crate::storage::Storage;
use crate::tensor::TensorInfo;

/// A parsed and fully validated GGUF file.
///
/// Construction checks the whole structure (see [`GgufError`]); afterwards
/// every tensor's bytes are known to lie inside the data section, so
/// [`tensor_data`](Self::tensor_data) is a plain slice of the file without a copy.
pub struct GgufFile {
    storage: Storage,
    version: u32,
    alignment: u64,
    metadata: Metadata,
    tensors: Vec<TensorInfo>,
    tensor_index: HashMap<String, usize>,
    data_offset: u64,
}

impl std::fmt::Debug for GgufFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufFile")
            .field("version", &self.version)
            .field("alignment", &self.alignment)
            .field("file_len", &self.file_len())
            .field("n_kv", &self.metadata.len())
            .field("n_tensors", &self.tensors.len())
            .finish()
    }
}

impl GgufFile {
    /// Memory-maps and validates the file at `path` (a regular file: directories, FIFOs
    /// and devices are refused before they are opened).
    ///
    /// The file must not be modified or truncated while the `GgufFile` lives: a
    /// truncated mapping faults (SIGBUS) when read. [`read`](Self::read) has no such
    /// precondition.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<GgufFile, GgufError> {
        let path = path.as_ref();
        let (file, _) = crate::open::open_regular(path)?;
        let map = crate::storage::map(&file).map_err(|source| GgufError::Io {
            path: path.display().to_string(),
            source,
        })?;
        GgufFile::from_storage(Storage::Mmap(map))
    }

    /// Reads the whole file at `path` into memory and validates it: later changes to the
    /// file do not affect the returned `GgufFile` (llama.cpp's `--no-mmap`).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read(path: impl AsRef<std::path::Path>) -> Result<GgufFile, GgufError> {
        let path = path.as_ref();
        let (file, len) = crate::open::open_regular(path)?;
        GgufFile::from_aligned(crate::open::read_all(file, len, path)?)
    }

    /// Validates a file already held in an aligned buffer, without copying it.
    pub fn from_aligned(buf: AlignedBuf) -> Result<GgufFile, GgufError> {
        GgufFile::from_storage(Storage::Aligned(buf))
    }

    /// Copies `bytes` into an [`AlignedBuf`] and validates them.
    pub fn from_bytes(bytes: &[u8]) -> Result<GgufFile, GgufError> {
        GgufFile::from_aligned(AlignedBuf::from(bytes))
    }

    fn from_storage(storage: Storage) -> Result<GgufFile, GgufError> {
        let Parsed {
            version,
            alignment,
            metadata,
            tensors,
            tensor_index,
            data_offset,
        } = reader::parse(storage.bytes())?;
        Ok(GgufFile {
            storage,
            version,
            alignment,
            metadata,
            tensors,
            tensor_index,
            data_offset,
        })
    }

    /// 2 or 3.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Alignment of the data section and of every tensor offset (a power of two).
    pub fn alignment(&self) -> u64 {
        self.alignment
    }

    pub fn metadata(&self) -> &Metadata {
        &self.metadata
    }

    /// All tensors, in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensor_index.get(name).map(|&i| &self.tensors[i])
    }

    /// The `t.n_bytes` bytes of tensor `t`, which must come from this file
    /// (for a foreign `TensorInfo` that does not fit, the slice is empty).
    ///
    /// The start is 32-byte aligned when `alignment() >= 32`: both an mmap
    /// and an [`AlignedBuf`] start 32-aligned, and so does every tensor.
    pub fn tensor_data(&self, t: &TensorInfo) -> &[u8] {
        let range = self
            .data_offset
            .checked_add(t.offset)
            .and_then(|start| Some(start..start.checked_add(t.n_bytes)?))
            .and_then(|r| Some(usize::try_from(r.start).ok()?..usize::try_from(r.end).ok()?));
        range
            .and_then(|r| self.storage.bytes().get(r))
            .unwrap_or(&[])
    }

    /// File offset of the data section (a multiple of the alignment, except
    /// for a file without tensors that omits the final padding).
    pub fn data_offset(&self) -> u64 {
        self.data_offset
    }

    pub fn file_len(&self) -> u64 {
        self.storage.bytes().len() as u64
    }

    /// The whole file.
    pub fn as_bytes(&self) -> &[u8] {
        self.storage.bytes()
    }
}
