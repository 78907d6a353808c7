//! A heap buffer whose first byte is 32-byte aligned, built without `unsafe`.

/// One 32-byte, 32-aligned chunk; the buffer is a `Vec` of these.
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C, align(32))]
struct Chunk([u8; CHUNK]);

const CHUNK: usize = 32;

/// A growable byte buffer whose start is aligned to 32 bytes, so tensor data
/// at 32-aligned offsets can be viewed as SIMD-friendly blocks in place.
///
/// Meant to receive a file once (e.g. streamed from a browser download with
/// [`with_capacity`](Self::with_capacity) + [`extend_from_slice`](Self::extend_from_slice))
/// and then be handed to [`GgufFile::from_aligned`](crate::GgufFile::from_aligned)
/// without a second copy.
#[derive(Clone, Default)]
pub struct AlignedBuf {
    chunks: Vec<Chunk>,
    len: usize,
}

impl std::fmt::Debug for AlignedBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlignedBuf")
            .field("len", &self.len)
            .finish()
    }
}

impl AlignedBuf {
    pub fn new() -> AlignedBuf {
        AlignedBuf::default()
    }

    /// An empty buffer that can take `n` bytes without reallocating.
    pub fn with_capacity(n: usize) -> AlignedBuf {
        AlignedBuf {
            chunks: Vec::with_capacity(n.div_ceil(CHUNK)),
            len: 0,
        }
    }

    /// [`with_capacity`](Self::with_capacity) that reports a refused allocation instead of
    /// aborting (in a browser, wasm memory may not grow to the model's size).
    pub fn try_with_capacity(n: usize) -> Result<AlignedBuf, std::collections::TryReserveError> {
        let mut chunks = Vec::new();
        chunks.try_reserve_exact(n.div_ceil(CHUNK))?;
        Ok(AlignedBuf { chunks, len: 0 })
    }

    /// Appends `data` (amortized O(data.len())).
    pub fn extend_from_slice(&mut self, mut data: &[u8]) {
        let used = self.len % CHUNK;
        if used != 0 {
            // Fill the partially used last chunk first.
            let n = data.len().min(CHUNK - used);
            if let Some(last) = self.chunks.last_mut() {
                last.0[used..used + n].copy_from_slice(&data[..n]);
            }
            self.len += n;
            data = &data[n..];
        }
        let mut iter = data.chunks_exact(CHUNK);
        for c in &mut iter {
            let mut chunk = Chunk([0; CHUNK]);
            chunk.0.copy_from_slice(c);
            self.chunks.push(chunk);
        }
        let rest = iter.remainder();
        if !rest.is_empty() {
            let mut chunk = Chunk([0; CHUNK]);
            chunk.0[..rest.len()].copy_from_slice(rest);
            self.chunks.push(chunk);
        }
        self.len += data.len();
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes that can be held without reallocating.
    pub fn capacity(&self) -> usize {
        self.chunks.capacity() * CHUNK
    }

    pub fn clear(&mut self) {
        self.chunks.clear();
        self.len = 0;
    }

    /// The bytes; the slice starts at a 32-byte aligned address.
    pub fn as_slice(&self) -> &[u8] {
        &bytemuck::cast_slice::<Chunk, u8>(&self.chunks)[..self.len]
    }

    /// The bytes, mutably (e.g. to fill a buffer made by [`zeroed`](Self::zeroed)).
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut::<Chunk, u8>(&mut self.chunks)[..self.len]
    }

    /// A buffer of `n` zero bytes, to be filled in place.
    pub fn zeroed(n: usize) -> AlignedBuf {
        AlignedBuf {
            chunks: vec![Chunk([0; CHUNK]); n.div_ceil(CHUNK)],
            len: n,
        }
    }
}

impl From<&[u8]> for AlignedBuf {
    fn from(bytes: &[u8]) -> AlignedBuf {
        let mut b = AlignedBuf::with_capacity(bytes.len());
        b.extend_from_slice(bytes);
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_and_contents_survive_odd_appends() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
        let mut b = AlignedBuf::with_capacity(10);
        let mut at = 0;
        for step in [0usize, 1, 5, 31, 32, 33, 64, 100, 3] {
            let end = (at + step).min(data.len());
            b.extend_from_slice(&data[at..end]);
            at = end;
            assert_eq!(b.as_slice(), &data[..at]);
            assert_eq!(b.as_slice().as_ptr() as usize % 32, 0);
        }
        b.extend_from_slice(&data[at..]);
        assert_eq!(b.as_slice(), &data[..]);
        assert_eq!(b.len(), 1000);
        assert!(b.capacity() >= 1000);
        let t = AlignedBuf::try_with_capacity(100).unwrap();
        assert!(t.is_empty() && t.capacity() >= 100);
        assert!(AlignedBuf::try_with_capacity(usize::MAX).is_err());
        assert_eq!(AlignedBuf::from(&data[..]).as_slice(), &data[..]);
        let mut z = AlignedBuf::zeroed(5);
        z.as_mut_slice()[4] = 9;
        assert_eq!(z.as_slice(), &[0, 0, 0, 0, 9]);
        b.clear();
        assert!(b.is_empty());
    }
}
