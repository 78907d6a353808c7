//! Attention (standard and flash, f32 and f16 caches, causal and
//! sliding-window) with each instruction set's inner loops against the
//! scalar standard attention on the same cache, NMSE ≤ 1e-7.

use half::f16;

use super::rng::Rng;
use super::{nmse, Outcome, Report, NMSE_MAX};
use crate::arch::{self, Isa};
use crate::attention::{attention_with, work_per_thread, AttentionBackend, AttnParams, KvRef};
use crate::ThreadPool;

pub(super) fn run(report: &mut Report) {
    let mut isas = arch::available();
    isas.retain(|&i| i != Isa::Scalar);
    isas.insert(0, Isa::Scalar);
    for isa in isas {
        for backend in [AttentionBackend::Standard, AttentionBackend::Flash] {
            for half in [false, true] {
                let op = format!(
                    "attention {} {}",
                    backend.name(),
                    if half { "f16" } else { "f32" }
                );
                report.record(op, isa.name(), attention(isa, backend, half));
            }
        }
    }
}

fn attention(isa: Isa, backend: AttentionBackend, half: bool) -> Outcome {
    let mut rng = Rng(0xa7);
    let (n_head, n_kv_head, hd) = (4, 2, 64);
    let row = n_kv_head * hd;
    let pool = ThreadPool::new(2);
    let mut worst = 0f64;
    for (pos0, n_tok) in [(0, 1), (0, 9), (37, 1), (130, 6)] {
        let n_ctx = pos0 + n_tok;
        let q = rng.gaussians(n_tok * n_head * hd);
        let k = rng.gaussians(n_ctx * row);
        let v = rng.gaussians(n_ctx * row);
        let kh: Vec<f16> = k.iter().map(|&x| f16::from_f32(x)).collect();
        let vh: Vec<f16> = v.iter().map(|&x| f16::from_f32(x)).collect();
        let cache = || {
            if half {
                (KvRef::F16(&kh), KvRef::F16(&vh))
            } else {
                (KvRef::F32(&k), KvRef::F32(&v))
            }
        };
        let mut work = vec![0.0; 2 * work_per_thread(n_ctx, hd).max(256 * hd)];
        for window in [None, Some(8)] {
            let p = AttnParams {
                n_head,
                n_kv_head,
                head_dim: hd,
                scale: 0.125,
                window,
                kv_start: 0,
            };
            let mut run = |isa, backend| {
                let (kc, vc) = cache();
                let mut out = vec![f32::NAN; n_tok * n_head * hd];
                attention_with(
                    backend, isa, &pool, &p, &q, pos0, n_tok, kc, vc, &mut work, &mut out,
                )
                .map(|_| out)
                .map_err(|e| e.to_string())
            };
            let want = run(Isa::Scalar, AttentionBackend::Standard)?;
            let got = run(isa, backend)?;
            let want: Vec<f64> = want.iter().map(|&x| x as f64).collect();
            let e = nmse(&got, &want);
            if e > NMSE_MAX {
                return Err(format!(
                    "pos0={pos0} n_tok={n_tok} window={window:?}: NMSE {e:e}"
                ));
            }
            worst = worst.max(e);
        }
    }
    Ok(format!("NMSE {worst:.1e}"))
}
