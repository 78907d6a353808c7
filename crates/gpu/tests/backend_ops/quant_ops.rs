//! Activation quantizers (Q8_0, Q8_1, Q8_K, F16) and decode matvecs
//! (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K with the packed and the
//! plain integer dot; F16, F32).

use gguf::GgmlType::{self, *};
use gpu::ops::matvec::{self, DotPath};
use gpu::ops::quantize::{self, QuantActs};
use gpu::{Gpu, GpuTensor};
use kernels::quant::{row_bytes, vec_dot_type};
use kernels::reference as rk;
use kernels::testdata::data::{act_row, magnitude, row, Data};
use kernels::testdata::Rng;

use super::report::{bound, dev, Outcome, Report};

pub fn run(g: &Gpu, report: &mut Report) {
    for w in [Q8_0, Q4_1, Q4_K, F16] {
        let at = vec_dot_type(w);
        report.record("quantize", &at.to_string(), quantize_bytes(g, w));
    }
    report.record("matvec 70000 rows", "Q8_0", many_rows(g));
    for_each_kernel(g, |w, path, how| {
        let name = |op: &str| format!("{op} {how}");
        report.record(name("matvec-unit"), &w.to_string(), matvec_unit(g, w, path));
        report.record(name("matvec"), &w.to_string(), matvec_random(g, w, path));
        report.record(
            name("quantize+matvec 3 tok"),
            &w.to_string(),
            quantize_matvec(g, w, path),
        );
    });
}

/// `f(weight type, integer dot, its name)` for every weight type with a
/// matvec and each integer dot of the device (float weights: one path,
/// named `f32`).
pub fn for_each_kernel(g: &Gpu, mut f: impl FnMut(GgmlType, DotPath, String)) {
    let mut paths = vec![DotPath::Plain];
    if g.packed_dot() {
        paths.insert(0, DotPath::Packed);
    }
    for w in [Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K, F16, F32] {
        let float = matches!(w, F16 | F32);
        for &path in if float { &paths[..1] } else { &paths[..] } {
            let how = if float {
                "f32".into()
            } else {
                format!("{path:?}")
            };
            f(w, path, how);
        }
    }
}

/// Activations whose quantization is hard: normal values with outliers,
/// huge and tiny magnitudes, an all-zero block, a block of one sign, ties.
fn hard_acts(rng: &mut Rng, n: usize) -> Vec<f32> {
    let mut x: Vec<f32> = (0..n).map(|_| rng.value()).collect();
    let bs = 256.min(n);
    for (b, blk) in x.chunks_exact_mut(bs).enumerate() {
        match b % 6 {
            1 => blk.iter_mut().for_each(|v| *v *= 1e4),
            2 => blk.iter_mut().for_each(|v| *v *= 1e-6),
            3 => blk.fill(0.0),
            4 => blk.iter_mut().for_each(|v| *v = -v.abs()),
            5 => blk
                .iter_mut()
                .enumerate()
                .for_each(|(i, v)| *v = (i % 9) as f32 * 0.5 - 2.0),
            _ => {}
        }
    }
    x
}

/// GPU quantizer bytes = `reference::quantize_acts` bytes.
fn quantize_bytes(g: &Gpu, w: GgmlType) -> Outcome {
    let at = vec_dot_type(w);
    let mut rng = Rng(0xA11 + w as u64);
    let mut blocks = 0;
    for nb in [1, 7, 24] {
        let n = nb * 256;
        let x = hard_acts(&mut rng, n);
        let mut want = vec![0u8; row_bytes(at, n)];
        rk::quantize_acts(w, n, &x, &mut want).map_err(|e| e.to_string())?;
        let xb = g.storage_init("x", bytemuck::cast_slice(&x));
        let acts = dev(QuantActs::new(g, at, n))?;
        let mut enc = g.encoder();
        dev(quantize::quantize(&mut enc, &xb, &acts))?;
        dev(enc.submit())?;
        let got = dev(acts.to_ggml(g))?;
        if let Some(i) = got.iter().zip(&want).position(|(a, b)| a != b) {
            let bs = at.type_size();
            return Err(format!(
                "n={n}: block {} byte {} differs: {} vs {}",
                i / bs,
                i % bs,
                got[i],
                want[i]
            ));
        }
        blocks += got.len() / at.type_size();
    }
    let unit = if at.block_size() == 1 {
        "values"
    } else {
        "blocks"
    };
    Ok(format!("bytes equal ({blocks} {unit})"))
}

/// Block counts of a row: 1, 7 and a random one (the CPU conformance's).
fn block_counts(rng: &mut Rng) -> [usize; 3] {
    [1, 7, 2 + rng.below(60)]
}

/// Row lengths for `nb` blocks of `t` (float rows also at lengths that
/// leave every loop a tail, as the CPU conformance).
pub fn lengths(t: GgmlType, nb: usize) -> Vec<usize> {
    if t.block_size() == 1 {
        vec![nb, nb * 32 + 5, nb * 64]
    } else {
        vec![nb * t.block_size()]
    }
}

/// A matvec's result, the reference's, and the weight and activation bytes.
struct Case {
    got: Vec<f32>,
    want: Vec<f32>,
    w: Vec<u8>,
    a: Vec<u8>,
}

/// y of `rows` random rows of `w` against `reference::matmul`, weights in
/// parts of at most `max` bytes.
#[allow(clippy::too_many_arguments)]
fn matvec_case(
    g: &Gpu,
    w: GgmlType,
    path: DotPath,
    rows: usize,
    n: usize,
    data: (Data, Data),
    max: u64,
    rng: &mut Rng,
) -> Result<Case, String> {
    let at = vec_dot_type(w);
    let wb: Vec<u8> = (0..rows)
        .flat_map(|_| row(rng, w, n, data.0).bytes().to_vec())
        .collect();
    let ab = act_row(rng, at, n, data.1).bytes().to_vec();
    let mut want = vec![0f32; rows];
    rk::matmul(w, rows, n, &wb, &ab, 1, &mut want);
    let t = dev(GpuTensor::upload_max(g, w, rows, n, &wb, max))?;
    let acts = dev(QuantActs::from_ggml(g, at, n, &ab))?;
    let y = g.storage("y", 4 * rows as u64);
    let mut enc = g.encoder();
    dev(matvec::matvec(&mut enc, &t, &acts, &y, path))?;
    dev(enc.submit())?;
    Ok(Case {
        got: dev(g.read_f32(&y, rows))?,
        want,
        w: wb,
        a: ab,
    })
}

/// Unit scales: every result is an integer below 2^24, so exact.
fn matvec_unit(g: &Gpu, w: GgmlType, path: DotPath) -> Outcome {
    let mut rng = Rng(0x0417 + w as u64);
    let mut rows_checked = 0;
    for n in block_counts(&mut rng)
        .into_iter()
        .flat_map(|nb| lengths(w, nb))
    {
        let Case { got, want, .. } = matvec_case(
            g,
            w,
            path,
            33,
            n,
            (Data::Unit, Data::Unit),
            1 << 30,
            &mut rng,
        )?;
        if let Some(r) = (0..got.len()).find(|&r| got[r] != want[r]) {
            return Err(format!("n={n} row {r}: {} vs {}", got[r], want[r]));
        }
        rows_checked += got.len();
    }
    Ok(format!("exact integers ({rows_checked} rows)"))
}

/// Quantized and raw rows, weights split into several parts: each row
/// within the f32 rounding of its block sums, and the NMSE of y.
fn matvec_random(g: &Gpu, w: GgmlType, path: DotPath) -> Outcome {
    let mut rng = Rng(0xC0DE + w as u64);
    let (mut worst_rel, mut worst_nmse, mut parts_seen) = (0f64, 0f64, 0);
    for n in block_counts(&mut rng)
        .into_iter()
        .flat_map(|nb| lengths(w, nb))
    {
        for data in [(Data::Quantized, Data::Quantized), (Data::Raw, Data::Raw)] {
            let rows = 45;
            let max = (row_bytes(w, n) * 8) as u64; // parts of about 8 rows
            let Case {
                got,
                want,
                w: wb,
                a: ab,
            } = matvec_case(g, w, path, rows, n, data, max, &mut rng)?;
            let rb = row_bytes(w, n);
            for r in 0..rows {
                let mag = magnitude(w, n, &wb[r * rb..(r + 1) * rb], &ab);
                let err = (got[r] as f64 - want[r] as f64).abs();
                if err > 1e-5 * mag + 1e-30 || got[r].is_nan() != want[r].is_nan() {
                    return Err(format!(
                        "n={n} {data:?} row {r}: {} vs {} (Σ|w·a| {mag:e})",
                        got[r], want[r]
                    ));
                }
                worst_rel = worst_rel.max(err / mag.max(f64::MIN_POSITIVE));
            }
            worst_nmse = worst_nmse.max(bound(&format!("n={n} {data:?}"), &got, &want)?);
            parts_seen = parts_seen.max(rows.div_ceil(8));
        }
    }
    Ok(format!(
        "NMSE {worst_nmse:.1e}, |err|/Σ|w·a| ≤ {worst_rel:.1e}, up to {parts_seen} parts"
    ))
}

/// Three tokens of f32 activations quantized on the GPU then multiplied,
/// against the reference's quantizer and matmul: NMSE of y.
fn quantize_matvec(g: &Gpu, w: GgmlType, path: DotPath) -> Outcome {
    let at = vec_dot_type(w);
    let mut rng = Rng(0x9a7 + w as u64);
    let (rows, n, n_tok) = (300, 1536, 3);
    let wb: Vec<u8> = (0..rows)
        .flat_map(|_| row(&mut rng, w, n, Data::Quantized).bytes().to_vec())
        .collect();
    let x: Vec<f32> = (0..n_tok * n).map(|_| rng.value()).collect();
    let mut xq = vec![0u8; n_tok * row_bytes(at, n)];
    rk::quantize_acts(w, n, &x, &mut xq).map_err(|e| e.to_string())?;
    let mut want = vec![0f32; n_tok * rows];
    rk::matmul(w, rows, n, &wb, &xq, n_tok, &mut want);
    let t = dev(GpuTensor::upload(g, w, rows, n, &wb))?;
    let acts = dev(QuantActs::new(g, at, n_tok * n))?;
    let xb = g.storage_init("x", bytemuck::cast_slice(&x));
    let y = g.storage("y", 4 * want.len() as u64);
    let mut enc = g.encoder();
    dev(quantize::quantize(&mut enc, &xb, &acts))?;
    dev(matvec::matvec(&mut enc, &t, &acts, &y, path))?;
    dev(enc.submit())?;
    let got = dev(g.read_f32(&y, want.len()))?;
    let e = bound("y", &got, &want)?;
    Ok(format!("NMSE {e:.1e} ({rows}x{n}, {n_tok} tokens)"))
}

/// More rows than one grid dimension holds (65535 workgroups): the 2-D
/// grid covers every row once.
fn many_rows(g: &Gpu) -> Outcome {
    let mut rng = Rng(0x70000);
    let (rows, n) = (70_000, 32);
    let w: Vec<u8> = (0..rows)
        .flat_map(|_| row(&mut rng, Q8_0, n, Data::Unit).bytes().to_vec())
        .collect();
    let a = act_row(&mut rng, Q8_0, n, Data::Unit).bytes().to_vec();
    let mut want = vec![0f32; rows];
    rk::matmul(Q8_0, rows, n, &w, &a, 1, &mut want);
    let t = dev(GpuTensor::upload(g, Q8_0, rows, n, &w))?;
    let acts = dev(QuantActs::from_ggml(g, Q8_0, n, &a))?;
    let y = g.storage("y", 4 * rows as u64);
    let mut enc = g.encoder();
    dev(matvec::matvec(&mut enc, &t, &acts, &y, DotPath::best(g)))?;
    dev(enc.submit())?;
    let got = dev(g.read_f32(&y, rows))?;
    match (0..rows).find(|&r| got[r] != want[r]) {
        None => Ok(format!("exact ({rows} rows)")),
        Some(r) => Err(format!("row {r}: {} vs {}", got[r], want[r])),
    }
}
