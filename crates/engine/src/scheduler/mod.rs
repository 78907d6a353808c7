//! Many sequences over one shared model: requests wait in a bounded queue,
//! are admitted into free KV cache slots between steps, and every
//! [`Scheduler::step`] runs one batched forward pass over all active
//! sequences (decode tokens of running ones, prompt chunks of new ones),
//! then samples each sequence and streams its piece to the caller.
//!
//! Each sequence's tokens are those it would get alone with the same
//! `n_batch`: its prompt is evaluated in the same chunks, and the model gives
//! each row of a batch the results of its own sequence
//! (`model::Model::decode`).
//!
//! A slot keeps the tokens of its last sequence in the cache after it ends:
//! a request with `cache_prompt` goes to the free slot whose tokens share the
//! longest prefix with its prompt and evaluates only the rest (a chat's
//! earlier turns, a shared system prompt). A [`Session`](crate::Session) is
//! the one-slot case.

mod seq;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::Arc;

use model::{Backend, Batch, CacheType, CpuBackend, KvCache, Model, ReadKind, Readout, Scratch};
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
    /// Reuse the longest prefix of the prompt some free slot still holds
    /// (otherwise the slot is cleared first).
    pub cache_prompt: bool,
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
        /// Prompt tokens found in the slot's cache (not evaluated again).
        cached_tokens: usize,
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

/// Runs the requests of many consumers over one model, on backend `B`.
#[derive(Debug)]
pub struct Scheduler<B: Backend = CpuBackend> {
    model: Arc<Model<B>>,
    tok: Arc<Tokenizer>,
    kv: KvCache<B>,
    scratch: Scratch<B>,
    batch: Batch,
    /// One entry per KV slot.
    slots: Vec<Option<Seq>>,
    /// Per slot: the tokens whose keys and values it holds, at positions
    /// `0..len`.
    cached: Vec<Vec<u32>>,
    queue: VecDeque<(RequestId, Request)>,
    next_id: RequestId,
    opts: SchedulerOptions,
    /// Per output row of the last batch: the slot it belongs to.
    rows: Vec<usize>,
    /// Queued requests cancelled since the last step: (id, prompt tokens).
    cancelled: Vec<(RequestId, usize)>,
    /// A step's read is in flight (begun, not ended).
    reading: bool,
}

impl<B: Backend> Scheduler<B> {
    /// A scheduler over `model` (shared with other users) and its tokenizer.
    pub fn new(
        model: Arc<Model<B>>,
        tok: Arc<Tokenizer>,
        opts: SchedulerOptions,
    ) -> Result<Scheduler<B>, EngineError> {
        let n_seq = opts.n_seq.max(1);
        let n_batch = opts.n_batch.max(1);
        let kv = KvCache::for_model(&model, n_seq, opts.n_ctx, opts.cache_type, Some(n_batch))?;
        // a step holds every sequence's decode token plus one prompt chunk
        let scratch = Scratch::new(&model, n_batch + n_seq, opts.n_ctx, n_seq)?;
        let mut cached = Vec::with_capacity(n_seq);
        for _ in 0..n_seq {
            let mut c = Vec::new();
            c.try_reserve_exact(opts.n_ctx)
                .map_err(|_| model::ModelError::OutOfMemory {
                    what: "the token history",
                    n_ctx: opts.n_ctx,
                    bytes: Some(opts.n_ctx as u64 * 4),
                    why: model::AllocFailure::Refused,
                })?;
            cached.push(c);
        }
        Ok(Scheduler {
            model,
            tok,
            kv,
            scratch,
            batch: Batch::with_capacity(n_batch + n_seq),
            slots: (0..n_seq).map(|_| None).collect(),
            cached,
            queue: VecDeque::new(),
            next_id: 0,
            rows: Vec::with_capacity(n_seq),
            cancelled: Vec::new(),
            reading: false,
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

    /// Requests waiting for a slot.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Per slot: whether it runs a sequence.
    pub fn busy(&self) -> impl ExactSizeIterator<Item = bool> + '_ {
        self.slots.iter().map(Option::is_some)
    }

    /// Requests running or waiting.
    pub fn pending(&self) -> usize {
        self.queue.len() + self.slots.iter().flatten().count()
    }

    /// One step: admit queued requests into free slots, run one batched
    /// forward pass over every active sequence, sample each, and report
    /// `(request, event)` to `on_event` in slot order. Returns the number of
    /// requests still pending afterwards. Ends a step that
    /// [`Scheduler::try_step`] left in flight (waiting for its read).
    pub fn step(
        &mut self,
        mut on_event: impl FnMut(RequestId, Event),
    ) -> Result<usize, EngineError> {
        if !self.reading {
            self.step_begin(&mut on_event)?;
        }
        self.step_end(&mut on_event)
    }

    /// [`Scheduler::step`] that never waits for the device: begins a step
    /// (unless one is in flight) and ends it only once its read has
    /// completed; `Ok(None)` while it has not. For callers whose device
    /// completes reads only when they yield (WebGPU in a browser: call again
    /// after a turn of the event loop).
    pub fn try_step(
        &mut self,
        mut on_event: impl FnMut(RequestId, Event),
    ) -> Result<Option<usize>, EngineError> {
        if !self.reading {
            self.step_begin(&mut on_event)?;
        }
        if self.reading && !self.model.read_ready(&mut self.scratch) {
            return Ok(None);
        }
        self.step_end(&mut on_event).map(Some)
    }

    /// Whether a step begun by [`Scheduler::try_step`] waits for its read.
    pub fn in_flight(&self) -> bool {
        self.reading
    }

    /// A step up to the start of its read (admission, the forward pass).
    fn step_begin(
        &mut self,
        on_event: &mut impl FnMut(RequestId, Event),
    ) -> Result<(), EngineError> {
        for (id, prompt_tokens) in self.cancelled.drain(..) {
            on_event(
                id,
                Event::Done {
                    finish: FinishReason::Cancelled,
                    prompt_tokens,
                    cached_tokens: 0,
                    generated: 0,
                },
            );
        }
        for s in self.slots.iter_mut().flatten() {
            s.check_context();
        }
        self.retire(on_event);
        self.admit(on_event);
        self.fill_batch();
        if !self.batch.is_empty() {
            let m = &self.model;
            if let Err(e) = m.encode(&self.batch, &mut self.kv, &mut self.scratch) {
                self.drop_all(&e.to_string(), on_event);
                return Err(e.into());
            }
            // the argmax of each row when every sampler is greedy, else all logits
            // the largest top-k every row can sample from, else all logits
            let slots = &self.slots;
            let kind = self
                .rows
                .iter()
                .filter_map(|&slot| slots[slot].as_ref().map(Seq::read_kind))
                .try_fold(0, |k, kind| match kind {
                    ReadKind::TopK(n) => Some(k.max(n)),
                    ReadKind::Logits => None,
                })
                .filter(|&k| k > 0)
                .map_or(ReadKind::Logits, ReadKind::TopK);
            m.read_begin(&mut self.scratch, kind);
            self.reading = true;
        }
        Ok(())
    }

    /// The rest of a step: its read (waiting for it), sampling, retiring.
    fn step_end(
        &mut self,
        on_event: &mut impl FnMut(RequestId, Event),
    ) -> Result<usize, EngineError> {
        if self.reading {
            self.reading = false;
            let m = &self.model;
            let out = m.read_wait(&mut self.scratch)?;
            let v = m.config().n_vocab;
            for (j, &slot) in self.rows.iter().enumerate() {
                let Some(s) = self.slots[slot].as_mut() else {
                    continue;
                };
                let row = match out {
                    Readout::Logits(l) => Row::Logits(&l[j * v..(j + 1) * v]),
                    Readout::TopK { k, ids, logits } => {
                        let n = match s.read_kind() {
                            ReadKind::TopK(n) => n.min(k),
                            ReadKind::Logits => k,
                        };
                        Row::TopK {
                            ids: &ids[j * k..j * k + n],
                            logits: &logits[j * k..j * k + n],
                        }
                    }
                };
                match s.on_logits(&self.tok, row) {
                    Ok(Some(piece)) => on_event(s.id, Event::Piece(piece)),
                    Ok(None) => {}
                    Err(e) => s.fail(e),
                }
            }
        }
        self.retire(on_event);
        Ok(self.pending())
    }

    /// The model.
    pub fn model(&self) -> &Arc<Model<B>> {
        &self.model
    }

    /// Bytes the KV cache of all slots takes.
    pub fn kv_bytes(&self) -> u64 {
        self.kv.n_bytes()
    }

    /// Positions per sequence.
    pub fn n_ctx(&self) -> usize {
        self.opts.n_ctx
    }

    /// The tokens slot `slot` holds in the cache (empty for no such slot).
    pub fn cached(&self, slot: usize) -> &[u32] {
        self.cached.get(slot).map_or(&[], Vec::as_slice)
    }

    /// Empties the cache of every slot that runs no sequence.
    pub fn forget(&mut self) {
        for (slot, c) in self.cached.iter_mut().enumerate() {
            if self.slots[slot].is_none() {
                c.clear();
                self.kv.clear(slot);
            }
        }
    }

    /// Reports and frees the sequences that ended; their slots keep their
    /// tokens for a later request's prefix.
    fn retire(&mut self, on_event: &mut impl FnMut(RequestId, Event)) {
        for entry in self.slots.iter_mut() {
            let Some(s) = entry else { continue };
            let Some(event) = s.take_end() else { continue };
            on_event(s.id, event);
            *entry = None;
        }
    }

    /// After a failed forward pass (the cache contents are unknown): every
    /// sequence fails and every slot is emptied.
    fn drop_all(&mut self, why: &str, on_event: &mut impl FnMut(RequestId, Event)) {
        for (slot, entry) in self.slots.iter_mut().enumerate() {
            if let Some(s) = entry.take() {
                on_event(
                    s.id,
                    Event::Failed(EngineError::BatchFailed(why.to_string())),
                );
            }
            self.cached[slot].clear();
            self.kv.clear(slot);
        }
    }

    /// The free slot for `prompt`: with `cache_prompt`, the one holding the
    /// longest prefix of it, and how many of its tokens match (of those,
    /// the one holding the fewest other tokens, which it overwrites); else
    /// the one holding the fewest tokens (kept for others), to be emptied.
    /// The first such slot on a tie.
    fn pick_slot(&self, prompt: &[u32], cache_prompt: bool) -> Option<(usize, usize)> {
        let common = |i: usize| {
            let c = &self.cached[i];
            c.iter().zip(prompt).take_while(|(a, b)| a == b).count()
        };
        let free = (0..self.slots.len()).filter(|&i| self.slots[i].is_none());
        match cache_prompt {
            true => free
                .map(|i| (i, common(i)))
                .min_by_key(|&(i, n)| (std::cmp::Reverse(n), self.cached[i].len() - n, i)),
            false => free
                .min_by_key(|&i| (self.cached[i].len(), i))
                .map(|i| (i, 0)),
        }
    }

    /// Moves queued requests into free slots; a request that cannot run
    /// (empty prompt, longer than the context) fails at once.
    fn admit(&mut self, on_event: &mut impl FnMut(RequestId, Event)) {
        while self.slots.iter().any(Option::is_none) {
            let Some((id, req)) = self.queue.pop_front() else {
                return;
            };
            let (slot, common) = self
                .pick_slot(&req.prompt, req.cache_prompt)
                .expect("a free slot");
            // always evaluate the last prompt token: its logits are sampled
            let keep = common.min(req.prompt.len().saturating_sub(1));
            match Seq::new(id, req, &self.tok, self.opts.n_ctx) {
                Ok(mut s) => {
                    // (a slot with rings may keep less: it says what)
                    let kept = self.kv.truncate(slot, keep);
                    self.cached[slot].truncate(kept);
                    s.reuse(kept);
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
                self.cached[slot].push(token);
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
            self.cached[slot].extend_from_slice(&s.prompt[done..done + n]);
            if last {
                self.rows.push(slot);
            }
            s.phase = Phase::Prompt { done: done + n };
        }
        // output rows come in batch order: decode rows first, then the prompt
        // chunks that end their prompt, as pushed above
    }
}
