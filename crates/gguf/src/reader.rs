//! Parsing of the header and the metadata section, with every length checked
//! against the remaining bytes before anything is allocated.

use std::collections::HashMap;

use crate::cursor::Cursor;
use crate::error::GgufError;
use crate::infos;
use crate::metadata::Metadata;
use crate::tensor::TensorInfo;
use crate::value::{Array, Value, ValueType};

/// The 4 bytes every GGUF file starts with.
pub const MAGIC: [u8; 4] = *b"GGUF";
/// Alignment of the data section and tensor offsets when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// The metadata key that overrides [`DEFAULT_ALIGNMENT`].
pub const ALIGNMENT_KEY: &str = "general.alignment";
/// How deep arrays of arrays may nest (a plain array has depth 1).
pub const MAX_ARRAY_DEPTH: usize = 8;

/// Fewest bytes a metadata pair can take: key length, a 1-byte key, the
/// value type, a 1-byte value.
const MIN_KV_BYTES: u64 = 8 + 1 + 4 + 1;

/// Everything a GGUF file declares, validated against its length.
#[derive(Debug)]
pub(crate) struct Parsed {
    pub version: u32,
    pub alignment: u64,
    pub metadata: Metadata,
    pub tensors: Vec<TensorInfo>,
    pub tensor_index: HashMap<String, usize>,
    pub data_offset: u64,
}

/// Parses and validates a whole GGUF file held in `bytes`.
pub(crate) fn parse(bytes: &[u8]) -> Result<Parsed, GgufError> {
    let mut cur = Cursor::new(bytes);
    let magic: [u8; 4] = cur.array(|| "magic".into())?;
    if magic != MAGIC {
        return Err(GgufError::BadMagic { found: magic });
    }
    let version = cur.u32(|| "version".into())?;
    check_version(version)?;
    let tensor_count = cur.u64(|| "tensor_count".into())?;
    let kv_count = cur.u64(|| "kv_count".into())?;
    let remaining = cur.remaining();
    check_count("kv_count", kv_count, MIN_KV_BYTES, remaining)?;
    check_count(
        "tensor_count",
        tensor_count,
        infos::MIN_TENSOR_INFO_BYTES,
        remaining,
    )?;

    let metadata = read_metadata(&mut cur, kv_count)?;
    let alignment = alignment_of(&metadata)?;
    let (tensors, tensor_index) = infos::read_infos(&mut cur, tensor_count)?;

    let file_len = bytes.len() as u64;
    let header_end = cur.offset();
    // header_end <= file_len and alignment <= u32::MAX: no overflow.
    let aligned = header_end.div_ceil(alignment) * alignment;
    let data_offset = if aligned <= file_len {
        aligned
    } else if tensors.is_empty() {
        // A file without tensors may omit the final padding.
        file_len
    } else {
        return Err(GgufError::DataSectionMissing {
            data_offset: aligned,
            file_len,
        });
    };
    infos::check_layout(&tensors, alignment, file_len - data_offset)?;
    Ok(Parsed {
        version,
        alignment,
        metadata,
        tensors,
        tensor_index,
        data_offset,
    })
}

fn check_version(version: u32) -> Result<(), GgufError> {
    if version != 0 && version & 0xFFFF == 0 {
        return Err(GgufError::BigEndian { version });
    }
    if !(2..=3).contains(&version) {
        return Err(GgufError::UnsupportedVersion { version });
    }
    Ok(())
}

/// `count` items of at least `min_bytes` each must fit in `remaining`.
fn check_count(
    what: &'static str,
    count: u64,
    min_bytes: u64,
    remaining: u64,
) -> Result<(), GgufError> {
    let max = remaining / min_bytes;
    if count > max {
        return Err(GgufError::CountTooLarge {
            what,
            count,
            max,
            remaining,
        });
    }
    Ok(())
}

fn read_metadata(cur: &mut Cursor<'_>, kv_count: u64) -> Result<Metadata, GgufError> {
    // kv_count <= remaining / MIN_KV_BYTES, so this capacity is bounded by the file size.
    let mut md = Metadata::with_capacity(usize::try_from(kv_count).unwrap_or(0));
    for index in 0..kv_count {
        let key_offset = cur.offset();
        let key = cur.string(|| format!("metadata key #{index}"))?;
        if key.is_empty() {
            return Err(GgufError::EmptyKey {
                index,
                offset: key_offset,
            });
        }
        if let Some(first) = md.position(&key) {
            return Err(GgufError::DuplicateKey {
                key,
                first: first as u64,
                second: index,
            });
        }
        let ty = read_type(cur, &key)?;
        let value = read_value(cur, &key, ty)?;
        md.push(key, value);
    }
    Ok(md)
}

/// The alignment declared by `general.alignment` (a u32, like llama.cpp requires).
pub(crate) fn alignment_of(md: &Metadata) -> Result<u64, GgufError> {
    let alignment = match md.get(ALIGNMENT_KEY) {
        None => DEFAULT_ALIGNMENT,
        Some(Value::U32(a)) => u64::from(*a),
        Some(other) => {
            return Err(GgufError::AlignmentType {
                found: other.type_name(),
            })
        }
    };
    if !alignment.is_power_of_two() {
        return Err(GgufError::BadAlignment { alignment });
    }
    Ok(alignment)
}

fn read_type(cur: &mut Cursor<'_>, key: &str) -> Result<ValueType, GgufError> {
    let offset = cur.offset();
    let type_id = cur.u32(|| format!("value type of key '{key}'"))?;
    ValueType::from_id(type_id).ok_or_else(|| GgufError::UnknownValueType {
        key: key.to_owned(),
        type_id,
        offset,
    })
}

fn read_value(cur: &mut Cursor<'_>, key: &str, ty: ValueType) -> Result<Value, GgufError> {
    let what = || format!("value of key '{key}'");
    Ok(match ty {
        ValueType::U8 => Value::U8(u8::from_le_bytes(cur.array(what)?)),
        ValueType::I8 => Value::I8(i8::from_le_bytes(cur.array(what)?)),
        ValueType::U16 => Value::U16(u16::from_le_bytes(cur.array(what)?)),
        ValueType::I16 => Value::I16(i16::from_le_bytes(cur.array(what)?)),
        ValueType::U32 => Value::U32(u32::from_le_bytes(cur.array(what)?)),
        ValueType::I32 => Value::I32(i32::from_le_bytes(cur.array(what)?)),
        ValueType::U64 => Value::U64(u64::from_le_bytes(cur.array(what)?)),
        ValueType::I64 => Value::I64(i64::from_le_bytes(cur.array(what)?)),
        ValueType::F32 => Value::F32(f32::from_le_bytes(cur.array(what)?)),
        ValueType::F64 => Value::F64(f64::from_le_bytes(cur.array(what)?)),
        // Like llama.cpp, any nonzero byte is true.
        ValueType::Bool => Value::Bool(cur.array::<1>(what)?[0] != 0),
        ValueType::String => Value::String(cur.string(what)?),
        ValueType::Array => Value::Array(read_array(cur, key, 1)?),
    })
}

/// An array body: element type, count, elements. `depth` is 1 for a
/// top-level array.
fn read_array(cur: &mut Cursor<'_>, key: &str, depth: usize) -> Result<Array, GgufError> {
    if depth > MAX_ARRAY_DEPTH {
        return Err(GgufError::NestingTooDeep {
            key: key.to_owned(),
            depth,
            max: MAX_ARRAY_DEPTH,
        });
    }
    let elem = read_type(cur, key)?;
    let count_offset = cur.offset();
    let count = cur.u64(|| format!("array length of key '{key}'"))?;
    let remaining = cur.remaining();
    let min_elem_bytes = elem.min_size();
    match count.checked_mul(min_elem_bytes) {
        Some(n) if n <= remaining => {}
        _ => {
            return Err(GgufError::ArrayTooLong {
                key: key.to_owned(),
                offset: count_offset,
                count,
                min_elem_bytes,
                remaining,
            })
        }
    }
    // From here on count * min_elem_bytes <= remaining: allocations are
    // bounded by the file size.
    let n = count as usize;
    let what = || format!("array of key '{key}'");
    let mut fixed = |size: u64| cur.take(count * size, what);
    Ok(match elem {
        ValueType::U8 => Array::U8(fixed(1)?.to_vec()),
        ValueType::I8 => Array::I8(le(fixed(1)?, i8::from_le_bytes)),
        ValueType::U16 => Array::U16(le(fixed(2)?, u16::from_le_bytes)),
        ValueType::I16 => Array::I16(le(fixed(2)?, i16::from_le_bytes)),
        ValueType::U32 => Array::U32(le(fixed(4)?, u32::from_le_bytes)),
        ValueType::I32 => Array::I32(le(fixed(4)?, i32::from_le_bytes)),
        ValueType::U64 => Array::U64(le(fixed(8)?, u64::from_le_bytes)),
        ValueType::I64 => Array::I64(le(fixed(8)?, i64::from_le_bytes)),
        ValueType::F32 => Array::F32(le(fixed(4)?, f32::from_le_bytes)),
        ValueType::F64 => Array::F64(le(fixed(8)?, f64::from_le_bytes)),
        ValueType::Bool => Array::Bool(fixed(1)?.iter().map(|&b| b != 0).collect()),
        ValueType::String => {
            let mut v = Vec::with_capacity(n);
            for i in 0..count {
                v.push(cur.string(|| format!("string #{i} of array '{key}'"))?);
            }
            Array::String(v)
        }
        ValueType::Array => {
            let mut v = Vec::with_capacity(n);
            for _ in 0..count {
                v.push(read_array(cur, key, depth + 1)?);
            }
            Array::Array(v)
        }
    })
}

/// Decodes consecutive little-endian `N`-byte numbers.
fn le<T, const N: usize>(bytes: &[u8], f: fn([u8; N]) -> T) -> Vec<T> {
    bytes
        .chunks_exact(N)
        .map(|c| {
            let mut a = [0u8; N];
            a.copy_from_slice(c);
            f(a)
        })
        .collect()
}
