//! Bounds-checked little-endian reads over untrusted bytes.

use crate::error::GgufError;

/// A read position in a byte slice. Every read checks the remaining length
/// first and reports a [`GgufError::Truncated`] naming what was being read.
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Cursor<'a> {
        Cursor { buf, pos: 0 }
    }

    /// Current byte offset from the start of the file.
    pub(crate) fn offset(&self) -> u64 {
        self.pos as u64
    }

    pub(crate) fn remaining(&self) -> u64 {
        (self.buf.len() - self.pos) as u64
    }

    /// The next `n` bytes; `what` describes them for the error message.
    pub(crate) fn take(
        &mut self,
        n: u64,
        what: impl FnOnce() -> String,
    ) -> Result<&'a [u8], GgufError> {
        let available = self.remaining();
        match usize::try_from(n) {
            Ok(len) if n <= available => {
                let out = &self.buf[self.pos..self.pos + len];
                self.pos += len;
                Ok(out)
            }
            _ => Err(GgufError::Truncated {
                what: what(),
                offset: self.offset(),
                needed: n,
                available,
            }),
        }
    }

    pub(crate) fn array<const N: usize>(
        &mut self,
        what: impl FnOnce() -> String,
    ) -> Result<[u8; N], GgufError> {
        let bytes = self.take(N as u64, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    pub(crate) fn u32(&mut self, what: impl FnOnce() -> String) -> Result<u32, GgufError> {
        self.array(what).map(u32::from_le_bytes)
    }

    pub(crate) fn u64(&mut self, what: impl FnOnce() -> String) -> Result<u64, GgufError> {
        self.array(what).map(u64::from_le_bytes)
    }

    /// A GGUF string: u64 length then that many bytes, which must be UTF-8.
    pub(crate) fn string(&mut self, what: impl Fn() -> String) -> Result<String, GgufError> {
        let len = self.u64(|| format!("length of {}", what()))?;
        let start = self.offset();
        let bytes = self.take(len, &what)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(_) => Err(GgufError::InvalidUtf8 {
                what: what(),
                offset: start,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_reports_truncation() {
        let data = [1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 9];
        let mut c = Cursor::new(&data);
        assert_eq!(c.u32(String::new).unwrap(), 1);
        assert_eq!(c.u64(String::new).unwrap(), 2);
        assert_eq!(c.remaining(), 1);
        match c.u32(|| "x".into()) {
            Err(GgufError::Truncated {
                what,
                offset: 12,
                needed: 4,
                available: 1,
            }) => assert_eq!(what, "x"),
            other => panic!("unexpected {other:?}"),
        }
        assert!(c.take(u64::MAX, String::new).is_err());
    }

    #[test]
    fn strings_must_be_utf8() {
        let mut ok = 2u64.to_le_bytes().to_vec();
        ok.extend_from_slice(b"hi");
        assert_eq!(Cursor::new(&ok).string(String::new).unwrap(), "hi");
        let mut bad = 1u64.to_le_bytes().to_vec();
        bad.push(0xff);
        assert!(matches!(
            Cursor::new(&bad).string(String::new),
            Err(GgufError::InvalidUtf8 { offset: 8, .. })
        ));
    }
}
