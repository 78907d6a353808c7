//! One sequence of the scheduler: its prompt, where it stands, and its
//! sampling and text (`session::turn::Turn`).

use std::sync::Arc;

use model::ReadKind;
use tokenizer::Tokenizer;

use super::{Event, Request, RequestId};
use crate::error::EngineError;
use crate::sampler::Row;
use crate::session::turn::Turn;
use crate::session::{FinishReason, TokenPiece};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Prompt tokens `..done` are in the cache.
    Prompt { done: usize },
    /// `pending` was sampled last and goes in at `pos` next.
    Running { pending: u32, pos: usize },
    /// Ended; reported and freed by the next `retire`.
    Ended,
}

#[derive(Debug)]
pub(super) struct Seq {
    pub id: RequestId,
    pub prompt: Vec<u32>,
    pub phase: Phase,
    turn: Turn,
    n_ctx: usize,
    /// Prompt tokens the slot already held.
    cached_tokens: usize,
    /// Why it ended, once it has (an error ends it too).
    end: Option<Result<FinishReason, EngineError>>,
    reported: bool,
}

impl Seq {
    /// Checks the request against the context; an empty prompt or one that
    /// leaves no room to generate is an error, as in a session.
    pub fn new(
        id: RequestId,
        req: Request,
        tok: &Arc<Tokenizer>,
        n_ctx: usize,
    ) -> Result<Seq, EngineError> {
        let n = req.prompt.len();
        if n == 0 {
            return Err(EngineError::EmptyPrompt);
        }
        if n >= n_ctx {
            return Err(EngineError::PromptTooLong {
                prompt_tokens: n,
                n_ctx,
            });
        }
        let mut turn = Turn::new(tok, &req.params, req.end_of_turn.as_deref(), n_ctx);
        turn.accept_prompt(&req.prompt);
        let mut s = Seq {
            id,
            prompt: req.prompt,
            phase: Phase::Prompt { done: 0 },
            turn,
            n_ctx,
            cached_tokens: 0,
            end: None,
            reported: false,
        };
        if s.turn.max_tokens == 0 {
            s.finish(FinishReason::MaxTokens);
        }
        Ok(s)
    }

    /// Its slot already holds the first `kept` prompt tokens (fewer than
    /// the prompt's): evaluation starts after them.
    pub fn reuse(&mut self, kept: usize) {
        if let Phase::Prompt { .. } = self.phase {
            self.phase = Phase::Prompt { done: kept };
            self.cached_tokens = kept;
        }
    }

    /// The token this sequence adds to the next batch, if it is running
    /// (a sequence whose context is full ends with an error instead).
    pub fn decode_token(&self) -> Option<(u32, usize)> {
        match self.phase {
            Phase::Running { pending, pos } if pos < self.n_ctx => Some((pending, pos)),
            _ => None,
        }
    }

    /// Ends a running sequence whose next position is past the context.
    pub fn check_context(&mut self) {
        if let Phase::Running { pos, .. } = self.phase {
            if pos >= self.n_ctx {
                self.fail(EngineError::ContextFull {
                    prompt_tokens: self.prompt.len(),
                    generated: self.turn.generated,
                    n_ctx: self.n_ctx,
                });
            }
        }
    }

    /// Samples from this sequence's row (logits or argmax): the piece to stream, if
    /// the sequence was waiting for it.
    pub fn on_logits(
        &mut self,
        tok: &Tokenizer,
        row: Row,
    ) -> Result<Option<TokenPiece>, EngineError> {
        let pos = match self.phase {
            Phase::Prompt { done } if done == self.prompt.len() => done,
            Phase::Running { pos, .. } => pos + 1,
            _ => return Ok(None),
        };
        let piece = self.turn.next_piece(tok, row)?;
        self.phase = match self.turn.finish {
            Some(f) => {
                self.end = Some(Ok(f));
                Phase::Ended
            }
            None => Phase::Running {
                pending: piece.id,
                pos,
            },
        };
        Ok(Some(piece))
    }

    /// What its next sample needs read back.
    pub fn read_kind(&self) -> ReadKind {
        self.turn.read_kind()
    }

    pub fn cancel(&mut self) {
        self.finish(FinishReason::Cancelled);
    }

    pub fn fail(&mut self, e: EngineError) {
        if self.end.is_none() {
            self.end = Some(Err(e));
        }
        self.phase = Phase::Ended;
    }

    fn finish(&mut self, f: FinishReason) {
        self.turn.end(f);
        if self.end.is_none() {
            self.end = Some(Ok(f));
        }
        self.phase = Phase::Ended;
    }

    /// The event that reports its end, once (None while it runs).
    pub fn take_end(&mut self) -> Option<Event> {
        if self.reported || self.phase != Phase::Ended {
            return None;
        }
        self.reported = true;
        Some(match self.end.take()? {
            Ok(finish) => Event::Done {
                finish,
                prompt_tokens: self.prompt.len(),
                cached_tokens: self.cached_tokens,
                generated: self.turn.generated,
            },
            Err(e) => Event::Failed(e),
        })
    }
}
