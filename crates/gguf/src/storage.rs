//! Where a file's bytes live: a read-only memory map or an aligned heap buffer.

use crate::buf::AlignedBuf;

pub(crate) enum Storage {
    #[cfg(not(target_arch = "wasm32"))]
    Mmap(memmap2::Mmap),
    Aligned(AlignedBuf),
}

impl Storage {
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            #[cfg(not(target_arch = "wasm32"))]
            Storage::Mmap(m) => m,
            Storage::Aligned(b) => b.as_slice(),
        }
    }
}

/// Maps `file` read-only.
#[cfg(not(target_arch = "wasm32"))]
#[allow(unsafe_code)]
pub(crate) fn map(file: &std::fs::File) -> std::io::Result<memmap2::Mmap> {
    // SAFETY: the map is read-only and private to this process; memmap2 requires the caller to
    // promise the file is not truncated or modified while mapped, which we document as a
    // precondition of `GgufFile::open` (model files are not written while they are being run).
    unsafe { memmap2::Mmap::map(file) }
}
