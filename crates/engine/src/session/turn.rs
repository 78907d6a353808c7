//! One generation's token choice and text, independent of how its logits
//! were computed: logits in, a [`TokenPiece`] out (sampling, end-of-turn
//! tokens, incremental detokenization, stop strings, `max_tokens`). Used by
//! a [`Session`](super::Session)'s generation and by each sequence of the
//! [`Scheduler`](crate::scheduler::Scheduler).

use std::sync::Arc;

use model::ReadKind;
use tokenizer::{StreamDecoder, Tokenizer};

use super::params::{FinishReason, GenerateParams, TokenPiece};
use super::stop::StopMatcher;
use crate::error::EngineError;
use crate::sampler::{top_log_softmax, Row, Sampler};

#[derive(Debug)]
pub(crate) struct Turn {
    sampler: Sampler,
    decoder: StreamDecoder<Arc<Tokenizer>>,
    stop: StopMatcher,
    /// Tokens that end the turn although the vocabulary does not mark them EOG.
    stop_ids: Vec<u32>,
    pub(crate) max_tokens: usize,
    logprobs: bool,
    top_logprobs: usize,
    /// With `ignore_eos`: the end-of-generation ids, never sampled, and the
    /// row they are masked in (n_vocab, filled per step).
    banned: Vec<u32>,
    masked: Vec<f32>,
    pub(crate) generated: usize,
    pub(crate) finish: Option<FinishReason>,
}

impl Turn {
    /// `end_of_turn`: the chat template's end-of-turn text, if any; `n_ctx`
    /// bounds the repetition-penalty window.
    pub(crate) fn new(
        tok: &Arc<Tokenizer>,
        params: &GenerateParams,
        end_of_turn: Option<&str>,
        n_ctx: usize,
    ) -> Turn {
        let mut stop = StopMatcher::new(&params.stop);
        let mut stop_ids = Vec::new();
        if let Some(eot) = end_of_turn {
            match tok.token_id(eot) {
                Some(id) if tok.is_eog(id) => {}
                Some(id) => stop_ids.push(id),
                None => stop.add(eot),
            }
        }
        // The window never holds more than the context's tokens: a larger one would
        // only size its buffer past what can be used.
        let mut sampler = params.sampler.clone();
        sampler.penalty_last_n = sampler.penalty_last_n.min(n_ctx);
        Turn {
            sampler: Sampler::new(sampler),
            decoder: StreamDecoder::new(Arc::clone(tok), params.special),
            stop,
            stop_ids,
            max_tokens: params.max_tokens,
            logprobs: params.logprobs || params.top_logprobs > 0,
            top_logprobs: params.top_logprobs,
            banned: match params.ignore_eos {
                true => tok.eog_ids().to_vec(),
                false => Vec::new(),
            },
            masked: Vec::new(),
            generated: 0,
            finish: None,
        }
    }

    /// What the next sample needs read back (`Sampler::read_kind`).
    pub(crate) fn read_kind(&self) -> ReadKind {
        match self.banned.is_empty() {
            true => self.sampler.read_kind(self.logprobs),
            false => ReadKind::Logits,
        }
    }

    /// The prompt's tokens enter the repetition-penalty window.
    pub(crate) fn accept_prompt(&mut self, prompt: &[u32]) {
        for &t in prompt {
            self.sampler.accept(t);
        }
    }

    /// Samples the next token from `row` (logits, or the argmax when
    /// `read_kind` asked for it) and returns its piece; sets
    /// `finish` when the generation ends with it.
    pub(crate) fn next_piece(
        &mut self,
        tok: &Tokenizer,
        row: Row,
    ) -> Result<TokenPiece, EngineError> {
        let row = match row {
            Row::Logits(l) if !self.banned.is_empty() => {
                self.masked.clear();
                self.masked.extend_from_slice(l);
                for &id in &self.banned {
                    if let Some(v) = self.masked.get_mut(id as usize) {
                        *v = f32::NEG_INFINITY;
                    }
                }
                Row::Logits(&self.masked)
            }
            row => row,
        };
        let sampled = self.sampler.sample_row(row, self.logprobs)?;
        let mut top = Vec::new();
        if let (Row::Logits(l), true) = (row, self.top_logprobs > 0) {
            top_log_softmax(l, self.top_logprobs, &mut top);
        }
        self.sampler.accept(sampled.id);
        self.generated += 1;
        let id = sampled.id;
        let piece = |text| TokenPiece {
            id,
            text,
            logprob: sampled.logprob,
            top_logprobs: top,
        };
        if tok.is_eog(id) || self.stop_ids.contains(&id) {
            let reason = if tok.is_eog(id) {
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

    pub(crate) fn end(&mut self, reason: FinishReason) {
        self.finish.get_or_insert(reason);
    }
}
