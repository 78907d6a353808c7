//! SentencePiece-style BPE (llama.cpp's `llm_tokenizer_spm`): start from one
//! symbol per UTF-8 character, repeatedly merge the adjacent pair whose
//! concatenation is a token with the highest score (ties: leftmost), then emit
//! each final symbol as its token or, failing that, as `<0xNN>` byte tokens.
//!
//! Symbols live in two arrays indexed by byte position: the length of the
//! symbol starting there (0: not a symbol start) and the distance back to the
//! previous symbol's start. A symbol is a single character or a vocabulary
//! piece, so both fit a byte for most vocabularies (2 bytes per input byte).
//! The queue is [`PairQueue`]: O(n log n) in the text length.

use crate::spm_queue::PairQueue;
use crate::vocab::Vocab;

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
    // Symbols are at most 4 bytes (a character) or a piece long.
    if vocab.max_piece_len <= u8::MAX as usize {
        merge::<u8>(vocab, text, out)
    } else {
        merge::<u32>(vocab, text, out)
    }
}

/// A symbol length or distance: u8 when every piece fits, else u32.
trait Cell: Copy + Default {
    fn get(self) -> u32;
    fn set(v: u32) -> Self;
}
impl Cell for u8 {
    #[inline]
    fn get(self) -> u32 {
        self.into()
    }
    #[inline]
    fn set(v: u32) -> u8 {
        v as u8 // v <= max piece length <= 255 here
    }
}
impl Cell for u32 {
    #[inline]
    fn get(self) -> u32 {
        self
    }
    #[inline]
    fn set(v: u32) -> u32 {
        v
    }
}

/// `text.len() < u32::MAX`.
fn merge<C: Cell>(vocab: &Vocab, text: &[u8], out: &mut Vec<u32>) {
    let n = text.len();
    let char_len = |p: usize| utf8_len(text[p]).min(n - p) as u32;
    // len[p]: length of the symbol starting at p (0: none); back[p]: p minus
    // the start of the previous symbol (0: none).
    let mut len: Vec<C> = vec![C::default(); n];
    let mut back: Vec<C> = vec![C::default(); n];
    let rank = |piece: &[u8]| {
        vocab
            .lookup(piece)
            .map(|id| vocab.score_ranks.by_token[id as usize])
    };

    let queue = {
        let mut rank_at = vec![u32::MAX; n];
        let (mut p, mut prev) = (0, 0);
        while p < n {
            let l = char_len(p);
            len[p] = C::set(l);
            back[p] = C::set(prev);
            let q = p + l as usize;
            if q < n {
                let r = char_len(q) as usize;
                if let Some(k) = rank(&text[p..q + r]) {
                    rank_at[p] = k;
                }
            }
            prev = l;
            p = q;
        }
        PairQueue::new(vocab.score_ranks.count, &rank_at)
    };
    let mut queue = queue;

    let try_add = |queue: &mut PairQueue, len: &[C], a: usize, b: usize| {
        let end = b + len[b].get() as usize;
        if let Some(k) = rank(&text[a..end]) {
            queue.push(k, a as u32, (end - a) as u32);
        }
    };
    while let Some((left, size)) = queue.pop() {
        let l = left as usize;
        let ll = len[l].get();
        let r = l + ll as usize;
        if ll == 0 || r >= n {
            continue; // stale: merged away, or grown to the end
        }
        let rl = len[r].get();
        let size = if size == 0 {
            char_len(l) + char_len(l + char_len(l) as usize)
        } else {
            size
        };
        if ll + rl != size {
            continue; // stale: one side grew since this pair was queued
        }
        len[l] = C::set(size);
        len[r] = C::default();
        let next = r + rl as usize;
        if next < n {
            back[next] = C::set(size);
        }
        let b = back[l].get() as usize;
        if b != 0 {
            try_add(&mut queue, &len, l - b, l);
        }
        if next < n {
            try_add(&mut queue, &len, l, next);
        }
    }
    drop(queue);
    drop(back);

    let mut p = 0;
    while p < n {
        let l = len[p].get() as usize;
        let piece = &text[p..p + l];
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
        p += l;
    }
}

/// `<0xNN>`, else the raw one-byte piece, else the unknown token.
fn byte_fallback(vocab: &Vocab, b: u8) -> Option<u32> {
    vocab.byte_token[b as usize]
        .or_else(|| vocab.lookup(&[b]))
        .or(vocab.special.unk)
}
