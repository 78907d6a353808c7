//! The byte layout both writers share: header, metadata, tensor infos with
//! their offsets, padding to the alignment, and the checks a tensor
//! description must pass before it is written.

use std::collections::HashSet;
use std::io::{self, Write};

use crate::error::GgufError;
use crate::infos::{byte_size, MAX_DIMS, MAX_TENSOR_NAME_LEN};
use crate::metadata::Metadata;
use crate::reader::MAGIC;
use crate::tensor::TensorInfo;
use crate::types::GgmlType;
use crate::value::{Array, Value};

/// Checks a tensor's name (length, not in `names`), dims and that its rows
/// are whole blocks; returns its info with `offset` 0. `index` is the
/// position it will take, for the duplicate error.
pub(crate) fn new_tensor_info(
    name: &str,
    ty: GgmlType,
    dims: &[u64],
    names: &HashSet<String>,
    index: usize,
    first_with_name: impl FnOnce() -> usize,
) -> Result<TensorInfo, GgufError> {
    let name_len = name.len() as u64;
    if name_len >= MAX_TENSOR_NAME_LEN {
        return Err(GgufError::TensorNameTooLong {
            name: name.to_owned(),
            len: name_len,
            max: MAX_TENSOR_NAME_LEN,
        });
    }
    if names.contains(name) {
        return Err(GgufError::DuplicateTensor {
            name: name.to_owned(),
            first: first_with_name() as u64,
            second: index as u64,
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
    Ok(TensorInfo {
        name: name.to_owned(),
        ggml_type: ty,
        dims: dims.to_vec(),
        offset: 0,
        n_bytes: byte_size(name, ty, dims)?,
    })
}

/// Writes the header, the metadata and the tensor infos (offsets computed
/// from the sizes, each tensor padded to `alignment`), then pads to the data
/// section.
pub(crate) fn write_head<'a, W: Write>(
    out: &mut Counting<W>,
    version: u32,
    alignment: u64,
    metadata: &Metadata,
    tensors: impl ExactSizeIterator<Item = &'a TensorInfo>,
) -> io::Result<()> {
    out.write_all(&MAGIC)?;
    out.write_all(&version.to_le_bytes())?;
    out.write_all(&(tensors.len() as u64).to_le_bytes())?;
    out.write_all(&(metadata.len() as u64).to_le_bytes())?;
    for (key, value) in metadata.iter() {
        write_str(out, key)?;
        out.write_all(&value.value_type().id().to_le_bytes())?;
        write_value(out, value)?;
    }
    let mut offset = 0u64;
    for t in tensors {
        write_str(out, &t.name)?;
        out.write_all(&(t.dims.len() as u32).to_le_bytes())?;
        for d in &t.dims {
            out.write_all(&d.to_le_bytes())?;
        }
        out.write_all(&t.ggml_type.id().to_le_bytes())?;
        out.write_all(&offset.to_le_bytes())?;
        offset += pad_len(t.n_bytes, alignment) + t.n_bytes;
    }
    out.pad(alignment)
}

/// Zero bytes needed after `len` bytes to reach a multiple of `alignment`.
pub(crate) fn pad_len(len: u64, alignment: u64) -> u64 {
    (alignment - len % alignment) % alignment
}

/// A writer that knows how many bytes went through it, for padding.
pub(crate) struct Counting<W: Write> {
    pub(crate) inner: W,
    pub(crate) written: u64,
}

impl<W: Write> Counting<W> {
    pub(crate) fn new(inner: W) -> Self {
        Counting { inner, written: 0 }
    }

    pub(crate) fn write_all(&mut self, b: &[u8]) -> io::Result<()> {
        self.inner.write_all(b)?;
        self.written += b.len() as u64;
        Ok(())
    }

    pub(crate) fn pad(&mut self, alignment: u64) -> io::Result<()> {
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
