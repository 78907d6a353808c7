//! The prelude's exact arithmetic, which the quantizers' bytes rest on:
//! `div_rn` against IEEE division and `f32_to_f16_bits` against
//! `half::f16::from_f32` (SwiftShader divides exactly anyway; real GPUs
//! may be 2.5 ulp off, which this code must not inherit).

use gpu::kernel::KernelId;
use gpu::Gpu;
use half::f16;
use kernels::testdata::Rng;

use super::report::{dev, Outcome, Report};

const SOURCE: &str = "
@group(0) @binding(0) var<uniform> n: vec4<u32>;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<u32>;

@compute @workgroup_size(64)
fn helpers(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = id.x;
    if (i < n.x) {
        out[2u * i] = bitcast<u32>(div_rn(a[i], b[i]));
        out[2u * i + 1u] = f32_to_f16_bits(a[i]);
    }
}
";

const HELPERS: KernelId = KernelId {
    family: "helpers",
    source: SOURCE,
    entry: "helpers",
    variant: "",
};

pub fn run(g: &Gpu, report: &mut Report) {
    report.record("div_rn, f32_to_f16_bits", "f32", helpers(g));
}

/// Random positive normal f32 over exponents -60..60.
fn positive(rng: &mut Rng) -> f32 {
    let e = rng.below(120) as i32 - 60;
    (1.0 + rng.unit()) * 2f32.powi(e)
}

fn helpers(g: &Gpu) -> Outcome {
    let mut rng = Rng(0xd1f);
    let mut a: Vec<f32> = (0..20_000).map(|_| positive(&mut rng)).collect();
    let mut b: Vec<f32> = (0..20_000).map(|_| positive(&mut rng)).collect();
    // the quantizers' divisions, f16 ties and edges (either sign for f16)
    for i in 0..2000 {
        let amax = positive(&mut rng);
        a.extend([amax, 127.0, 1.0]);
        b.extend([127.0, amax, amax]);
        let tie = f32::from_bits((rng.below(0x4780_0000) as u32 & !0x1fff) | 0x1000);
        let sign = if i % 2 == 0 { 1.0 } else { -1.0 };
        a.extend([sign * tie, sign * 6.0e-8, sign * 65520.0]);
        b.extend([1.0, 1.0, 1.0]);
    }
    for v in [
        2.98e-8f32,
        2.9802322e-8,
        5.96e-8,
        6.1e-5,
        65504.0,
        65519.0,
        1e-40,
        0.0,
        -0.0,
    ] {
        a.push(v);
        b.push(1.0);
    }
    let n = a.len();
    let ab = g.storage_init("a", bytemuck::cast_slice(&a));
    let bb = g.storage_init("b", bytemuck::cast_slice(&b));
    let out = g.storage("out", 8 * n as u64);
    let mut enc = g.encoder();
    let groups = enc.groups(n as u32, 64);
    let bufs = [
        ab.as_entire_binding(),
        bb.as_entire_binding(),
        out.as_entire_binding(),
    ];
    dev(enc.dispatch(HELPERS, &[n as u32, 0, 0, 0], &bufs, groups))?;
    dev(enc.submit())?;
    let got = dev(g.read_u32(&out, 2 * n))?;
    let mut divs = 0;
    for i in 0..n {
        let h = f16::from_f32(a[i]).to_bits() as u32;
        if got[2 * i + 1] != h {
            return Err(format!(
                "f16 of {:e} ({:#x}): {:#x} vs {h:#x}",
                a[i],
                a[i].to_bits(),
                got[2 * i + 1]
            ));
        }
        if a[i] > 0.0 && a[i].is_normal() && b[i] > 0.0 {
            let q = a[i] / b[i];
            if q.is_normal() {
                divs += 1;
                if got[2 * i] != q.to_bits() {
                    return Err(format!(
                        "{:e} / {:e}: {:e} vs {q:e}",
                        a[i],
                        b[i],
                        f32::from_bits(got[2 * i])
                    ));
                }
            }
        }
    }
    Ok(format!("{divs} quotients and {n} f16 conversions exact"))
}
