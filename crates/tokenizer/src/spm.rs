//! SentencePiece-style BPE (llama.cpp's `llm_tokenizer_spm`): start from one
//! symbol per UTF-8 character, repeatedly merge the adjacent pair whose
//! concatenation is a token with the highest score (ties: leftmost), then emit
//! each final symbol as its token or, failing that, as `<0xNN>` byte tokens.
//! O(n log n) in the text length.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::vocab::Vocab;

#[derive(Clone, Copy, Debug)]
struct Symbol {
    start: usize,
    len: usize, // 0 = merged into its left neighbour
    prev: Option<usize>,
    next: Option<usize>,
}

#[derive(Debug)]
struct Bigram {
    score: f32,
    left: usize,
    right: usize,
    size: usize,
}

impl PartialEq for Bigram {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Bigram {}
impl PartialOrd for Bigram {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Bigram {
    /// Max-heap order: higher score first, then the leftmost pair.
    fn cmp(&self, o: &Self) -> Ordering {
        self.score
            .total_cmp(&o.score)
            .then_with(|| o.left.cmp(&self.left))
    }
}

/// UTF-8 sequence length from the lead byte, as llama.cpp computes it
/// (continuation bytes count as 1).
#[inline]
pub(crate) fn utf8_len(lead: u8) -> usize {
    match lead >> 4 {
        0xC | 0xD => 2,
        0xE => 3,
        0xF => 4,
        _ => 1,
    }
}

/// Tokenizes already-escaped text (spaces as `▁`), appending ids to `out`.
pub(crate) fn tokenize(vocab: &Vocab, text: &[u8], out: &mut Vec<u32>) {
    if text.is_empty() {
        return;
    }
    let mut syms: Vec<Symbol> = Vec::with_capacity(text.len());
    let mut off = 0;
    while off < text.len() {
        let len = utf8_len(text[off]).min(text.len() - off);
        let i = syms.len();
        syms.push(Symbol {
            start: off,
            len,
            prev: i.checked_sub(1),
            next: (off + len < text.len()).then_some(i + 1),
        });
        off += len;
    }

    let mut heap = BinaryHeap::with_capacity(syms.len());
    let try_add =
        |heap: &mut BinaryHeap<Bigram>, syms: &[Symbol], l: Option<usize>, r: Option<usize>| {
            let (Some(l), Some(r)) = (l, r) else { return };
            let (a, b) = (syms[l], syms[r]);
            let piece = &text[a.start..b.start + b.len];
            if let Some(id) = vocab.lookup(piece) {
                heap.push(Bigram {
                    score: vocab.scores[id as usize],
                    left: l,
                    right: r,
                    size: piece.len(),
                });
            }
        };
    for i in 1..syms.len() {
        try_add(&mut heap, &syms, Some(i - 1), Some(i));
    }

    while let Some(bg) = heap.pop() {
        let (l, r) = (syms[bg.left], syms[bg.right]);
        if l.len == 0 || r.len == 0 || l.len + r.len != bg.size {
            continue; // stale: one side changed since this pair was queued
        }
        syms[bg.left].len += r.len;
        syms[bg.right].len = 0;
        syms[bg.left].next = r.next;
        if let Some(nx) = r.next {
            syms[nx].prev = Some(bg.left);
        }
        let left = syms[bg.left];
        try_add(&mut heap, &syms, left.prev, Some(bg.left));
        try_add(&mut heap, &syms, Some(bg.left), left.next);
    }

    let mut cur = Some(0);
    while let Some(i) = cur {
        let s = syms[i];
        let piece = &text[s.start..s.start + s.len];
        match vocab.lookup(piece) {
            Some(id) => out.push(id),
            None => {
                for &b in piece {
                    if let Some(id) = byte_fallback(vocab, b) {
                        out.push(id);
                    }
                }
            }
        }
        cur = s.next;
    }
}

/// `<0xNN>`, else the raw one-byte piece, else the unknown token.
fn byte_fallback(vocab: &Vocab, b: u8) -> Option<u32> {
    vocab.byte_token[b as usize]
        .or_else(|| vocab.lookup(&[b]))
        .or(vocab.special.unk)
}
