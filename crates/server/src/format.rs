//! The OpenAI response shapes of both endpoints: whole responses, stream
//! chunks, usage and log-probabilities.

use engine::{FinishReason, TokenPiece};
use serde_json::{json, Value};
use tokenizer::Tokenizer;

/// Which endpoint answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Chat,
    Completion,
}

/// What every response and chunk of one request repeats.
#[derive(Debug, Clone)]
pub struct Head {
    pub kind: Kind,
    pub id: String,
    pub created: u64,
    pub model: String,
}

impl Head {
    pub fn new(kind: Kind, model: String) -> Head {
        let prefix = match kind {
            Kind::Chat => "chatcmpl",
            Kind::Completion => "cmpl",
        };
        Head {
            kind,
            id: format!("{prefix}-{:016x}", crate::params::fresh_seed()),
            created: crate::state::unix_now(),
            model,
        }
    }
}

/// One generated token with its log-probabilities.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenLogprob {
    pub token: String,
    pub bytes: Vec<u8>,
    pub logprob: f32,
    pub top: Vec<(String, Vec<u8>, f32)>,
}

impl TokenLogprob {
    /// The piece's log-probabilities, if it has them.
    pub fn of(tok: &Tokenizer, p: &TokenPiece) -> Option<TokenLogprob> {
        let text = |id: u32| {
            let b = tok.token_to_piece(id, false).into_owned();
            (String::from_utf8_lossy(&b).into_owned(), b)
        };
        let (token, bytes) = text(p.id);
        Some(TokenLogprob {
            token,
            bytes,
            logprob: p.logprob?,
            top: p
                .top_logprobs
                .iter()
                .map(|&(id, lp)| {
                    let (t, b) = text(id);
                    (t, b, lp)
                })
                .collect(),
        })
    }

    fn chat_json(&self) -> Value {
        json!({
            "token": self.token,
            "logprob": self.logprob,
            "bytes": self.bytes,
            "top_logprobs": self.top.iter().map(|(t, b, lp)| json!({
                "token": t, "logprob": lp, "bytes": b,
            })).collect::<Vec<_>>(),
        })
    }
}

/// The `logprobs` object of a choice (or chunk) holding `lps`, where the
/// text before them is `offset` bytes long (legacy completions' offsets).
pub fn logprobs_json(kind: Kind, lps: &[TokenLogprob], offset: usize) -> Value {
    match kind {
        Kind::Chat => {
            json!({"content": lps.iter().map(TokenLogprob::chat_json).collect::<Vec<_>>()})
        }
        Kind::Completion => {
            let mut at = offset;
            let mut offsets = Vec::with_capacity(lps.len());
            for l in lps {
                offsets.push(at);
                at += l.token.len();
            }
            json!({
                "tokens": lps.iter().map(|l| &l.token).collect::<Vec<_>>(),
                "token_logprobs": lps.iter().map(|l| l.logprob).collect::<Vec<_>>(),
                "top_logprobs": lps.iter().map(|l| {
                    l.top.iter().map(|(t, _, lp)| (t.clone(), json!(lp))).collect::<serde_json::Map<_, _>>()
                }).collect::<Vec<_>>(),
                "text_offset": offsets,
            })
        }
    }
}

/// OpenAI's finish reason.
pub fn finish_reason(f: FinishReason) -> &'static str {
    match f {
        FinishReason::MaxTokens => "length",
        FinishReason::EndOfGeneration | FinishReason::Stop | FinishReason::Cancelled => "stop",
    }
}

/// Token counts of a request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt: usize,
    pub cached: usize,
    pub completion: usize,
}

impl Usage {
    pub fn json(&self) -> Value {
        json!({
            "prompt_tokens": self.prompt,
            "completion_tokens": self.completion,
            "total_tokens": self.prompt + self.completion,
            "prompt_tokens_details": {"cached_tokens": self.cached},
        })
    }
}

/// A finished choice.
#[derive(Debug, Clone, Default)]
pub struct Choice {
    pub text: String,
    pub logprobs: Option<Vec<TokenLogprob>>,
    pub finish: Option<FinishReason>,
}

/// The whole (non-streamed) response.
pub fn response(h: &Head, choices: &[Choice], usage: Usage) -> Value {
    let choices: Vec<Value> = choices
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let lp = c
                .logprobs
                .as_ref()
                .map_or(Value::Null, |l| logprobs_json(h.kind, l, 0));
            let finish = c.finish.map(finish_reason);
            match h.kind {
                Kind::Chat => json!({
                    "index": i,
                    "message": {"role": "assistant", "content": c.text},
                    "logprobs": lp,
                    "finish_reason": finish,
                }),
                Kind::Completion => json!({
                    "index": i, "text": c.text, "logprobs": lp, "finish_reason": finish,
                }),
            }
        })
        .collect();
    let object = match h.kind {
        Kind::Chat => "chat.completion",
        Kind::Completion => "text_completion",
    };
    json!({
        "id": h.id, "object": object, "created": h.created, "model": h.model,
        "choices": choices, "usage": usage.json(),
    })
}

/// One stream chunk's choice: `text` (chat: the delta's content; `role`
/// adds the assistant role), its log-probabilities, the finish reason.
#[derive(Debug, Default)]
pub struct Delta<'a> {
    pub index: usize,
    pub role: bool,
    pub text: Option<&'a str>,
    pub logprobs: Option<Value>,
    pub finish: Option<FinishReason>,
}

/// A stream chunk with one choice (`None`: the usage chunk, no choices);
/// `usage` is `Some(null)` on every chunk but the last when usage was asked.
pub fn chunk(h: &Head, d: Option<Delta>, usage: Option<Value>) -> Value {
    let choices: Vec<Value> = d
        .into_iter()
        .map(|d| {
            let finish = d.finish.map(finish_reason);
            let lp = d.logprobs.unwrap_or(Value::Null);
            match h.kind {
                Kind::Chat => {
                    let mut delta = serde_json::Map::new();
                    if d.role {
                        delta.insert("role".into(), json!("assistant"));
                    }
                    if let Some(t) = d.text {
                        delta.insert("content".into(), json!(t));
                    }
                    json!({"index": d.index, "delta": delta, "logprobs": lp, "finish_reason": finish})
                }
                Kind::Completion => json!({
                    "index": d.index, "text": d.text.unwrap_or(""), "logprobs": lp,
                    "finish_reason": finish,
                }),
            }
        })
        .collect();
    let object = match h.kind {
        Kind::Chat => "chat.completion.chunk",
        Kind::Completion => "text_completion",
    };
    let mut v = json!({
        "id": h.id, "object": object, "created": h.created, "model": h.model,
        "choices": choices,
    });
    if let Some(u) = usage {
        v["usage"] = u;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(kind: Kind) -> Head {
        Head {
            kind,
            id: "x".into(),
            created: 1,
            model: "m".into(),
        }
    }

    #[test]
    fn chunks_and_responses_have_openai_shapes() {
        let h = head(Kind::Chat);
        let first = chunk(
            &h,
            Some(Delta {
                role: true,
                text: Some(""),
                ..Delta::default()
            }),
            None,
        );
        assert_eq!(first["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(first["object"], "chat.completion.chunk");
        let last = chunk(
            &h,
            Some(Delta {
                finish: Some(FinishReason::MaxTokens),
                ..Delta::default()
            }),
            Some(Value::Null),
        );
        assert_eq!(last["choices"][0]["finish_reason"], "length");
        assert!(last["choices"][0]["delta"].as_object().unwrap().is_empty());
        assert!(last["usage"].is_null() && last.get("usage").is_some());
        let u = Usage {
            prompt: 3,
            cached: 1,
            completion: 2,
        };
        let usage = chunk(&h, None, Some(u.json()));
        assert_eq!(usage["choices"], json!([]));
        assert_eq!(usage["usage"]["prompt_tokens_details"]["cached_tokens"], 1);
        let c = Choice {
            text: "hi".into(),
            logprobs: None,
            finish: Some(FinishReason::EndOfGeneration),
        };
        let r = response(&head(Kind::Completion), &[c], u);
        assert_eq!(r["choices"][0]["text"], "hi");
        assert_eq!(r["choices"][0]["finish_reason"], "stop");
        assert_eq!(r["usage"]["total_tokens"], 5);
    }

    #[test]
    fn legacy_logprobs_offsets_follow_the_tokens() {
        let l = |t: &str, lp| TokenLogprob {
            token: t.into(),
            bytes: t.as_bytes().to_vec(),
            logprob: lp,
            top: vec![(t.into(), t.as_bytes().to_vec(), lp)],
        };
        let v = logprobs_json(Kind::Completion, &[l("ab", -0.5), l("c", -1.0)], 4);
        assert_eq!(v["text_offset"], json!([4, 6]));
        assert_eq!(v["top_logprobs"][1]["c"], json!(-1.0));
        let v = logprobs_json(Kind::Chat, &[l("ab", -0.5)], 0);
        assert_eq!(v["content"][0]["bytes"], json!([97, 98]));
    }
}
