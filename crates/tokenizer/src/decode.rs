//! Ids back to text: llama.cpp's `token_to_piece` and `detokenize`
//! (leading-space removal for SPM, optional clean-up of spaces before
//! punctuation for BPE vocabularies).

use std::borrow::Cow;

use crate::config::VocabKind;
use crate::unicode;
use crate::vocab::{attr, Vocab};

/// One static byte per value, so byte tokens can be returned borrowed.
static BYTES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = i as u8;
        i += 1;
    }
    t
};

fn hex_byte(piece: &str) -> u8 {
    // `<0xNN>`: llama.cpp reads the two hex digits at 3..5 (strtol: 0 on junk).
    piece
        .get(3..5)
        .and_then(|h| u8::from_str_radix(h, 16).ok())
        .unwrap_or(0)
}

fn unescape_spaces(s: &str) -> Cow<'_, [u8]> {
    if s.contains('▁') {
        Cow::Owned(s.replace('▁', " ").into_bytes())
    } else {
        Cow::Borrowed(s.as_bytes())
    }
}

/// GPT-2 byte-level decoding of a piece.
fn byte_decode(s: &str) -> Cow<'_, [u8]> {
    if s.bytes().all(|b| (0x21..=0x7E).contains(&b)) {
        return Cow::Borrowed(s.as_bytes());
    }
    let mut out = Vec::with_capacity(s.len());
    for ch in s.chars() {
        match unicode::cp_to_byte(ch as u32) {
            Some(b) => out.push(b),
            None => {
                // llama.cpp's marker for a character no byte maps to.
                out.extend_from_slice(b"[UNK_BYTE_0x");
                let mut buf = [0u8; 4];
                for b in ch.encode_utf8(&mut buf).bytes() {
                    out.extend_from_slice(format!("{b:02x}").as_bytes());
                }
                out.extend_from_slice(s.as_bytes());
                out.push(b']');
            }
        }
    }
    Cow::Owned(out)
}

/// Bytes of one token. Control and unknown tokens are empty unless `special`.
pub(crate) fn piece<'a>(
    v: &'a Vocab,
    escape_ws_bpe: bool,
    id: u32,
    special: bool,
) -> Cow<'a, [u8]> {
    let Some(text) = v.tokens.get(id as usize) else {
        return Cow::Borrowed(&[]);
    };
    let a = v.attr(id);
    if !special && a & (attr::UNKNOWN | attr::CONTROL) != 0 {
        return Cow::Borrowed(&[]);
    }
    if a & (attr::UNKNOWN | attr::CONTROL | attr::USER_DEFINED) != 0 {
        return Cow::Borrowed(text.as_bytes());
    }
    if a & attr::NORMAL != 0 {
        return match v.kind {
            VocabKind::Spm => unescape_spaces(text),
            VocabKind::Bpe if escape_ws_bpe => unescape_spaces(text),
            VocabKind::Bpe => byte_decode(text),
        };
    }
    if a & attr::BYTE != 0 {
        let b = hex_byte(text) as usize;
        return Cow::Borrowed(&BYTES[b..b + 1]);
    }
    Cow::Borrowed(&[])
}

/// llama.cpp's `clean_spaces` passes over detokenized bytes, in place:
/// drop the space in " ?", " !", " .", " ,"; " ' " -> "'"; and the space
/// before "'s", "'m", "'re", "'ve".
pub(crate) fn clean_spaces(t: &mut Vec<u8>) {
    // Pass 1: space before ? ! . ,
    let n = t.len();
    let mut w = usize::from(n > 0);
    for i in 1..n {
        let x = t[i];
        if t[i - 1] == b' ' && matches!(x, b'?' | b'!' | b'.' | b',') {
            w -= 1;
        }
        t[w] = x;
        w += 1;
    }
    t.truncate(w);

    // Pass 2: a lone apostrophe between spaces loses both spaces.
    let n = t.len();
    let mut w = usize::from(n > 0);
    let mut i = 1;
    while i < n {
        let x = t[i];
        if x == b'\'' && i + 1 < n && t[i - 1] == b' ' && t[i + 1] == b' ' {
            w -= 1;
            i += 1;
            t[i] = 0; // the skipped space; later look-behinds see this NUL
        }
        t[w] = x;
        w += 1;
        i += 1;
    }
    t.truncate(w);

    // Pass 3: contractions.
    let n = t.len();
    let mut w = usize::from(n > 0);
    for i in 1..n {
        let x = t[i];
        if t[i - 1] == b' ' && x == b'\'' && i + 1 < n {
            let x1 = t[i + 1];
            if x1 == b's' || x1 == b'm' {
                w -= 1;
            } else if x1 != b't' && x1 != b'd' && i + 2 < n {
                let x2 = t[i + 2];
                if matches!(x1, b'r' | b'v') && x2 == b'e' {
                    w -= 1;
                }
            }
        }
        t[w] = x;
        w += 1;
    }
    t.truncate(w);
}

#[cfg(test)]
mod tests {
    use super::clean_spaces;

    fn clean(s: &str) -> String {
        let mut v = s.as_bytes().to_vec();
        clean_spaces(&mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn clean_spaces_rules() {
        assert_eq!(clean("Hello , world !"), "Hello, world!");
        assert_eq!(clean("a ' b"), "a'b");
        assert_eq!(clean("it 's I 'm we 're you 've"), "it's I'm we're you've");
        assert_eq!(clean("don 't I 'd we 'll"), "don 't I 'd we 'll");
        assert_eq!(clean(""), "");
        assert_eq!(clean(" ."), ".");
    }
}
