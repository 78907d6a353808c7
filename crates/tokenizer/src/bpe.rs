//! Byte-level BPE (llama.cpp's `llm_tokenizer_bpe`): the pre-tokenizer cuts
//! text into words, each word is (optionally) GPT-2 byte-encoded, then the
//! adjacent pair with the lowest merge rank is merged until none applies.
//! O(n log n) per word.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

use crate::error::TokenizerError;
use crate::pretok::{PreTokenizer, Splitter};
use crate::spm::utf8_len;
use crate::unicode;
use crate::vocab::Vocab;

const NO_TOKEN: u32 = u32::MAX;

/// Multiplicative hash for the `(u32, u32)` merge keys (SipHash is needlessly
/// slow for 100k+ integer keys built at load).
#[derive(Default)]
struct PairHasher(u64);

impl Hasher for PairHasher {
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 32)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b.into());
        }
    }
    fn write_u32(&mut self, v: u32) {
        self.write_u64(v.into());
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(23) ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type PairMap = HashMap<(u32, u32), (u32, u32), BuildHasherDefault<PairHasher>>;

/// Merge table: (left id, right id) -> (rank, id of the merged piece or `NO_TOKEN`).
#[derive(Debug)]
pub(crate) struct Merges {
    table: PairMap,
    /// Every merge's result is a token of the vocabulary.
    all_known: bool,
}

impl Merges {
    pub fn build(vocab: &Vocab, merges: &[String]) -> Result<Merges, TokenizerError> {
        let mut table = PairMap::with_capacity_and_hasher(merges.len(), Default::default());
        let mut joined = Vec::new();
        let mut all_known = true;
        for (index, m) in merges.iter().enumerate() {
            // Split at the first space after the first byte (a piece may be " ").
            let pos = m.bytes().skip(1).position(|b| b == b' ').map(|p| p + 1);
            let Some(pos) = pos else {
                return Err(TokenizerError::MalformedMerge {
                    key: "merges",
                    index,
                    merge: m.clone(),
                });
            };
            let (l, r) = (&m[..pos], &m[pos + 1..]);
            let id = |piece: &str| {
                vocab
                    .lookup(piece.as_bytes())
                    .ok_or_else(|| TokenizerError::MergeUnknownToken {
                        key: "merges",
                        index,
                        merge: m.clone(),
                        piece: piece.to_owned(),
                    })
            };
            let (li, ri) = (id(l)?, id(r)?);
            joined.clear();
            joined.extend_from_slice(l.as_bytes());
            joined.extend_from_slice(r.as_bytes());
            let merged = vocab.lookup(&joined).unwrap_or(NO_TOKEN);
            all_known &= merged != NO_TOKEN;
            table.entry((li, ri)).or_insert((index as u32, merged));
        }
        Ok(Merges { table, all_known })
    }

    /// Whether every merge gives a token (else a word can fall back to its
    /// bytes, which may be no tokens).
    pub fn all_known(&self) -> bool {
        self.all_known
    }

    #[inline]
    fn get(&self, l: u32, r: u32) -> Option<(u32, u32)> {
        if l == NO_TOKEN || r == NO_TOKEN {
            return None;
        }
        self.table.get(&(l, r)).copied()
    }
}

#[derive(Clone, Copy, Debug)]
struct Symbol {
    start: usize,
    len: usize,
    id: u32, // token of this symbol's text, or NO_TOKEN
    prev: Option<usize>,
    next: Option<usize>,
}

#[derive(Debug, PartialEq, Eq)]
struct Bigram {
    rank: u32,
    left: usize,
    right: usize,
    size: usize,
    merged: u32,
}

impl PartialOrd for Bigram {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Bigram {
    /// Max-heap order: lowest rank first, then the leftmost pair.
    fn cmp(&self, o: &Self) -> Ordering {
        o.rank.cmp(&self.rank).then_with(|| o.left.cmp(&self.left))
    }
}

/// Everything BPE encoding needs besides the vocabulary.
#[derive(Debug)]
pub(crate) struct Bpe {
    pub pre: PreTokenizer,
    pub splitter: Splitter,
    pub merges: Merges,
}

impl Bpe {
    /// Tokenizes one raw-text fragment, appending ids to `out`.
    pub fn tokenize(&self, vocab: &Vocab, text: &str, out: &mut Vec<u32>) {
        let cps: Vec<u32> = if self.pre.escape_whitespaces {
            text.chars()
                .map(|c| if c == ' ' { '▁' as u32 } else { c as u32 })
                .collect()
        } else {
            text.chars().map(|c| c as u32).collect()
        };
        let mut word = String::new();
        let mut syms = Vec::new();
        let mut heap = BinaryHeap::new();
        for (a, b) in self.splitter.split(&cps) {
            word.clear();
            let table = unicode::byte_to_char_table();
            for &cp in &cps[a..b] {
                let ch = char::from_u32(cp).unwrap_or('\u{FFFD}');
                if self.pre.byte_encode {
                    let mut buf = [0u8; 4];
                    for &byte in ch.encode_utf8(&mut buf).as_bytes() {
                        word.push(table[byte as usize]);
                    }
                } else {
                    word.push(ch);
                }
            }
            self.tokenize_word(vocab, word.as_bytes(), &mut syms, &mut heap, out);
        }
    }

    fn tokenize_word(
        &self,
        vocab: &Vocab,
        w: &[u8],
        syms: &mut Vec<Symbol>,
        heap: &mut BinaryHeap<Bigram>,
        out: &mut Vec<u32>,
    ) {
        if w.is_empty() {
            return;
        }
        syms.clear();
        heap.clear();
        let whole = (self.pre.ignore_merges
            || (self.pre.newline_words_whole && w.iter().all(|&c| c == b'\n')))
        .then(|| vocab.lookup(w))
        .flatten();
        if let Some(id) = whole {
            out.push(id);
            return;
        }
        let mut off = 0;
        while off < w.len() {
            let len = utf8_len(w[off]).min(w.len() - off);
            let i = syms.len();
            syms.push(Symbol {
                start: off,
                len,
                id: vocab.lookup(&w[off..off + len]).unwrap_or(NO_TOKEN),
                prev: i.checked_sub(1),
                next: (off + len < w.len()).then_some(i + 1),
            });
            off += len;
        }
        let add =
            |heap: &mut BinaryHeap<Bigram>, syms: &[Symbol], l: Option<usize>, r: Option<usize>| {
                let (Some(l), Some(r)) = (l, r) else { return };
                if let Some((rank, merged)) = self.merges.get(syms[l].id, syms[r].id) {
                    heap.push(Bigram {
                        rank,
                        left: l,
                        right: r,
                        size: syms[l].len + syms[r].len,
                        merged,
                    });
                }
            };
        for i in 1..syms.len() {
            add(heap, syms, Some(i - 1), Some(i));
        }
        while let Some(bg) = heap.pop() {
            let (l, r) = (syms[bg.left], syms[bg.right]);
            if l.len == 0 || r.len == 0 || l.len + r.len != bg.size {
                continue; // stale
            }
            let s = &mut syms[bg.left];
            s.len += r.len;
            s.id = bg.merged;
            s.next = r.next;
            syms[bg.right].len = 0;
            if let Some(nx) = r.next {
                syms[nx].prev = Some(bg.left);
            }
            let left = syms[bg.left];
            add(heap, syms, left.prev, Some(bg.left));
            add(heap, syms, Some(bg.left), left.next);
        }
        let mut cur = Some(0);
        while let Some(i) = cur {
            let s = syms[i];
            if s.id != NO_TOKEN {
                out.push(s.id);
            } else {
                for &byte in &w[s.start..s.start + s.len] {
                    let id = if self.pre.byte_encode {
                        vocab.lookup(&[byte])
                    } else {
                        vocab.byte_token[byte as usize]
                    };
                    out.extend(id);
                }
            }
            cur = s.next;
        }
    }
}
