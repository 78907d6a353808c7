//! Parsing of tensor infos and validation of where tensors lie in the data section.

use std::collections::HashMap;

use crate::cursor::Cursor;
use crate::error::GgufError;
use crate::tensor::TensorInfo;
use crate::types::GgmlType;

/// Most dimensions a ggml tensor can have.
pub const MAX_DIMS: u32 = 4;
/// Tensor names must be shorter than this many bytes (ggml's `GGML_MAX_NAME`).
pub const MAX_TENSOR_NAME_LEN: u64 = 64;

/// Fewest bytes a tensor info can take: name length, a 1-byte name,
/// `n_dims`, type id, offset.
pub(crate) const MIN_TENSOR_INFO_BYTES: u64 = 8 + 1 + 4 + 4 + 8;

pub(crate) fn read_infos(
    cur: &mut Cursor<'_>,
    count: u64,
) -> Result<(Vec<TensorInfo>, HashMap<String, usize>), GgufError> {
    // count <= remaining / MIN_TENSOR_INFO_BYTES (checked on the header): bounded.
    let cap = usize::try_from(count).unwrap_or(0);
    let mut tensors = Vec::with_capacity(cap);
    let mut index = HashMap::with_capacity(cap);
    for i in 0..count {
        let name = cur.string(|| format!("name of tensor #{i}"))?;
        let len = name.len() as u64;
        if len >= MAX_TENSOR_NAME_LEN {
            return Err(GgufError::TensorNameTooLong {
                name,
                len,
                max: MAX_TENSOR_NAME_LEN,
            });
        }
        if let Some(&first) = index.get(&name) {
            return Err(GgufError::DuplicateTensor {
                name,
                first: first as u64,
                second: i,
            });
        }
        let info = read_info(cur, name)?;
        index.insert(info.name.clone(), tensors.len());
        tensors.push(info);
    }
    Ok((tensors, index))
}

/// Everything after the name: dims, type, offset.
fn read_info(cur: &mut Cursor<'_>, name: String) -> Result<TensorInfo, GgufError> {
    let n_dims = cur.u32(|| format!("n_dims of tensor '{name}'"))?;
    if n_dims > MAX_DIMS {
        return Err(GgufError::TooManyDims {
            name,
            n_dims,
            max: MAX_DIMS,
        });
    }
    let mut dims = Vec::with_capacity(n_dims as usize);
    for index in 0..n_dims as usize {
        let value = cur.u64(|| format!("dimension {index} of tensor '{name}'"))?;
        if value > i64::MAX as u64 {
            return Err(GgufError::DimTooLarge { name, index, value });
        }
        dims.push(value);
    }
    let type_id = cur.u32(|| format!("type of tensor '{name}'"))?;
    let Some(ggml_type) = GgmlType::from_id(type_id) else {
        return Err(GgufError::UnknownTensorType { name, type_id });
    };
    let n_bytes = byte_size(&name, ggml_type, &dims)?;
    let offset = cur.u64(|| format!("offset of tensor '{name}'"))?;
    Ok(TensorInfo {
        name,
        ggml_type,
        dims,
        offset,
        n_bytes,
    })
}

/// Bytes of a tensor of type `ty` and shape `dims` (ggml order), after
/// checking the element count fits in an i64 and rows are whole blocks.
pub(crate) fn byte_size(name: &str, ty: GgmlType, dims: &[u64]) -> Result<u64, GgufError> {
    let n_elements = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= i64::MAX as u64)
        .ok_or_else(|| GgufError::ElementCountOverflow {
            name: name.to_owned(),
            dims: dims.to_vec(),
        })?;
    let row_len = dims.first().copied().unwrap_or(1);
    let block_size = ty.block_size() as u64;
    if row_len % block_size != 0 {
        return Err(GgufError::RowNotBlockMultiple {
            name: name.to_owned(),
            ty,
            row_len,
            block_size,
        });
    }
    (n_elements / block_size)
        .checked_mul(ty.type_size() as u64)
        .ok_or_else(|| GgufError::TensorSizeOverflow {
            name: name.to_owned(),
            ty,
            dims: dims.to_vec(),
        })
}

/// Every tensor must start at a multiple of `alignment`, end inside the data
/// section of `data_len` bytes, and not share bytes with another tensor.
pub(crate) fn check_layout(
    tensors: &[TensorInfo],
    alignment: u64,
    data_len: u64,
) -> Result<(), GgufError> {
    for t in tensors {
        if t.offset % alignment != 0 {
            return Err(GgufError::OffsetMisaligned {
                name: t.name.clone(),
                offset: t.offset,
                alignment,
            });
        }
        match t.offset.checked_add(t.n_bytes) {
            Some(end) if end <= data_len => {}
            _ => {
                return Err(GgufError::TensorOutOfBounds {
                    name: t.name.clone(),
                    offset: t.offset,
                    size: t.n_bytes,
                    data_len,
                })
            }
        }
    }
    // Empty tensors occupy no bytes and cannot overlap anything.
    let mut order: Vec<&TensorInfo> = tensors.iter().filter(|t| t.n_bytes > 0).collect();
    order.sort_by_key(|t| t.offset);
    for pair in order.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        // Both ends were checked to fit in data_len above.
        let a_end = a.offset + a.n_bytes;
        if a_end > b.offset {
            return Err(GgufError::TensorOverlap {
                first: a.name.clone(),
                first_offset: a.offset,
                first_end: a_end,
                second: b.name.clone(),
                second_offset: b.offset,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str, offset: u64, n_bytes: u64) -> TensorInfo {
        TensorInfo {
            name: name.into(),
            ggml_type: GgmlType::I8,
            dims: vec![n_bytes],
            offset,
            n_bytes,
        }
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(byte_size("a", GgmlType::Q4_K, &[512, 3]).unwrap(), 864);
        assert_eq!(byte_size("a", GgmlType::F32, &[]).unwrap(), 4);
        assert_eq!(byte_size("a", GgmlType::F32, &[0, 5]).unwrap(), 0);
        assert!(matches!(
            byte_size("a", GgmlType::Q8_0, &[33]),
            Err(GgufError::RowNotBlockMultiple {
                row_len: 33,
                block_size: 32,
                ..
            })
        ));
        assert!(matches!(
            byte_size("a", GgmlType::F32, &[1 << 32, 1 << 31]),
            Err(GgufError::ElementCountOverflow { .. })
        ));
        assert!(matches!(
            byte_size("a", GgmlType::F32, &[1 << 62]),
            Err(GgufError::TensorSizeOverflow { .. })
        ));
    }

    #[test]
    fn layout_rules() {
        assert!(check_layout(&[t("a", 0, 40), t("b", 64, 1)], 32, 65).is_ok());
        assert!(matches!(
            check_layout(&[t("a", 0, 40), t("b", 32, 1)], 32, 100),
            Err(GgufError::TensorOverlap {
                first_end: 40,
                second_offset: 32,
                ..
            })
        ));
        assert!(matches!(
            check_layout(&[t("a", 16, 1)], 32, 100),
            Err(GgufError::OffsetMisaligned { offset: 16, .. })
        ));
        assert!(matches!(
            check_layout(&[t("a", 64, 40)], 32, 100),
            Err(GgufError::TensorOutOfBounds { data_len: 100, .. })
        ));
        assert!(matches!(
            check_layout(&[t("a", u64::MAX - 31, 40)], 32, 100),
            Err(GgufError::TensorOutOfBounds { .. })
        ));
        // Zero-sized tensors may share an offset with anything.
        assert!(check_layout(&[t("a", 0, 64), t("b", 32, 0)], 32, 64).is_ok());
    }
}
