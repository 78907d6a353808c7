//! SentencePiece-style BPE (llama.cpp's `llm_tokenizer_spm`): start from one
//! symbol per UTF-8 character, repeatedly merge the adjacent pair whose
//! concatenation is a token with the highest score (ties: leftmost), then emit
//! each final symbol as its token or, failing that, as `<0xNN>` byte tokens.
//! O(n log n) in the text length; 16 bytes per character for the symbols
//! and 16 per queued pair.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::vocab::Vocab;

/// "No neighbour" in [`Symbol::prev`] / [`Symbol::next`].
const NONE: u32 = u32::MAX;

/// Positions are u32 (16 bytes a symbol, 16 a queued pair: the queue and the
/// symbols dominate the memory of a long text); longer texts are cut into
/// pieces below 4 GiB first.
#[derive(Clone, Copy, Debug)]
struct Symbol {
    start: u32,
    len: u32, // 0 = merged into its left neighbour
    prev: u32,
    next: u32,
}

#[derive(Debug)]
struct Bigram {
    score: f32,
    left: u32,
    right: u32,
    size: u32,
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
pub(crate) fn tokenize(vocab: &Vocab, mut text: &[u8], out: &mut Vec<u32>) {
    const MAX: usize = u32::MAX as usize - 4;
    while text.len() > MAX {
        // Past 4 GiB (never from a prompt): cut at a character start.
        let mut cut = MAX;
        while cut > 0 && text[cut] & 0xC0 == 0x80 {
            cut -= 1;
        }
        tokenize_part(vocab, &text[..cut], out);
        text = &text[cut..];
    }
    tokenize_part(vocab, text, out);
}

fn tokenize_part(vocab: &Vocab, text: &[u8], out: &mut Vec<u32>) {
    if text.is_empty() {
        return;
    }
    let mut syms: Vec<Symbol> = Vec::with_capacity(text.len());
    let mut off = 0;
    while off < text.len() {
        let len = utf8_len(text[off]).min(text.len() - off);
        let i = syms.len() as u32;
        syms.push(Symbol {
            start: off as u32,
            len: len as u32,
            prev: if i == 0 { NONE } else { i - 1 },
            next: if off + len < text.len() { i + 1 } else { NONE },
        });
        off += len;
    }

    let mut heap = BinaryHeap::with_capacity(syms.len());
    let try_add = |heap: &mut BinaryHeap<Bigram>, syms: &[Symbol], l: u32, r: u32| {
        if l == NONE || r == NONE {
            return;
        }
        let (a, b) = (syms[l as usize], syms[r as usize]);
        let piece = &text[a.start as usize..(b.start + b.len) as usize];
        if let Some(id) = vocab.lookup(piece) {
            heap.push(Bigram {
                score: vocab.scores[id as usize],
                left: l,
                right: r,
                size: piece.len() as u32,
            });
        }
    };
    for i in 1..syms.len() as u32 {
        try_add(&mut heap, &syms, i - 1, i);
    }

    while let Some(bg) = heap.pop() {
        let (l, r) = (syms[bg.left as usize], syms[bg.right as usize]);
        if l.len == 0 || r.len == 0 || l.len + r.len != bg.size {
            continue; // stale: one side changed since this pair was queued
        }
        syms[bg.left as usize].len += r.len;
        syms[bg.right as usize].len = 0;
        syms[bg.left as usize].next = r.next;
        if r.next != NONE {
            syms[r.next as usize].prev = bg.left;
        }
        let left = syms[bg.left as usize];
        try_add(&mut heap, &syms, left.prev, bg.left);
        try_add(&mut heap, &syms, bg.left, left.next);
    }
    drop(heap);

    let mut cur = 0;
    while cur != NONE {
        let s = syms[cur as usize];
        let piece = &text[s.start as usize..(s.start + s.len) as usize];
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
