//! The streaming generation loop: one request of the session's one-slot
//! [`Scheduler`](crate::scheduler::Scheduler), stepped until its next piece.

use std::ops::ControlFlow;
use std::task::Poll;

use super::params::{Completion, FinishReason, GenerateParams, TokenPiece};
use model::{Backend, CpuBackend};

use super::Session;
use crate::error::EngineError;
use crate::scheduler::{Event, Request, RequestId};

#[derive(Debug)]
enum State {
    /// Not submitted yet: the prompt tokens (or the error that prevented
    /// building them), the parameters and the template's end-of-turn text.
    Start {
        prompt: Result<Vec<u32>, EngineError>,
        params: Box<GenerateParams>,
        end_of_turn: Option<String>,
    },
    /// Running as this request of the session's scheduler.
    Running(RequestId),
    Done,
}

/// A running generation; an iterator of [`TokenPiece`]s.
///
/// Ends after an end-of-generation token (yielded as the last piece), a stop string,
/// `max_tokens`, or an error (yielded once). Dropping it early leaves the session usable:
/// the KV cache holds exactly the tokens evaluated so far.
#[derive(Debug)]
pub struct Generation<'s, B: Backend = CpuBackend> {
    s: &'s mut Session<B>,
    g: Detached,
}

/// The state of a [`Generation`] without its borrow of the session, for callers that
/// cannot hold a borrow between steps (e.g. the wasm bindings, which take one step per
/// call from JavaScript). [`Detached::attach`] it to the session it came from to go on.
#[derive(Debug)]
pub struct Detached {
    state: State,
    finish: Option<FinishReason>,
    /// Session clock when the request was submitted.
    started_ms: f64,
    /// Pieces yielded so far.
    pieces: usize,
    /// Session clock when the step in flight began.
    step_ms: Option<f64>,
}

impl Detached {
    /// Resumes the generation on `s`, which must be the session it was detached from and
    /// must not have generated or been reset since (another session, or a newer
    /// generation of this one, ends it as cancelled).
    pub fn attach<B: Backend>(self, s: &mut Session<B>) -> Generation<'_, B> {
        Generation { s, g: self }
    }

    /// Why the generation ended (`None` while it is still running).
    pub fn finish_reason(&self) -> Option<FinishReason> {
        self.finish
    }
}

impl<'s, B: Backend> Generation<'s, B> {
    pub(super) fn new(
        s: &'s mut Session<B>,
        prompt: Result<Vec<u32>, EngineError>,
        params: &GenerateParams,
        end_of_turn: Option<&str>,
    ) -> Self {
        s.end_active();
        s.timings = Default::default();
        let g = Detached {
            state: State::Start {
                prompt,
                params: Box::new(params.clone()),
                end_of_turn: end_of_turn.map(str::to_string),
            },
            finish: None,
            started_ms: 0.0,
            pieces: 0,
            step_ms: None,
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
            if on_piece(&piece).is_break() && self.g.finish.is_none() {
                self.s.end_active();
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

    /// Submits the request (after `max_tokens` 0 or a prompt error, ends at once).
    fn submit(
        &mut self,
        prompt: Result<Vec<u32>, EngineError>,
        params: GenerateParams,
        end_of_turn: Option<String>,
    ) -> Result<Option<RequestId>, EngineError> {
        if params.max_tokens == 0 {
            self.g.finish = Some(FinishReason::MaxTokens);
            return prompt.map(|_| None);
        }
        let req = Request {
            prompt: prompt?,
            params,
            end_of_turn,
            cache_prompt: true,
        };
        let s = &mut *self.s;
        self.g.started_ms = (s.clock)();
        let id = s.sched.submit(req)?;
        s.active = Some(id);
        Ok(Some(id))
    }

    /// Steps the scheduler until request `id` has its next piece or ends;
    /// without `block`, `Pending` when a step waits for the device.
    fn pump(
        &mut self,
        id: RequestId,
        block: bool,
    ) -> Poll<Option<Result<TokenPiece, EngineError>>> {
        let s = &mut *self.s;
        loop {
            if s.active != Some(id) {
                // a newer generation of this session ended this one
                self.g.finish.get_or_insert(FinishReason::Cancelled);
                return Poll::Ready(None);
            }
            let t0 = *self.g.step_ms.get_or_insert_with(s.clock);
            let mut piece = None;
            let mut end = None;
            let on_event = |rid: RequestId, e: Event| match e {
                Event::Piece(p) if rid == id => piece = Some(p),
                e if rid == id => end = Some(e),
                _ => {}
            };
            let stepped = match block {
                true => s.sched.step(on_event).map(Some),
                false => s.sched.try_step(on_event),
            };
            let now = (s.clock)();
            let stepped = match stepped {
                Ok(n) => n.is_some(),
                Err(e) => {
                    s.active = None;
                    self.g.step_ms = None;
                    return Poll::Ready(Some(Err(e)));
                }
            };
            if stepped {
                self.g.step_ms = None;
                match self.g.pieces {
                    0 if piece.is_some() => s.timings.prompt_ms = now - self.g.started_ms,
                    0 => {}
                    _ => s.timings.generate_ms += now - t0,
                }
            }
            if let Some(e) = end {
                s.active = None;
                match e {
                    Event::Done {
                        finish,
                        prompt_tokens,
                        cached_tokens,
                        ..
                    } => {
                        // (generated_tokens is counted piece by piece below)
                        self.g.finish = Some(finish);
                        s.timings.cached_tokens = cached_tokens;
                        s.timings.prompt_tokens = prompt_tokens - cached_tokens;
                    }
                    Event::Failed(e) => return Poll::Ready(Some(Err(e))),
                    Event::Piece(_) => unreachable!("pieces are matched above"),
                }
            }
            if let Some(p) = piece {
                self.g.pieces += 1;
                s.timings.generated_tokens = self.g.pieces;
                return Poll::Ready(Some(Ok(p)));
            }
            if self.g.finish.is_some() {
                return Poll::Ready(None);
            }
            if !stepped {
                return Poll::Pending;
            }
        }
    }

    /// [`Iterator::next`] that never waits for the device: `Pending` while
    /// a step waits for its read (call again after the caller's event loop
    /// has run: a browser's WebGPU completes reads only then).
    pub fn try_next(&mut self) -> Poll<Option<Result<TokenPiece, EngineError>>> {
        self.advance(false)
    }

    fn advance(&mut self, block: bool) -> Poll<Option<Result<TokenPiece, EngineError>>> {
        let id = match std::mem::replace(&mut self.g.state, State::Done) {
            State::Done => return Poll::Ready(None),
            State::Start {
                prompt,
                params,
                end_of_turn,
            } => match self.submit(prompt, *params, end_of_turn) {
                Ok(Some(id)) => id,
                Ok(None) => return Poll::Ready(None),
                Err(e) => return Poll::Ready(Some(Err(e))),
            },
            State::Running(id) => id,
        };
        let out = self.pump(id, block);
        let running = match &out {
            Poll::Pending => true,
            Poll::Ready(r) => matches!(r, Some(Ok(_))),
        };
        if running && self.g.finish.is_none() {
            self.g.state = State::Running(id);
        }
        out
    }
}

impl<B: Backend> Iterator for Generation<'_, B> {
    type Item = Result<TokenPiece, EngineError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.advance(true) {
            Poll::Ready(out) => out,
            Poll::Pending => unreachable!("a blocking step always ends"),
        }
    }
}
