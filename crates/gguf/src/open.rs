//! Opening a model file from a path: only regular files, and either mapped or read
//! into memory.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use crate::buf::AlignedBuf;
use crate::error::GgufError;

/// What a path names, for errors about things that are not regular files.
pub fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    let ty = meta.file_type();
    if ty.is_file() {
        return "regular file";
    }
    if ty.is_dir() {
        return "directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ty.is_fifo() {
            return "named pipe (FIFO)";
        }
        if ty.is_char_device() || ty.is_block_device() {
            return "device";
        }
        if ty.is_socket() {
            return "socket";
        }
    }
    "special file"
}

/// Opens `path` for reading if it is a regular file, and returns it with its length.
///
/// The type is checked on the path before opening (a FIFO would block `open` until a
/// writer appears) and again on the opened file, which is opened non-blocking so that a
/// FIFO swapped in between cannot block either.
pub fn open_regular(path: &Path) -> Result<(File, u64), GgufError> {
    let io_err = |source| GgufError::Io {
        path: path.display().to_string(),
        source,
    };
    let not_a_file = |meta: &std::fs::Metadata| GgufError::NotAFile {
        path: path.display().to_string(),
        kind: file_kind(meta),
    };
    let meta = std::fs::metadata(path).map_err(io_err)?;
    if !meta.is_file() {
        return Err(not_a_file(&meta));
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(io_err)?;
    let meta = file.metadata().map_err(io_err)?;
    if !meta.is_file() {
        return Err(not_a_file(&meta));
    }
    Ok((file, meta.len()))
}

/// Reads the `len` bytes of `file` into an aligned buffer, refusing (not aborting) when
/// the memory cannot be had and failing when the file ends early.
pub fn read_all(mut file: File, len: u64, path: &Path) -> Result<AlignedBuf, GgufError> {
    let alloc_err = || GgufError::OutOfMemory {
        path: path.display().to_string(),
        bytes: len,
    };
    let n = usize::try_from(len).map_err(|_| alloc_err())?;
    let mut buf = AlignedBuf::try_with_capacity(n).map_err(|_| alloc_err())?;
    let mut chunk = vec![0u8; (1 << 20).min(n.max(1))];
    while buf.len() < n {
        let want = chunk.len().min(n - buf.len());
        let got = match file.read(&mut chunk[..want]) {
            Ok(0) => {
                return Err(GgufError::Io {
                    path: path.display().to_string(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!(
                        "the file ended after {} of its {n} bytes (it changed while being read)",
                        buf.len()
                    ),
                    ),
                })
            }
            Ok(k) => k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(source) => {
                return Err(GgufError::Io {
                    path: path.display().to_string(),
                    source,
                })
            }
        };
        buf.extend_from_slice(&chunk[..got]);
    }
    Ok(buf)
}
