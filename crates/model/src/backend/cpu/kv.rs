//! The CPU backend's KV storage: per layer, K and V as f32, f16 or
//! f16-valued f32 elements, allocated zeroed (pages committed as written).

use half::f16;
use kernels::attention::KvRef;

use crate::backend::{KvPlace, KvStore};
use crate::kv_cache::CacheType;
use crate::memory::{zeroed_vec, AllocFailure};

#[derive(Clone, Debug)]
enum Store {
    F32(Vec<f32>),
    F16(Vec<f16>),
    F16AsF32(Vec<f32>),
}

impl Store {
    /// `n` zeroed elements, none of them written yet.
    fn new(ty: CacheType, n: usize) -> Result<Store, AllocFailure> {
        Ok(match ty {
            CacheType::F32 => Store::F32(zeroed_vec(n)?),
            CacheType::F16 => Store::F16(zeroed_vec(n)?),
            CacheType::F16AsF32 => Store::F16AsF32(zeroed_vec(n)?),
        })
    }

    fn write(&mut self, at: usize, x: &[f32]) {
        match self {
            Store::F32(s) => s[at..at + x.len()].copy_from_slice(x),
            Store::F16(s) => {
                for (d, v) in s[at..at + x.len()].iter_mut().zip(x) {
                    *d = f16::from_f32(*v);
                }
            }
            Store::F16AsF32(s) => {
                for (d, v) in s[at..at + x.len()].iter_mut().zip(x) {
                    *d = f16::from_f32(*v).to_f32();
                }
            }
        }
    }

    /// Elements `r`.
    fn view(&self, r: std::ops::Range<usize>) -> KvRef<'_> {
        match self {
            Store::F32(s) => KvRef::F32(&s[r]),
            Store::F16(s) => KvRef::F16(&s[r]),
            Store::F16AsF32(s) => KvRef::F16AsF32(&s[r]),
        }
    }

    /// Copies elements `src` to `dst` (same length, not overlapping).
    fn copy_within(&mut self, src: std::ops::Range<usize>, dst: usize) {
        match self {
            Store::F32(s) | Store::F16AsF32(s) => s.copy_within(src, dst),
            Store::F16(s) => s.copy_within(src, dst),
        }
    }
}

/// K and V of every layer, rows of `row` elements.
#[derive(Debug)]
pub struct CpuKv {
    row: usize,
    layers: Vec<(Store, Store)>,
}

impl CpuKv {
    /// Zeroed storage: `layer_rows[i]` rows of K and of V for layer i.
    pub(crate) fn new(
        ty: CacheType,
        row: usize,
        layer_rows: &[usize],
    ) -> Result<CpuKv, AllocFailure> {
        let mut layers = Vec::new();
        layers
            .try_reserve_exact(layer_rows.len())
            .map_err(|_| AllocFailure::Refused)?;
        for &rows in layer_rows {
            let n = rows.checked_mul(row).ok_or(AllocFailure::Overflow)?;
            layers.push((Store::new(ty, n)?, Store::new(ty, n)?));
        }
        Ok(CpuKv { row, layers })
    }

    /// Stores k, v: [n, row] at positions `pos ..` of `place` in `layer`.
    pub(crate) fn write(&mut self, layer: usize, place: KvPlace, pos: usize, k: &[f32], v: &[f32]) {
        let row = self.row;
        let (ks, vs) = &mut self.layers[layer];
        for (i, (kr, vr)) in k.chunks_exact(row).zip(v.chunks_exact(row)).enumerate() {
            let at = place.row(pos + i);
            ks.write(at * row, kr);
            vs.write(at * row, vr);
            if let Some(r) = place.ring {
                ks.write((at + r) * row, kr);
                vs.write((at + r) * row, vr);
            }
        }
    }

    /// K and V rows `first .. first + rows` of `layer`.
    pub(crate) fn rows(&self, layer: usize, first: usize, rows: usize) -> (KvRef<'_>, KvRef<'_>) {
        let (ks, vs) = &self.layers[layer];
        let r = first * self.row..(first + rows) * self.row;
        (ks.view(r.clone()), vs.view(r))
    }
}

impl KvStore for CpuKv {
    fn copy_rows(&mut self, layer: usize, src: std::ops::Range<usize>, dst: usize) {
        let row = self.row;
        let (ks, vs) = &mut self.layers[layer];
        let from = src.start * row..src.end * row;
        ks.copy_within(from.clone(), dst * row);
        vs.copy_within(from, dst * row);
    }
}
