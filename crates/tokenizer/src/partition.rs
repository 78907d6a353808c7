//! Cutting special tokens out of raw text before the main tokenizer runs,
//! with the result of llama.cpp's `tokenizer_st_partition`: special tokens are
//! taken longest first, each splitting every remaining text fragment at all
//! its non-overlapping occurrences, left to right (whitespace beside tokens
//! with the LSTRIP / RSTRIP attribute is dropped).
//!
//! Instead of re-scanning every fragment once per special token (quadratic
//! when a text holds thousands of distinct specials), a byte trie finds every
//! occurrence of every special in one pass; occurrences are then accepted in
//! llama.cpp's order (token rank, then position) if they fall inside a part
//! of the text no earlier token claimed. `tests::matches_naive_partition`
//! checks this against a direct transcription of the fragment-splitting rule.

use std::collections::BTreeMap;

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
    ends: Vec<u32>,           // ranks of specials whose piece ends here
}

/// One special token in match order.
#[derive(Debug, Clone)]
struct Special {
    id: u32,
    len: usize,
    attr: u16,
}

/// Trie over the pieces of all special tokens.
#[derive(Debug)]
pub(crate) struct SpecialMatcher {
    nodes: Vec<Node>,
    specials: Vec<Special>, // by rank
}

/// C `isspace` in the "C" locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r')
}

impl SpecialMatcher {
    pub fn build(vocab: &Vocab) -> SpecialMatcher {
        let list = vocab
            .special_order
            .iter()
            .map(|&id| (id, vocab.tokens[id as usize].as_str(), vocab.attr(id)));
        SpecialMatcher::from_list(list)
    }

    /// `list`: (id, piece, attributes), in match order.
    fn from_list<'a>(list: impl Iterator<Item = (u32, &'a str, u16)>) -> SpecialMatcher {
        let mut nodes = vec![Node::default()];
        let mut specials = Vec::new();
        for (id, piece, a) in list {
            let rank = specials.len() as u32;
            specials.push(Special {
                id,
                len: piece.len(),
                attr: a,
            });
            let mut cur = 0usize;
            for &b in piece.as_bytes() {
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
            nodes[cur].ends.push(rank);
        }
        SpecialMatcher { nodes, specials }
    }

    /// Every (rank, position) where a special's piece occurs in `text`.
    fn occurrences(&self, text: &[u8], parse_special: bool) -> Vec<(u32, usize)> {
        let mut occ = Vec::new();
        for start in 0..text.len() {
            let mut cur = 0usize;
            for &b in &text[start..] {
                let node = &self.nodes[cur];
                match node.children.binary_search_by_key(&b, |c| c.0) {
                    Ok(i) => cur = node.children[i].1 as usize,
                    Err(_) => break,
                }
                for &rank in &self.nodes[cur].ends {
                    let a = self.specials[rank as usize].attr;
                    // Control and unknown tokens only with parse_special;
                    // user-defined ones always.
                    if parse_special || a & (attr::CONTROL | attr::UNKNOWN) == 0 {
                        occ.push((rank, start));
                    }
                }
            }
        }
        occ.sort_unstable();
        occ
    }

    /// Splits `text` into fragments (see the module docs).
    pub fn partition(&self, text: &str, parse_special: bool) -> Vec<Fragment> {
        if text.is_empty() {
            return Vec::new();
        }
        let bytes = text.as_bytes();
        // start -> (end, token); `None` marks whitespace dropped by a strip.
        let mut claimed: BTreeMap<usize, (usize, Option<u32>)> = BTreeMap::new();
        for (rank, pos) in self.occurrences(bytes, parse_special) {
            let sp = &self.specials[rank as usize];
            let end = pos + sp.len;
            // The free gap around `pos`: after the previous claim, before the next.
            let gap_start = match claimed.range(..=pos).next_back() {
                Some((_, &(e, _))) if e > pos => continue, // inside a claim
                Some((_, &(e, _))) => e,
                None => 0,
            };
            let gap_end = match claimed.range(pos..).next() {
                Some((&s, _)) if s < end => continue, // would straddle a claim
                Some((&s, _)) => s,
                None => bytes.len(),
            };
            if sp.attr & attr::LSTRIP != 0 {
                let mut ls = pos;
                while ls > gap_start && is_c_space(bytes[ls - 1]) {
                    ls -= 1;
                }
                if ls < pos {
                    claimed.insert(ls, (pos, None));
                }
            }
            claimed.insert(pos, (end, Some(sp.id)));
            if sp.attr & attr::RSTRIP != 0 {
                let mut re = end;
                while re < gap_end && is_c_space(bytes[re]) {
                    re += 1;
                }
                if re > end {
                    claimed.insert(end, (re, None));
                }
            }
        }
        let mut out = Vec::with_capacity(claimed.len() * 2 + 1);
        let mut at = 0;
        for (s, (e, tok)) in claimed {
            if s > at {
                out.push(Fragment::Text { start: at, end: s });
            }
            out.extend(tok.map(Fragment::Token));
            at = e;
        }
        if at < bytes.len() {
            out.push(Fragment::Text {
                start: at,
                end: bytes.len(),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// llama.cpp's rule, transcribed directly: for each special in order,
    /// split every text fragment at its occurrences, left to right.
    fn naive(specials: &[(u32, &str, u16)], text: &str, parse_special: bool) -> Vec<Fragment> {
        let mut frags = vec![Fragment::Text {
            start: 0,
            end: text.len(),
        }];
        for &(id, piece, a) in specials {
            if !parse_special && a & (attr::CONTROL | attr::UNKNOWN) != 0 {
                continue;
            }
            let mut next = Vec::new();
            for f in frags {
                let Fragment::Text { mut start, end } = f else {
                    next.push(f);
                    continue;
                };
                while start < end {
                    let Some(rel) = text[start..end].find(piece) else {
                        next.push(Fragment::Text { start, end });
                        break;
                    };
                    let m = start + rel;
                    let mut le = m;
                    if a & attr::LSTRIP != 0 {
                        while le > start && is_c_space(text.as_bytes()[le - 1]) {
                            le -= 1;
                        }
                    }
                    if le > start {
                        next.push(Fragment::Text { start, end: le });
                    }
                    next.push(Fragment::Token(id));
                    start = m + piece.len();
                    if a & attr::RSTRIP != 0 {
                        while start < end && is_c_space(text.as_bytes()[start]) {
                            start += 1;
                        }
                    }
                }
            }
            frags = next;
        }
        frags.retain(|f| !matches!(f, Fragment::Text { start, end } if start == end));
        frags
    }

    #[test]
    fn matches_naive_partition() {
        let mut seed = 0x1234_5678_9abc_def0u64;
        let mut rnd = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let alphabet = ["a", "b", " ", "\n", "<", ">", "é"];
        for _ in 0..3000 {
            // Random specials over a tiny alphabet (so they overlap a lot),
            // longest first as the vocabulary orders them.
            let mut specials: Vec<(u32, String, u16)> = (0..1 + rnd(5))
                .map(|i| {
                    let len = 1 + rnd(3);
                    let s: String = (0..len).map(|_| alphabet[rnd(7) as usize]).collect();
                    let kind = [attr::CONTROL, attr::USER_DEFINED, attr::UNKNOWN][rnd(3) as usize];
                    let strip = [0, attr::LSTRIP, attr::RSTRIP, attr::LSTRIP | attr::RSTRIP]
                        [rnd(4) as usize];
                    (i as u32, s, kind | strip)
                })
                .collect();
            specials.sort_by_key(|s| std::cmp::Reverse(s.1.len()));
            let text: String = (0..rnd(24)).map(|_| alphabet[rnd(7) as usize]).collect();
            let list: Vec<(u32, &str, u16)> = specials
                .iter()
                .map(|(i, s, a)| (*i, s.as_str(), *a))
                .collect();
            let m = SpecialMatcher::from_list(list.iter().copied());
            for parse in [false, true] {
                assert_eq!(
                    m.partition(&text, parse),
                    naive(&list, &text, parse),
                    "text {text:?} specials {list:?} parse {parse}"
                );
            }
        }
    }
}
