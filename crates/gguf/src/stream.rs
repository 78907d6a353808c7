//! `GgufStreamWriter`: writes a GGUF file front to back without holding the
//! tensor data. The tensors are declared first (name, type, shape), so the
//! header and tensor infos, offsets included, can be written before any data;
//! then each tensor's bytes follow in declaration order, in pieces of any
//! size. The bytes are the same as [`GgufWriter`](crate::GgufWriter)'s for
//! the same metadata and tensors.

use std::collections::{HashMap, HashSet};
use std::io::{self, Write};

use crate::error::GgufError;
use crate::layout::{new_tensor_info, write_head, Counting};
use crate::metadata::Metadata;
use crate::reader::alignment_of;
use crate::tensor::TensorInfo;
use crate::types::GgmlType;

/// The declaration half: metadata and tensor descriptions, no data.
#[derive(Clone, Debug)]
pub struct GgufStreamWriter {
    version: u32,
    alignment: u64,
    metadata: Metadata,
    tensors: Vec<TensorInfo>,
    names: HashSet<String>,
    positions: HashMap<String, usize>,
}

impl GgufStreamWriter {
    /// A file of GGUF `version` (2 or 3) with `metadata` in its order; the
    /// alignment is `general.alignment` if present (a u32 power of two), else 32.
    pub fn new(version: u32, metadata: Metadata) -> Result<Self, GgufError> {
        if version != 2 && version != 3 {
            return Err(GgufError::UnsupportedVersion { version });
        }
        Ok(GgufStreamWriter {
            version,
            alignment: alignment_of(&metadata)?,
            metadata,
            tensors: Vec::new(),
            names: HashSet::new(),
            positions: HashMap::new(),
        })
    }

    /// Declares the next tensor (dims in ggml order, innermost first), with
    /// the same checks as [`GgufWriter::add_tensor`](crate::GgufWriter::add_tensor).
    pub fn add_tensor(&mut self, name: &str, ty: GgmlType, dims: &[u64]) -> Result<(), GgufError> {
        let index = self.tensors.len();
        let info = new_tensor_info(name, ty, dims, &self.names, index, || {
            self.positions.get(name).copied().unwrap_or(0)
        })?;
        self.names.insert(info.name.clone());
        self.positions.insert(info.name.clone(), index);
        self.tensors.push(info);
        Ok(())
    }

    /// The declared tensors with their offsets in the data section.
    pub fn tensors(&self) -> Vec<TensorInfo> {
        let mut offset = 0u64;
        self.tensors
            .iter()
            .map(|t| {
                let info = TensorInfo {
                    offset,
                    ..t.clone()
                };
                offset += t.n_bytes.div_ceil(self.alignment) * self.alignment;
                info
            })
            .collect()
    }

    /// Writes the header and tensor infos to `w`; the returned writer takes
    /// the tensor data.
    pub fn start<W: Write>(self, w: W) -> io::Result<TensorDataWriter<W>> {
        let mut out = Counting::new(w);
        write_head(
            &mut out,
            self.version,
            self.alignment,
            &self.metadata,
            self.tensors.iter(),
        )?;
        let mut data = TensorDataWriter {
            out,
            alignment: self.alignment,
            tensors: self.tensors,
            current: 0,
            done: 0,
        };
        data.skip_empty()?;
        Ok(data)
    }
}

/// The data half: takes each tensor's bytes in declaration order.
pub struct TensorDataWriter<W: Write> {
    out: Counting<W>,
    alignment: u64,
    tensors: Vec<TensorInfo>,
    /// Index of the tensor being written.
    current: usize,
    /// Bytes of `tensors[current]` written so far.
    done: u64,
}

impl<W: Write> std::fmt::Debug for TensorDataWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TensorDataWriter")
            .field("current", &self.current)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl<W: Write> TensorDataWriter<W> {
    /// The tensor the next bytes belong to, `None` once all are written.
    pub fn current(&self) -> Option<&TensorInfo> {
        self.tensors.get(self.current)
    }

    /// Appends bytes of the current tensor; a piece may not run past its end.
    /// Padding follows automatically when a tensor is complete.
    pub fn write_data(&mut self, bytes: &[u8]) -> io::Result<()> {
        let Some(t) = self.tensors.get(self.current) else {
            return Err(misuse(format!(
                "{} bytes of tensor data after the last tensor",
                bytes.len()
            )));
        };
        let left = t.n_bytes - self.done;
        if bytes.len() as u64 > left {
            return Err(misuse(format!(
                "tensor '{}' has {} bytes, {} more were given after {}",
                t.name,
                t.n_bytes,
                bytes.len(),
                self.done
            )));
        }
        self.out.write_all(bytes)?;
        self.done += bytes.len() as u64;
        self.skip_empty()
    }

    /// Pads and moves past every complete tensor (empty ones included).
    fn skip_empty(&mut self) -> io::Result<()> {
        while let Some(t) = self.tensors.get(self.current) {
            if self.done < t.n_bytes {
                break;
            }
            self.out.pad(self.alignment)?;
            self.current += 1;
            self.done = 0;
        }
        Ok(())
    }

    /// Checks every tensor was written in full, flushes and returns the sink.
    pub fn finish(mut self) -> io::Result<W> {
        if let Some(t) = self.tensors.get(self.current) {
            return Err(misuse(format!(
                "tensor '{}' is incomplete: {} of {} bytes written",
                t.name, self.done, t.n_bytes
            )));
        }
        self.out.inner.flush()?;
        Ok(self.out.inner)
    }
}

fn misuse(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}
