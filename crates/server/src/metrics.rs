//! Counters and histograms, rendered as Prometheus text by hand.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

/// A latency histogram with fixed upper bounds (seconds).
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Per bound: observations at most that bound (not cumulative).
    counts: Vec<AtomicU64>,
    /// Observations above every bound.
    over: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            over: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        match self.bounds.iter().position(|&b| s <= b) {
            Some(i) => self.counts[i].fetch_add(1, Relaxed),
            None => self.over.fetch_add(1, Relaxed),
        };
        self.sum_us.fetch_add(d.as_micros() as u64, Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut acc = 0;
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            acc += c.load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {acc}");
        }
        acc += self.over.load(Relaxed);
        let sum = self.sum_us.load(Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {acc}");
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {acc}");
    }
}

const TTFT_BOUNDS: &[f64] = &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
const TOKEN_BOUNDS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0];

/// Everything `/metrics` reports besides the live gauges.
#[derive(Debug)]
pub struct Metrics {
    requests: Mutex<BTreeMap<u16, u64>>,
    pub prompt_tokens: AtomicU64,
    pub cached_tokens: AtomicU64,
    pub generated_tokens: AtomicU64,
    pub ttft: Histogram,
    pub token_latency: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            requests: Mutex::default(),
            prompt_tokens: AtomicU64::new(0),
            cached_tokens: AtomicU64::new(0),
            generated_tokens: AtomicU64::new(0),
            ttft: Histogram::new(TTFT_BOUNDS),
            token_latency: Histogram::new(TOKEN_BOUNDS),
        }
    }
}

/// The gauges read at scrape time.
#[derive(Debug, Clone, Copy)]
pub struct Gauges {
    pub queued: usize,
    pub busy: usize,
    pub slots: usize,
}

impl Metrics {
    /// Counts a response by its status.
    pub fn request(&self, status: u16) {
        let mut m = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry(status).or_default() += 1;
    }

    pub fn render(&self, g: Gauges) -> String {
        let mut out = String::new();
        let p = "wasm_chord";
        let _ = writeln!(
            out,
            "# HELP {p}_requests_total HTTP responses by status.\n# TYPE {p}_requests_total counter"
        );
        for (status, n) in self
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(out, "{p}_requests_total{{status=\"{status}\"}} {n}");
        }
        for (name, help, v) in [
            (
                "prompt_tokens_total",
                "Prompt tokens of finished requests.",
                &self.prompt_tokens,
            ),
            (
                "prompt_tokens_cached_total",
                "Prompt tokens found in a slot's cache.",
                &self.cached_tokens,
            ),
            (
                "generated_tokens_total",
                "Tokens generated.",
                &self.generated_tokens,
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP {p}_{name} {help}\n# TYPE {p}_{name} counter\n{p}_{name} {}",
                v.load(Relaxed)
            );
        }
        for (name, help, v) in [
            ("queue_depth", "Requests waiting for a slot.", g.queued),
            ("slots_busy", "Slots running a request.", g.busy),
            ("slots", "Slots (sequences run at once).", g.slots),
        ] {
            let _ = writeln!(
                out,
                "# HELP {p}_{name} {help}\n# TYPE {p}_{name} gauge\n{p}_{name} {v}"
            );
        }
        self.ttft.render(
            &mut out,
            &format!("{p}_time_to_first_token_seconds"),
            "From submission to the first generated token.",
        );
        self.token_latency.render(
            &mut out,
            &format!("{p}_token_latency_seconds"),
            "Between consecutive generated tokens of a request.",
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_cumulative_buckets_and_counters() {
        let m = Metrics::default();
        m.request(200);
        m.request(200);
        m.request(503);
        m.ttft.observe(Duration::from_millis(20));
        m.ttft.observe(Duration::from_secs(60));
        m.generated_tokens.fetch_add(5, Relaxed);
        let t = m.render(Gauges {
            queued: 2,
            busy: 1,
            slots: 4,
        });
        for want in [
            "wasm_chord_requests_total{status=\"200\"} 2",
            "wasm_chord_requests_total{status=\"503\"} 1",
            "wasm_chord_generated_tokens_total 5",
            "wasm_chord_queue_depth 2",
            "wasm_chord_slots_busy 1",
            "wasm_chord_time_to_first_token_seconds_bucket{le=\"0.01\"} 0",
            "wasm_chord_time_to_first_token_seconds_bucket{le=\"0.025\"} 1",
            "wasm_chord_time_to_first_token_seconds_bucket{le=\"30\"} 1",
            "wasm_chord_time_to_first_token_seconds_bucket{le=\"+Inf\"} 2",
            "wasm_chord_time_to_first_token_seconds_count 2",
            "wasm_chord_token_latency_seconds_count 0",
        ] {
            assert!(t.contains(want), "{want} not in\n{t}");
        }
    }
}
