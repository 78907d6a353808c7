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
        Self {
            decoder: StreamDecoder::new(Arc::clone(&s.tok), params.special),
            s,
            state: State::Start(prompt),
            sampler: Sampler::new(params.sampler.clone()),
            stop,
            stop_ids,
            max_tokens: params.max_tokens,
            logprobs: params.logprobs,
            prompt_len: 0,
            generated: 0,
            finish: None,
        }
    }

    /// Why the generation ended (`None` while it is still running).
    pub fn finish_reason(&self) -> Option<FinishReason> {
        self.finish
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
                self.finish = Some(FinishReason::Cancelled);
                self.state = State::Done;
                break;
            }
        }
        Ok(Completion {
            text,
            tokens,
            finish: self.finish.unwrap_or(FinishReason::Cancelled),
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
            self.sampler.accept(t);
        }
        self.prompt_len = n;
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
                        prompt_tokens: self.prompt_len,
                        generated: self.generated,
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
        let sampled = self.sampler.sample(logits, self.logprobs)?;
        self.sampler.accept(sampled.id);
        self.generated += 1;
        s.timings.generated_tokens = self.generated;
        s.timings.generate_ms += (s.clock)() - t0;

        let id = sampled.id;
        let piece = |text| TokenPiece {
            id,
            text,
            logprob: sampled.logprob,
        };
        if s.tok.is_eog(id) || self.stop_ids.contains(&id) {
            let reason = if s.tok.is_eog(id) {
                FinishReason::EndOfGeneration
            } else {
                FinishReason::Stop
            };
            let text = self.finish_text(String::new());
            self.end(reason);
            return Ok(piece(text));
        }
        let new = self.decoder.push(id);
        let released = self.stop.push(&new);
        if released.stopped {
            self.end(FinishReason::Stop);
            return Ok(piece(released.text));
        }
        if self.generated >= self.max_tokens {
            let text = self.finish_text(released.text);
            self.end(FinishReason::MaxTokens);
            return Ok(piece(text));
        }
        self.state = State::Running(Some(id));
        Ok(piece(released.text))
    }

    /// Appends whatever the decoder and the stop matcher still hold (a final stop string
    /// completed by the decoder's remainder is cut as usual).
    fn finish_text(&mut self, mut text: String) -> String {
        let rest = self.decoder.flush();
        let r = self.stop.push(&rest);
        text.push_str(&r.text);
        if r.stopped {
            self.finish = Some(FinishReason::Stop);
        } else {
            text.push_str(&self.stop.finish());
        }
        text
    }

    fn end(&mut self, reason: FinishReason) {
        self.finish.get_or_insert(reason);
        self.state = State::Done;
    }
}

impl Iterator for Generation<'_> {
    type Item = Result<TokenPiece, EngineError>;

    fn next(&mut self) -> Option<Self::Item> {
        let pending = match std::mem::replace(&mut self.state, State::Done) {
            State::Done => return None,
            State::Start(prompt) => {
                if self.max_tokens == 0 {
                    self.finish = Some(FinishReason::MaxTokens);
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
            self.state = State::Done;
        }
        Some(out)
    }
}
