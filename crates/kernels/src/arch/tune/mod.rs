//! Decode kernel choice by measurement.
//!
//! A kernel table may offer several multi-row decode kernels per weight
//! type (`Kernels::decode_candidates`), every one equal bit for bit to the
//! table's row dot: the table's own `rows` kernel, the row dot looped row by
//! row, later kernels for other layouts. Which is fastest depends on the
//! CPU (the AVX-512 two-rows-per-register kernels win on full-width AVX-512
//! cores and lose on Zen 4, which splits 512-bit operations in two), so
//! `select()` hands out a tuned copy of the default table whose `rows`
//! reads a per-type choice made here:
//!
//! - `prepare(k, types)` (at model load, never in the decode loop) decides
//!   each type once per process: from the cache file of this CPU model
//!   (`cache`), else by timing every candidate on a synthetic matrix
//!   (`measure`) and `pick`ing the fastest, then writing the cache.
//! - Types not prepared keep the table's own kernel.
//! - `WASM_CHORD_ISA` (a forced table keeps its own kernels) and
//!   `WASM_CHORD_CALIBRATE=0` (the default table as is) turn it off;
//!   `WASM_CHORD_CALIBRATE=fresh` measures again and rewrites the cache.
//!
//! Since every candidate gives the same bits, results never depend on the
//! choice, only speed does.

mod cache;
mod measure;
#[cfg(test)]
mod tests;

use super::{Kernels, RowsFn};
use gguf::GgmlType;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// One decode kernel the calibration may choose for a weight type.
#[derive(Clone, Copy, Debug)]
pub struct Candidate {
    /// A stable name: written in the cache file, shown by `info --cpu`.
    pub name: &'static str,
    /// The multi-row kernel (the contract of `RowsFn`); `None`: the table's
    /// row dot, once per row.
    pub rows: Option<RowsFn>,
}

impl Candidate {
    /// The table's row dot, once per row.
    pub const fn row_dot(name: &'static str) -> Candidate {
        Candidate { name, rows: None }
    }

    /// A multi-row kernel.
    pub const fn rows(name: &'static str, f: RowsFn) -> Candidate {
        Candidate {
            name,
            rows: Some(f),
        }
    }
}

/// The decode candidates of a table for weights of type `w`, the table's
/// own choice first (it wins ties); empty or one: nothing to choose.
pub type CandidatesFn = fn(GgmlType) -> &'static [Candidate];

/// A challenger replaces an earlier candidate only if it is faster by more
/// than this fraction: noise-level differences keep the earlier one.
pub const MARGIN: f64 = 0.03;

/// The candidate to use, from each candidate's time (seconds per product,
/// in candidate order): the first one within `MARGIN` of the fastest, so
/// the table's own choice (listed first) stays unless another clearly
/// wins. Non-finite or non-positive times count as infinitely slow; no
/// valid time at all gives 0.
pub fn pick(times: &[f64]) -> usize {
    let valid = |t: f64| t.is_finite() && t > 0.0;
    let best = times
        .iter()
        .copied()
        .filter(|&t| valid(t))
        .fold(f64::INFINITY, f64::min);
    times
        .iter()
        .position(|&t| valid(t) && t <= best * (1.0 + MARGIN))
        .unwrap_or(0)
}

/// Why a type runs the kernel it runs.
#[derive(Clone, Debug, PartialEq)]
pub enum Reason {
    /// Timed here: (candidate, best seconds per product), in candidate order.
    Measured(Vec<(&'static str, f64)>),
    /// Read from the cache file of this CPU model.
    Cached,
    /// The table's own kernel, and why (forced table, calibration off, not
    /// prepared, a single candidate).
    Default(&'static str),
}

/// The decode kernel of one weight type.
#[derive(Clone, Debug)]
pub struct Choice {
    pub ty: GgmlType,
    /// The candidate's name, or `rows kernel` / `row dot` for tables
    /// without candidates.
    pub kernel: &'static str,
    pub reason: Reason,
}

/// Per type (indexed by `GgmlType as usize`): the chosen candidate.
const SLOTS: usize = 64;
static CHOSEN: [OnceLock<(Candidate, Reason)>; SLOTS] = [const { OnceLock::new() }; SLOTS];
/// The table the tuned copy was made from, and the copy.
static BASE: OnceLock<&'static Kernels> = OnceLock::new();
static TUNED: OnceLock<&'static Kernels> = OnceLock::new();
/// Time spent timing candidates in this process.
static SPENT: Mutex<Duration> = Mutex::new(Duration::ZERO);

fn slot(w: GgmlType) -> Option<&'static OnceLock<(Candidate, Reason)>> {
    CHOSEN.get(w as usize)
}

/// `WASM_CHORD_CALIBRATE`: `0`/`off` disables the choice, `fresh` ignores
/// the cache when deciding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    On,
    Off,
    Fresh,
}

fn mode() -> Mode {
    static MODE: OnceLock<Mode> = OnceLock::new();
    *MODE.get_or_init(|| {
        match std::env::var("WASM_CHORD_CALIBRATE")
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
            .as_str()
        {
            "0" | "off" | "no" | "false" => Mode::Off,
            "fresh" => Mode::Fresh,
            _ => Mode::On,
        }
    })
}

/// The table `select()` hands out for the default table `base`: a copy
/// whose `rows` follows the per-type choice if `base` has candidates and
/// calibration is on, else `base` itself. Called once per process.
pub(super) fn tuned(base: &'static Kernels) -> &'static Kernels {
    if base.decode_candidates.is_none() || mode() == Mode::Off {
        return base;
    }
    TUNED.get_or_init(|| {
        let _ = BASE.set(base);
        Box::leak(Box::new(Kernels {
            rows_lookup: Some(tuned_rows),
            ..*base
        }))
    })
}

/// The tuned table's `rows_lookup`: the chosen candidate's kernel, or the
/// base table's own before `prepare`.
fn tuned_rows(w: GgmlType) -> Option<RowsFn> {
    match slot(w).and_then(OnceLock::get) {
        Some((c, _)) => c.rows,
        None => BASE.get().and_then(|b| b.rows(w)),
    }
}

fn is_tuned(k: &Kernels) -> bool {
    TUNED.get().is_some_and(|t| std::ptr::eq(*t, k))
}

fn candidates(k: &Kernels, w: GgmlType) -> &'static [Candidate] {
    k.decode_candidates.map_or(&[], |f| f(w))
}

/// Decides the decode kernel of each of `types` not decided yet, if `k` is
/// the tuned table (others: nothing to do): from the cache, else by timing
/// (a few ms per type), then writes the cache. Call it at model load with
/// the types of the model's matrices; it never changes results.
pub fn prepare(k: &Kernels, types: &[GgmlType]) {
    if !is_tuned(k) {
        return;
    }
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let todo: Vec<GgmlType> = GgmlType::ALL
        .into_iter()
        .filter(|t| types.contains(t))
        .filter(|&t| candidates(k, t).len() > 1)
        .filter(|&t| slot(t).is_some_and(|s| s.get().is_none()))
        .collect();
    if todo.is_empty() {
        return;
    }
    let file = cache::path(&cache::cpu_key());
    let cached = match (mode(), &file) {
        (Mode::On, Some(p)) => cache::read(p),
        _ => cache::Entries::default(),
    };
    let mut measured = false;
    let mut buf = Vec::new();
    for ty in todo {
        let cands = candidates(k, ty);
        let names: Vec<&str> = cands.iter().map(|c| c.name).collect();
        let (i, reason) = match cached.choice(ty, &names) {
            Some(i) => (i, Reason::Cached),
            None => {
                let start = Instant::now();
                let times = measure::time_candidates(k, ty, cands, &mut buf);
                *SPENT.lock().unwrap_or_else(|e| e.into_inner()) += start.elapsed();
                measured = true;
                let i = pick(&times);
                (
                    i,
                    Reason::Measured(names.iter().copied().zip(times).collect()),
                )
            }
        };
        if let Some(s) = slot(ty) {
            let _ = s.set((cands[i], reason));
        }
    }
    if let (true, Some(p)) = (measured, &file) {
        let mut all = cache::read(p);
        for ty in GgmlType::ALL {
            if let Some((c, Reason::Measured(_) | Reason::Cached)) = slot(ty).and_then(|s| s.get())
            {
                let names: Vec<&str> = candidates(k, ty).iter().map(|c| c.name).collect();
                all.set(ty, c.name, &names);
            }
        }
        cache::write(p, &all);
    }
}

/// What `k` runs for the decode products of each weight type that has a
/// choice (or a multi-row kernel), and why. `forced`: the table was forced
/// by `WASM_CHORD_ISA`.
pub fn choices(k: &Kernels, forced: bool) -> Vec<Choice> {
    let default = super::default_table();
    GgmlType::ALL
        .into_iter()
        .filter(|&t| {
            candidates(k, t).len() > 1
                || k.rows(t).is_some()
                || (forced && candidates(default, t).len() > 1)
        })
        .map(|ty| {
            if is_tuned(k) {
                if let Some((c, r)) = slot(ty).and_then(|s| s.get()) {
                    return Choice {
                        ty,
                        kernel: c.name,
                        reason: r.clone(),
                    };
                }
            }
            let why = if forced {
                "forced by WASM_CHORD_ISA"
            } else if is_tuned(k) {
                "not calibrated yet (no model of this type loaded)"
            } else if k.decode_candidates.is_some() && mode() == Mode::Off {
                "calibration off (WASM_CHORD_CALIBRATE=0)"
            } else {
                "the table's only kernel"
            };
            let base = if is_tuned(k) {
                BASE.get().copied()
            } else {
                Some(k)
            };
            let own = base.and_then(|b| b.rows(ty));
            let named = candidates(k, ty)
                .iter()
                .find(|c| c.rows.map(|f| f as usize) == own.map(|f| f as usize));
            let kernel = match (named, own) {
                (Some(c), _) => c.name,
                (None, Some(_)) => "rows kernel",
                (None, None) => "row dot",
            };
            Choice {
                ty,
                kernel,
                reason: Reason::Default(why),
            }
        })
        .collect()
}

/// The time this process spent timing candidates.
pub fn calibration_time() -> Duration {
    *SPENT.lock().unwrap_or_else(|e| e.into_inner())
}

/// The cache file of this CPU model, if there is a cache directory.
pub fn cache_file() -> Option<std::path::PathBuf> {
    cache::path(&cache::cpu_key())
}
