//! The small endpoints: `/health`, `/v1/models`, `/slots`, `/metrics`,
//! `/tokenize`, `/detokenize` (the last two in llama-server's shapes).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::api::ApiJson;
use crate::error::ApiError;
use crate::state::AppState;

/// 503 while the model loads, then 200.
pub async fn health(State(st): State<Arc<AppState>>) -> Response {
    match st.ready() {
        Ok(_) => Json(json!({"status": "ok"})).into_response(),
        Err(e) => e.into_response(),
    }
}

pub async fn models(State(st): State<Arc<AppState>>) -> Json<Value> {
    let n_ctx = st.ready.get().map(|r| r.prompter.n_ctx());
    Json(json!({
        "object": "list",
        "data": [{
            "id": st.model_name,
            "object": "model",
            "created": st.created,
            "owned_by": "wasm-chord",
            "meta": {"n_ctx_slot": n_ctx, "n_slots": st.opts.n_slots},
        }],
    }))
}

pub async fn slots(State(st): State<Arc<AppState>>) -> Json<Value> {
    let n_ctx = st.ready.get().map(|r| r.prompter.n_ctx());
    let s = st.status();
    let slots: Vec<Value> = s
        .busy
        .iter()
        .enumerate()
        .map(|(id, &busy)| json!({"id": id, "is_processing": busy, "n_ctx": n_ctx}))
        .collect();
    Json(Value::Array(slots))
}

pub async fn metrics(State(st): State<Arc<AppState>>) -> Response {
    let text = st.metrics.render(st.gauges());
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        text,
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
pub struct TokenizeRequest {
    content: String,
    #[serde(default)]
    add_special: bool,
    #[serde(default = "yes")]
    parse_special: bool,
    #[serde(default)]
    with_pieces: bool,
}

fn yes() -> bool {
    true
}

pub async fn tokenize(
    State(st): State<Arc<AppState>>,
    ApiJson(req): ApiJson<TokenizeRequest>,
) -> Result<Json<Value>, ApiError> {
    let p = Arc::clone(&st.ready()?.prompter);
    let ids = tokio::task::spawn_blocking(move || {
        let ids = p.tokenize(&req.content, req.add_special, req.parse_special);
        if !req.with_pieces {
            return json!(ids);
        }
        let tok = p.tokenizer();
        let pieces: Vec<Value> = ids
            .iter()
            .map(|&id| {
                let b = tok.token_to_piece(id, true);
                match std::str::from_utf8(&b) {
                    Ok(s) => json!({"id": id, "piece": s}),
                    Err(_) => json!({"id": id, "piece": b.as_ref()}),
                }
            })
            .collect();
        json!(pieces)
    })
    .await
    .map_err(|e| ApiError::unavailable(format!("tokenizing failed: {e}")))?;
    Ok(Json(json!({"tokens": ids})))
}

#[derive(Debug, Deserialize)]
pub struct DetokenizeRequest {
    tokens: Vec<u32>,
}

pub async fn detokenize(
    State(st): State<Arc<AppState>>,
    ApiJson(req): ApiJson<DetokenizeRequest>,
) -> Result<Json<Value>, ApiError> {
    let p = &st.ready()?.prompter;
    let n_vocab = p.tokenizer().vocab_size();
    if let Some(bad) = req.tokens.iter().find(|&&t| t as usize >= n_vocab) {
        return Err(ApiError::invalid(
            Some("tokens"),
            format!("token id {bad} is outside the vocabulary of {n_vocab} tokens"),
        ));
    }
    Ok(Json(json!({"content": p.detokenize(&req.tokens, false)})))
}
