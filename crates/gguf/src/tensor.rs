//! Tensor descriptions from the tensor-info section.

use crate::types::GgmlType;

/// One tensor of a GGUF file.
///
/// `dims` are in ggml order: `dims[0]` is the innermost (row) length, so a
/// matrix `w: [n_out, n_in]` row-major has `dims == [n_in, n_out]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    pub ggml_type: GgmlType,
    /// 0 to 4 dimensions, innermost first.
    pub dims: Vec<u64>,
    /// Start of the tensor's bytes, relative to the data section.
    pub offset: u64,
    /// Exact size of the tensor's bytes (without padding).
    pub n_bytes: u64,
}

impl TensorInfo {
    /// Product of all dims (1 for a 0-dimensional tensor).
    ///
    /// Never overflows for a tensor read from a file (the reader checks);
    /// saturates otherwise.
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().fold(1u64, |acc, &d| acc.saturating_mul(d))
    }

    /// Product of `dims[1..]`: the number of rows of length [`row_len`](Self::row_len).
    pub fn n_rows(&self) -> u64 {
        self.dims
            .iter()
            .skip(1)
            .fold(1u64, |acc, &d| acc.saturating_mul(d))
    }

    /// `dims[0]`, or 1 for a 0-dimensional tensor.
    pub fn row_len(&self) -> u64 {
        self.dims.first().copied().unwrap_or(1)
    }

    /// Number of dimensions stored in the file.
    pub fn n_dims(&self) -> usize {
        self.dims.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_helpers() {
        let t = TensorInfo {
            name: "w".into(),
            ggml_type: GgmlType::Q8_0,
            dims: vec![64, 3, 2],
            offset: 0,
            n_bytes: 0,
        };
        assert_eq!(t.n_elements(), 384);
        assert_eq!(t.n_rows(), 6);
        assert_eq!(t.row_len(), 64);
        let s = TensorInfo { dims: vec![], ..t };
        assert_eq!((s.n_elements(), s.n_rows(), s.row_len()), (1, 1, 1));
    }
}
