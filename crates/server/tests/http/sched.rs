//! Scheduling over HTTP: disconnects free slots, the queue is bounded,
//! concurrent clients are all served and get what they get alone,
//! shutdown lets in-flight requests finish.

use std::io::Read;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{open, opts, send, Server};

/// Slots of 65536 tokens: a generation that fills one (no
/// end-of-generation token) takes seconds even on the tiny model (8192
/// take about 0.1 s).
const LONG_CTX: usize = 65536;

fn long_opts(n_slots: usize, max_queue: usize) -> server::ServerOptions {
    let mut o = opts(n_slots);
    o.load.n_ctx = LONG_CTX;
    o.max_queue = max_queue;
    o
}

fn long_body(stream: bool) -> Vec<u8> {
    json!({"prompt": "Once upon a time", "max_tokens": 100000, "ignore_eos": true,
           "temperature": 0, "stream": stream})
    .to_string()
    .into_bytes()
}

fn generated(s: &Server) -> u64 {
    let (_, m) = s.get("/metrics");
    m.lines()
        .find_map(|l| l.strip_prefix("wasm_chord_generated_tokens_total "))
        .unwrap()
        .parse()
        .unwrap()
}

fn wait_busy(s: &Server, n: usize) {
    let t0 = Instant::now();
    while s.busy().iter().filter(|&&b| b).count() < n {
        assert!(t0.elapsed() < Duration::from_secs(30), "never busy");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_client_that_leaves_frees_its_slot_within_a_second() {
    let s = Server::start(long_opts(1, 4));
    for stream in [true, false] {
        let before = generated(&s);
        let conn = send(&s.addr, "POST", "/v1/completions", &[], &long_body(stream));
        wait_busy(&s, 1);
        if stream {
            let mut first = [0u8; 64];
            (&conn).read_exact(&mut first).unwrap();
            assert!(first.starts_with(b"HTTP/1.1 200"));
        }
        drop(conn);
        let t0 = Instant::now();
        assert!(
            s.wait_idle(Duration::from_secs(1)),
            "stream {stream}: slot still busy"
        );
        eprintln!("stream {stream}: slot free after {:?}", t0.elapsed());
        // cancelled long before the context was full
        let n = generated(&s) - before;
        assert!(
            n < LONG_CTX as u64 / 2,
            "stream {stream}: {n} tokens generated"
        );
        assert_eq!(s.get("/health").0, 200);
    }
    s.stop().unwrap();
}

#[test]
fn a_full_queue_is_503_with_retry_after() {
    let s = Server::start(long_opts(1, 1));
    let (a, _, ra) = open(&s.addr, "POST", "/v1/completions", &[], &long_body(true));
    wait_busy(&s, 1);
    let (b, _, rb) = open(&s.addr, "POST", "/v1/completions", &[], &long_body(true));
    assert_eq!((a, b), (200, 200));
    let (c, head, mut rc) = open(&s.addr, "POST", "/v1/completions", &[], &long_body(true));
    let mut body = String::new();
    rc.read_to_string(&mut body).unwrap();
    assert_eq!(c, 503, "{head}{body}");
    assert!(head.contains("retry-after: 1"), "{head}");
    let e: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(e["error"]["code"], "queue_full");
    drop((ra, rb));
    assert!(s.wait_idle(Duration::from_secs(2)));
    s.stop().unwrap();
}

fn completion(s: &Server, prompt: &str, temperature: f32, seed: u64) -> (u16, String) {
    let body = json!({"prompt": prompt, "max_tokens": 24, "temperature": temperature,
                      "seed": seed, "top_k": 0, "top_p": 1.0, "min_p": 0.0});
    let (st, r) = s.post_json("/v1/completions", &body);
    (
        st,
        r["choices"][0]["text"].as_str().unwrap_or("").to_string(),
    )
}

#[test]
fn sixteen_clients_on_eight_slots_and_greedy_beside_others() {
    let s = Server::start(opts(8));
    let (st, alone) = completion(&s, "The quick brown fox", 0.0, 1);
    assert_eq!(st, 200);
    let prompts = [
        "Once upon a time",
        "1, 2, 3, 4,",
        "The capital of France is",
        "def fibonacci(n):",
        "Q: What is 7 times 8?\nA:",
        "I love pizza and",
        "ABDOMEN, n. The temple",
    ];
    let results: Vec<(u16, String)> = std::thread::scope(|sc| {
        let mut hs = vec![sc.spawn(|| completion(&s, "The quick brown fox", 0.0, 1))];
        for (i, p) in prompts.iter().enumerate() {
            let s = &s;
            hs.push(sc.spawn(move || completion(s, p, (i % 2) as f32, i as u64)));
        }
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(results.iter().all(|r| r.0 == 200), "{results:?}");
    assert_eq!(
        results[0].1, alone,
        "greedy beside 7 others differs from alone"
    );

    // 16 at once on 8 slots: all answered
    let t0 = Instant::now();
    let results: Vec<(u16, String)> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..16)
            .map(|i| {
                let s = &s;
                sc.spawn(move || completion(s, prompts[i % 7], 0.0, 0))
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(results.iter().all(|r| r.0 == 200), "{results:?}");
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r.1, results[i % 7].1, "same prompt, same greedy text");
    }
    eprintln!("16 clients on 8 slots: {:?}", t0.elapsed());
    assert!(s.wait_idle(Duration::from_secs(1)));
    s.stop().unwrap();
}

#[test]
fn shutdown_lets_a_running_stream_finish() {
    let mut o = long_opts(1, 4);
    o.shutdown_timeout = Duration::from_secs(60);
    let s = Server::start(o);
    let body = json!({"prompt": "Once upon a time", "max_tokens": 2000, "ignore_eos": true,
                      "temperature": 0, "stream": true});
    let (st, _, mut r) = open(
        &s.addr,
        "POST",
        "/v1/completions",
        &[],
        body.to_string().as_bytes(),
    );
    assert_eq!(st, 200);
    wait_busy(&s, 1);
    let addr = s.addr.clone();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        r.read_to_string(&mut text).unwrap();
        text
    });
    let t0 = Instant::now();
    s.stop().unwrap();
    eprintln!("shutdown waited {:?} for the stream", t0.elapsed());
    let text = reader.join().unwrap();
    assert!(text.contains("data: [DONE]"), "{text}");
    assert!(text.contains("\"finish_reason\":\"length\""));
    // no longer accepting
    assert!(std::net::TcpStream::connect(&addr).is_err());
}

#[test]
fn after_the_grace_period_shutdown_drops_what_still_runs() {
    let mut o = long_opts(1, 4);
    o.shutdown_timeout = Duration::from_millis(200);
    let s = Server::start(o);
    let (st, _, mut r) = open(&s.addr, "POST", "/v1/completions", &[], &long_body(true));
    assert_eq!(st, 200);
    wait_busy(&s, 1);
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = r.read_to_end(&mut text);
        String::from_utf8_lossy(&text).into_owned()
    });
    let t0 = Instant::now();
    s.stop().unwrap();
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
    let text = reader.join().unwrap();
    assert!(!text.contains("[DONE]"));
}
