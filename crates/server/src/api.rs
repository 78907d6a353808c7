//! The OpenAI request bodies the server reads (unknown fields are
//! ignored), and the extractor that turns a body into one: bad JSON and
//! wrong types are 400 naming the field, an oversized body 413.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use crate::error::ApiError;

/// `POST /v1/chat/completions`.
#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    pub messages: Vec<Message>,
    pub max_completion_tokens: Option<u64>,
    #[serde(default, deserialize_with = "null_false")]
    pub logprobs: bool,
    pub top_logprobs: Option<u64>,
}

/// `POST /v1/completions`.
#[derive(Debug, Deserialize)]
pub struct CompletionRequest {
    pub prompt: Prompt,
    /// The legacy form: how many top tokens to report per step.
    pub logprobs: Option<u64>,
}

/// The fields both endpoints share (read from the same body as the
/// endpoint's own: see [`typed`]).
#[derive(Debug, Default, Deserialize)]
pub struct Common {
    // `model` is not read: one model is served, any name is accepted
    pub max_tokens: Option<u64>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub seed: Option<i64>,
    pub stop: Option<Stop>,
    pub presence_penalty: Option<f32>,
    pub frequency_penalty: Option<f32>,
    pub n: Option<u64>,
    #[serde(default, deserialize_with = "null_false")]
    pub stream: bool,
    pub stream_options: Option<StreamOptions>,
    // llama-server's extensions
    pub top_k: Option<i64>,
    pub min_p: Option<f32>,
    pub repeat_penalty: Option<f32>,
    pub cache_prompt: Option<bool>,
    #[serde(default, deserialize_with = "null_false")]
    pub ignore_eos: bool,
}

#[derive(Debug, Default, Deserialize)]
pub struct StreamOptions {
    #[serde(default, deserialize_with = "null_false")]
    pub include_usage: bool,
}

#[derive(Debug, Deserialize)]
pub struct Message {
    pub role: String,
    #[serde(default)]
    pub content: Option<Content>,
}

/// A message's content: a string or an array of parts (only text parts).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Debug, Deserialize)]
pub struct Part {
    #[serde(rename = "type")]
    pub kind: String,
    pub text: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Prompt {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

impl Stop {
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            Stop::One(s) => vec![s.clone()],
            Stop::Many(v) => v.clone(),
        }
    }
}

impl Content {
    /// The text of the message (text parts joined); another part type is
    /// an error naming it.
    pub fn text(self) -> Result<String, String> {
        match self {
            Content::Text(s) => Ok(s),
            Content::Parts(parts) => {
                let mut out = String::new();
                for p in parts {
                    match (p.kind.as_str(), p.text) {
                        ("text", Some(t)) => out.push_str(&t),
                        ("text", None) => return Err("a text part has no `text`".into()),
                        (k, _) => {
                            return Err(format!(
                                "content parts of type {k:?} are not supported (only \"text\")"
                            ))
                        }
                    }
                }
                Ok(out)
            }
        }
    }
}

/// A boolean that may be `null` (as some clients send unset fields): false.
fn null_false<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(d)?.unwrap_or(false))
}

/// A JSON body of type `T`, with OpenAI-style rejections.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let limit = req.extensions().get::<BodyLimit>().map_or(0, |l| l.0);
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|r| match r.status() {
                StatusCode::PAYLOAD_TOO_LARGE => ApiError::too_large(limit),
                _ => ApiError::invalid(None, r.body_text()),
            })?;
        parse(&bytes).map(ApiJson)
    }
}

/// The body limit in force, for the 413 message (set by the router).
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// `bytes` as JSON of type `T`; errors name the field.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let v = serde_path_to_error::deserialize(&mut *de).map_err(path_error)?;
    de.end()
        .map_err(|e| ApiError::invalid(None, format!("invalid JSON body: {e}")))?;
    Ok(v)
}

/// A parsed body as type `T` (fields it does not know are left alone, so
/// an endpoint's fields and [`Common`] come from the same body); errors
/// name the field.
pub fn typed<T: DeserializeOwned>(v: &Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(v).map_err(path_error)
}

fn path_error<E: std::fmt::Display>(e: serde_path_to_error::Error<E>) -> ApiError {
    let path = e.path().to_string();
    let param = (path != "." && path != "?").then_some(path);
    ApiError::invalid(
        param.as_deref(),
        format!("invalid JSON body: {}", e.inner()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_parse_with_their_variants() {
        let v: Value = parse(
            br#"{"model":"x","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],
               "stop":"\n","temperature":0,"seed":-1,"stream":true,"stream_options":{"include_usage":true}}"#,
        )
        .unwrap();
        let (c, common): (ChatRequest, Common) = (typed(&v).unwrap(), typed(&v).unwrap());
        let m = c.messages.into_iter().next().unwrap();
        assert_eq!(m.content.unwrap().text().unwrap(), "ab");
        assert_eq!(common.temperature, Some(0.0));
        assert!(common.stream_options.unwrap().include_usage);
        assert_eq!(common.stop.unwrap().to_vec(), ["\n"]);
        let nulls = serde_json::json!({"messages": [], "logprobs": null, "stream": null,
                                       "max_tokens": null, "stop": null});
        assert!(!typed::<ChatRequest>(&nulls).unwrap().logprobs);
        assert!(!typed::<Common>(&nulls).unwrap().stream);
        let p: CompletionRequest = parse(br#"{"prompt":["a","b"],"stop":["x","y"]}"#).unwrap();
        assert!(matches!(p.prompt, Prompt::Many(v) if v.len() == 2));
    }

    #[test]
    fn wrong_types_name_the_field() {
        let v: Value = parse(br#"{"messages":[],"max_tokens":"many"}"#).unwrap();
        let e = typed::<Common>(&v).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.param.as_deref(), Some("max_tokens"));
        assert!(e.message.contains("invalid JSON"), "{}", e.message);
        let e = parse::<ChatRequest>(b"{not json").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        let e = parse::<CompletionRequest>(br#"{"prompt":"a"} x"#).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        let e = typed::<CompletionRequest>(&serde_json::json!({"prompt": [1, 2]})).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
    }
}
