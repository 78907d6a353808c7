//! The model's bytes, held once in wasm memory and filled chunk by chunk as the download
//! streams, then handed to the GGUF reader without a copy.

use gguf::AlignedBuf;

use crate::error::WasmError;

const MIB: u64 = 1 << 20;

/// Largest model file accepted: wasm32 addresses 4 GiB, and the KV cache, scratch
/// buffers, tokenizer tables and the module itself need room beside the file.
pub const MAX_MODEL_BYTES: u64 = 4096 * MIB - 512 * MIB;

/// A model file being received: `total` bytes reserved up front, written in order.
#[derive(Debug)]
pub struct ModelBytes {
    buf: AlignedBuf,
    total: usize,
}

impl ModelBytes {
    /// Checks the size against [`MAX_MODEL_BYTES`], then reserves `total_len` bytes
    /// (a JS number: a whole count of bytes).
    pub fn new(total_len: f64) -> Result<ModelBytes, WasmError> {
        if !(total_len.is_finite() && total_len >= 1.0 && total_len.fract() == 0.0) {
            return Err(WasmError::BadSize(total_len));
        }
        let total = total_len as u64;
        let size_mib = total.div_ceil(MIB);
        if total > MAX_MODEL_BYTES {
            return Err(WasmError::TooLarge {
                size_mib,
                limit_mib: MAX_MODEL_BYTES / MIB,
            });
        }
        let total = usize::try_from(total).map_err(|_| WasmError::TooLarge {
            size_mib,
            limit_mib: usize::MAX as u64 / MIB,
        })?;
        let buf =
            AlignedBuf::try_with_capacity(total).map_err(|_| WasmError::Alloc { size_mib })?;
        Ok(ModelBytes { buf, total })
    }

    /// Appends `chunk`, which must start at `offset` = the bytes written so far.
    pub fn write(&mut self, offset: f64, chunk: &[u8]) -> Result<(), WasmError> {
        let written = self.buf.len();
        if offset != written as f64 {
            return Err(WasmError::OutOfOrder {
                offset,
                expected: written,
            });
        }
        if chunk.len() > self.total - written {
            return Err(WasmError::PastEnd {
                offset: written,
                len: chunk.len(),
                total: self.total,
            });
        }
        self.buf.extend_from_slice(chunk);
        Ok(())
    }

    /// Bytes written so far.
    pub fn written(&self) -> usize {
        self.buf.len()
    }

    /// The announced file size.
    pub fn total(&self) -> usize {
        self.total
    }

    /// The complete file, ready for `GgufFile::from_aligned`.
    pub fn finish(self) -> Result<AlignedBuf, WasmError> {
        if self.buf.len() != self.total {
            return Err(WasmError::Incomplete {
                written: self.buf.len(),
                total: self.total,
            });
        }
        Ok(self.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_in_order_and_finishes_complete() {
        let data: Vec<u8> = (0..100u8).collect();
        let mut b = ModelBytes::new(100.0).unwrap();
        b.write(0.0, &data[..33]).unwrap();
        b.write(33.0, &data[33..90]).unwrap();
        assert_eq!(b.written(), 90);
        assert_eq!(b.total(), 100);
        b.write(90.0, &data[90..]).unwrap();
        let buf = b.finish().unwrap();
        assert_eq!(buf.as_slice(), &data[..]);
        assert_eq!(buf.as_slice().as_ptr() as usize % 32, 0);
    }

    #[test]
    fn rejects_bad_sizes_before_allocating() {
        for bad in [0.0, -1.0, 1.5, f64::NAN, f64::INFINITY] {
            assert!(matches!(ModelBytes::new(bad), Err(WasmError::BadSize(_))));
        }
        let e = ModelBytes::new(5.0 * 1024.0 * 1024.0 * 1024.0).unwrap_err();
        assert!(matches!(
            e,
            WasmError::TooLarge {
                size_mib: 5120,
                limit_mib: 3584
            }
        ));
        assert!(e.to_string().contains("4 GiB"), "{e}");
    }

    #[test]
    fn rejects_gaps_overflow_and_incomplete_files() {
        let mut b = ModelBytes::new(10.0).unwrap();
        b.write(0.0, &[1; 4]).unwrap();
        let e = b.write(5.0, &[1; 2]).unwrap_err();
        assert!(
            matches!(e, WasmError::OutOfOrder { expected: 4, .. }),
            "{e}"
        );
        let e = b.write(4.0, &[1; 7]).unwrap_err();
        assert!(
            matches!(
                e,
                WasmError::PastEnd {
                    len: 7,
                    total: 10,
                    ..
                }
            ),
            "{e}"
        );
        let e = b.finish().unwrap_err();
        assert_eq!(
            e.to_string(),
            "the model download is incomplete: 4 of 10 bytes received"
        );
    }
}
