//! Hand-written word splitters for the most common BPE pre-tokenizer regexes,
//! with llama.cpp's exact behaviour (its own hand-written matchers define the
//! reference ids). Each takes the codepoints `cps[a..b]` and their category
//! flags and appends `(start, end)` word ranges to `out`.

use crate::unicode::{LETTER, MARK, NUMBER, WHITESPACE};

/// Flags of position `i` if inside `[a, b)`, else `None` (past the piece).
#[inline]
fn fl(flags: &[u8], a: usize, b: usize, i: usize) -> Option<u8> {
    (a <= i && i < b).then(|| flags[i])
}

#[inline]
fn has(f: Option<u8>, bits: u8) -> bool {
    f.is_some_and(|f| f & bits != 0)
}

/// `[^\s\p{L}\p{N}]` (plus extra excluded bits) for a position inside the piece.
#[inline]
fn is_other(f: Option<u8>, excluded: u8) -> bool {
    f.is_some_and(|f| f & (WHITESPACE | LETTER | NUMBER | excluded) == 0)
}

fn ascii_lower(cp: u32) -> u32 {
    if (b'A' as u32..=b'Z' as u32).contains(&cp) {
        cp + 32
    } else {
        cp
    }
}

/// Length of an English contraction (`'s 't 're 've 'm 'll 'd`) at `pos`, or 0.
fn contraction(cps: &[u32], b: usize, pos: usize, any_case: bool) -> usize {
    if cps[pos] != '\'' as u32 || pos + 1 >= b {
        return 0;
    }
    let norm = |c: u32| if any_case { ascii_lower(c) } else { c };
    let c1 = norm(cps[pos + 1]);
    if [b's', b't', b'm', b'd'].iter().any(|&x| c1 == x as u32) {
        return 2;
    }
    if pos + 2 < b {
        let c2 = norm(cps[pos + 2]);
        let pair = |x: u8, y: u8| c1 == x as u32 && c2 == y as u32;
        if pair(b'r', b'e') || pair(b'v', b'e') || pair(b'l', b'l') {
            return 3;
        }
    }
    0
}

/// Whitespace handling shared by both splitters: `\s+(?!\S)` then `\s+`.
/// Returns the end of the whitespace word starting at `pos`, or `None`.
fn whitespace_run(flags: &[u8], a: usize, b: usize, pos: usize) -> Option<usize> {
    let mut n = 0;
    while has(fl(flags, a, b, pos + n), WHITESPACE) {
        n += 1;
    }
    if n > 1 && pos + n < b {
        Some(pos + n - 1) // leave the last space to prefix the next word
    } else if n > 0 {
        Some(pos + n)
    } else {
        None
    }
}

/// GPT-2: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
pub(crate) fn gpt2(cps: &[u32], flags: &[u8], a: usize, b: usize, out: &mut Vec<(usize, usize)>) {
    let mut pos = a;
    while pos < b {
        let start = pos;
        let c = contraction(cps, b, pos, false);
        if c > 0 {
            out.push((start, pos + c));
            pos += c;
            continue;
        }
        let space = cps[pos] == ' ' as u32;
        let f2 = if space {
            fl(flags, a, b, pos + 1)
        } else {
            fl(flags, a, b, pos)
        };
        let run = |pos: &mut usize, pred: &dyn Fn(Option<u8>) -> bool| {
            *pos += usize::from(space);
            while pred(fl(flags, a, b, *pos)) {
                *pos += 1;
            }
        };
        if has(f2, LETTER) {
            run(&mut pos, &|f| has(f, LETTER));
        } else if has(f2, NUMBER) {
            run(&mut pos, &|f| has(f, NUMBER));
        } else if is_other(f2, 0) {
            run(&mut pos, &|f| is_other(f, 0));
        } else if let Some(end) = whitespace_run(flags, a, b, pos) {
            pos = end;
        } else {
            pos += 1;
        }
        out.push((start, pos));
    }
}

/// Llama-3 / Qwen2 / Qwen3.5 family (see `pretok::Expr::Llama3`).
pub(crate) fn llama3(
    cps: &[u32],
    flags: &[u8],
    a: usize,
    b: usize,
    max_digits: usize,
    marks: bool,
    out: &mut Vec<(usize, usize)>,
) {
    let word_bits = if marks { LETTER | MARK } else { LETTER };
    let is_nl = |cp: u32| cp == '\r' as u32 || cp == '\n' as u32;
    let mut pos = a;
    while pos < b {
        let cp = cps[pos];
        let f = fl(flags, a, b, pos);
        let c = contraction(cps, b, pos, true);
        if c > 0 {
            out.push((pos, pos + c));
            pos += c;
            continue;
        }
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if !(is_nl(cp) || has(f, NUMBER))
            && (has(f, word_bits) || has(fl(flags, a, b, pos + 1), word_bits))
        {
            let start = pos;
            pos += 1;
            while has(fl(flags, a, b, pos), word_bits) {
                pos += 1;
            }
            out.push((start, pos));
            continue;
        }
        // \p{N}{1,max_digits}
        if has(f, NUMBER) {
            let mut start = pos;
            while has(fl(flags, a, b, pos), NUMBER) {
                pos += 1;
                if pos - start >= max_digits {
                    out.push((start, pos));
                    start = pos;
                }
            }
            if pos > start {
                out.push((start, pos));
            }
            continue;
        }
        // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
        let excluded = if marks { MARK } else { 0 };
        let f2 = if cp == ' ' as u32 {
            fl(flags, a, b, pos + 1)
        } else {
            f
        };
        if is_other(f2, excluded) {
            let start = pos;
            pos += usize::from(cp == ' ' as u32);
            while is_other(fl(flags, a, b, pos), excluded) {
                pos += 1;
            }
            while pos < b && is_nl(cps[pos]) {
                pos += 1;
            }
            out.push((start, pos));
            continue;
        }
        // \s*[\r\n]+ : whitespace run up to its last newline
        let mut n = 0;
        let mut last_nl_end = None;
        while has(fl(flags, a, b, pos + n), WHITESPACE) {
            if is_nl(cps[pos + n]) {
                last_nl_end = Some(pos + n + 1);
            }
            n += 1;
        }
        let start = pos;
        pos = match last_nl_end {
            Some(end) => end,
            None => whitespace_run(flags, a, b, pos).unwrap_or(pos + 1),
        };
        out.push((start, pos));
    }
}

/// `[^\n]+|[\n]+`: runs of non-newlines and runs of newlines.
pub(crate) fn newlines(cps: &[u32], a: usize, b: usize, out: &mut Vec<(usize, usize)>) {
    let mut pos = a;
    while pos < b {
        let nl = cps[pos] == '\n' as u32;
        let start = pos;
        while pos < b && (cps[pos] == '\n' as u32) == nl {
            pos += 1;
        }
        out.push((start, pos));
    }
}
