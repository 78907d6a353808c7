//! The router: routes, JSON 404/405, body limit, API key, CORS and the
//! count of responses by status.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderValue, Method, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

use crate::api::BodyLimit;
use crate::error::ApiError;
use crate::state::AppState;
use crate::{generate, info};

pub fn router(st: Arc<AppState>) -> Router {
    let mut r = Router::new()
        .route("/health", get(info::health))
        .route("/v1/health", get(info::health))
        .route("/v1/models", get(info::models))
        .route("/models", get(info::models))
        .route("/v1/chat/completions", post(generate::chat))
        .route("/chat/completions", post(generate::chat))
        .route("/v1/completions", post(generate::completions))
        .route("/completions", post(generate::completions))
        .route("/tokenize", post(info::tokenize))
        .route("/detokenize", post(info::detokenize))
        .route("/slots", get(info::slots))
        .route("/metrics", get(info::metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(Arc::clone(&st), auth))
        .layer(DefaultBodyLimit::max(st.opts.body_limit))
        .layer(middleware::from_fn_with_state(Arc::clone(&st), limit_note));
    if let Some(origin) = &st.opts.cors_origin {
        let allow = match origin.as_str() {
            "*" => AllowOrigin::any(),
            o => match HeaderValue::from_str(o) {
                Ok(v) => AllowOrigin::exact(v),
                Err(_) => AllowOrigin::list([]),
            },
        };
        r = r.layer(
            CorsLayer::new()
                .allow_origin(allow)
                .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
                .allow_headers(Any),
        );
    }
    r.layer(middleware::from_fn_with_state(Arc::clone(&st), count))
        .with_state(st)
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(uri.path())
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::method_not_allowed(method.as_str(), uri.path())
}

/// Tells the JSON extractor the body limit, for its 413 message.
async fn limit_note(State(st): State<Arc<AppState>>, mut req: Request, next: Next) -> Response {
    req.extensions_mut().insert(BodyLimit(st.opts.body_limit));
    next.run(req).await
}

/// With an API key, every route but the health check needs
/// `Authorization: Bearer KEY`.
async fn auth(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let Some(key) = &st.opts.api_key else {
        return next.run(req).await;
    };
    let path = req.uri().path();
    if path == "/health" || path == "/v1/health" {
        return next.run(req).await;
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(g) if same(g.trim().as_bytes(), key.as_bytes()) => next.run(req).await,
        _ => ApiError::unauthorized().into_response(),
    }
}

/// Compares in time independent of where the bytes differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn count(State(st): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let r = next.run(req).await;
    st.metrics.request(r.status().as_u16());
    r
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::options::ServerOptions;

    async fn get(addr: std::net::SocketAddr, path: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    /// Before the model is loaded: /health and the endpoints are 503.
    #[tokio::test]
    async fn loading_is_503() {
        let st = Arc::new(AppState::new(ServerOptions::new("none.gguf")));
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, router(st)).await });
        let h = get(addr, "/health").await;
        assert!(h.starts_with("HTTP/1.1 503"), "{h}");
        assert!(h.contains("\"code\":\"model_loading\""), "{h}");
        let s = get(addr, "/slots").await;
        assert!(s.contains("\"is_processing\":false"), "{s}");
    }

    #[test]
    fn keys_compare_whole() {
        assert!(super::same(b"abc", b"abc"));
        assert!(!super::same(b"abc", b"abd"));
        assert!(!super::same(b"abc", b"abcd"));
        assert!(!super::same(b"", b"a"));
    }
}
