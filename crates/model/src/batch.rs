//! A batch of tokens from several sequences, run in one forward pass (as
//! llama.cpp's `llama_batch`): for each token its id, its position, its
//! sequence (a KV cache slot) and whether it produces logits.
//!
//! Every matrix runs over all rows of the batch, so the weights are read
//! once per step for all sequences. Attention runs per sequence: a
//! sequence's tokens in a batch form one span of consecutive rows at
//! consecutive positions (what `push` builds when a caller adds each
//! sequence's tokens together). Each row's results are those of the same
//! sequence run alone with the same chunks.

use crate::error::ModelError;

/// The rows of one sequence in a batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// KV cache slot.
    pub seq: usize,
    /// Position of the span's first token.
    pub pos: usize,
    /// First row in the batch.
    pub start: usize,
    /// Number of rows.
    pub len: usize,
}

impl Span {
    /// The batch rows of this span.
    pub fn rows(&self) -> std::ops::Range<usize> {
        self.start..self.start + self.len
    }
}

/// Tokens of one or more sequences for one forward pass. Reuse one batch
/// across steps (`clear`, then `push`): after the first steps it allocates
/// nothing.
#[derive(Clone, Debug, Default)]
pub struct Batch {
    tokens: Vec<u32>,
    logits: Vec<bool>,
    spans: Vec<Span>,
}

impl Batch {
    /// An empty batch with room for `n` tokens.
    pub fn with_capacity(n: usize) -> Batch {
        Batch {
            tokens: Vec::with_capacity(n),
            logits: Vec::with_capacity(n),
            spans: Vec::with_capacity(n),
        }
    }

    /// Removes every token (keeps the capacity).
    pub fn clear(&mut self) {
        self.tokens.clear();
        self.logits.clear();
        self.spans.clear();
    }

    /// Appends `token` of sequence `seq` at position `pos`; `logits`: this
    /// row produces logits. A token continuing the previous one's sequence
    /// at the next position extends its span, any other starts a new one.
    pub fn push(&mut self, token: u32, pos: usize, seq: usize, logits: bool) {
        let row = self.tokens.len();
        self.tokens.push(token);
        self.logits.push(logits);
        match self.spans.last_mut() {
            Some(s) if s.seq == seq && s.pos.checked_add(s.len) == Some(pos) => s.len += 1,
            _ => self.spans.push(Span {
                seq,
                pos,
                start: row,
                len: 1,
            }),
        }
    }

    /// Appends `tokens` of sequence `seq` at positions `pos ..`, with
    /// logits for the last one only if `last_logits`.
    pub fn push_seq(&mut self, tokens: &[u32], pos: usize, seq: usize, last_logits: bool) {
        let n = tokens.len();
        for (i, &t) in tokens.iter().enumerate() {
            self.push(t, pos + i, seq, last_logits && i + 1 == n);
        }
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    /// Per token: does it produce logits.
    pub fn logits(&self) -> &[bool] {
        &self.logits
    }

    /// The sequences' spans, in batch order.
    pub fn spans(&self) -> &[Span] {
        &self.spans
    }

    /// Rows producing logits.
    pub fn n_outputs(&self) -> usize {
        self.logits.iter().filter(|&&l| l).count()
    }
}

/// Checks that no sequence has two spans (its rows must be one run at
/// consecutive positions), that each slot exists, and that each span
/// continues its slot's cache without a gap and fits in it. `used(seq)`
/// gives a slot's filled positions and `cap` every slot's capacity.
pub(crate) fn check_spans(
    spans: &[Span],
    n_seq: usize,
    cap: usize,
    used: impl Fn(usize) -> usize,
) -> Result<(), ModelError> {
    for (i, s) in spans.iter().enumerate() {
        if s.seq >= n_seq {
            return Err(ModelError::BadBatch(format!(
                "sequence {} has no KV cache slot ({n_seq} slots)",
                s.seq
            )));
        }
        if spans[..i].iter().any(|o| o.seq == s.seq) {
            return Err(ModelError::BadBatch(format!(
                "the tokens of sequence {} are not one run of consecutive rows and positions",
                s.seq
            )));
        }
        let end = s.pos.saturating_add(s.len);
        if end > cap {
            return Err(ModelError::ContextFull {
                pos: s.pos,
                end,
                n_ctx: cap,
            });
        }
        if s.pos > used(s.seq) {
            return Err(ModelError::BadBatch(format!(
                "sequence {} starts at position {} but its cache holds {} positions",
                s.seq,
                s.pos,
                used(s.seq)
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_groups_runs_into_spans() {
        let mut b = Batch::with_capacity(8);
        b.push_seq(&[1, 2, 3], 0, 0, true);
        b.push(7, 5, 1, true);
        b.push(8, 6, 1, false);
        b.push(9, 2, 2, true);
        assert_eq!(b.len(), 6);
        assert_eq!(b.logits(), &[false, false, true, true, false, true]);
        assert_eq!(b.n_outputs(), 3);
        let s: Vec<_> = b
            .spans()
            .iter()
            .map(|s| (s.seq, s.pos, s.start, s.len))
            .collect();
        assert_eq!(s, [(0, 0, 0, 3), (1, 5, 3, 2), (2, 2, 5, 1)]);
        // a position gap starts a new span of the same sequence: refused at run time
        b.push(10, 9, 2, false);
        assert_eq!(b.spans().len(), 4);
        let e = check_spans(b.spans(), 3, 16, |_| 16).unwrap_err();
        assert!(matches!(e, ModelError::BadBatch(_)), "{e}");
        b.clear();
        assert!(b.is_empty() && b.spans().is_empty());
    }

    #[test]
    fn spans_must_fit_their_slots() {
        let sp = |seq, pos, len| Span {
            seq,
            pos,
            start: 0,
            len,
        };
        assert!(check_spans(&[sp(0, 0, 4), sp(1, 2, 1)], 2, 8, |_| 2).is_ok());
        let e = check_spans(&[sp(2, 0, 1)], 2, 8, |_| 0).unwrap_err();
        assert!(matches!(e, ModelError::BadBatch(_)), "{e}");
        let e = check_spans(&[sp(0, 6, 3)], 1, 8, |_| 6).unwrap_err();
        assert!(matches!(e, ModelError::ContextFull { end: 9, .. }), "{e}");
        // a gap after the cached positions
        let e = check_spans(&[sp(0, 3, 1)], 1, 8, |_| 2).unwrap_err();
        assert!(matches!(e, ModelError::BadBatch(_)), "{e}");
        // overflowing positions are a full context, not a panic
        let e = check_spans(&[sp(0, usize::MAX, 2)], 1, 8, |_| 0).unwrap_err();
        assert!(matches!(e, ModelError::ContextFull { .. }), "{e}");
    }
}
