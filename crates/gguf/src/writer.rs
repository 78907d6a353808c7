//! `GgufWriter`: builds GGUF v2/v3 files the way gguf-py and llama.cpp lay them
//! out (metadata in insertion order, tensors in insertion order, each tensor
//! and the data section start padded with zeros to the alignment).

use std::collections::HashSet;
use std::io::{self, Write};

use crate::error::GgufError;
use crate::file::GgufFile;
use crate::infos::{byte_size, MAX_DIMS, MAX_TENSOR_NAME_LEN};
use crate::metadata::Metadata;
use crate::reader::{ALIGNMENT_KEY, DEFAULT_ALIGNMENT, MAGIC};
use crate::tensor::TensorInfo;
use crate::types::GgmlType;
use crate::value::{Array, Value};

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
        let name_len = name.len() as u64;
        if name_len >= MAX_TENSOR_NAME_LEN {
            return Err(GgufError::TensorNameTooLong {
                name: name.to_owned(),
                len: name_len,
                max: MAX_TENSOR_NAME_LEN,
            });
        }
        if self.names.contains(name) {
            let first = self.tensors.iter().position(|(t, _)| t.name == name);
            return Err(GgufError::DuplicateTensor {
                name: name.to_owned(),
                first: first.unwrap_or(0) as u64,
                second: self.tensors.len() as u64,
            });
        }
        if dims.len() > MAX_DIMS as usize {
            return Err(GgufError::TooManyDims {
                name: name.to_owned(),
                n_dims: u32::try_from(dims.len()).unwrap_or(u32::MAX),
                max: MAX_DIMS,
            });
        }
        if let Some((index, &value)) = dims.iter().enumerate().find(|(_, &d)| d > i64::MAX as u64) {
            return Err(GgufError::DimTooLarge {
                name: name.to_owned(),
                index,
                value,
            });
        }
        let n_bytes = byte_size(name, ty, dims)?;
        if data.len() as u64 != n_bytes {
            return Err(GgufError::DataSizeMismatch {
                name: name.to_owned(),
                expected: n_bytes,
                got: data.len() as u64,
            });
        }
        let info = TensorInfo {
            name: name.to_owned(),
            ggml_type: ty,
            dims: dims.to_vec(),
            offset: 0,
            n_bytes,
        };
        self.names.insert(info.name.clone());
        self.tensors.push((info, data));
        Ok(())
    }

    /// Writes the whole file.
    pub fn write_to<W: Write>(&self, w: W) -> io::Result<()> {
        let mut out = Counting {
            inner: io::BufWriter::new(w),
            written: 0,
        };
        out.write_all(&MAGIC)?;
        out.write_all(&self.version.to_le_bytes())?;
        out.write_all(&(self.tensors.len() as u64).to_le_bytes())?;
        out.write_all(&(self.metadata.len() as u64).to_le_bytes())?;
        for (key, value) in self.metadata.iter() {
            write_str(&mut out, key)?;
            out.write_all(&value.value_type().id().to_le_bytes())?;
            write_value(&mut out, value)?;
        }
        let mut offset = 0u64;
        for (t, _) in &self.tensors {
            write_str(&mut out, &t.name)?;
            out.write_all(&(t.dims.len() as u32).to_le_bytes())?;
            for d in &t.dims {
                out.write_all(&d.to_le_bytes())?;
            }
            out.write_all(&t.ggml_type.id().to_le_bytes())?;
            out.write_all(&offset.to_le_bytes())?;
            offset += pad_len(t.n_bytes, self.alignment) + t.n_bytes;
        }
        out.pad(self.alignment)?;
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

/// Zero bytes needed after `len` bytes to reach a multiple of `alignment`.
fn pad_len(len: u64, alignment: u64) -> u64 {
    (alignment - len % alignment) % alignment
}

/// A writer that knows how many bytes went through it, for padding.
struct Counting<W: Write> {
    inner: W,
    written: u64,
}

impl<W: Write> Counting<W> {
    fn write_all(&mut self, b: &[u8]) -> io::Result<()> {
        self.inner.write_all(b)?;
        self.written += b.len() as u64;
        Ok(())
    }

    fn pad(&mut self, alignment: u64) -> io::Result<()> {
        const ZEROS: [u8; 64] = [0; 64];
        let mut n = pad_len(self.written, alignment);
        while n > 0 {
            let k = n.min(ZEROS.len() as u64);
            self.write_all(&ZEROS[..k as usize])?;
            n -= k;
        }
        Ok(())
    }
}

fn write_str<W: Write>(out: &mut Counting<W>, s: &str) -> io::Result<()> {
    out.write_all(&(s.len() as u64).to_le_bytes())?;
    out.write_all(s.as_bytes())
}

/// A value's payload (its type id is written by the caller).
fn write_value<W: Write>(out: &mut Counting<W>, v: &Value) -> io::Result<()> {
    match v {
        Value::U8(x) => out.write_all(&x.to_le_bytes()),
        Value::I8(x) => out.write_all(&x.to_le_bytes()),
        Value::U16(x) => out.write_all(&x.to_le_bytes()),
        Value::I16(x) => out.write_all(&x.to_le_bytes()),
        Value::U32(x) => out.write_all(&x.to_le_bytes()),
        Value::I32(x) => out.write_all(&x.to_le_bytes()),
        Value::U64(x) => out.write_all(&x.to_le_bytes()),
        Value::I64(x) => out.write_all(&x.to_le_bytes()),
        Value::F32(x) => out.write_all(&x.to_le_bytes()),
        Value::F64(x) => out.write_all(&x.to_le_bytes()),
        Value::Bool(x) => out.write_all(&[u8::from(*x)]),
        Value::String(s) => write_str(out, s),
        Value::Array(a) => write_array(out, a),
    }
}

/// Element type, count, elements; inner arrays repeat this without a tag.
fn write_array<W: Write>(out: &mut Counting<W>, a: &Array) -> io::Result<()> {
    out.write_all(&a.elem_type().id().to_le_bytes())?;
    out.write_all(&(a.len() as u64).to_le_bytes())?;
    fn each<T, W: Write, const N: usize>(
        out: &mut Counting<W>,
        v: &[T],
        f: impl Fn(&T) -> [u8; N],
    ) -> io::Result<()> {
        v.iter().try_for_each(|x| out.write_all(&f(x)))
    }
    match a {
        Array::U8(v) => out.write_all(v),
        Array::I8(v) => each(out, v, |x| x.to_le_bytes()),
        Array::U16(v) => each(out, v, |x| x.to_le_bytes()),
        Array::I16(v) => each(out, v, |x| x.to_le_bytes()),
        Array::U32(v) => each(out, v, |x| x.to_le_bytes()),
        Array::I32(v) => each(out, v, |x| x.to_le_bytes()),
        Array::U64(v) => each(out, v, |x| x.to_le_bytes()),
        Array::I64(v) => each(out, v, |x| x.to_le_bytes()),
        Array::F32(v) => each(out, v, |x| x.to_le_bytes()),
        Array::F64(v) => each(out, v, |x| x.to_le_bytes()),
        Array::Bool(v) => each(out, v, |&x| [u8::from(x)]),
        Array::String(v) => v.iter().try_for_each(|s| write_str(out, s)),
        Array::Array(v) => v.iter().try_for_each(|inner| write_array(out, inner)),
    }
}
