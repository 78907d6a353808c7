//! The f32 ops: RMSNorm (into another buffer, in place), RoPE (normal,
//! NeoX, frequency factors), GLU (SiLU, GELU), soft-cap, add, a bias on
//! every row, scale.

use gpu::ops::{elementwise, glu, norm, rope};
use gpu::Gpu;
use kernels::ops::{RopeMode, RopeParams};
use kernels::reference as rk;
use kernels::testdata::Rng;

use super::report::{bound, dev, Outcome, Report};

pub fn run(g: &Gpu, report: &mut Report) {
    report.record("rmsnorm", "f32", rmsnorm(g, false));
    report.record("rmsnorm in place", "f32", rmsnorm(g, true));
    for mode in [RopeMode::Normal, RopeMode::Neox] {
        report.record(format!("rope {mode:?}"), "f32", rope(g, mode));
    }
    report.record("glu silu", "f32", glu(g, glu::Glu::Silu));
    report.record("glu gelu", "f32", glu(g, glu::Glu::Gelu));
    report.record("softcap", "f32", softcap(g));
    report.record("add", "f32", add(g));
    report.record("add_bias", "f32", add_bias(g));
    report.record("scale", "f32", scale(g));
}

fn upload(g: &Gpu, x: &[f32]) -> wgpu::Buffer {
    g.storage_init("test", bytemuck::cast_slice(x))
}

fn rmsnorm(g: &Gpu, in_place: bool) -> Outcome {
    let mut rng = Rng(0x4e);
    let mut worst = 0f64;
    for n in [1, 7, 64, 640, 2053] {
        let rows = 3;
        let x: Vec<f32> = (0..rows * n).map(|_| rng.value()).collect();
        let w: Vec<f32> = (0..n).map(|_| 1.0 + rng.gauss()).collect();
        let mut want = vec![0f32; x.len()];
        rk::rmsnorm_into(&x, &w, 1e-6, &mut want);
        let (xb, wb, yb) = (
            upload(g, &x),
            upload(g, &w),
            g.storage("y", 4 * x.len() as u64),
        );
        let mut enc = g.encoder();
        match in_place {
            true => dev(norm::rmsnorm_in_place(&mut enc, &xb, &wb, n, rows, 1e-6))?,
            false => dev(norm::rmsnorm(&mut enc, &xb, &wb, &yb, n, rows, 1e-6))?,
        }
        dev(enc.submit())?;
        let got = dev(g.read_f32(if in_place { &xb } else { &yb }, x.len()))?;
        worst = worst.max(bound(&format!("n={n}"), &got, &want)?);
    }
    Ok(format!("NMSE {worst:.1e}"))
}

/// Several tokens at once (positions up to 5000), partial rotation,
/// with and without frequency factors.
fn rope(g: &Gpu, mode: RopeMode) -> Outcome {
    let mut rng = Rng(0x20e);
    let (head_dim, n_heads) = (64, 3);
    let positions = [0usize, 1, 17, 100, 5000];
    let mut worst = 0f64;
    for n_dims in [64, 32] {
        let factors: Vec<f32> = (0..n_dims / 2).map(|_| 1.0 + 3.0 * rng.unit()).collect();
        for ff in [None, Some(&factors[..])] {
            let p = RopeParams {
                mode,
                n_dims,
                base: 10000.0,
                freq_scale: 0.5,
                attn_factor: 1.2,
            };
            let x: Vec<f32> = (0..positions.len() * n_heads * head_dim)
                .map(|_| rng.gauss())
                .collect();
            let cache = rope::cache(&p, &positions, ff);
            let mut want = x.clone();
            for (t, tok) in want.chunks_exact_mut(n_heads * head_dim).enumerate() {
                rk::rope_apply(
                    mode,
                    n_dims,
                    &cache[t * n_dims..(t + 1) * n_dims],
                    head_dim,
                    tok,
                );
            }
            let (xb, cb) = (upload(g, &x), upload(g, &cache));
            let mut enc = g.encoder();
            dev(rope::rope(
                &mut enc,
                &xb,
                &cb,
                mode,
                positions.len(),
                n_heads,
                head_dim,
                n_dims,
            ))?;
            dev(enc.submit())?;
            let got = dev(g.read_f32(&xb, x.len()))?;
            let what = format!("n_dims={n_dims} factors={}", ff.is_some());
            worst = worst.max(bound(&what, &got, &want)?);
        }
    }
    Ok(format!("NMSE {worst:.1e}"))
}

fn glu(g: &Gpu, act: glu::Glu) -> Outcome {
    let mut rng = Rng(0x91);
    let mut worst = 0f64;
    let mut exact = 0usize;
    let mut total = 0usize;
    for n in [1, 7, 33, 1000, 4099] {
        for spread in [1.0f32, 8.0, 20.0] {
            let gate: Vec<f32> = (0..n).map(|_| spread * rng.gauss()).collect();
            let u: Vec<f32> = (0..n).map(|_| rng.value()).collect();
            let mut want = gate.clone();
            match act {
                glu::Glu::Silu => rk::swiglu(&mut want, &u),
                glu::Glu::Gelu => rk::geglu(&mut want, &u),
            }
            let (gb, ub) = (upload(g, &gate), upload(g, &u));
            let mut enc = g.encoder();
            dev(glu::glu(&mut enc, &gb, &ub, n, act))?;
            dev(enc.submit())?;
            let got = dev(g.read_f32(&gb, n))?;
            exact += got
                .iter()
                .zip(&want)
                .filter(|(a, b)| a.to_bits() == b.to_bits())
                .count();
            total += n;
            worst = worst.max(bound(&format!("n={n} spread {spread}"), &got, &want)?);
        }
    }
    Ok(format!("NMSE {worst:.1e} ({exact}/{total} bit-equal)"))
}

fn softcap(g: &Gpu) -> Outcome {
    let mut rng = Rng(0x50f7);
    let x: Vec<f32> = (0..5000)
        .map(|_| 40.0 * rng.gauss())
        .chain([0.0, -0.0, 1e-30, 1e6, -1e6])
        .collect();
    let cap = 30.0;
    let want: Vec<f32> = x.iter().map(|&l| (l * (1.0 / cap)).tanh() * cap).collect();
    let xb = upload(g, &x);
    let mut enc = g.encoder();
    dev(elementwise::softcap(&mut enc, &xb, x.len(), cap))?;
    dev(enc.submit())?;
    let got = dev(g.read_f32(&xb, x.len()))?;
    Ok(format!("NMSE {:.1e}", bound("softcap", &got, &want)?))
}

fn add(g: &Gpu) -> Outcome {
    let mut rng = Rng(0xadd);
    let x: Vec<f32> = (0..999).map(|_| rng.value()).collect();
    let y: Vec<f32> = (0..999).map(|_| rng.value()).collect();
    let mut want = x.clone();
    rk::add(&mut want, &y);
    let (xb, yb) = (upload(g, &x), upload(g, &y));
    let mut enc = g.encoder();
    dev(elementwise::add(&mut enc, &xb, &yb, x.len()))?;
    dev(enc.submit())?;
    let got = dev(g.read_f32(&xb, x.len()))?;
    exact("add", &got, &want)
}

/// A bias of 37 added to each of 27 rows.
fn add_bias(g: &Gpu) -> Outcome {
    let mut rng = Rng(0xb1a5);
    let x: Vec<f32> = (0..999).map(|_| rng.value()).collect();
    let b: Vec<f32> = (0..37).map(|_| rng.value()).collect();
    let mut want = x.clone();
    for row in want.chunks_exact_mut(b.len()) {
        rk::add(row, &b);
    }
    let (xb, bb) = (upload(g, &x), upload(g, &b));
    let mut enc = g.encoder();
    dev(elementwise::add_bias(&mut enc, &xb, &bb, x.len(), b.len()))?;
    dev(enc.submit())?;
    let got = dev(g.read_f32(&xb, x.len()))?;
    exact("add_bias", &got, &want)
}

fn scale(g: &Gpu) -> Outcome {
    let mut rng = Rng(0x5ca1e);
    let x: Vec<f32> = (0..999).map(|_| rng.value()).collect();
    let mut want = x.clone();
    rk::scale(&mut want, 0.37);
    let xb = upload(g, &x);
    let mut enc = g.encoder();
    dev(elementwise::scale(&mut enc, &xb, x.len(), 0.37))?;
    dev(enc.submit())?;
    let got = dev(g.read_f32(&xb, x.len()))?;
    exact("scale", &got, &want)
}

/// One correctly rounded f32 operation per element: bit for bit.
fn exact(what: &str, got: &[f32], want: &[f32]) -> Outcome {
    let bad = got
        .iter()
        .zip(want)
        .position(|(a, b)| a.to_bits() != b.to_bits());
    match bad {
        None => Ok("bit-exact".into()),
        Some(i) => Err(format!("{what}[{i}]: {} vs {}", got[i], want[i])),
    }
}
