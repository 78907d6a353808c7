//! KV write and attention against `kernels::reference::attention`:
//! prefill and decode, GQA, several key tiles, a sliding window over a
//! cache that starts past position 0, f32 and f16 caches.

use gpu::ops::attention::{self, Attn, KvType};
use gpu::Gpu;
use half::f16;
use kernels::reference::{self as rk, AttnParams, KvRef};
use kernels::testdata::Rng;

use super::report::{bound, dev, Outcome, Report};

pub fn run(g: &Gpu, report: &mut Report) {
    report.record("kv_write", "F32", kv_write(g, KvType::F32));
    report.record("kv_write", "F16", kv_write(g, KvType::F16));
    report.record("attention", "F32", attention(g, KvType::F32));
    report.record("attention", "F16", attention(g, KvType::F16));
}

/// Rows written at a ring offset read back as the values (f16: rounded to
/// nearest even, as `half`).
fn kv_write(g: &Gpu, kv: KvType) -> Outcome {
    let mut rng = Rng(0x4b56);
    let (n_rows, width, n_tok, row0) = (7, 24, 3, 5); // rows 5, 6, 0
    let src: Vec<f32> = (0..n_tok * width).map(|_| rng.value()).collect();
    let sb = g.storage_init("src", bytemuck::cast_slice(&src));
    let cache = g.storage("cache", kv.bytes(n_rows * width));
    let mut enc = g.encoder();
    dev(attention::kv_write(
        &mut enc, &sb, n_tok, width, &cache, kv, row0, n_rows,
    ))?;
    dev(enc.submit())?;
    let bytes = dev(g.read_bytes(&cache, 0, kv.bytes(n_rows * width)))?;
    for t in 0..n_tok {
        let row = (row0 + t) % n_rows;
        for c in 0..width {
            let want = src[t * width + c];
            let got = match kv {
                KvType::F32 => {
                    let o = 4 * (row * width + c);
                    f32::from_le_bytes(bytes[o..o + 4].try_into().unwrap())
                }
                KvType::F16 => {
                    let o = 2 * (row * width + c);
                    f16::from_le_bytes([bytes[o], bytes[o + 1]]).to_f32()
                }
            };
            let want = if kv == KvType::F16 {
                f16::from_f32(want).to_f32()
            } else {
                want
            };
            if got.to_bits() != want.to_bits() {
                return Err(format!("token {t} col {c}: {got} vs {want}"));
            }
        }
    }
    Ok("bit-exact (ring rows)".into())
}

fn attention(g: &Gpu, kv: KvType) -> Outcome {
    let mut rng = Rng(0xa77 + kv as u64);
    let mut worst = 0f64;
    // (n_head, n_kv_head, head_dim, pos0, n_tok, window, kv_start)
    let cases = [
        (4, 2, 64, 0, 5, None, 0),
        (4, 2, 64, 150, 1, None, 0),
        (8, 8, 32, 70, 3, None, 0),
        (6, 2, 128, 200, 2, Some(90), 100),
        (2, 1, 256, 64, 1, None, 0),
    ];
    for (n_head, n_kv_head, head_dim, pos0, n_tok, window, kv_start) in cases {
        let p = AttnParams {
            n_head,
            n_kv_head,
            head_dim,
            scale: 1.0 / (head_dim as f32).sqrt(),
            window,
            kv_start,
        };
        let rows = pos0 + n_tok - kv_start;
        let q: Vec<f32> = (0..n_tok * n_head * head_dim)
            .map(|_| rng.gauss())
            .collect();
        let k32: Vec<f32> = (0..rows * n_kv_head * head_dim)
            .map(|_| 2.0 * rng.gauss())
            .collect();
        let v32: Vec<f32> = (0..rows * n_kv_head * head_dim)
            .map(|_| rng.value())
            .collect();
        let (k16, v16): (Vec<f16>, Vec<f16>) = (
            k32.iter().map(|&x| f16::from_f32(x)).collect(),
            v32.iter().map(|&x| f16::from_f32(x)).collect(),
        );
        let (kr, vr, kb, vb) = match kv {
            KvType::F32 => (
                KvRef::F32(&k32),
                KvRef::F32(&v32),
                g.storage_init("k", bytemuck::cast_slice(&k32)),
                g.storage_init("v", bytemuck::cast_slice(&v32)),
            ),
            KvType::F16 => (
                KvRef::F16(&k16),
                KvRef::F16(&v16),
                g.storage_init("k", bytemuck::cast_slice(&k16)),
                g.storage_init("v", bytemuck::cast_slice(&v16)),
            ),
        };
        let mut want = vec![0f32; q.len()];
        let mut work = vec![0f32; rk::work_per_thread(pos0 + n_tok, head_dim)];
        rk::attention(&p, &q, pos0, n_tok, kr, vr, &mut work, &mut want)
            .map_err(|e| e.to_string())?;
        let a = Attn {
            n_head,
            n_kv_head,
            head_dim,
            scale: p.scale,
            window,
            kv_start,
            kv,
        };
        let (qb, ob) = (
            g.storage_init("q", bytemuck::cast_slice(&q)),
            g.storage("out", 4 * q.len() as u64),
        );
        let mut enc = g.encoder();
        dev(attention::attention(
            &mut enc, &a, &qb, pos0, n_tok, &kb, &vb, &ob,
        ))?;
        dev(enc.submit())?;
        let got = dev(g.read_f32(&ob, q.len()))?;
        let what = format!(
            "heads {n_head}/{n_kv_head} dim {head_dim} pos0 {pos0} n_tok {n_tok} window {window:?}"
        );
        worst = worst.max(bound(&what, &got, &want)?);
    }
    Ok(format!("NMSE {worst:.1e} (5 shapes, up to 201 keys)"))
}
