//! Unicode facts the pre-tokenizers need: per-codepoint category flags
//! (letter, number, mark, punctuation, symbol, whitespace) and GPT-2's
//! byte <-> printable-codepoint mapping.
//!
//! Category ranges come from `regex-syntax`'s Unicode tables, merged once into
//! one sorted range list; ASCII has a direct table.

use std::sync::OnceLock;

use regex_syntax::hir::{Class, HirKind};

pub const LETTER: u8 = 1 << 0;
pub const NUMBER: u8 = 1 << 1;
pub const MARK: u8 = 1 << 2;
pub const PUNCT: u8 = 1 << 3;
pub const SYMBOL: u8 = 1 << 4;
pub const WHITESPACE: u8 = 1 << 5;

/// Disjoint sorted ranges `(first, last, flags)`; codepoints in no range have flags 0.
struct FlagTable {
    ascii: [u8; 128],
    ranges: Vec<(u32, u32, u8)>,
}

fn class_ranges(pattern: &str) -> Vec<(u32, u32)> {
    let hir = regex_syntax::ParserBuilder::new()
        .build()
        .parse(pattern)
        .expect("static Unicode class pattern parses");
    match hir.kind() {
        HirKind::Class(Class::Unicode(c)) => c
            .ranges()
            .iter()
            .map(|r| (r.start() as u32, r.end() as u32))
            .collect(),
        _ => Vec::new(),
    }
}

fn build_table() -> FlagTable {
    let classes = [
        (r"\p{L}", LETTER),
        (r"\p{N}", NUMBER),
        (r"\p{M}", MARK),
        (r"\p{P}", PUNCT),
        (r"\p{S}", SYMBOL),
        (r"\p{White_Space}", WHITESPACE),
    ];
    // Boundary sweep: every range start and end+1 is a point where flags may change.
    let mut points: Vec<(u32, u8, bool)> = Vec::new(); // (cp, flag, is_start)
    for (pat, flag) in classes {
        for (a, b) in class_ranges(pat) {
            points.push((a, flag, true));
            points.push((b + 1, flag, false));
        }
    }
    points.sort_unstable_by_key(|p| p.0);
    let mut ranges: Vec<(u32, u32, u8)> = Vec::new();
    let mut counts = [0u32; 8];
    let mut i = 0;
    let mut cur_start = 0u32;
    let mut cur_flags = 0u8;
    while i < points.len() {
        let cp = points[i].0;
        if cp > cur_start && cur_flags != 0 {
            ranges.push((cur_start, cp - 1, cur_flags));
        }
        while i < points.len() && points[i].0 == cp {
            let bit = points[i].1.trailing_zeros() as usize;
            if points[i].2 {
                counts[bit] += 1;
            } else {
                counts[bit] -= 1;
            }
            i += 1;
        }
        cur_start = cp;
        cur_flags = counts
            .iter()
            .enumerate()
            .filter(|(_, &c)| c > 0)
            .fold(0, |f, (b, _)| f | (1u8 << b));
    }
    let mut ascii = [0u8; 128];
    for (cp, slot) in ascii.iter_mut().enumerate() {
        *slot = lookup(&ranges, cp as u32);
    }
    FlagTable { ascii, ranges }
}

fn lookup(ranges: &[(u32, u32, u8)], cp: u32) -> u8 {
    let i = ranges.partition_point(|r| r.1 < cp);
    match ranges.get(i) {
        Some(&(a, b, f)) if a <= cp && cp <= b => f,
        _ => 0,
    }
}

fn table() -> &'static FlagTable {
    static TABLE: OnceLock<FlagTable> = OnceLock::new();
    TABLE.get_or_init(build_table)
}

/// Category flags of one codepoint (`LETTER | NUMBER | ...`).
#[inline]
pub fn flags(cp: u32) -> u8 {
    let t = table();
    if cp < 128 {
        t.ascii[cp as usize]
    } else {
        lookup(&t.ranges, cp)
    }
}

/// The codepoint GPT-2's byte-level BPE uses for a raw byte: printable
/// Latin-1 bytes map to themselves, the other 68 to U+0100.. in byte order.
pub const fn byte_to_cp(b: u8) -> u32 {
    const fn printable(b: u8) -> bool {
        matches!(b, 0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF)
    }
    if printable(b) {
        return b as u32;
    }
    // Rank of b among the non-printable bytes.
    let mut n = 0u32;
    let mut x = 0u8;
    while x < b {
        if !printable(x) {
            n += 1;
        }
        x += 1;
    }
    256 + n
}

/// The byte -> char table for GPT-2 byte-level encoding.
pub fn byte_to_char_table() -> &'static [char; 256] {
    static T: OnceLock<[char; 256]> = OnceLock::new();
    T.get_or_init(|| {
        let mut t = ['\0'; 256];
        for (b, slot) in t.iter_mut().enumerate() {
            *slot = char::from_u32(byte_to_cp(b as u8)).unwrap_or('\u{FFFD}');
        }
        t
    })
}

/// Inverse of [`byte_to_cp`]; `None` for codepoints no byte maps to.
pub fn cp_to_byte(cp: u32) -> Option<u8> {
    static HIGH: OnceLock<[u8; 68]> = OnceLock::new();
    match cp {
        0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF => Some(cp as u8),
        256..=323 => {
            let t = HIGH.get_or_init(|| {
                let mut t = [0u8; 68];
                for b in 0..=255u8 {
                    let c = byte_to_cp(b);
                    if c >= 256 {
                        t[(c - 256) as usize] = b;
                    }
                }
                t
            });
            Some(t[(cp - 256) as usize])
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_flags() {
        assert_eq!(flags('a' as u32), LETTER);
        assert_eq!(flags('Z' as u32), LETTER);
        assert_eq!(flags('7' as u32), NUMBER);
        assert_eq!(flags(' ' as u32), WHITESPACE);
        assert_eq!(flags('\n' as u32), WHITESPACE);
        assert_eq!(flags('!' as u32), PUNCT);
        assert_eq!(flags('$' as u32), SYMBOL);
        assert_eq!(flags('_' as u32), PUNCT);
        assert_eq!(flags(0x7F), 0);
    }

    #[test]
    fn non_ascii_flags() {
        assert_eq!(flags('é' as u32), LETTER);
        assert_eq!(flags('我' as u32), LETTER);
        assert_eq!(flags('٣' as u32), NUMBER);
        assert_eq!(flags(0x0301), MARK); // combining acute
        assert_eq!(flags(0x3000), WHITESPACE); // ideographic space (Zs)
        assert_eq!(flags(0x00A0), WHITESPACE);
        assert_eq!(flags('€' as u32), SYMBOL);
        assert_eq!(flags('🦙' as u32), SYMBOL);
        assert_eq!(flags('，' as u32), PUNCT);
        assert_eq!(flags(0x10FFFF), 0);
    }

    #[test]
    fn byte_mapping_roundtrip() {
        assert_eq!(byte_to_cp(b'!'), '!' as u32);
        assert_eq!(byte_to_cp(b' '), 0x120); // 'Ġ'
        assert_eq!(byte_to_cp(b'\n'), 0x10A); // 'Ċ'
        assert_eq!(byte_to_cp(0), 0x100);
        let mut seen = std::collections::HashSet::new();
        for b in 0..=255u8 {
            let cp = byte_to_cp(b);
            assert!(seen.insert(cp));
            assert_eq!(cp_to_byte(cp), Some(b));
        }
        assert_eq!(cp_to_byte('a' as u32 + 1000), None);
    }
}
