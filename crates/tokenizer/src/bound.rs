//! A lower bound on the number of tokens a text becomes, computed without
//! tokenizing it, so that a prompt far past a context window can be refused
//! before any work proportional to its length.
//!
//! Every emitted token stands for a bounded stretch of the input, measured in
//! "units": bytes, except that where spaces become `▁` (SPM and
//! `escape_whitespaces` vocabularies) a space or a `▁` counts as one unit
//! both in the input and in pieces (a piece `▁▁▁` covers three spaces or
//! three literal `▁`, never more than three units). GPT-2 byte-encoded pieces
//! cover one byte per character. Some input is covered by no token and not
//! counted: whitespace beside LSTRIP / RSTRIP specials (when such specials
//! exist) and bytes the vocabulary's fallback may drop (no byte token, no
//! unknown token).

use crate::bpe::Bpe;
use crate::partition::is_c_space;
use crate::unicode;
use crate::vocab::{attr, Vocab};

const ESCAPED_SPACE: char = '▁';

#[derive(Debug, Clone)]
pub(crate) struct TokenBound {
    /// Most units one token can cover (at least 1).
    max_cover: usize,
    /// Spaces and `▁` count as one unit.
    escaped: bool,
    /// Whitespace next to strip specials is not counted.
    skip_space: bool,
    /// Bytes (of the text after space escaping) that may yield no token.
    dropped: [bool; 256],
}

impl TokenBound {
    pub fn build(vocab: &Vocab, bpe: Option<&Bpe>) -> TokenBound {
        let escaped = bpe.is_none_or(|b| b.pre.escape_whitespaces);
        let byte_encoded = bpe.is_some_and(|b| b.pre.byte_encode);
        let matched = attr::CONTROL | attr::USER_DEFINED | attr::UNKNOWN;
        let mut max_cover = 1;
        let mut skip_space = false;
        for (id, piece) in vocab.tokens.iter().enumerate() {
            let a = vocab.attr(id as u32);
            let cover = if a & matched != 0 {
                // Cut out of the raw text as written.
                skip_space |= a & (attr::LSTRIP | attr::RSTRIP) != 0;
                units(piece, escaped)
            } else if byte_encoded {
                piece.chars().count()
            } else {
                units(piece, escaped)
            };
            max_cover = max_cover.max(cover);
        }
        let mut dropped = [false; 256];
        for (b, d) in dropped.iter_mut().enumerate() {
            let byte_token = vocab.byte_token[b].is_some();
            *d = match bpe {
                None => {
                    !byte_token && vocab.lookup(&[b as u8]).is_none() && vocab.special.unk.is_none()
                }
                Some(bpe) if bpe.pre.byte_encode => {
                    // Bytes become table characters; a symbol that is no
                    // token (a missing character, a merge to no token) falls
                    // back to single-byte pieces of its encoding.
                    let ch = unicode::byte_to_char_table()[b];
                    let mut buf = [0u8; 4];
                    let known = vocab.lookup(ch.encode_utf8(&mut buf).as_bytes()).is_some();
                    !known || (!bpe.merges.all_known() && ch.len_utf8() > 1)
                }
                Some(_) => !byte_token,
            };
        }
        TokenBound {
            max_cover,
            escaped,
            skip_space,
            dropped,
        }
    }

    /// At most this many input units per token.
    pub fn max_cover(&self) -> usize {
        self.max_cover
    }

    /// A number of tokens `text` cannot be encoded in fewer of (without
    /// BOS / EOS), whatever `parse_special`.
    pub fn min_tokens(&self, text: &str) -> usize {
        let mut n = 0;
        let mut buf = [0u8; 4];
        let escaped_space = ESCAPED_SPACE.encode_utf8(&mut buf).as_bytes();
        let space_units = usize::from(!escaped_space.iter().any(|&b| self.dropped[b as usize]));
        for c in text.chars() {
            if c.is_ascii() && self.skip_space && is_c_space(c as u8) {
                continue;
            }
            if self.escaped && (c == ' ' || c == ESCAPED_SPACE) {
                n += space_units;
                continue;
            }
            let mut b = [0u8; 4];
            n += c
                .encode_utf8(&mut b)
                .bytes()
                .filter(|&x| !self.dropped[x as usize])
                .count();
        }
        n.div_ceil(self.max_cover)
    }
}

/// Length of `s` in units: bytes, with `▁` as one when `escaped`.
fn units(s: &str, escaped: bool) -> usize {
    if escaped {
        s.len() - 2 * s.matches(ESCAPED_SPACE).count()
    } else {
        s.len()
    }
}
