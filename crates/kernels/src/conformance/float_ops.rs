//! The f32 model ops (`ops`: norms, RoPE, softmax, gated activations,
//! add/scale) against f64 definitions, NMSE ≤ 1e-7. They have one
//! implementation per target (compiled with its features), so this runs
//! once per target rather than per table.

use super::rng::Rng;
use super::{nmse, Outcome, Report, NMSE_MAX};
use crate::ops::{self, RopeMode, RopeParams};

pub(super) fn run(report: &mut Report) {
    let target = std::env::consts::ARCH;
    report.record("rmsnorm", target, rmsnorm());
    report.record("softmax", target, softmax());
    report.record(
        "swiglu",
        target,
        glu(ops::swiglu, |g| g / (1.0 + (-g).exp())),
    );
    report.record("geglu", target, glu(ops::geglu, gelu_f16));
    report.record("add/scale", target, add_scale());
    for mode in [RopeMode::Normal, RopeMode::Neox] {
        report.record(format!("rope {mode:?}"), target, rope(mode));
    }
}

/// `got` against `want` within the NMSE bound.
fn bound(what: &str, got: &[f32], want: &[f64]) -> Result<f64, String> {
    let e = nmse(got, want);
    if e <= NMSE_MAX {
        Ok(e)
    } else {
        Err(format!("{what}: NMSE {e:e}"))
    }
}

fn rmsnorm() -> Outcome {
    let mut rng = Rng(0x4e);
    let mut worst = 0f64;
    for n in [1, 7, 64, 640, 2053] {
        let rows = 3;
        let x: Vec<f32> = (0..rows * n).map(|_| rng.value()).collect();
        let w: Vec<f32> = (0..n).map(|_| 1.0 + rng.gauss()).collect();
        let eps = 1e-6;
        let mut want = Vec::new();
        for r in x.chunks_exact(n) {
            let ms = r.iter().map(|&v| v as f64 * v as f64).sum::<f64>() / n as f64;
            let s = 1.0 / (ms + eps as f64).sqrt();
            want.extend(r.iter().zip(&w).map(|(&v, &wi)| v as f64 * s * wi as f64));
        }
        let mut inplace = x.clone();
        ops::rmsnorm(&mut inplace, &w, eps);
        let mut into = vec![0f32; x.len()];
        ops::rmsnorm_into(&x, &w, eps, &mut into);
        if into != inplace {
            return Err(format!("n={n}: rmsnorm_into differs from rmsnorm"));
        }
        worst = worst.max(bound(&format!("n={n}"), &inplace, &want)?);
    }
    Ok(format!("NMSE {worst:.1e}"))
}

fn softmax() -> Outcome {
    let mut rng = Rng(0x50f);
    let mut worst = 0f64;
    for n in [1, 15, 16, 17, 300, 4099] {
        for spread in [1.0f32, 30.0] {
            let mut x: Vec<f32> = (0..n).map(|_| spread * rng.gauss()).collect();
            let max = x.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
            let e: Vec<f64> = x.iter().map(|&v| (v as f64 - max).exp()).collect();
            let sum: f64 = e.iter().sum();
            let want: Vec<f64> = e.iter().map(|v| v / sum).collect();
            ops::softmax(&mut x);
            worst = worst.max(bound(&format!("n={n} spread {spread}"), &x, &want)?);
        }
    }
    Ok(format!("NMSE {worst:.1e}"))
}

/// GELU, tanh approximation, in f64.
fn gelu_tanh(g: f64) -> f64 {
    const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
    0.5 * g * (1.0 + (SQRT_2_OVER_PI * (g + 0.044_715 * g * g * g)).tanh())
}

/// GELU as ggml defines it on the CPU: the input rounded to f16, the
/// result of the f16 table rounded to f16; exact past ±10.
fn gelu_f16(g: f64) -> f64 {
    use half::f16;
    if g <= -10.0 {
        0.0
    } else if g >= 10.0 {
        g
    } else {
        let x = f16::from_f64(g).to_f64();
        f16::from_f64(gelu_tanh(x)).to_f64()
    }
}

/// A gated activation `g = act(g) * u` against its f64 definition.
fn glu(f: fn(&mut [f32], &[f32]), act: fn(f64) -> f64) -> Outcome {
    let mut rng = Rng(0x91);
    let mut worst = 0f64;
    for n in [1, 7, 33, 1000] {
        for spread in [1.0f32, 8.0] {
            let mut g: Vec<f32> = (0..n).map(|_| spread * rng.gauss()).collect();
            let u: Vec<f32> = (0..n).map(|_| rng.value()).collect();
            let want: Vec<f64> = g
                .iter()
                .zip(&u)
                .map(|(&a, &b)| act(a as f64) * b as f64)
                .collect();
            f(&mut g, &u);
            worst = worst.max(bound(&format!("n={n} spread {spread}"), &g, &want)?);
        }
    }
    Ok(format!("NMSE {worst:.1e}"))
}

fn add_scale() -> Outcome {
    let mut rng = Rng(0xadd);
    let x: Vec<f32> = (0..999).map(|_| rng.value()).collect();
    let y: Vec<f32> = (0..999).map(|_| rng.value()).collect();
    let mut sum = x.clone();
    ops::add(&mut sum, &y);
    let want: Vec<f64> = x
        .iter()
        .zip(&y)
        .map(|(&a, &b)| a as f64 + b as f64)
        .collect();
    let e1 = bound("add", &sum, &want)?;
    let mut scaled = x.clone();
    ops::scale(&mut scaled, 0.37);
    let want: Vec<f64> = x.iter().map(|&a| a as f64 * 0.37f32 as f64).collect();
    let e2 = bound("scale", &scaled, &want)?;
    Ok(format!("NMSE {:.1e}", e1.max(e2)))
}

/// RoPE (`rope_cache` then `rope_apply`) of a few heads at small
/// positions (the f32 angle recurrence drifts with the position, as
/// ggml's does), with and without frequency factors, partial rotation.
fn rope(mode: RopeMode) -> Outcome {
    let mut rng = Rng(0x20e);
    let (head_dim, n_heads) = (64, 3);
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
            for pos in [0usize, 1, 17, 100] {
                let x: Vec<f32> = (0..head_dim * n_heads).map(|_| rng.gauss()).collect();
                let mut cache = vec![0f32; n_dims];
                ops::rope_cache(&p, pos, ff, &mut cache);
                let mut got = x.clone();
                ops::rope_apply(mode, n_dims, &cache, head_dim, &mut got);
                let mut want: Vec<f64> = x.iter().map(|&v| v as f64).collect();
                for head in want.chunks_exact_mut(head_dim) {
                    for i in 0..n_dims / 2 {
                        let theta = pos as f64 * 10000f64.powf(-2.0 * i as f64 / n_dims as f64);
                        let t = 0.5 * theta / ff.map_or(1.0, |f| f[i] as f64);
                        let (c, s) = (t.cos() * 1.2, t.sin() * 1.2);
                        let (a, b) = match mode {
                            RopeMode::Normal => (2 * i, 2 * i + 1),
                            RopeMode::Neox => (i, i + n_dims / 2),
                        };
                        let (x0, x1) = (head[a], head[b]);
                        head[a] = x0 * c - x1 * s;
                        head[b] = x0 * s + x1 * c;
                    }
                }
                let what = format!("n_dims={n_dims} pos={pos} factors={}", ff.is_some());
                worst = worst.max(bound(&what, &got, &want)?);
            }
        }
    }
    Ok(format!("NMSE {worst:.1e}"))
}
