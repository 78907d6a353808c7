//! Many sequences over one shared model: requests wait in a bounded queue,
//! are admitted into free KV cache slots between steps, and every
//! [`Scheduler::step`] runs one batched forward pass over all active
//! sequences (decode tokens of running ones, prompt chunks of new ones),
//! then samples each sequence and streams its piece to the caller.
//!
//! Each sequence's tokens are those it would get alone in a
//! [`Session`](crate::Session) with the same `n_batch`: its prompt is
//! evaluated in the same chunks, and the model gives each row of a batch
//! the results of its own sequence (`model::Model::decode`).

mod seq;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::Arc;

use model::{Batch, CacheType, KvCache, Model, ReadKind, Readout, Scratch};
use tokenizer::Tokenizer;

use crate::error::EngineError;
use crate::sampler::Row;
use crate::session::{FinishReason, GenerateParams, TokenPiece};
use seq::{Phase, Seq};

/// Identifies a submitted request.
pub type RequestId = u64;

/// A generation request: prompt tokens and parameters.
#[derive(Debug, Clone)]
pub struct Request {
    pub prompt: Vec<u32>,
    pub params: GenerateParams,
    /// The chat template's end-of-turn text, if any (ends the turn).
    pub end_of_turn: Option<String>,
}

/// What a step produced for one request.
#[derive(Debug)]
pub enum Event {
    /// The next token of a running request.
    Piece(TokenPiece),
    /// The request ended (its last piece, if any, came before).
    Done {
        finish: FinishReason,
        prompt_tokens: usize,
        generated: usize,
    },
    /// The request failed; nothing more comes for it.
    Failed(EngineError),
}

/// Sizes of a scheduler.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// Sequences run at once (KV cache slots).
    pub n_seq: usize,
    /// Positions per sequence (prompt and generated tokens).
    pub n_ctx: usize,
    /// Most tokens per forward pass; prompts are evaluated in chunks of at
    /// most this many tokens.
    pub n_batch: usize,
    /// Requests waiting for a slot beyond which `submit` refuses.
    pub max_queue: usize,
    pub cache_type: CacheType,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        Self {
            n_seq: 4,
            n_ctx: 2048,
            n_batch: 64,
            max_queue: 64,
            cache_type: CacheType::F16,
        }
    }
}

/// Runs the requests of many consumers over one model.
#[derive(Debug)]
pub struct Scheduler {
    model: Arc<Model>,
    tok: Arc<Tokenizer>,
    kv: KvCache,
    scratch: Scratch,
    batch: Batch,
    /// One entry per KV slot.
    slots: Vec<Option<Seq>>,
    queue: VecDeque<(RequestId, Request)>,
    next_id: RequestId,
    opts: SchedulerOptions,
    /// Per output row of the last batch: the slot it belongs to.
    rows: Vec<usize>,
    /// Queued requests cancelled since the last step: (id, prompt tokens).
    cancelled: Vec<(RequestId, usize)>,
}

impl Scheduler {
    /// A scheduler over `model` (shared with other users) and its tokenizer.
    pub fn new(
        model: Arc<Model>,
        tok: Arc<Tokenizer>,
        opts: SchedulerOptions,
    ) -> Result<Scheduler, EngineError> {
        let n_seq = opts.n_seq.max(1);
        let n_batch = opts.n_batch.max(1);
        let kv = KvCache::with_rings(model.config(), n_seq, opts.n_ctx, opts.cache_type, n_batch)?;
        // a step holds every sequence's decode token plus one prompt chunk
        let scratch = Scratch::new(&model, n_batch + n_seq, opts.n_ctx, n_seq)?;
        Ok(Scheduler {
            model,
            tok,
            kv,
            scratch,
            batch: Batch::with_capacity(n_batch + n_seq),
            slots: (0..n_seq).map(|_| None).collect(),
            queue: VecDeque::new(),
            next_id: 0,
            rows: Vec::with_capacity(n_seq),
            cancelled: Vec::new(),
            opts: SchedulerOptions {
                n_seq,
                n_batch,
                ..opts
            },
        })
    }

    /// Queues a request; refused when `max_queue` requests already wait.
    pub fn submit(&mut self, req: Request) -> Result<RequestId, EngineError> {
        if self.queue.len() >= self.opts.max_queue {
            return Err(EngineError::QueueFull {
                max: self.opts.max_queue,
            });
        }
        let id = self.next_id;
        self.next_id += 1;
        self.queue.push_back((id, req));
        Ok(id)
    }

    /// Ends request `id` (queued or running) without disturbing the others;
    /// its `Done` event (finish `Cancelled`) comes from the next step.
    /// Returns false if no such request is pending.
    pub fn cancel(&mut self, id: RequestId) -> bool {
        if let Some(i) = self.queue.iter().position(|(q, _)| *q == id) {
            let (_, req) = self.queue.remove(i).expect("index from position");
            self.cancelled.push((id, req.prompt.len()));
            return true;
        }
        match self.slots.iter_mut().flatten().find(|s| s.id == id) {
            Some(s) => {
                s.cancel();
                true
            }
            None => false,
        }
    }

    /// Requests running or waiting.
    pub fn pending(&self) -> usize {
        self.queue.len() + self.slots.iter().flatten().count()
    }

    /// One step: admit queued requests into free slots, run one batched
    /// forward pass over every active sequence, sample each, and report
    /// `(request, event)` to `on_event` in slot order. Returns the number of
    /// requests still pending afterwards.
    pub fn step(
        &mut self,
        mut on_event: impl FnMut(RequestId, Event),
    ) -> Result<usize, EngineError> {
        for (id, prompt_tokens) in self.cancelled.drain(..) {
            on_event(
                id,
                Event::Done {
                    finish: FinishReason::Cancelled,
                    prompt_tokens,
                    generated: 0,
                },
            );
        }
        for s in self.slots.iter_mut().flatten() {
            s.check_context();
        }
        self.retire(&mut on_event);
        self.admit(&mut on_event);
        self.fill_batch();
        if !self.batch.is_empty() {
            let m = &self.model;
            m.encode(&self.batch, &mut self.kv, &mut self.scratch)?;
            // the argmax of each row when every sampler is greedy, else all logits
            let slots = &self.slots;
            let greedy = self.rows.iter().all(|&slot| {
                slots[slot]
                    .as_ref()
                    .is_none_or(|s| s.read_kind() == ReadKind::TopK(1))
            });
            let kind = if greedy {
                ReadKind::TopK(1)
            } else {
                ReadKind::Logits
            };
            m.read_begin(&mut self.scratch, kind);
            let out = m.read_wait(&mut self.scratch);
            let v = m.config().n_vocab;
            for (j, &slot) in self.rows.iter().enumerate() {
                let Some(s) = self.slots[slot].as_mut() else {
                    continue;
                };
                let row = match out {
                    Readout::Logits(l) => Row::Logits(&l[j * v..(j + 1) * v]),
                    Readout::TopK { ids, .. } => Row::Argmax(ids[j]),
                };
                match s.on_logits(&self.tok, row) {
                    Ok(Some(piece)) => on_event(s.id, Event::Piece(piece)),
                    Ok(None) => {}
                    Err(e) => s.fail(e),
                }
            }
        }
        self.retire(&mut on_event);
        Ok(self.pending())
    }

    /// Reports and frees the sequences that ended.
    fn retire(&mut self, on_event: &mut impl FnMut(RequestId, Event)) {
        for (slot, entry) in self.slots.iter_mut().enumerate() {
            let Some(s) = entry else { continue };
            let Some(event) = s.take_end() else { continue };
            on_event(s.id, event);
            *entry = None;
            self.kv.clear(slot);
        }
    }

    /// Moves queued requests into free slots; a request that cannot run
    /// (empty prompt, longer than the context) fails at once.
    fn admit(&mut self, on_event: &mut impl FnMut(RequestId, Event)) {
        while let Some(slot) = self.slots.iter().position(Option::is_none) {
            let Some((id, req)) = self.queue.pop_front() else {
                return;
            };
            match Seq::new(id, req, &self.tok, self.opts.n_ctx) {
                Ok(s) => {
                    self.kv.clear(slot);
                    self.slots[slot] = Some(s);
                }
                Err(e) => on_event(id, Event::Failed(e)),
            }
        }
    }

    /// The next forward pass: first every running sequence's pending token,
    /// then whole prompt chunks (of `n_batch` tokens, as a session's) while
    /// they fit.
    fn fill_batch(&mut self) {
        self.batch.clear();
        self.rows.clear();
        for (slot, s) in self.slots.iter().enumerate() {
            if let Some((token, pos)) = s.as_ref().and_then(Seq::decode_token) {
                self.batch.push(token, pos, slot, true);
                self.rows.push(slot);
            }
        }
        let budget = self.opts.n_batch + self.opts.n_seq;
        for (slot, entry) in self.slots.iter_mut().enumerate() {
            let Some(s) = entry else { continue };
            let Phase::Prompt { done } = s.phase else {
                continue;
            };
            let n = (s.prompt.len() - done).min(self.opts.n_batch);
            if self.batch.len() + n > budget {
                break;
            }
            let last = done + n == s.prompt.len();
            self.batch
                .push_seq(&s.prompt[done..done + n], done, slot, last);
            if last {
                self.rows.push(slot);
            }
            s.phase = Phase::Prompt { done: done + n };
        }
        // output rows come in batch order: decode rows first, then the prompt
        // chunks that end their prompt, as pushed above
    }
}
