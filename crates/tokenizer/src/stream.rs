//! Incremental detokenization for streaming generation.

use std::borrow::Borrow;

use crate::Tokenizer;

/// Turns generated ids into text as they arrive, holding back the bytes of a
/// UTF-8 character split across tokens until it is complete.
///
/// Works with `&Tokenizer` or `Arc<Tokenizer>`. Unlike [`Tokenizer::decode`]
/// it never removes a leading space (generated text continues a prompt) and
/// does not apply BPE `clean_spaces` (as llama.cpp's own streaming).
#[derive(Debug)]
pub struct StreamDecoder<T: Borrow<Tokenizer>> {
    tok: T,
    special: bool,
    pending: Vec<u8>,
}

impl<T: Borrow<Tokenizer>> StreamDecoder<T> {
    /// `special`: render control tokens (as `decode(.., true)`).
    pub fn new(tok: T, special: bool) -> StreamDecoder<T> {
        StreamDecoder {
            tok,
            special,
            pending: Vec::new(),
        }
    }

    /// Adds one token; returns the text that is now complete (maybe empty).
    pub fn push(&mut self, id: u32) -> String {
        let piece = self.tok.borrow().token_to_piece(id, self.special);
        self.pending.extend_from_slice(&piece);
        self.take_complete()
    }

    /// Returns whatever is still held back (an incomplete character becomes U+FFFD).
    pub fn flush(&mut self) -> String {
        let s = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        s
    }

    /// Bytes held back waiting for the rest of a character.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    fn take_complete(&mut self) -> String {
        let mut out = String::new();
        let mut rest: &[u8] = &self.pending;
        loop {
            match std::str::from_utf8(rest) {
                Ok(s) => {
                    out.push_str(s);
                    rest = &[];
                    break;
                }
                Err(e) => {
                    let (ok, tail) = rest.split_at(e.valid_up_to());
                    out.push_str(std::str::from_utf8(ok).unwrap_or_default());
                    match e.error_len() {
                        // Invalid bytes: replace and go on.
                        Some(n) => {
                            out.push('\u{FFFD}');
                            rest = &tail[n..];
                        }
                        // Incomplete character at the end: keep it for later.
                        None => {
                            rest = tail;
                            break;
                        }
                    }
                }
            }
        }
        let keep = rest.len();
        let start = self.pending.len() - keep;
        self.pending.drain(..start);
        out
    }
}
