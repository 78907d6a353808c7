//! 1000 requests in a row: no slot leaks, the resident memory grows by
//! less than 5% after a warm-up (its own binary: other tests' memory would
//! blur the measure).

#[path = "http/common.rs"]
#[allow(dead_code, unused_imports)]
mod common;

use std::time::{Duration, Instant};

use serde_json::json;

/// VmRSS of this process, in KiB.
fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// The 5xx responses a `/metrics` page counts.
fn server_errors(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter_map(|l| l.strip_prefix("wasm_chord_requests_total{status=\"5"))
        .filter_map(|l| l.split_once(' ')?.1.parse::<u64>().ok())
        .sum()
}

#[test]
#[cfg(target_os = "linux")]
fn a_thousand_requests_leak_neither_slots_nor_memory() {
    let s = common::Server::start(common::opts(4));
    // `/health` answers 503 while the model loads: those polls come before
    let errors_at_start = server_errors(&s.get("/metrics").1);
    let one = |i: usize| {
        let stream = i.is_multiple_of(3);
        let body = json!({"prompt": format!("Request {i}: once upon a time"), "max_tokens": 4,
                          "temperature": (i % 2) as f32, "seed": i, "stream": stream,
                          "logprobs": i.is_multiple_of(5).then_some(2)});
        let (st, b) = s.post("/v1/completions", &body.to_string());
        assert_eq!(st, 200, "{b}");
    };
    for i in 0..100 {
        one(i);
    }
    let before = rss_kib();
    let t0 = Instant::now();
    for i in 100..1000 {
        one(i);
    }
    let after = rss_kib();
    eprintln!(
        "900 requests in {:?}; RSS {before} -> {after} KiB",
        t0.elapsed()
    );
    assert!(s.wait_idle(Duration::from_secs(1)), "a slot is still busy");
    assert!(
        (after as f64) < before as f64 * 1.05,
        "RSS grew from {before} to {after} KiB"
    );
    // (and the health and slot polls)
    let (_, m) = s.get("/metrics");
    let ok: u64 = m
        .lines()
        .find_map(|l| l.strip_prefix("wasm_chord_requests_total{status=\"200\"} "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(ok >= 1000, "{m}");
    assert_eq!(server_errors(&m), errors_at_start, "{m}");
    s.stop().unwrap();
}
