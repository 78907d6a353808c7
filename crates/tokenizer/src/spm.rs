//! SentencePiece-style BPE (llama.cpp's `llm_tokenizer_spm`): start from one
//! symbol per UTF-8 character, repeatedly merge the adjacent pair whose
//! concatenation is a token with the highest score (ties: leftmost), then emit
//! each final symbol as its token or, failing that, as `<0xNN>` byte tokens.
//!
//! Symbols live in an array indexed by byte position: the length of the
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
    if vocab.max_piece_len < u8::MERGED as usize {
        merge::<u8>(vocab, text, out)
    } else {
        merge::<u32>(vocab, text, out)
    }
}

/// A symbol length (with the [`Cell::MERGED`] flag) or distance: u8 when
/// every piece fits in 7 bits, else u32.
trait Cell: Copy + Default {
    /// Set in the length of a symbol made by merging.
    const MERGED: u32;
    fn get(self) -> u32;
    fn set(v: u32) -> Self;
}
impl Cell for u8 {
    const MERGED: u32 = 0x80;
    #[inline]
    fn get(self) -> u32 {
        self.into()
    }
    #[inline]
    fn set(v: u32) -> u8 {
        v as u8 // lengths < 0x80 here
    }
}
impl Cell for u32 {
    const MERGED: u32 = 1 << 31;
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
    // syms[p] = [length, back] of the symbol starting at byte p: its length
    // (0: no symbol starts here), with MERGED once it is more than one
    // character; p minus the start of the previous symbol (0: none). One
    // array, so that a pair's state is one cache line.
    let mut syms: Vec<[C; 2]> = vec![[C::default(); 2]; n];
    let len = |w: C| w.get() & !C::MERGED;
    let rank = |piece: &[u8]| {
        vocab
            .lookup(piece)
            .map(|id| vocab.score_ranks.by_token[id as usize])
    };

    let mut queue = {
        // The rank of each character's pair with the next one (u32::MAX: not
        // a token), by character: a transient as large as the queue.
        let mut ranks_of = Vec::with_capacity(n);
        let (mut p, mut prev) = (0, 0);
        while p < n {
            let l = char_len(p);
            syms[p] = [C::set(l), C::set(prev)];
            let q = p + l as usize;
            let mut k = u32::MAX;
            if q < n {
                let r = char_len(q) as usize;
                k = rank(&text[p..q + r]).unwrap_or(u32::MAX);
            }
            ranks_of.push(k);
            prev = l;
            p = q;
        }
        let starts = std::iter::successors(Some(0u32), |&p| {
            Some(p + len(syms[p as usize][0])).filter(|&q| (q as usize) < n)
        });
        PairQueue::new(vocab.score_ranks.count, &ranks_of, starts)
    };

    let try_add = |queue: &mut PairQueue, syms: &[[C; 2]], a: usize, b: usize| {
        let end = b + len(syms[b][0]) as usize;
        if let Some(k) = rank(&text[a..end]) {
            queue.push(k, a as u32, (end - a) as u32);
        }
    };
    // (left length, right length) of the pair at `l` if it is still as it
    // was queued: of `size` bytes (lengths only grow), or for an initial
    // pair (`size` 0) two single characters.
    let pair = |syms: &[[C; 2]], l: usize, size: u32| {
        let lw = syms[l][0].get();
        let ll = lw & !C::MERGED;
        let r = l + ll as usize;
        if ll == 0 || r >= n {
            return None; // merged away, or grown to the end
        }
        let rw = syms[r][0].get();
        let rl = rw & !C::MERGED;
        let same = if size == 0 {
            (lw | rw) & C::MERGED == 0
        } else {
            ll + rl == size
        };
        same.then_some((ll, rl))
    };
    while let Some((left, size)) = queue.pop(|l, size| pair(&syms, l as usize, size).is_some()) {
        let l = left as usize;
        let Some((ll, rl)) = pair(&syms, l, size) else {
            continue; // stale: one side changed since this pair was queued
        };
        let r = l + ll as usize;
        let size = ll + rl;
        syms[l][0] = C::set(size | C::MERGED);
        syms[r][0] = C::default();
        let next = r + rl as usize;
        if next < n {
            syms[next][1] = C::set(size);
        }
        let b = syms[l][1].get() as usize;
        if b != 0 {
            try_add(&mut queue, &syms, l - b, l);
        }
        if next < n {
            try_add(&mut queue, &syms, l, next);
        }
    }
    drop(queue);

    let mut p = 0;
    while p < n {
        let l = len(syms[p][0]) as usize;
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
