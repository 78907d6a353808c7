//! `GgufWriter`: builds GGUF v2/v3 files the way gguf-py and llama.cpp lay them
//! out (metadata in insertion order, tensors in insertion order, each tensor
//! and the data section start padded with zeros to the alignment).

use std::collections::HashSet;
use std::io::{self, Write};

use crate::error::GgufError;
use crate::file::GgufFile;
use crate::layout::{new_tensor_info, write_head, Counting};
use crate::metadata::Metadata;
use crate::reader::{ALIGNMENT_KEY, DEFAULT_ALIGNMENT};
use crate::tensor::TensorInfo;
use crate::types::GgmlType;
use crate::value::Value;

/// Builds a GGUF file in memory and writes it out.
#[derive(Clone, Debug)]
pub struct GgufWriter {
    version: u32,
    alignment: u64,
    metadata: Metadata,
    /// `offset` of each info is filled in when writing.
    tensors: Vec<(TensorInfo, Vec<u8>)>,
    names: HashSet<String>,
}

impl Default for GgufWriter {
    fn default() -> Self {
        GgufWriter::new()
    }
}

impl GgufWriter {
    /// An empty version-3 file with alignment 32.
    pub fn new() -> Self {
        GgufWriter {
            version: 3,
            alignment: DEFAULT_ALIGNMENT,
            metadata: Metadata::default(),
            tensors: Vec::new(),
            names: HashSet::new(),
        }
    }

    /// A writer holding a copy of everything in `file` (same version,
    /// alignment, metadata order and tensor order).
    pub fn from_gguf(file: &GgufFile) -> Self {
        let mut w = GgufWriter::new().version(file.version());
        w.alignment = file.alignment();
        for (k, v) in file.metadata().iter() {
            w.metadata.insert(k, v.clone());
        }
        for t in file.tensors() {
            w.names.insert(t.name.clone());
            w.tensors.push((t.clone(), file.tensor_data(t).to_vec()));
        }
        w
    }

    /// Sets the GGUF version.
    ///
    /// # Panics
    /// If `v` is not 2 or 3.
    pub fn version(mut self, v: u32) -> Self {
        assert!(v == 2 || v == 3, "GGUF version must be 2 or 3, got {v}");
        self.version = v;
        self
    }

    /// Sets the alignment; anything but 32 is recorded as a `general.alignment`
    /// u32 pair (added at this point of the metadata order, or updated).
    ///
    /// # Panics
    /// If `a` is not a power of two that fits in a u32.
    pub fn alignment(mut self, a: u64) -> Self {
        self.set_alignment(a);
        self
    }

    fn set_alignment(&mut self, a: u64) {
        assert!(
            a.is_power_of_two() && a <= u64::from(u32::MAX),
            "GGUF alignment must be a power of two that fits in a u32, got {a}"
        );
        self.alignment = a;
        if a != DEFAULT_ALIGNMENT || self.metadata.get(ALIGNMENT_KEY).is_some() {
            self.metadata.insert(ALIGNMENT_KEY, Value::U32(a as u32));
        }
    }

    /// Adds a metadata pair, or replaces the value of an existing key in place.
    /// `general.alignment` (any integer type) sets the alignment as
    /// [`alignment`](Self::alignment) does and is stored as a u32.
    ///
    /// # Panics
    /// If `key` is empty, or is `general.alignment` with a value that is not
    /// a power of two fitting in a u32.
    pub fn add_kv(&mut self, key: &str, v: Value) {
        assert!(!key.is_empty(), "GGUF metadata keys must not be empty");
        if key == ALIGNMENT_KEY {
            let a = v.as_u64().unwrap_or(0);
            self.set_alignment(a);
            self.metadata.insert(ALIGNMENT_KEY, Value::U32(a as u32));
        } else {
            self.metadata.insert(key, v);
        }
    }

    /// Adds a tensor (dims in ggml order, innermost first) with its bytes,
    /// checking the name, shape and that `data` has exactly the tensor's size.
    pub fn add_tensor(
        &mut self,
        name: &str,
        ty: GgmlType,
        dims: &[u64],
        data: Vec<u8>,
    ) -> Result<(), GgufError> {
        let info = new_tensor_info(name, ty, dims, &self.names, self.tensors.len(), || {
            self.tensors
                .iter()
                .position(|(t, _)| t.name == name)
                .unwrap_or(0)
        })?;
        if data.len() as u64 != info.n_bytes {
            return Err(GgufError::DataSizeMismatch {
                name: name.to_owned(),
                expected: info.n_bytes,
                got: data.len() as u64,
            });
        }
        self.names.insert(info.name.clone());
        self.tensors.push((info, data));
        Ok(())
    }

    /// Writes the whole file.
    pub fn write_to<W: Write>(&self, w: W) -> io::Result<()> {
        let mut out = Counting::new(io::BufWriter::new(w));
        let infos = self.tensors.iter().map(|(t, _)| t);
        write_head(
            &mut out,
            self.version,
            self.alignment,
            &self.metadata,
            infos,
        )?;
        for (_, data) in &self.tensors {
            out.write_all(data)?;
            out.pad(self.alignment)?;
        }
        out.inner.flush()
    }

    /// The whole file as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.write_to(&mut v)
            .expect("writing to a Vec<u8> cannot fail");
        v
    }
}
