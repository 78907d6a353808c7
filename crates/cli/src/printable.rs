//! Text from a model file or an error message, made safe to print on a terminal.
//!
//! Metadata strings, tensor names, token pieces and the error messages that quote
//! them come from files anyone can write: printed raw, an escape sequence in them
//! would drive the user's terminal (move the cursor, rewrite the title, hide text).

use std::borrow::Cow;

/// `s` with every control character (C0, DEL and C1) written as a Rust escape
/// (`\n`, `\t`, `\u{1b}`, `\u{9b}`); other characters are kept as they are.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Serialised JSON with DEL and the C1 controls, which JSON allows raw in strings,
/// written as `\u00XX` escapes (JSON already escapes C0).
pub fn json_printable(json: &str) -> Cow<'_, str> {
    let raw = |c: char| ('\u{7f}'..='\u{9f}').contains(&c);
    if !json.chars().any(raw) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 8);
    for c in json.chars() {
        if raw(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert!(matches!(printable("plain é 中"), Cow::Borrowed(_)));
        assert_eq!(
            printable("a\u{1b}[2Jb\nc\u{7f}\u{9b}"),
            "a\\u{1b}[2Jb\\nc\\u{7f}\\u{9b}"
        );
    }

    #[test]
    fn json_keeps_its_meaning() {
        let j = serde_json::to_string(&"x\u{1b}\u{9b}y").unwrap();
        let safe = json_printable(&j);
        assert!(!safe.chars().any(char::is_control), "{safe}");
        let back: String = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, "x\u{1b}\u{9b}y");
    }
}
