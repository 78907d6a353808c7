//! Every error is OpenAI's JSON body with the right status.

use serde_json::{json, Value};

use crate::common::{opts, request, Server};

fn error_of(status: u16, body: &str, want: u16) -> Value {
    assert_eq!(status, want, "{body}");
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    let e = &v["error"];
    for k in ["message", "type", "param", "code"] {
        assert!(e.get(k).is_some(), "no {k} in {body}");
    }
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()));
    e.clone()
}

#[test]
fn error_paths_are_openai_json() {
    let mut o = opts(1);
    o.body_limit = 64 << 10;
    let s = Server::start(o);
    let (st, b) = s.get("/v1/nothing");
    error_of(st, &b, 404);
    let (st, b) = s.get("/v1/chat/completions");
    error_of(st, &b, 405);
    let (st, b) = s.post("/v1/chat/completions", "{not json");
    error_of(st, &b, 400);
    // wrong types: 400 (never axum's 422), naming the field
    let (st, b) = s.post(
        "/v1/chat/completions",
        r#"{"messages":[{"role":"user","content":"hi"}],"max_tokens":"many"}"#,
    );
    let e = error_of(st, &b, 400);
    assert!(e["param"].as_str().unwrap().contains("max_tokens"), "{e}");
    let (st, b) = s.post("/v1/completions", r#"{"prompt":[1,2]}"#);
    error_of(st, &b, 400);
    let (st, b) = s.post("/v1/completions", r#"{"prompt":"a","n":2}"#);
    assert_eq!(error_of(st, &b, 400)["param"], "n");
    let (st, b) = s.post("/v1/chat/completions", r#"{"messages":[]}"#);
    error_of(st, &b, 400);
    // too large a body: 413
    let big = format!(r#"{{"prompt":"{}"}}"#, "a".repeat(100 << 10));
    let (st, b) = s.post("/v1/completions", &big);
    let e = error_of(st, &b, 413);
    assert!(e["message"].as_str().unwrap().contains("65536"), "{e}");
    // a prompt longer than a slot: 400 naming the context size
    let long = json!({"prompt": "hello world ".repeat(400), "max_tokens": 1});
    let (st, b) = s.post("/v1/completions", &long.to_string());
    let e = error_of(st, &b, 400);
    assert!(e["message"].as_str().unwrap().contains("512"), "{e}");
    assert_eq!(e["code"], "context_length_exceeded");
    // the error count shows on /metrics
    let (_, m) = s.get("/metrics");
    assert!(
        m.contains("wasm_chord_requests_total{status=\"400\"}"),
        "{m}"
    );
    s.stop().unwrap();
}

#[test]
fn an_api_key_is_required_except_for_health() {
    let mut o = opts(1);
    o.api_key = Some("sekret".into());
    let s = Server::start(o);
    let body = r#"{"prompt":"hi","max_tokens":2}"#;
    let (st, b) = request(&s.addr, "POST", "/v1/completions", &[], body.as_bytes());
    assert_eq!(error_of(st, &b, 401)["code"], "invalid_api_key");
    let wrong = [("Authorization", "Bearer nope")];
    let (st, b) = request(&s.addr, "POST", "/v1/completions", &wrong, body.as_bytes());
    error_of(st, &b, 401);
    let (st, b) = request(&s.addr, "GET", "/v1/models", &[], b"");
    error_of(st, &b, 401);
    let good = [("Authorization", "Bearer sekret")];
    let (st, b) = request(&s.addr, "POST", "/v1/completions", &good, body.as_bytes());
    assert_eq!(st, 200, "{b}");
    assert_eq!(s.get("/health").0, 200);
    s.stop().unwrap();
}

#[test]
fn cors_answers_preflight_for_the_origin() {
    let mut o = opts(1);
    o.cors_origin = Some("http://example.test".into());
    let s = Server::start(o);
    let h = [
        ("Origin", "http://example.test"),
        ("Access-Control-Request-Method", "POST"),
    ];
    let (_, head, _) = crate::common::open(&s.addr, "OPTIONS", "/v1/completions", &h, b"");
    assert!(
        head.contains("access-control-allow-origin: http://example.test"),
        "{head}"
    );
    s.stop().unwrap();
}
