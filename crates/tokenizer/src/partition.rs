//! Cutting special tokens out of raw text before the main tokenizer runs,
//! with the result of llama.cpp's `tokenizer_st_partition`: special tokens are
//! taken longest first (equal lengths: lower id first), each splitting every
//! remaining text fragment at all its non-overlapping occurrences, left to
//! right (whitespace beside tokens with the LSTRIP / RSTRIP attribute is
//! dropped). This is not leftmost-longest matching: with specials `ab` and
//! `bcd`, `abcd` gives `a`, `bcd`.
//!
//! Specials are visited in groups of equal length, longest group first. One
//! Aho-Corasick automaton per group finds the group's occurrences inside each
//! still-free fragment; each fragment is split independently (a split never
//! reaches past its fragment). The candidates held at once are at most one
//! per byte of the fragment being split (equal-length pieces ending at the
//! same byte are the same piece), so memory is O(input + vocabulary) and time
//! O(input × number of distinct special lengths), never input × longest
//! special. `tests::matches_naive_partition` checks this against a direct
//! transcription of the fragment-splitting rule.

use std::collections::{BTreeMap, HashMap};

use aho_corasick::{AhoCorasick, Input, MatchKind};

use crate::error::TokenizerError;
use crate::vocab::{attr, Vocab};

/// A piece of the input: raw text `text[start..end]` or a special token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fragment {
    Text { start: usize, end: usize },
    Token(u32),
}

/// One special token in match order.
#[derive(Debug, Clone)]
struct Special {
    id: u32,
    attr: u16,
}

/// The specials of one piece length, with an automaton over their distinct
/// pieces. A piece held by several specials only ever matches as the first
/// of them in rank order (the later ones find no text left), so each pattern
/// keeps the rank that can match: `any` with `parse_special`, `plain`
/// (first rank that is neither control nor unknown) without.
#[derive(Debug)]
struct Group {
    len: usize,
    ac: AhoCorasick,
    any: Vec<u32>,
    plain: Vec<Option<u32>>,
}

/// Matcher over the pieces of all special tokens.
#[derive(Debug)]
pub(crate) struct SpecialMatcher {
    specials: Vec<Special>, // by rank
    groups: Vec<Group>,     // longest pieces first
}

/// C `isspace` in the "C" locale.
pub(crate) fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0B | 0x0C | b'\r')
}

/// Where occurrences of one group were accepted inside one fragment.
/// start -> (end, token); `None` marks whitespace dropped by a strip.
type Claims = BTreeMap<usize, (usize, Option<u32>)>;

impl SpecialMatcher {
    pub fn build(vocab: &Vocab) -> Result<SpecialMatcher, TokenizerError> {
        let list = vocab
            .special_order
            .iter()
            .map(|&id| (id, vocab.tokens[id as usize].as_str(), vocab.attr(id)));
        SpecialMatcher::from_list(list)
    }

    /// `list`: (id, piece, attributes), in match order (pieces longest first).
    fn from_list<'a>(
        list: impl Iterator<Item = (u32, &'a str, u16)>,
    ) -> Result<SpecialMatcher, TokenizerError> {
        let mut specials = Vec::new();
        let mut groups = Vec::new();
        // The group being gathered: its length and distinct pieces.
        let mut len = 0;
        let mut pieces: Vec<&'a str> = Vec::new();
        let mut any = Vec::new();
        let mut plain = Vec::new();
        let mut seen: HashMap<&'a str, usize> = HashMap::new();
        for (id, piece, a) in list {
            let rank = specials.len() as u32;
            specials.push(Special { id, attr: a });
            if piece.is_empty() {
                continue; // an empty piece never matches
            }
            if piece.len() != len {
                if !pieces.is_empty() {
                    groups.push(Group::new(len, &pieces, any, plain)?);
                }
                (len, any, plain) = (piece.len(), Vec::new(), Vec::new());
                pieces.clear();
                seen.clear();
            }
            let usable_plain = a & (attr::CONTROL | attr::UNKNOWN) == 0;
            match seen.get(piece) {
                Some(&p) => {
                    if plain[p].is_none() && usable_plain {
                        plain[p] = Some(rank);
                    }
                }
                None => {
                    seen.insert(piece, pieces.len());
                    pieces.push(piece);
                    any.push(rank);
                    plain.push(usable_plain.then_some(rank));
                }
            }
        }
        if !pieces.is_empty() {
            groups.push(Group::new(len, &pieces, any, plain)?);
        }
        Ok(SpecialMatcher { specials, groups })
    }

    /// Splits `text` into fragments (see the module docs).
    pub fn partition(&self, text: &str, parse_special: bool) -> Vec<Fragment> {
        self.partition_counted(text, parse_special, &mut 0)
    }

    /// [`SpecialMatcher::partition`], reporting in `held` the most candidate
    /// occurrences it kept in memory at once.
    fn partition_counted(
        &self,
        text: &str,
        parse_special: bool,
        held: &mut usize,
    ) -> Vec<Fragment> {
        let bytes = text.as_bytes();
        let mut frags = Vec::new();
        if !bytes.is_empty() {
            frags.push(Fragment::Text {
                start: 0,
                end: bytes.len(),
            });
        }
        let mut split = Vec::new();
        for g in &self.groups {
            // Built only once a fragment of this pass actually splits.
            let mut next: Option<Vec<Fragment>> = None;
            for (i, &f) in frags.iter().enumerate() {
                if let Fragment::Text { start, end } = f {
                    if end - start >= g.len
                        && self.split_fragment(
                            g,
                            bytes,
                            start,
                            end,
                            parse_special,
                            &mut split,
                            held,
                        )
                    {
                        let n = next.get_or_insert_with(|| frags[..i].to_vec());
                        n.append(&mut split);
                        continue;
                    }
                }
                if let Some(n) = &mut next {
                    n.push(f);
                }
            }
            if let Some(n) = next {
                frags = n;
            }
        }
        frags
    }

    /// Cuts the specials of group `g` out of the free fragment `bytes[a..b]`,
    /// rank by rank, appending the pieces to `out`. Returns false (and
    /// appends nothing) when none occurs.
    #[allow(clippy::too_many_arguments)]
    fn split_fragment(
        &self,
        g: &Group,
        bytes: &[u8],
        a: usize,
        b: usize,
        parse_special: bool,
        out: &mut Vec<Fragment>,
        held: &mut usize,
    ) -> bool {
        let occurrences = || {
            g.ac.find_overlapping_iter(Input::new(bytes).range(a..b))
                .filter_map(move |m| {
                    let p = m.pattern().as_usize();
                    let rank = if parse_special {
                        Some(g.any[p])
                    } else {
                        g.plain[p]
                    };
                    rank.map(|r| (r, m.start()))
                })
        };
        // First pass: how many, and of how many ranks.
        let (mut count, mut first, mut several) = (0usize, None, false);
        for (r, _) in occurrences() {
            count += 1;
            several |= first.is_some_and(|f| f != r);
            first.get_or_insert(r);
        }
        let Some(first) = first else { return false };
        if !several {
            // One rank: its occurrences arrive in order; stream them.
            self.split_one_rank(first, g.len, bytes, a, b, occurrences().map(|o| o.1), out);
            return true;
        }
        let mut occ: Vec<(u32, usize)> = Vec::with_capacity(count);
        occ.extend(occurrences());
        *held = (*held).max(occ.len());
        occ.sort_unstable();
        let mut claims = Claims::new();
        for (rank, pos) in occ {
            self.claim(rank, g.len, pos, bytes, a, b, &mut claims);
        }
        let mut at = a;
        for (s, (e, tok)) in claims {
            if s > at {
                out.push(Fragment::Text { start: at, end: s });
            }
            out.extend(tok.map(Fragment::Token));
            at = e;
        }
        if at < b {
            out.push(Fragment::Text { start: at, end: b });
        }
        true
    }

    /// llama.cpp's loop for one special in one fragment `bytes[a..b]`, given
    /// the piece's occurrences there in increasing order: take the first,
    /// continue after it.
    #[allow(clippy::too_many_arguments)]
    fn split_one_rank(
        &self,
        rank: u32,
        len: usize,
        bytes: &[u8],
        a: usize,
        b: usize,
        positions: impl Iterator<Item = usize>,
        out: &mut Vec<Fragment>,
    ) {
        let sp = &self.specials[rank as usize];
        let mut at = a;
        for pos in positions {
            if pos < at {
                continue; // overlaps the occurrence just taken (or its strip)
            }
            let mut le = pos;
            if sp.attr & attr::LSTRIP != 0 {
                while le > at && is_c_space(bytes[le - 1]) {
                    le -= 1;
                }
            }
            if le > at {
                out.push(Fragment::Text { start: at, end: le });
            }
            out.push(Fragment::Token(sp.id));
            at = pos + len;
            if sp.attr & attr::RSTRIP != 0 {
                while at < b && is_c_space(bytes[at]) {
                    at += 1;
                }
            }
        }
        if at < b {
            out.push(Fragment::Text { start: at, end: b });
        }
    }

    /// Accepts the occurrence of `rank` at `pos` inside fragment `[a, b)` if
    /// no earlier claim (lower rank, or same rank further left) covers any of
    /// it; occurrences must come in (rank, position) order.
    #[allow(clippy::too_many_arguments)]
    fn claim(
        &self,
        rank: u32,
        len: usize,
        pos: usize,
        bytes: &[u8],
        a: usize,
        b: usize,
        claims: &mut Claims,
    ) {
        let sp = &self.specials[rank as usize];
        let end = pos + len;
        // The free gap around `pos`: after the previous claim, before the next.
        let gap_start = match claims.range(..=pos).next_back() {
            Some((_, &(e, _))) if e > pos => return, // inside a claim
            Some((_, &(e, _))) => e,
            None => a,
        };
        let gap_end = match claims.range(pos..).next() {
            Some((&s, _)) if s < end => return, // would straddle a claim
            Some((&s, _)) => s,
            None => b,
        };
        if sp.attr & attr::LSTRIP != 0 {
            let mut ls = pos;
            while ls > gap_start && is_c_space(bytes[ls - 1]) {
                ls -= 1;
            }
            if ls < pos {
                claims.insert(ls, (pos, None));
            }
        }
        claims.insert(pos, (end, Some(sp.id)));
        if sp.attr & attr::RSTRIP != 0 {
            let mut re = end;
            while re < gap_end && is_c_space(bytes[re]) {
                re += 1;
            }
            if re > end {
                claims.insert(end, (re, None));
            }
        }
    }
}

impl Group {
    fn new(
        len: usize,
        pieces: &[&str],
        any: Vec<u32>,
        plain: Vec<Option<u32>>,
    ) -> Result<Group, TokenizerError> {
        let ac = AhoCorasick::builder()
            .match_kind(MatchKind::Standard)
            .build(pieces)
            .map_err(|e| TokenizerError::SpecialMatcher {
                len,
                count: pieces.len(),
                message: e.to_string(),
            })?;
        Ok(Group {
            len,
            ac,
            any,
            plain,
        })
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

    fn rng(mut seed: u64) -> impl FnMut(u64) -> u64 {
        move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        }
    }

    /// Random specials (`n_max` at most, pieces of 1..=`len_max` symbols from
    /// a tiny alphabet so they overlap a lot) against random texts.
    fn check_random(seed: u64, rounds: usize, n_max: u64, len_max: u64, text_max: u64) {
        let mut rnd = rng(seed);
        let alphabet = ["a", "b", " ", "\n", "<", ">", "é"];
        for _ in 0..rounds {
            // Longest first, as the vocabulary orders them (stable: by id).
            let specials: Vec<(u32, String, u16)> = (0..1 + rnd(n_max))
                .map(|i| {
                    let len = 1 + rnd(len_max);
                    let s: String = (0..len).map(|_| alphabet[rnd(7) as usize]).collect();
                    let kind = [attr::CONTROL, attr::USER_DEFINED, attr::UNKNOWN][rnd(3) as usize];
                    let strip = [0, attr::LSTRIP, attr::RSTRIP, attr::LSTRIP | attr::RSTRIP]
                        [rnd(4) as usize];
                    (i as u32, s, kind | strip)
                })
                .collect();
            let text: String = (0..rnd(text_max))
                .map(|_| alphabet[rnd(7) as usize])
                .collect();
            assert_matches_naive(specials, &text);
        }
    }

    /// `specials` (id, piece, attributes) in match order (longest first, stable), then
    /// the matcher's partition of `text` equals the naive one, with and without parsing.
    fn assert_matches_naive(mut specials: Vec<(u32, String, u16)>, text: &str) {
        specials.sort_by_key(|s| std::cmp::Reverse(s.1.len()));
        let list: Vec<(u32, &str, u16)> = specials
            .iter()
            .map(|(i, s, a)| (*i, s.as_str(), *a))
            .collect();
        let m = SpecialMatcher::from_list(list.iter().copied()).unwrap();
        for parse in [false, true] {
            assert_eq!(
                m.partition(text, parse),
                naive(&list, text, parse),
                "text {text:?} specials {list:?} parse {parse}"
            );
        }
    }

    #[test]
    fn matches_naive_partition() {
        check_random(0x1234_5678_9abc_def0, 3000, 5, 3, 24);
    }

    #[test]
    fn matches_naive_partition_many_specials() {
        // Many specials sharing lengths (several ranks per group, duplicate
        // pieces of different kinds) over longer texts.
        check_random(0x0dd_ba11_5eed, 400, 60, 6, 300);
    }

    #[test]
    fn matches_naive_partition_nested() {
        // "a", "aa", ... nested pieces, some doubled with another kind.
        let mut rnd = rng(0xfeed_f00d);
        for _ in 0..200 {
            let n = 1 + rnd(40) as usize;
            let specials: Vec<(u32, String, u16)> = (0..n)
                .map(|i| {
                    let kind = [attr::CONTROL, attr::USER_DEFINED][rnd(2) as usize];
                    let strip = [0, attr::LSTRIP, attr::RSTRIP][rnd(3) as usize];
                    let ch = ["a", " "][rnd(2) as usize];
                    (i as u32, ch.repeat(1 + rnd(12) as usize), kind | strip)
                })
                .collect();
            let text: String = (0..rnd(200))
                .map(|_| ["a", "a", " ", "b"][rnd(4) as usize])
                .collect();
            assert_matches_naive(specials, &text);
        }
    }

    #[test]
    fn longest_first_is_not_leftmost_longest() {
        let list = [
            (1, "bcd", attr::USER_DEFINED),
            (0, "ab", attr::USER_DEFINED),
        ];
        let m = SpecialMatcher::from_list(list.into_iter()).unwrap();
        assert_eq!(
            m.partition("abcd", false),
            [Fragment::Text { start: 0, end: 1 }, Fragment::Token(1)]
        );
        // Equal lengths: the lower rank splits first, even to the right.
        let list = [(0, "ab", attr::USER_DEFINED), (1, "ba", attr::USER_DEFINED)];
        let m = SpecialMatcher::from_list(list.into_iter()).unwrap();
        assert_eq!(
            m.partition("bab", false),
            [Fragment::Text { start: 0, end: 1 }, Fragment::Token(0)]
        );
    }

    #[test]
    fn candidates_held_stay_within_the_input() {
        // 200 nested pieces over 20 000 bytes: every byte starts ~200
        // occurrences, but at most one candidate per byte is ever held.
        let pieces: Vec<String> = (1..=200).rev().map(|n| "a".repeat(n)).collect();
        let other: Vec<String> = (1..=200).rev().map(|n| "b".repeat(n)).collect();
        let list: Vec<(u32, &str, u16)> = pieces
            .iter()
            .zip(&other)
            .enumerate()
            .flat_map(|(i, (p, q))| {
                [
                    (2 * i as u32, p.as_str(), attr::USER_DEFINED),
                    (2 * i as u32 + 1, q.as_str(), attr::USER_DEFINED),
                ]
            })
            .collect();
        let m = SpecialMatcher::from_list(list.iter().copied()).unwrap();
        let text: String = (0..20_000)
            .map(|i| if i % 240 < 120 { 'a' } else { 'b' })
            .collect();
        let mut held = 0;
        let frags = m.partition_counted(&text, false, &mut held);
        assert!(held > 0 && held <= text.len(), "held {held}");
        let (mut frags_naive, mut got) = (naive(&list, &text, false), frags);
        frags_naive.truncate(50);
        got.truncate(50);
        assert_eq!(got, frags_naive);
    }
}
