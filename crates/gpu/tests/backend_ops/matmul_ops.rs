//! The tiled prefill matmul for every weight type and both integer dots:
//! against the CPU reference's matmul (exact integers for unit scales;
//! random rows within the f32 rounding of their block sums, NMSE), and
//! bit for bit against the decode matvec on the same inputs, so a token's
//! outputs do not depend on the batch it ran in. Shapes leave a tail
//! everywhere: rows not a multiple of the workgroup's 16, tokens not a
//! multiple of the tile's 8, rows not a multiple of a staged step (16
//! blocks, 2 super-blocks, 128 floats), weights in several parts.

use gguf::GgmlType;
use gpu::ops::matvec::{self, DotPath, MATMUL_TOKENS};
use gpu::ops::quantize::QuantActs;
use gpu::{Gpu, GpuTensor};
use kernels::quant::{row_bytes, vec_dot_type};
use kernels::reference as rk;
use kernels::testdata::data::{act_row, magnitude, row, Data};
use kernels::testdata::Rng;

use super::quant_ops::{for_each_kernel, lengths};
use super::report::{bound, dev, Outcome, Report};

pub fn run(g: &Gpu, report: &mut Report) {
    for_each_kernel(g, |w, path, how| {
        let ty = w.to_string();
        report.record(format!("matmul-unit {how}"), &ty, unit(g, w, path));
        report.record(format!("matmul {how}"), &ty, random(g, w, path));
    });
}

/// Block counts of a row: one, less than a step, more than a step of
/// every type, and a random one.
fn block_counts(rng: &mut Rng) -> [usize; 4] {
    [1, 7, 17, 2 + rng.below(60)]
}

/// One shape's results: the matmul's, the matvec's, the reference's, and
/// the weight and activation bytes.
struct Case {
    tiled: Vec<f32>,
    single: Vec<f32>,
    want: Vec<f32>,
    w: Vec<u8>,
    a: Vec<u8>,
}

/// `rows` random rows of `w` times `n_tok` activation rows of `n`, the
/// weights in parts of about 8 rows.
fn case(
    g: &Gpu,
    w: GgmlType,
    path: DotPath,
    (rows, n, n_tok): (usize, usize, usize),
    data: Data,
    rng: &mut Rng,
) -> Result<Case, String> {
    let at = vec_dot_type(w);
    let wb: Vec<u8> = (0..rows)
        .flat_map(|_| row(rng, w, n, data).bytes().to_vec())
        .collect();
    let ab: Vec<u8> = (0..n_tok)
        .flat_map(|_| act_row(rng, at, n, data).bytes().to_vec())
        .collect();
    let mut want = vec![0f32; n_tok * rows];
    rk::matmul(w, rows, n, &wb, &ab, n_tok, &mut want);
    let max = (row_bytes(w, n) * 8) as u64;
    let t = dev(GpuTensor::upload_max(g, w, rows, n, &wb, max))?;
    let acts = dev(QuantActs::from_ggml(g, at, n_tok * n, &ab))?;
    let (y1, y2) = (
        g.storage("y", 4 * want.len() as u64),
        g.storage("y", 4 * want.len() as u64),
    );
    let mut enc = g.encoder();
    dev(matvec::matmul(&mut enc, &t, &acts, &y1, path))?;
    dev(matvec::matvec(&mut enc, &t, &acts, &y2, path))?;
    dev(enc.submit())?;
    Ok(Case {
        tiled: dev(g.read_f32(&y1, want.len()))?,
        single: dev(g.read_f32(&y2, want.len()))?,
        want,
        w: wb,
        a: ab,
    })
}

/// The first (token, row) where the matmul's bits differ from the matvec's.
fn same_bits(c: &Case, rows: usize) -> Result<(), String> {
    match (0..c.tiled.len()).find(|&i| c.tiled[i].to_bits() != c.single[i].to_bits()) {
        None => Ok(()),
        Some(i) => Err(format!(
            "token {} row {}: matmul {} vs matvec {}",
            i / rows,
            i % rows,
            c.tiled[i],
            c.single[i]
        )),
    }
}

/// Unit scales: every result an exact integer.
fn unit(g: &Gpu, w: GgmlType, path: DotPath) -> Outcome {
    let mut rng = Rng(0x7117 + w as u64);
    let (rows, n_tok) = (45, MATMUL_TOKENS + 5);
    let mut checked = 0;
    for n in block_counts(&mut rng)
        .into_iter()
        .flat_map(|nb| lengths(w, nb))
    {
        let c = case(g, w, path, (rows, n, n_tok), Data::Unit, &mut rng)?;
        if let Some(i) = (0..c.want.len()).find(|&i| c.tiled[i] != c.want[i]) {
            return Err(format!(
                "n={n} token {} row {}: {} vs {}",
                i / rows,
                i % rows,
                c.tiled[i],
                c.want[i]
            ));
        }
        same_bits(&c, rows).map_err(|e| format!("n={n}: {e}"))?;
        checked += c.want.len();
    }
    Ok(format!(
        "exact integers, = matvec bits ({checked} outputs, {n_tok} tokens)"
    ))
}

/// Quantized and raw rows: each output within the f32 rounding of its
/// block sums, the NMSE, and the matvec's bits.
fn random(g: &Gpu, w: GgmlType, path: DotPath) -> Outcome {
    let mut rng = Rng(0x3A7 + w as u64);
    let (mut worst_rel, mut worst_nmse) = (0f64, 0f64);
    let rows = 37;
    for (i, n) in block_counts(&mut rng)
        .into_iter()
        .flat_map(|nb| lengths(w, nb))
        .enumerate()
    {
        for data in [Data::Quantized, Data::Raw] {
            // one token (a tile of one), two, and more than a tile
            let n_tok = [1, 2, MATMUL_TOKENS + 1][i % 3];
            let c = case(g, w, path, (rows, n, n_tok), data, &mut rng)?;
            let (rb, ab) = (row_bytes(w, n), row_bytes(vec_dot_type(w), n));
            for (k, (&got, &want)) in c.tiled.iter().zip(&c.want).enumerate() {
                let (t, r) = (k / rows, k % rows);
                let wr = &c.w[r * rb..(r + 1) * rb];
                let mag = magnitude(w, n, wr, &c.a[t * ab..(t + 1) * ab]);
                let err = (got as f64 - want as f64).abs();
                if err > 1e-5 * mag + 1e-30 || got.is_nan() != want.is_nan() {
                    return Err(format!(
                        "n={n} {data:?} token {t} row {r}: {got} vs {want} (Σ|w·a| {mag:e})"
                    ));
                }
                worst_rel = worst_rel.max(err / mag.max(f64::MIN_POSITIVE));
            }
            worst_nmse = worst_nmse.max(bound(&format!("n={n} {data:?}"), &c.tiled, &c.want)?);
            same_bits(&c, rows).map_err(|e| format!("n={n} {data:?}: {e}"))?;
        }
    }
    Ok(format!(
        "NMSE {worst_nmse:.1e}, |err|/Σ|w·a| ≤ {worst_rel:.1e}, = matvec bits"
    ))
}
