//! Embedding rows (F32, F16, Q8_0, Q4_K, Q6_K; split tables) and top-k /
//! argmax.

use gguf::GgmlType::{self, *};
use gpu::ops::{rows, topk};
use gpu::{Gpu, GpuTensor};
use kernels::testdata::data::{row, Data};
use kernels::testdata::Rng;

use super::report::{dev, Outcome, Report};

pub fn run(g: &Gpu, report: &mut Report) {
    for ty in [F32, F16, Q8_0, Q4_K, Q6_K] {
        report.record("get_rows", &ty.to_string(), get_rows(g, ty));
    }
    for k in [1, 5, 40] {
        report.record(format!("top_k k={k}"), "f32", top_k(g, k));
    }
}

/// 37 rows of 96 (k-quants: 256; Q8_0: 102-byte rows) in parts of at
/// most 500 bytes and in one part; ids with repeats, the first and the
/// last row.
fn get_rows(g: &Gpu, ty: GgmlType) -> Outcome {
    let mut rng = Rng(0xe3b + ty as u64);
    let (n_rows, cols) = (37, 96usize.next_multiple_of(ty.block_size()));
    let data: Vec<u8> = (0..n_rows)
        .flat_map(|_| row(&mut rng, ty, cols, Data::Quantized).bytes().to_vec())
        .collect();
    let ids: Vec<u32> = [0, 36, 5, 5, 20]
        .into_iter()
        .chain((0..11).map(|_| rng.below(n_rows) as u32))
        .collect();
    let rb = data.len() / n_rows;
    let mut want = vec![0f32; ids.len() * cols];
    for (&id, out) in ids.iter().zip(want.chunks_exact_mut(cols)) {
        kernels::ops::get_rows(ty, &data, id as usize, out).map_err(|e| e.to_string())?;
    }
    let idb = g.storage_init("ids", bytemuck::cast_slice(&ids));
    let mut parts = Vec::new();
    for max in [500, 1 << 20] {
        let table = dev(GpuTensor::upload_max(g, ty, n_rows, cols, &data, max))?;
        let out = g.storage("rows", 4 * want.len() as u64);
        let mut enc = g.encoder();
        dev(rows::get_rows(&mut enc, &table, &idb, ids.len(), &out))?;
        dev(enc.submit())?;
        let got = dev(g.read_f32(&out, want.len()))?;
        if let Some(i) = got
            .iter()
            .zip(&want)
            .position(|(a, b)| a.to_bits() != b.to_bits())
        {
            return Err(format!(
                "{} parts: [{}][{}] {} vs {}",
                table.parts.len(),
                i / cols,
                i % cols,
                got[i],
                want[i]
            ));
        }
        parts.push(table.parts.len());
    }
    Ok(format!("bit-exact ({rb}-byte rows, parts {parts:?})"))
}

/// Rows of random logits with ties (values on a coarse grid), NaNs, ±inf
/// and ±0, against `model::backend::top_k`.
fn top_k(g: &Gpu, k: usize) -> Outcome {
    let mut rng = Rng(0x70b + k as u64);
    let mut checked = 0;
    for (n, rows) in [(1000, 3), (151_936, 1), (50, 2)] {
        let mut x: Vec<f32> = (0..n * rows)
            .map(|_| (rng.gauss() * 4.0).round() * 0.25)
            .collect();
        for _ in 0..5 {
            let i = rng.below(x.len());
            x[i] = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, -0.0, 0.0][rng.below(5)];
        }
        let k = k.min(n - 5);
        let (mut want_ids, mut want_vals) = (vec![0u32; rows * k], vec![0f32; rows * k]);
        model::backend::top_k(&x, n, k, &mut want_ids, &mut want_vals);
        let xb = g.storage_init("logits", bytemuck::cast_slice(&x));
        let (ib, vb) = (
            g.storage("ids", 4 * (rows * k) as u64),
            g.storage("vals", 4 * (rows * k) as u64),
        );
        let mut enc = g.encoder();
        dev(topk::top_k(&mut enc, &xb, n, rows, k, &ib, &vb))?;
        dev(enc.submit())?;
        let ids = dev(g.read_u32(&ib, rows * k))?;
        let vals = dev(g.read_f32(&vb, rows * k))?;
        if ids != want_ids
            || vals
                .iter()
                .zip(&want_vals)
                .any(|(a, b)| a.to_bits() != b.to_bits())
        {
            let i = (0..ids.len())
                .find(|&i| ids[i] != want_ids[i] || vals[i].to_bits() != want_vals[i].to_bits())
                .unwrap_or(0);
            return Err(format!(
                "n={n} slot {i}: id {} = {} vs {} = {}",
                ids[i], vals[i], want_ids[i], want_vals[i]
            ));
        }
        checked += rows;
    }
    Ok(format!("equal ({checked} rows, up to 151936 logits)"))
}
