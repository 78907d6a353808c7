//! The streaming generation loop.

use std::ops::ControlFlow;
use std::sync::Arc;

use model::LogitsMode;
use tokenizer::{StreamDecoder, Tokenizer};

use super::params::{Completion, FinishReason, GenerateParams, TokenPiece};
use super::stop::StopMatcher;
use super::Session;
use crate::error::EngineError;
use crate::sampler::Sampler;

#[derive(Debug)]
enum State {
    /// Prompt tokens (or the error that prevented building them) not yet evaluated.
    Start(Result<Vec<u32>, EngineError>),
    /// `Some(id)`: the last sampled token, to be evaluated before the next sample.
    Running(Option<u32>),
    Done,
}

/// A running generation; an iterator of [`TokenPiece`]s.
///
/// Ends after an end-of-generation token (yielded as the last piece), a stop string,
/// `max_tokens`, or an error (yielded once). Dropping it early leaves the session usable:
/// the KV cache holds exactly the tokens evaluated so far.
#[derive(Debug)]
pub struct Generation<'s> {
    s: &'s mut Session,
    g: Detached,
}

/// The state of a [`Generation`] without its borrow of the session, for callers that
/// cannot hold a borrow between steps (e.g. the wasm bindings, which take one step per
/// call from JavaScript). [`Detached::attach`] it to the session it came from to go on.
#[derive(Debug)]
pub struct Detached {
    state: State,
    sampler: Sampler,
    decoder: StreamDecoder<Arc<Tokenizer>>,
    stop: StopMatcher,
    /// Tokens that end the turn although the vocabulary does not mark them EOG.
    stop_ids: Vec<u32>,
    max_tokens: usize,
    logprobs: bool,
    prompt_len: usize,
    generated: usize,
    finish: Option<FinishReason>,
}

impl Detached {
    /// Resumes the generation on `s`, which must be the session it was detached from and
    /// must not have generated or been reset since (another session gives wrong text,
    /// though never undefined behaviour).
    pub fn attach(self, s: &mut Session) -> Generation<'_> {
        Generation { s, g: self }
    }

    /// Why the generation ended (`None` while it is still running).
    pub fn finish_reason(&self) -> Option<FinishReason> {
        self.finish
    }
}

impl<'s> Generation<'s> {
    pub(super) fn new(
        s: &'s mut Session,
        prompt: Result<Vec<u32>, EngineError>,
        params: &GenerateParams,
        end_of_turn: Option<&str>,
    ) -> Self {
        let mut stop = StopMatcher::new(&params.stop);
        let mut stop_ids = Vec::new();
        if let Some(eot) = end_of_turn {
            match s.tok.token_id(eot) {
                Some(id) if s.tok.is_eog(id) => {}
                Some(id) => stop_ids.push(id),
                None => stop.add(eot),
            }
        }
        s.timings = Default::default();
        // The window never holds more than the context's tokens: a larger one would
        // only size its buffer past what can be used.
        let mut sampler = params.sampler.clone();
        sampler.penalty_last_n = sampler.penalty_last_n.min(s.n_ctx);
        let g = Detached {
            decoder: StreamDecoder::new(Arc::clone(&s.tok), params.special),
            state: State::Start(prompt),
            sampler: Sampler::new(sampler),
            stop,
            stop_ids,
            max_tokens: params.max_tokens,
            logprobs: params.logprobs,
            prompt_len: 0,
            generated: 0,
            finish: None,
        };
        Self { s, g }
    }

    /// Releases the session, keeping the generation's state to resume later.
    pub fn detach(self) -> Detached {
        self.g
    }

    /// Why the generation ended (`None` while it is still running).
    pub fn finish_reason(&self) -> Option<FinishReason> {
        self.g.finish
    }

    /// Drives the generation to the end, calling `on_piece` for every piece.
    pub fn run(
        mut self,
        mut on_piece: impl FnMut(&TokenPiece) -> ControlFlow<()>,
    ) -> Result<Completion, EngineError> {
        let mut text = String::new();
        let mut tokens = Vec::new();
        while let Some(piece) = self.next() {
            let piece = piece?;
            text.push_str(&piece.text);
            tokens.push(piece.id);
            if on_piece(&piece).is_break() {
                self.g.finish = Some(FinishReason::Cancelled);
                self.g.state = State::Done;
                break;
            }
        }
        Ok(Completion {
            text,
            tokens,
            finish: self.g.finish.unwrap_or(FinishReason::Cancelled),
            timings: self.s.timings,
        })
    }

    /// Evaluates the prompt, reusing the cached common prefix; leaves the logits of the
    /// last prompt token in the scratch buffers.
    fn prefill(&mut self, prompt: Vec<u32>) -> Result<(), EngineError> {
        let s = &mut *self.s;
        let n = prompt.len();
        if n == 0 {
            return Err(EngineError::EmptyPrompt);
        }
        if n >= s.n_ctx {
            return Err(EngineError::PromptTooLong {
                prompt_tokens: n,
                n_ctx: s.n_ctx,
            });
        }
        let t0 = (s.clock)();
        // Reuse the common prefix, but always evaluate at least the last token: its
        // logits are needed.
        let common = s
            .cached
            .iter()
            .zip(&prompt)
            .take_while(|(a, b)| a == b)
            .count();
        let reuse = common.min(n - 1);
        s.cached.truncate(reuse);
        let mut pos = reuse;
        for chunk in prompt[reuse..].chunks(s.n_batch) {
            let last = pos + chunk.len() == n;
            let mode = if last {
                LogitsMode::Last
            } else {
                LogitsMode::None
            };
            let logits = s
                .model
                .forward(chunk, pos, &mut s.kv, &mut s.scratch, mode)?;
            if last {
                s.logits.clear();
                s.logits.extend_from_slice(logits);
            }
            s.cached.extend_from_slice(chunk);
            pos += chunk.len();
        }
        for &t in &prompt {
            self.g.sampler.accept(t);
        }
        self.g.prompt_len = n;
        s.timings.cached_tokens = reuse;
        s.timings.prompt_tokens = n - reuse;
        s.timings.prompt_ms = (s.clock)() - t0;
        Ok(())
    }

    /// Evaluates the previously sampled token, then samples the next one.
    fn step(&mut self, pending: Option<u32>) -> Result<TokenPiece, EngineError> {
        let s = &mut *self.s;
        let t0 = (s.clock)();
        let logits = match pending {
            Some(id) => {
                let pos = s.cached.len();
                if pos >= s.n_ctx {
                    return Err(EngineError::ContextFull {
                        prompt_tokens: self.g.prompt_len,
                        generated: self.g.generated,
                        n_ctx: s.n_ctx,
                    });
                }
                let l = s
                    .model
                    .forward(&[id], pos, &mut s.kv, &mut s.scratch, LogitsMode::Last)?;
                s.cached.push(id);
                l
            }
            // Right after prefill: the logits of the last prompt token.
            None => &s.logits,
        };
        let sampled = self.g.sampler.sample(logits, self.g.logprobs)?;
        self.g.sampler.accept(sampled.id);
        self.g.generated += 1;
        s.timings.generated_tokens = self.g.generated;
        s.timings.generate_ms += (s.clock)() - t0;

        let id = sampled.id;
        let piece = |text| TokenPiece {
            id,
            text,
            logprob: sampled.logprob,
        };
        if s.tok.is_eog(id) || self.g.stop_ids.contains(&id) {
            let reason = if s.tok.is_eog(id) {
                FinishReason::EndOfGeneration
            } else {
                FinishReason::Stop
            };
            let text = self.finish_text(String::new());
            self.end(reason);
            return Ok(piece(text));
        }
        let new = self.g.decoder.push(id);
        let released = self.g.stop.push(&new);
        if released.stopped {
            self.end(FinishReason::Stop);
            return Ok(piece(released.text));
        }
        if self.g.generated >= self.g.max_tokens {
            let text = self.finish_text(released.text);
            self.end(FinishReason::MaxTokens);
            return Ok(piece(text));
        }
        self.g.state = State::Running(Some(id));
        Ok(piece(released.text))
    }

    /// Appends whatever the decoder and the stop matcher still hold (a final stop string
    /// completed by the decoder's remainder is cut as usual).
    fn finish_text(&mut self, mut text: String) -> String {
        let rest = self.g.decoder.flush();
        let r = self.g.stop.push(&rest);
        text.push_str(&r.text);
        if r.stopped {
            self.g.finish = Some(FinishReason::Stop);
        } else {
            text.push_str(&self.g.stop.finish());
        }
        text
    }

    fn end(&mut self, reason: FinishReason) {
        self.g.finish.get_or_insert(reason);
        self.g.state = State::Done;
    }
}

impl Iterator for Generation<'_> {
    type Item = Result<TokenPiece, EngineError>;

    fn next(&mut self) -> Option<Self::Item> {
        let pending = match std::mem::replace(&mut self.g.state, State::Done) {
            State::Done => return None,
            State::Start(prompt) => {
                if self.g.max_tokens == 0 {
                    self.g.finish = Some(FinishReason::MaxTokens);
                    return prompt.err().map(Err);
                }
                if let Err(e) = prompt.and_then(|p| self.prefill(p)) {
                    return Some(Err(e));
                }
                None
            }
            State::Running(pending) => pending,
        };
        let out = self.step(pending);
        if out.is_err() {
            self.g.state = State::Done;
        }
        Some(out)
    }
}
