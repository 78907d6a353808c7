//! The CPU backend's weight handles: the file's bytes (zero-copy: a fused
//! tensor's part is a sub-slice from its first row), and the
//! load-time transcodings into its own layouts: Q5_0 re-encoded as Q8_0
//! (`Model::repack_q5_0`) and the kernel table's packed decode layouts
//! (`Model::pack_for_decode`).

use std::sync::Arc;

use gguf::{GgmlType, GgufFile};
use kernels::arch::Kernels;
use kernels::ops::QMatrix;
use kernels::packed::PackedMatrix;

use super::CpuBackend;
use crate::error::ModelError;
use crate::weights::{Linear, Weights};

/// A weight matrix as the CPU backend holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct CpuMatrix {
    /// The matrix re-encoded at load time (`Weights::repack_q5_0`), used
    /// instead of the file's bytes; `Linear::ty` stays the file's type.
    pub repacked: Option<Repacked>,
    /// The same matrix in a repacked decode layout (`Weights::pack`), read
    /// by one-token products; prefill keeps reading the bytes above.
    pub packed: Option<Arc<PackedMatrix>>,
}

/// A weight matrix re-encoded at load time: its type and bytes.
#[derive(Clone)]
pub struct Repacked {
    pub ty: GgmlType,
    pub data: Arc<Vec<u8>>,
}

impl std::fmt::Debug for Repacked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Repacked({}, {} bytes)", self.ty, self.data.len())
    }
}

impl PartialEq for Repacked {
    fn eq(&self, other: &Repacked) -> bool {
        self.ty == other.ty && self.data == other.data
    }
}

impl Linear<CpuMatrix> {
    /// Borrow the matrix bytes from `file` (or from the load-time copy).
    pub fn view<'a>(&'a self, file: &'a GgufFile) -> QMatrix<'a> {
        let (ty, data) = match &self.m.repacked {
            Some(r) => (r.ty, r.data.as_slice()),
            None => (self.ty, self.file_bytes(file)),
        };
        QMatrix {
            ty,
            rows: self.rows,
            cols: self.cols,
            data,
            packed: self.m.packed.as_deref().map(PackedMatrix::view),
        }
    }

    /// This matrix's rows in the file (a fused tensor's part: a sub-slice).
    fn file_bytes<'a>(&self, file: &'a GgufFile) -> &'a [u8] {
        let rb = kernels::quant::row_bytes(self.ty, self.cols);
        let all = file.tensor_data(&file.tensors()[self.index]);
        &all[self.row_start * rb..(self.row_start + self.rows) * rb]
    }

    /// The type the kernels read (the file's, or the repacked one).
    pub(crate) fn kernel_type(&self) -> GgmlType {
        self.m.repacked.as_ref().map_or(self.ty, |r| r.ty)
    }

    /// Re-encodes a Q5_0 matrix as Q8_0 (same values, faster kernels on some
    /// engines); returns the bytes allocated (0 for other types).
    fn repack_q5_0(&mut self, file: &GgufFile) -> Result<usize, ModelError> {
        if self.ty != GgmlType::Q5_0 || self.m.repacked.is_some() {
            return Ok(0);
        }
        let n = self.rows * self.cols;
        let mut data = vec![0u8; kernels::quant::row_bytes(GgmlType::Q8_0, n)];
        kernels::quant::repack_q5_0_as_q8_0(n, self.file_bytes(file), &mut data).map_err(
            |source| ModelError::Kernel {
                name: self.name.clone(),
                source,
            },
        )?;
        let bytes = data.len();
        self.m.repacked = Some(Repacked {
            ty: GgmlType::Q8_0,
            data: Arc::new(data),
        });
        Ok(bytes)
    }

    /// The bytes `pack` would allocate with table `k` (0: no layout for
    /// this matrix's type, or already packed).
    fn pack_bytes(&self, k: &Kernels) -> usize {
        match k.packing(self.kernel_type()) {
            Some(p) if self.m.packed.is_none() => self.rows / p.group * (p.group_bytes)(self.cols),
            _ => 0,
        }
    }

    /// Builds the repacked decode layout of table `k` for this matrix (if
    /// the table has one for its type); returns the bytes allocated.
    fn pack(&mut self, file: &GgufFile, k: &Kernels) -> Result<usize, ModelError> {
        let w = self.view(file);
        let Some(p) = k.packing(w.ty).filter(|_| self.m.packed.is_none()) else {
            return Ok(0);
        };
        let m = PackedMatrix::pack(p, w).map_err(|source| ModelError::Kernel {
            name: self.name.clone(),
            source,
        })?;
        let bytes = m.bytes();
        self.m.packed = Some(Arc::new(m));
        Ok(bytes)
    }
}

impl Weights<CpuBackend> {
    /// The bytes `repack_q5_0` would allocate: Q8_0 copies of the Q5_0
    /// matrices (34 bytes per 32 weights instead of 22).
    pub fn q5_0_repack_bytes(&self) -> usize {
        self.matrices()
            .filter(|w| w.ty == GgmlType::Q5_0 && w.m.repacked.is_none())
            .map(|w| kernels::quant::row_bytes(GgmlType::Q8_0, w.rows * w.cols))
            .sum()
    }

    /// The bytes `pack` would allocate with table `k`.
    pub fn pack_bytes(&self, k: &Kernels) -> usize {
        self.matrices().map(|w| w.pack_bytes(k)).sum()
    }

    /// Repacks every matrix whose type has a decode layout in table `k`
    /// (`kernels::packed`), kept beside the file's bytes (which prefill
    /// still reads); one-token products then read the packed copy, with
    /// the same results bit for bit. Returns the bytes allocated.
    pub fn pack(&mut self, file: &GgufFile, k: &Kernels) -> Result<usize, ModelError> {
        let mut total = 0;
        for w in self.matrices_mut() {
            total += w.pack(file, k)?;
        }
        Ok(total)
    }

    /// Re-encodes every Q5_0 matrix as Q8_0 of the same values, kept beside
    /// the file (whose bytes stay mapped): the products are unchanged (the
    /// same integer block sums and scales; bit for bit on the scalar and x86
    /// kernels), and engines whose Q8_0 kernels run faster than their Q5_0
    /// ones (wasm simd128: no byte shuffles to rebuild the fifth bit) decode
    /// faster. Returns the bytes allocated.
    pub fn repack_q5_0(&mut self, file: &GgufFile) -> Result<usize, ModelError> {
        let mut total = 0;
        for w in self.matrices_mut() {
            total += w.repack_q5_0(file)?;
        }
        Ok(total)
    }
}
