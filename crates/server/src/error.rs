//! Errors: [`ServerError`] ends the server (bind, load); [`ApiError`] is
//! one request's failure, sent as OpenAI's JSON error body
//! `{"error": {"message", "type", "param", "code"}}` with its status.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use engine::EngineError;
use serde_json::json;

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("loading model {path}: {source}")]
    Load { path: String, source: EngineError },
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// One request's failure.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub kind: &'static str,
    pub param: Option<String>,
    pub code: Option<&'static str>,
    /// Seconds for a `Retry-After` header.
    pub retry_after: Option<u32>,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            kind,
            param: None,
            code: None,
            retry_after: None,
        }
    }

    /// 400: the request is malformed or out of range; `param` names the field.
    pub fn invalid(param: Option<&str>, message: impl Into<String>) -> ApiError {
        ApiError {
            param: param.map(str::to_string),
            ..Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
        }
    }

    pub fn not_found(path: &str) -> ApiError {
        ApiError {
            code: Some("not_found"),
            ..Self::new(
                StatusCode::NOT_FOUND,
                "not_found_error",
                format!("no route {path}"),
            )
        }
    }

    pub fn method_not_allowed(method: &str, path: &str) -> ApiError {
        ApiError {
            code: Some("method_not_allowed"),
            ..Self::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "invalid_request_error",
                format!("method {method} is not allowed on {path}"),
            )
        }
    }

    pub fn too_large(limit: usize) -> ApiError {
        ApiError {
            code: Some("request_too_large"),
            ..Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request_error",
                format!("the request body is larger than the limit of {limit} bytes"),
            )
        }
    }

    pub fn unauthorized() -> ApiError {
        ApiError {
            code: Some("invalid_api_key"),
            ..Self::new(
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                "missing or invalid API key: send `Authorization: Bearer KEY`",
            )
        }
    }

    /// 503 while the model loads.
    pub fn loading() -> ApiError {
        ApiError {
            code: Some("model_loading"),
            retry_after: Some(1),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable_error",
                "the model is loading",
            )
        }
    }

    /// 503 when the queue is full.
    pub fn queue_full(max: usize) -> ApiError {
        ApiError {
            code: Some("queue_full"),
            retry_after: Some(1),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable_error",
                format!("too many requests waiting (the queue holds {max}); retry later"),
            )
        }
    }

    /// 503 when the server shuts down or its scheduler is gone.
    pub fn unavailable(message: impl Into<String>) -> ApiError {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable_error",
            message,
        )
    }

    /// A prompt of `prompt_tokens` that leaves no room in a slot of `n_ctx`.
    pub fn context_exceeded(param: &str, prompt_tokens: usize, n_ctx: usize) -> ApiError {
        ApiError {
            code: Some("context_length_exceeded"),
            ..Self::invalid(
                Some(param),
                format!(
                    "the prompt has {prompt_tokens} tokens; the context size is {n_ctx} tokens \
                     per slot (at least one position must stay free for generation)"
                ),
            )
        }
    }

    /// An engine error of one request: the client's fault (400) when its
    /// prompt cannot run, the queue (503), else the server's (500).
    pub fn engine(param: &str, e: EngineError) -> ApiError {
        match e {
            EngineError::QueueFull { max } => Self::queue_full(max),
            EngineError::PromptTooLong {
                prompt_tokens,
                n_ctx,
            } => Self::context_exceeded(param, prompt_tokens, n_ctx),
            e @ (EngineError::PromptTooLongBytes { .. }
            | EngineError::EmptyPrompt
            | EngineError::Chat(_)
            | EngineError::NoChatTemplate { .. }) => ApiError {
                code: matches!(e, EngineError::PromptTooLongBytes { .. })
                    .then_some("context_length_exceeded"),
                ..Self::invalid(Some(param), e.to_string())
            },
            e => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                e.to_string(),
            ),
        }
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        json!({"error": {
            "message": self.message,
            "type": self.kind,
            "param": self.param,
            "code": self.code,
        }})
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, axum::Json(self.body())).into_response();
        if let Some(s) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_map_to_statuses() {
        let e = ApiError::engine("prompt", EngineError::QueueFull { max: 3 });
        assert_eq!(
            (e.status, e.retry_after),
            (StatusCode::SERVICE_UNAVAILABLE, Some(1))
        );
        let e = ApiError::engine(
            "messages",
            EngineError::PromptTooLong {
                prompt_tokens: 10,
                n_ctx: 8,
            },
        );
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.contains("context size is 8"), "{}", e.message);
        assert_eq!(e.body()["error"]["param"], "messages");
        let e = ApiError::engine("prompt", EngineError::BatchFailed("x".into()));
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
    }
}
