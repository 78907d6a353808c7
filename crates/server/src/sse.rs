//! A streamed answer: server-sent events as OpenAI sends them, one
//! `data: {chunk}` per generated piece, the finish reason in a last chunk
//! per choice, an optional usage chunk, then `data: [DONE]`. Dropping the
//! stream (the client left) drops the receiver, which cancels the
//! generation at the scheduler's next step.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use engine::Event;
use serde_json::Value;
use tokenizer::Tokenizer;

use crate::error::ApiError;
use crate::format::{self, Delta, Head, Kind, TokenLogprob};
use crate::generate::Outcome;
use crate::worker::{Update, Updates};

pub struct Stream {
    head: Head,
    out: Outcome,
    tok: Arc<Tokenizer>,
    include_usage: bool,
    updates: Updates,
    /// The request field an error names.
    param: &'static str,
    /// Frames ready to send.
    frames: VecDeque<Bytes>,
    /// Per choice: bytes of text sent (legacy logprobs' offsets).
    sent: Vec<usize>,
    ended: bool,
}

fn frame(v: &Value) -> Bytes {
    Bytes::from(format!("data: {v}\n\n"))
}

const DONE: &str = "data: [DONE]\n\n";

impl Stream {
    pub fn new(
        head: Head,
        out: Outcome,
        tok: Arc<Tokenizer>,
        include_usage: bool,
        updates: Updates,
        param: &'static str,
    ) -> Stream {
        let n = out.choices.len();
        let mut s = Stream {
            head,
            out,
            tok,
            include_usage,
            updates,
            param,
            frames: VecDeque::new(),
            sent: vec![0; n],
            ended: false,
        };
        if s.head.kind == Kind::Chat {
            for index in 0..n {
                s.push(Delta {
                    index,
                    role: true,
                    text: Some(""),
                    ..Delta::default()
                });
            }
        }
        s
    }

    fn usage_slot(&self) -> Option<Value> {
        self.include_usage.then_some(Value::Null)
    }

    fn push(&mut self, d: Delta) {
        let v = format::chunk(&self.head, Some(d), self.usage_slot());
        self.frames.push_back(frame(&v));
    }

    fn end_with(&mut self, last: Option<Value>) {
        if let Some(v) = last {
            self.frames.push_back(frame(&v));
        }
        self.frames.push_back(Bytes::from_static(DONE.as_bytes()));
        self.ended = true;
    }

    fn on_update(&mut self, i: usize, u: Update) {
        match u {
            Update::Accepted => {}
            Update::Event(Event::Piece(p)) => {
                let lp = TokenLogprob::of(&self.tok, &p)
                    .filter(|_| self.out.choices[i].logprobs.is_some())
                    .map(|l| format::logprobs_json(self.head.kind, &[l], self.sent[i]));
                if p.text.is_empty() && lp.is_none() {
                    return;
                }
                self.sent[i] += p.text.len();
                self.push(Delta {
                    index: i,
                    text: Some(&p.text),
                    logprobs: lp,
                    ..Delta::default()
                });
            }
            Update::Event(Event::Failed(e)) => {
                let body = ApiError::engine(self.param, e).body();
                self.end_with(Some(body));
            }
            Update::Event(e) => {
                self.out.done(i, &e);
                let finish = self.out.choices[i].finish;
                self.push(Delta {
                    index: i,
                    finish,
                    ..Delta::default()
                });
                if self.out.left == 0 {
                    let usage = self
                        .include_usage
                        .then(|| format::chunk(&self.head, None, Some(self.out.usage.json())));
                    self.end_with(usage);
                }
            }
        }
    }

    /// The next frame; `None` after `[DONE]`.
    async fn next_frame(&mut self) -> Option<Bytes> {
        loop {
            if let Some(f) = self.frames.pop_front() {
                return Some(f);
            }
            if self.ended {
                return None;
            }
            match self.updates.next().await {
                Some((i, u)) => self.on_update(i, u),
                None => {
                    let e = ApiError::unavailable("the scheduler has stopped");
                    self.end_with(Some(e.body()));
                }
            }
        }
    }
}

impl IntoResponse for Stream {
    fn into_response(self) -> Response {
        let body = futures_util::stream::unfold(self, |mut s| async move {
            let f = s.next_frame().await?;
            Some((Ok::<_, Infallible>(f), s))
        });
        Response::builder()
            .header(header::CONTENT_TYPE, "text/event-stream")
            .header(header::CACHE_CONTROL, "no-cache")
            .body(Body::from_stream(body))
            .unwrap_or_else(|e| ApiError::unavailable(e.to_string()).into_response())
    }
}
