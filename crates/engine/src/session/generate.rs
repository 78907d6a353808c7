//! The streaming generation loop.

use std::ops::ControlFlow;

use model::{LogitsMode, Readout};

use super::params::{Completion, FinishReason, GenerateParams, TokenPiece};
use super::turn::Turn;
use super::Session;
use crate::error::EngineError;
use crate::sampler::Row;

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
    turn: Turn,
    prompt_len: usize,
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
        self.turn.finish
    }
}

impl<'s> Generation<'s> {
    pub(super) fn new(
        s: &'s mut Session,
        prompt: Result<Vec<u32>, EngineError>,
        params: &GenerateParams,
        end_of_turn: Option<&str>,
    ) -> Self {
        s.timings = Default::default();
        let g = Detached {
            state: State::Start(prompt),
            turn: Turn::new(&s.tok, params, end_of_turn, s.n_ctx),
            prompt_len: 0,
        };
        Self { s, g }
    }

    /// Releases the session, keeping the generation's state to resume later.
    pub fn detach(self) -> Detached {
        self.g
    }

    /// Why the generation ended (`None` while it is still running).
    pub fn finish_reason(&self) -> Option<FinishReason> {
        self.g.turn.finish
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
                self.g.turn.finish = Some(FinishReason::Cancelled);
                self.g.state = State::Done;
                break;
            }
        }
        Ok(Completion {
            text,
            tokens,
            finish: self.g.turn.finish.unwrap_or(FinishReason::Cancelled),
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
        // (a cache with sliding-window rings may keep less: it says what)
        let reuse = s.kv.truncate(0, common.min(n - 1));
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
        self.g.turn.accept_prompt(&prompt);
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
        let row = match pending {
            Some(id) => {
                let pos = s.cached.len();
                if pos >= s.n_ctx {
                    return Err(EngineError::ContextFull {
                        prompt_tokens: self.g.prompt_len,
                        generated: self.g.turn.generated,
                        n_ctx: s.n_ctx,
                    });
                }
                let m = &s.model;
                m.encode_tokens(&[id], pos, &mut s.kv, &mut s.scratch, LogitsMode::Last)?;
                s.cached.push(id);
                // only what the sampler needs: the argmax when greedy
                m.read_begin(&mut s.scratch, self.g.turn.read_kind());
                match m.read_wait(&mut s.scratch) {
                    Readout::Logits(l) => Row::Logits(l),
                    Readout::TopK { ids, .. } => Row::Argmax(ids[0]),
                }
            }
            // Right after prefill: the logits of the last prompt token.
            None => Row::Logits(&s.logits),
        };
        let piece = self.g.turn.next_piece(&s.tok, row)?;
        s.timings.generated_tokens = self.g.turn.generated;
        s.timings.generate_ms += (s.clock)() - t0;
        self.g.state = match self.g.turn.finish {
            Some(_) => State::Done,
            None => State::Running(Some(piece.id)),
        };
        Ok(piece)
    }
}

impl Iterator for Generation<'_> {
    type Item = Result<TokenPiece, EngineError>;

    fn next(&mut self) -> Option<Self::Item> {
        let pending = match std::mem::replace(&mut self.g.state, State::Done) {
            State::Done => return None,
            State::Start(prompt) => {
                if self.g.turn.max_tokens == 0 {
                    self.g.turn.finish = Some(FinishReason::MaxTokens);
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
