//! Cutting special tokens out of raw text before the main tokenizer runs
//! (llama.cpp's `tokenizer_st_partition`): special tokens are taken longest
//! first, each splitting every remaining text fragment at all its
//! non-overlapping occurrences, left to right.
//!
//! A byte trie over all special pieces finds which of them occur in the text
//! at all, so only those are searched for (Gemma has thousands).

use crate::vocab::{attr, Vocab};

/// A piece of the input: raw text `text[start..end]` or a special token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fragment {
    Text { start: usize, end: usize },
    Token(u32),
}

#[derive(Debug, Default)]
struct Node {
    children: Vec<(u8, u32)>, // sorted by byte
    ends: Vec<u32>,           // special ids whose piece ends here
}

/// Trie over the pieces of all special tokens.
#[derive(Debug)]
pub(crate) struct SpecialMatcher {
    nodes: Vec<Node>,
    /// Position of each special id in the match order, for sorting hits.
    rank: Vec<u32>,
}

impl SpecialMatcher {
    pub fn build(vocab: &Vocab) -> SpecialMatcher {
        let mut nodes = vec![Node::default()];
        let mut rank = vec![u32::MAX; vocab.len()];
        for (r, &id) in vocab.special_order.iter().enumerate() {
            rank[id as usize] = r as u32;
            let mut cur = 0usize;
            for &b in vocab.tokens[id as usize].as_bytes() {
                cur = match nodes[cur].children.binary_search_by_key(&b, |c| c.0) {
                    Ok(i) => nodes[cur].children[i].1 as usize,
                    Err(i) => {
                        let new = nodes.len();
                        nodes.push(Node::default());
                        nodes[cur].children.insert(i, (b, new as u32));
                        new
                    }
                };
            }
            nodes[cur].ends.push(id);
        }
        SpecialMatcher { nodes, rank }
    }

    /// Special ids occurring anywhere in `text`, in match order.
    fn present(&self, text: &[u8]) -> Vec<u32> {
        let mut seen: Vec<u32> = Vec::new();
        for start in 0..text.len() {
            let mut cur = 0usize;
            for &b in &text[start..] {
                let node = &self.nodes[cur];
                match node.children.binary_search_by_key(&b, |c| c.0) {
                    Ok(i) => cur = node.children[i].1 as usize,
                    Err(_) => break,
                }
                seen.extend_from_slice(&self.nodes[cur].ends);
            }
        }
        seen.sort_unstable_by_key(|&id| self.rank[id as usize]);
        seen.dedup();
        seen
    }

    /// Splits `text` into fragments. Control and unknown tokens are only
    /// recognised when `parse_special`; user-defined ones always are.
    pub fn partition(&self, vocab: &Vocab, text: &str, parse_special: bool) -> Vec<Fragment> {
        let mut frags = vec![Fragment::Text {
            start: 0,
            end: text.len(),
        }];
        if text.is_empty() {
            return Vec::new();
        }
        if self.nodes[0].children.is_empty() {
            return frags;
        }
        for id in self.present(text.as_bytes()) {
            let a = vocab.attr(id);
            if !parse_special && a & (attr::CONTROL | attr::UNKNOWN) != 0 {
                continue;
            }
            let piece = vocab.tokens[id as usize].as_str();
            let mut next = Vec::with_capacity(frags.len() + 2);
            for f in frags {
                let Fragment::Text { start, end } = f else {
                    next.push(f);
                    continue;
                };
                split_fragment(text, start, end, piece, id, a, &mut next);
            }
            frags = next;
        }
        frags
    }
}

/// C `isspace` in the "C" locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r')
}

fn split_fragment(
    text: &str,
    mut start: usize,
    end: usize,
    piece: &str,
    id: u32,
    a: u16,
    out: &mut Vec<Fragment>,
) {
    let bytes = text.as_bytes();
    while start < end {
        let Some(rel) = text[start..end].find(piece) else {
            out.push(Fragment::Text { start, end });
            return;
        };
        let m = start + rel;
        let mut left_end = m;
        if a & attr::LSTRIP != 0 {
            while left_end > start && is_c_space(bytes[left_end - 1]) {
                left_end -= 1;
            }
        }
        if left_end > start {
            out.push(Fragment::Text {
                start,
                end: left_end,
            });
        }
        out.push(Fragment::Token(id));
        start = m + piece.len();
        if a & attr::RSTRIP != 0 {
            while start < end && is_c_space(bytes[start]) {
                start += 1;
            }
        }
    }
}
