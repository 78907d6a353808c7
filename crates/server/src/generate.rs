//! `POST /v1/chat/completions` and `POST /v1/completions`: prompts to
//! jobs of the scheduler thread, then one JSON response or an SSE stream.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use engine::{ChatMessage, EngineError, Event, GenerateParams, Prompter, Request};
use serde_json::Value;
use tokio::sync::mpsc::unbounded_channel;

use crate::api::{self, ApiJson, ChatRequest, Common, CompletionRequest, Prompt};
use crate::error::ApiError;
use crate::format::{self, Choice, Head, Kind, TokenLogprob, Usage};
use crate::params::{self, Asked};
use crate::state::AppState;
use crate::worker::{Job, Update, Updates};

pub async fn chat(
    State(st): State<Arc<AppState>>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let ready = st.ready()?;
    let (req, common): (ChatRequest, Common) = (api::typed(&body)?, api::typed(&body)?);
    let top = req.top_logprobs.unwrap_or(0);
    if top > 0 && !req.logprobs {
        return Err(ApiError::invalid(
            Some("top_logprobs"),
            "top_logprobs needs logprobs: true",
        ));
    }
    let max = req.max_completion_tokens.or(common.max_tokens);
    let asked = params::asked(&common, &st.opts.defaults, max, req.logprobs, top)?;
    if req.messages.is_empty() {
        return Err(ApiError::invalid(Some("messages"), "messages is empty"));
    }
    let mut messages = Vec::with_capacity(req.messages.len());
    for (i, m) in req.messages.into_iter().enumerate() {
        let text = match m.content {
            Some(c) => c
                .text()
                .map_err(|e| ApiError::invalid(Some(&format!("messages[{i}].content")), e))?,
            None => String::new(),
        };
        messages.push(ChatMessage::new(m.role, text));
    }
    let prompter = Arc::clone(&ready.prompter);
    let p = blocking(move || prompter.chat_prompt(&messages, None), "messages").await?;
    let plan = Plan {
        kind: Kind::Chat,
        prompts: vec![p.ids],
        end_of_turn: p.end_of_turn,
        asked,
        param: "messages",
    };
    run(st, plan).await
}

pub async fn completions(
    State(st): State<Arc<AppState>>,
    ApiJson(body): ApiJson<Value>,
) -> Result<Response, ApiError> {
    let ready = st.ready()?;
    let (req, common): (CompletionRequest, Common) = (api::typed(&body)?, api::typed(&body)?);
    let top = req.logprobs.unwrap_or(0);
    let max = common.max_tokens;
    let asked = params::asked(&common, &st.opts.defaults, max, req.logprobs.is_some(), top)?;
    let texts = match req.prompt {
        Prompt::One(s) => vec![s],
        Prompt::Many(v) if v.is_empty() => {
            return Err(ApiError::invalid(
                Some("prompt"),
                "prompt is an empty array",
            ))
        }
        Prompt::Many(v) => v,
    };
    let prompter = Arc::clone(&ready.prompter);
    let parse_special = asked.params.parse_special;
    // as `wasm-chord run -p`: BOS as the file asks, control tokens parsed
    let prompts = blocking(
        move || {
            texts
                .iter()
                .map(|t| prompter.tokenize_prompt(t, true, parse_special))
                .collect::<Result<Vec<_>, _>>()
        },
        "prompt",
    )
    .await?;
    let plan = Plan {
        kind: Kind::Completion,
        prompts,
        end_of_turn: None,
        asked,
        param: "prompt",
    };
    run(st, plan).await
}

/// Tokenizing may take a while for a long prompt: off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, EngineError> + Send + 'static,
    param: &'static str,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::unavailable(format!("tokenizing failed: {e}")))?
        .map_err(|e| ApiError::engine(param, e))
}

/// A request ready to run.
struct Plan {
    kind: Kind,
    prompts: Vec<Vec<u32>>,
    end_of_turn: Option<&'static str>,
    asked: Asked,
    param: &'static str,
}

/// Submits every prompt, waits until each is queued (a full queue is 503
/// before any byte of a stream), then answers.
async fn run(st: Arc<AppState>, plan: Plan) -> Result<Response, ApiError> {
    let ready = st.ready()?;
    let n_ctx = ready.prompter.n_ctx();
    for p in &plan.prompts {
        if p.is_empty() {
            return Err(ApiError::engine(plan.param, EngineError::EmptyPrompt));
        }
        if p.len() >= n_ctx {
            return Err(ApiError::context_exceeded(plan.param, p.len(), n_ctx));
        }
    }
    let n = plan.prompts.len();
    let (tx, mut rx) = unbounded_channel();
    for (index, prompt) in plan.prompts.into_iter().enumerate() {
        let room = n_ctx - prompt.len();
        let params = GenerateParams {
            max_tokens: plan.asked.max_tokens.unwrap_or(room).min(room),
            ..plan.asked.params.clone()
        };
        let req = Request {
            prompt,
            params,
            end_of_turn: plan.end_of_turn.map(str::to_string),
            cache_prompt: plan.asked.cache_prompt,
        };
        ready.send(Job {
            req,
            index,
            tx: tx.clone(),
        })?;
    }
    drop(tx);
    let mut early = std::collections::VecDeque::new();
    let mut accepted = 0;
    while accepted < n {
        match rx.recv().await {
            None => return Err(ApiError::unavailable("the scheduler has stopped")),
            Some((_, Update::Accepted)) => accepted += 1,
            Some((_, Update::Event(Event::Failed(e)))) => {
                return Err(ApiError::engine(plan.param, e))
            }
            Some(u) => early.push_back(u),
        }
    }
    let head = Head::new(plan.kind, st.model_name.clone());
    let tok = Arc::clone(ready.prompter.tokenizer());
    let out = Outcome::new(n, plan.asked.params.logprobs);
    let updates = Updates { early, rx };
    if plan.asked.stream {
        let usage = plan.asked.include_usage;
        let s = crate::sse::Stream::new(head, out, tok, usage, updates, plan.param);
        return Ok(s.into_response());
    }
    collect(head, out, &ready.prompter, updates, plan.param).await
}

/// The choices and usage of a request as its updates come.
#[derive(Debug)]
pub struct Outcome {
    pub choices: Vec<Choice>,
    pub usage: Usage,
    /// Prompts not finished yet.
    pub left: usize,
}

impl Outcome {
    fn new(n: usize, logprobs: bool) -> Outcome {
        let choice = Choice {
            logprobs: logprobs.then(Vec::new),
            ..Choice::default()
        };
        Outcome {
            choices: vec![choice; n],
            usage: Usage::default(),
            left: n,
        }
    }

    /// Records the end of prompt `i`.
    pub fn done(&mut self, i: usize, e: &Event) {
        if let Event::Done {
            finish,
            prompt_tokens,
            cached_tokens,
            generated,
        } = *e
        {
            self.choices[i].finish = Some(finish);
            self.usage.prompt += prompt_tokens;
            self.usage.cached += cached_tokens;
            self.usage.completion += generated;
            self.left -= 1;
        }
    }
}

async fn collect(
    head: Head,
    mut out: Outcome,
    prompter: &Prompter,
    mut updates: Updates,
    param: &'static str,
) -> Result<Response, ApiError> {
    let tok = prompter.tokenizer();
    while out.left > 0 {
        let Some((i, u)) = updates.next().await else {
            return Err(ApiError::unavailable("the scheduler has stopped"));
        };
        match u {
            Update::Event(Event::Piece(p)) => {
                let c = &mut out.choices[i];
                c.text.push_str(&p.text);
                if let (Some(l), Some(lp)) = (c.logprobs.as_mut(), TokenLogprob::of(tok, &p)) {
                    l.push(lp);
                }
            }
            Update::Event(Event::Failed(e)) => return Err(ApiError::engine(param, e)),
            Update::Event(e) => out.done(i, &e),
            Update::Accepted => {}
        }
    }
    debug_assert!(out.choices.iter().all(|c| c.finish.is_some()));
    let body = format::response(&head, &out.choices, out.usage);
    Ok(axum::Json(body).into_response())
}
