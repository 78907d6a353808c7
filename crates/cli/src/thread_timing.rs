//! `wasm-chord bench --thread-timing`: how one decode step spreads over the
//! threads. Decodes a few tokens with the pool's per-region tracing on and
//! prints, per thread, the regions it joined, the blocks it claimed, its
//! busy time, how late it started after each region opened, and how long it
//! finished before the region's last thread (idle at the region's end).

use anyhow::Result;
use kernels::pool::Trace;
use model::{KvCache, LogitsMode, Model, Scratch};

use crate::common::CacheTypeArg;

/// Decode steps traced (after as many untraced warm-up steps).
pub const STEPS: usize = 8;

/// Traces `STEPS` decode steps of `model` at its current thread count.
pub fn measure(model: &Model, cache: CacheTypeArg, ids: &[u32]) -> Result<Trace> {
    let n = 2 * STEPS;
    let mut kv = KvCache::new(model.config(), n, cache.into())?;
    let mut scratch = Scratch::new(model, 1, n, 1)?;
    let ids = &ids[..n.min(ids.len())];
    let (warm, traced) = ids.split_at(ids.len() / 2);
    for (pos, id) in warm.iter().enumerate() {
        let one = std::slice::from_ref(id);
        model.forward(one, pos, &mut kv, &mut scratch, LogitsMode::Last)?;
    }
    // Generous room: ~150 regions per step, one span per thread each.
    model.pool().start_trace(STEPS * 4096 * model.threads());
    let mut result = Ok(());
    for (i, id) in traced.iter().enumerate() {
        let one = std::slice::from_ref(id);
        result = model
            .forward(one, warm.len() + i, &mut kv, &mut scratch, LogitsMode::Last)
            .map(|_| ());
        if result.is_err() {
            break;
        }
    }
    let trace = model.pool().stop_trace();
    result?;
    Ok(trace)
}

/// The per-thread table of one trace of `steps` decode steps.
pub fn report(trace: &Trace, threads: usize, steps: usize) -> String {
    let steps = steps.max(1) as f64;
    let us = |ns: f64| ns / 1e3;
    let mut out = format!(
        "thread timing, {threads} thread(s): {} regions per decode step{}\n\
         | thread | regions / step | blocks / step | busy µs / step | start delay µs (mean / max) | idle at region end µs / step |\n\
         | ---: | ---: | ---: | ---: | ---: | ---: |\n",
        trace.regions as f64 / steps,
        if trace.dropped > 0 {
            format!(" ({} spans not recorded)", trace.dropped)
        } else {
            String::new()
        }
    );
    for t in trace.summary() {
        out += &format!(
            "| {} | {:.1} | {:.1} | {:.1} | {:.2} / {:.1} | {:.1} |\n",
            t.tid,
            t.regions as f64 / steps,
            t.blocks as f64 / steps,
            us(t.busy_ns as f64) / steps,
            us(t.mean_start_ns),
            us(t.max_start_ns as f64),
            us(t.idle_tail_ns as f64) / steps,
        );
    }
    out
}
