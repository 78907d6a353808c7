//! Responses and SSE streams in OpenAI's shapes.

use serde_json::{json, Value};

use crate::common::{opts, sse_data, Server};

/// The chunks of a streamed request (after checking the framing: one id,
/// `[DONE]` last) and their concatenated text.
fn streamed(s: &Server, path: &str, body: &Value) -> (Vec<Value>, String) {
    let mut body = body.clone();
    body["stream"] = json!(true);
    let (st, text) = s.post(path, &body.to_string());
    assert_eq!(st, 200, "{text}");
    let data = sse_data(&text);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"), "{text}");
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let id = &chunks[0]["id"];
    assert!(chunks.iter().all(|c| &c["id"] == id), "{text}");
    let mut out = String::new();
    for c in &chunks {
        for ch in c["choices"].as_array().unwrap() {
            let t = ch["delta"]["content"].as_str().or(ch["text"].as_str());
            out.push_str(t.unwrap_or(""));
        }
    }
    (chunks, out)
}

#[test]
fn chat_streams_as_openai_and_equals_the_whole_response() {
    let s = Server::start(opts(2));
    let req = json!({
        "model": "anything",
        "messages": [{"role": "system", "content": "Be brief."},
                     {"role": "user", "content": [{"type": "text", "text": "Hello"}]}],
        "max_tokens": 12, "temperature": 0,
        "stream_options": {"include_usage": true},
    });
    let (st, whole) = s.post_json("/v1/chat/completions", &req);
    assert_eq!(st, 200, "{whole}");
    assert_eq!(whole["object"], "chat.completion");
    assert_eq!(whole["choices"][0]["message"]["role"], "assistant");
    assert_eq!(whole["choices"][0]["finish_reason"], "length");
    assert_eq!(whole["usage"]["completion_tokens"], 12);
    let (chunks, text) = streamed(&s, "/v1/chat/completions", &req);
    assert_eq!(
        text,
        whole["choices"][0]["message"]["content"].as_str().unwrap()
    );
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(chunks[0]["object"], "chat.completion.chunk");
    let n = chunks.len();
    // the finish reason, then the usage chunk with no choices
    assert_eq!(chunks[n - 2]["choices"][0]["finish_reason"], "length");
    assert_eq!(chunks[n - 1]["choices"], json!([]));
    assert_eq!(chunks[n - 1]["usage"]["completion_tokens"], 12);
    let prompt_tokens = whole["usage"]["prompt_tokens"].as_u64().unwrap();
    assert_eq!(chunks[n - 1]["usage"]["prompt_tokens"], prompt_tokens);
    // the same prompt again found its tokens in a slot
    let cached = &chunks[n - 1]["usage"]["prompt_tokens_details"]["cached_tokens"];
    assert_eq!(cached.as_u64(), Some(prompt_tokens - 1));
    assert!(chunks[..n - 2]
        .iter()
        .all(|c| c["choices"][0]["finish_reason"].is_null()));
    s.stop().unwrap();
}

#[test]
fn completions_logprobs_stop_seed_and_prompt_arrays() {
    let s = Server::start(opts(2));
    let req = json!({"prompt": "Once upon a time", "max_tokens": 8, "temperature": 0,
                     "logprobs": 3});
    let (st, r) = s.post_json("/v1/completions", &req);
    assert_eq!(st, 200, "{r}");
    let c = &r["choices"][0];
    assert_eq!(r["object"], "text_completion");
    let lp = &c["logprobs"];
    assert_eq!(lp["tokens"].as_array().unwrap().len(), 8);
    assert_eq!(lp["top_logprobs"][0].as_object().unwrap().len(), 3);
    assert!(lp["token_logprobs"][0].as_f64().unwrap() <= 0.0);
    let text = c["text"].as_str().unwrap().to_string();
    let (_, streamed_text) = streamed(&s, "/v1/completions", &req);
    assert_eq!(streamed_text, text);

    // stop: the text ends before it
    let stop = text.chars().skip(3).take(2).collect::<String>();
    let req2 =
        json!({"prompt": "Once upon a time", "max_tokens": 8, "temperature": 0, "stop": [stop]});
    let (_, r2) = s.post_json("/v1/completions", &req2);
    let cut = r2["choices"][0]["text"].as_str().unwrap();
    assert!(
        text.starts_with(cut) && cut.len() < text.len(),
        "{cut:?} {text:?}"
    );
    assert_eq!(r2["choices"][0]["finish_reason"], "stop");

    // the same seed gives the same text
    let sampled = |seed| {
        let r = json!({"prompt": "Once upon a time", "max_tokens": 16, "temperature": 1.0,
                       "top_k": 0, "top_p": 1.0, "min_p": 0.0, "seed": seed});
        s.post_json("/v1/completions", &r).1["choices"][0]["text"].clone()
    };
    assert_eq!(sampled(42), sampled(42));
    assert_ne!(sampled(42), sampled(43));

    // an array of prompts: one choice each
    let (st, r) = s.post_json(
        "/v1/completions",
        &json!({"prompt": ["Once upon a time", "The capital"], "max_tokens": 4, "temperature": 0}),
    );
    assert_eq!(st, 200, "{r}");
    assert_eq!(
        r["choices"][0]["text"].as_str().unwrap(),
        &text[..r["choices"][0]["text"].as_str().unwrap().len()]
    );
    assert_eq!(r["choices"][1]["index"], 1);
    assert_eq!(r["usage"]["completion_tokens"], 8);
    s.stop().unwrap();
}

#[test]
fn chat_top_logprobs_models_tokenize_and_metrics() {
    let s = Server::start(opts(1));
    let req = json!({"messages": [{"role": "user", "content": "Hi"}], "max_completion_tokens": 3,
                     "temperature": 0, "logprobs": true, "top_logprobs": 2});
    let (st, r) = s.post_json("/v1/chat/completions", &req);
    assert_eq!(st, 200, "{r}");
    let content = r["choices"][0]["logprobs"]["content"].as_array().unwrap();
    assert_eq!(content.len(), 3);
    for t in content {
        let top = t["top_logprobs"].as_array().unwrap();
        assert_eq!(top.len(), 2);
        // greedy: the chosen token is the most likely
        assert_eq!(top[0]["token"], t["token"]);
        assert_eq!(top[0]["logprob"], t["logprob"]);
    }
    let (_, m) = s.get("/v1/models");
    let m: Value = serde_json::from_str(&m).unwrap();
    assert_eq!(m["data"][0]["id"], "tiny-llama3-q4_k_m.gguf");
    let (st, t) = s.post_json("/tokenize", &json!({"content": "Hello world"}));
    assert_eq!(st, 200);
    let (st, d) = s.post_json("/detokenize", &json!({"tokens": t["tokens"]}));
    assert_eq!((st, d["content"].as_str()), (200, Some("Hello world")));
    let (_, metrics) = s.get("/metrics");
    for want in [
        "wasm_chord_requests_total{status=\"200\"}",
        "wasm_chord_generated_tokens_total 3",
        "wasm_chord_time_to_first_token_seconds_count 1",
        "wasm_chord_token_latency_seconds_count 2",
        "wasm_chord_slots 1",
    ] {
        assert!(metrics.contains(want), "{want} not in {metrics}");
    }
    s.stop().unwrap();
}
