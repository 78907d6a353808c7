//! Per-thread timing of `par_cols` regions, for checking how a decode step
//! spreads over the threads (`wasm-chord bench --thread-timing`).
//!
//! Off by default: a region then pays one relaxed atomic load (and never
//! reads the clock, which wasm32 builds do not have). While on,
//! every thread that takes part in a region records when it started and
//! finished (relative to the moment the caller opened the region) and how
//! many blocks it claimed, into a buffer sized up front, so tracing does not
//! allocate in the decode loop; spans past its capacity are counted, not
//! kept.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// One thread's part in one region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// Index of the region since tracing started.
    pub region: u64,
    /// Thread index (0 = the caller).
    pub tid: usize,
    /// Nanoseconds from the region's opening to this thread's first block.
    pub start_ns: u64,
    /// Nanoseconds from the region's opening to this thread's return.
    pub end_ns: u64,
    /// Blocks of columns this thread claimed.
    pub blocks: usize,
}

/// The spans of a traced run and how many did not fit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    pub spans: Vec<Span>,
    pub regions: u64,
    pub dropped: u64,
}

#[derive(Default)]
pub(super) struct Tracer {
    on: AtomicBool,
    next_region: AtomicU64,
    dropped: AtomicU64,
    spans: Mutex<Vec<Span>>,
}

/// A region being traced: its index and opening time.
#[derive(Clone, Copy)]
pub(super) struct Region {
    index: u64,
    opened: Instant,
}

fn lock(m: &Mutex<Vec<Span>>) -> std::sync::MutexGuard<'_, Vec<Span>> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Tracer {
    /// Starts recording, with room for `capacity` spans (earlier spans are
    /// discarded).
    pub(super) fn start(&self, capacity: usize) {
        let mut spans = lock(&self.spans);
        spans.clear();
        spans.reserve_exact(capacity);
        self.next_region.store(0, Ordering::Relaxed);
        self.dropped.store(0, Ordering::Relaxed);
        self.on.store(true, Ordering::Release);
    }

    /// Stops recording and returns what was recorded.
    pub(super) fn stop(&self) -> Trace {
        self.on.store(false, Ordering::Release);
        let spans = std::mem::take(&mut *lock(&self.spans));
        Trace {
            spans,
            regions: self.next_region.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }

    /// A new region, if tracing is on.
    #[inline]
    pub(super) fn open(&self) -> Option<Region> {
        if !self.on.load(Ordering::Relaxed) {
            return None;
        }
        Some(Region {
            index: self.next_region.fetch_add(1, Ordering::Relaxed),
            opened: Instant::now(),
        })
    }

    /// Records one thread's part in `region` (`started`: its first block).
    pub(super) fn record(&self, region: Region, tid: usize, started: Instant, blocks: usize) {
        let ns = |t: Instant| t.saturating_duration_since(region.opened).as_nanos() as u64;
        let span = Span {
            region: region.index,
            tid,
            start_ns: ns(started),
            end_ns: ns(Instant::now()),
            blocks,
        };
        let mut spans = lock(&self.spans);
        if spans.len() < spans.capacity() {
            spans.push(span);
        } else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Per-thread totals of a trace.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ThreadSummary {
    pub tid: usize,
    /// Regions this thread took part in.
    pub regions: u64,
    pub blocks: usize,
    /// Sum of (end - start): time spent on claimed blocks.
    pub busy_ns: u64,
    /// Mean and largest delay from a region's opening to this thread's start.
    pub mean_start_ns: f64,
    pub max_start_ns: u64,
    /// Sum over regions of the time this thread finished before the region's
    /// last thread did (time it waited at the end, or could have helped).
    pub idle_tail_ns: u64,
}

impl Trace {
    /// Totals per thread index, in order of the index.
    pub fn summary(&self) -> Vec<ThreadSummary> {
        let n_threads = self.spans.iter().map(|s| s.tid + 1).max().unwrap_or(0);
        let mut region_end = vec![0u64; self.regions as usize];
        for s in &self.spans {
            if let Some(e) = region_end.get_mut(s.region as usize) {
                *e = (*e).max(s.end_ns);
            }
        }
        let mut out: Vec<ThreadSummary> = (0..n_threads)
            .map(|tid| ThreadSummary {
                tid,
                ..ThreadSummary::default()
            })
            .collect();
        for s in &self.spans {
            let t = &mut out[s.tid];
            t.regions += 1;
            t.blocks += s.blocks;
            t.busy_ns += s.end_ns.saturating_sub(s.start_ns);
            t.mean_start_ns += s.start_ns as f64;
            t.max_start_ns = t.max_start_ns.max(s.start_ns);
            let end = region_end
                .get(s.region as usize)
                .copied()
                .unwrap_or(s.end_ns);
            t.idle_tail_ns += end.saturating_sub(s.end_ns);
        }
        for t in &mut out {
            t.mean_start_ns /= t.regions.max(1) as f64;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_totals_per_thread() {
        let span = |region, tid, start_ns, end_ns, blocks| Span {
            region,
            tid,
            start_ns,
            end_ns,
            blocks,
        };
        let t = Trace {
            spans: vec![
                span(0, 0, 0, 100, 3),
                span(0, 1, 20, 80, 1),
                span(1, 0, 0, 50, 2),
                span(1, 1, 10, 90, 2),
            ],
            regions: 2,
            dropped: 0,
        };
        let s = t.summary();
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].regions, s[0].blocks, s[0].busy_ns), (2, 5, 150));
        assert_eq!((s[1].regions, s[1].blocks, s[1].busy_ns), (2, 3, 140));
        assert_eq!((s[1].mean_start_ns, s[1].max_start_ns), (15.0, 20));
        assert_eq!(s[0].idle_tail_ns, 40);
        assert_eq!(s[1].idle_tail_ns, 20);
    }

    #[test]
    fn spans_beyond_capacity_are_counted_not_kept() {
        let tr = Tracer::default();
        tr.start(1);
        for _ in 0..3 {
            let r = tr.open().expect("tracing is on");
            tr.record(r, 0, Instant::now(), 1);
        }
        let t = tr.stop();
        assert_eq!((t.spans.len(), t.regions, t.dropped), (1, 3, 2));
        assert!(tr.open().is_none());
    }
}
