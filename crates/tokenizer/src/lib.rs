//! Tokenizers built from a GGUF vocabulary, token for token equal to llama.cpp:
//! SentencePiece-style BPE (`tokenizer.ggml.model = "llama"`, e.g. Llama 2,
//! Gemma, Phi-3) and GPT-2 byte-level BPE (`"gpt2"`, e.g. Llama 3, Qwen2) with
//! llama.cpp's pre-tokenizers.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let file = gguf::GgufFile::open("model.gguf")?;
//! let tok = tokenizer::Tokenizer::from_gguf(file.metadata())?;
//! let ids = tok.encode("Hello world", true, false);
//! assert_eq!(tok.decode(&ids, false), "Hello world");
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod bound;
mod bpe;
mod config;
mod decode;
mod error;
mod partition;
mod pretok;
mod split;
mod spm;
mod stream;
mod unicode;
mod vocab;

use std::borrow::Cow;

pub use config::{SpecialTokens, TokenType, TokenizerConfig, VocabKind};
pub use error::TokenizerError;
pub use stream::StreamDecoder;

use bound::TokenBound;
use bpe::{Bpe, Merges};
use partition::{Fragment, SpecialMatcher};
use pretok::{PreTokenizer, Splitter};
use vocab::Vocab;

/// A ready-to-use tokenizer. Cheap to share (`&Tokenizer` / `Arc`); all
/// methods take `&self` and never panic on any input.
#[derive(Debug)]
pub struct Tokenizer {
    vocab: Vocab,
    matcher: SpecialMatcher,
    bound: TokenBound,
    /// Present for BPE vocabularies.
    bpe: Option<Bpe>,
    add_bos: bool,
    add_eos: bool,
    add_space_prefix: bool,
    clean_spaces: bool,
    escape_ws_bpe: bool,
}

impl Tokenizer {
    /// Builds the tokenizer of a GGUF file from its metadata.
    pub fn from_gguf(md: &gguf::Metadata) -> Result<Tokenizer, TokenizerError> {
        Tokenizer::from_config(TokenizerConfig::from_gguf(md)?)
    }

    /// Builds a tokenizer from an explicit configuration (validated here).
    pub fn from_config(mut c: TokenizerConfig) -> Result<Tokenizer, TokenizerError> {
        let pre = PreTokenizer::resolve(c.kind, &c.pre).ok_or_else(|| {
            TokenizerError::UnsupportedPreTokenizer {
                key: "pre",
                pre: c.pre.clone(),
            }
        })?;
        let vocab = Vocab::build(&mut c)?;
        let bpe = match c.kind {
            VocabKind::Spm => None,
            VocabKind::Bpe => Some(Bpe {
                splitter: Splitter::new(pre.exprs)?,
                merges: Merges::build(&vocab, &c.merges)?,
                pre: pre.clone(),
            }),
        };
        if c.add_bos && vocab.special.bos.is_none() {
            return Err(TokenizerError::MissingSpecialToken { what: "BOS" });
        }
        if c.add_eos && vocab.special.eos.is_none() {
            return Err(TokenizerError::MissingSpecialToken { what: "EOS" });
        }
        let matcher = SpecialMatcher::build(&vocab)?;
        let bound = TokenBound::build(&vocab, bpe.as_ref());
        Ok(Tokenizer {
            matcher,
            bound,
            bpe,
            add_bos: c.add_bos,
            add_eos: c.add_eos,
            add_space_prefix: c.add_space_prefix,
            clean_spaces: pre.clean_spaces,
            escape_ws_bpe: pre.escape_whitespaces,
            vocab,
        })
    }

    /// Text to ids, as `llama_tokenize(text, add_special, parse_special)`:
    /// `add_special` adds BOS/EOS where the vocabulary asks for them;
    /// `parse_special` lets control tokens written in the text (`<bos>`,
    /// `<start_of_turn>`) become their ids instead of plain text.
    pub fn encode(&self, text: &str, add_special: bool, parse_special: bool) -> Vec<u32> {
        let mut out = Vec::with_capacity(text.len() / 3 + 2);
        if add_special && self.add_bos {
            out.extend(self.vocab.special.bos);
        }
        let frags = self.matcher.partition(text, parse_special);
        match &self.bpe {
            None => {
                let mut prev_special = true;
                let mut buf = String::new();
                for f in frags {
                    match f {
                        Fragment::Token(id) => {
                            out.push(id);
                            prev_special = true;
                        }
                        Fragment::Text { start, end } => {
                            buf.clear();
                            if self.add_space_prefix && prev_special {
                                buf.push('▁');
                            }
                            for ch in text[start..end].chars() {
                                buf.push(if ch == ' ' { '▁' } else { ch });
                            }
                            spm::tokenize(&self.vocab, buf.as_bytes(), &mut out);
                            prev_special = false;
                        }
                    }
                }
            }
            Some(bpe) => {
                for f in frags {
                    match f {
                        Fragment::Token(id) => out.push(id),
                        Fragment::Text { start, end } => {
                            bpe.tokenize(&self.vocab, &text[start..end], &mut out)
                        }
                    }
                }
            }
        }
        if add_special && self.add_eos {
            out.extend(self.vocab.special.eos);
        }
        out
    }

    /// A lower bound on `encode(text, false, parse_special).len()` for any
    /// `parse_special`, from the text's length alone (O(length), no
    /// allocation): checks a prompt against a context window before
    /// tokenizing it.
    pub fn min_tokens(&self, text: &str) -> usize {
        self.bound.min_tokens(text)
    }

    /// The most input bytes one token can stand for (where spaces become `▁`,
    /// a `▁` counts as one byte).
    pub fn max_token_bytes(&self) -> usize {
        self.bound.max_cover()
    }

    /// The bytes of one token, as `llama_token_to_piece(id, lstrip = 0, special)`.
    /// May be part of a UTF-8 character (byte tokens). Control tokens are
    /// empty unless `special`; unknown ids are empty.
    pub fn token_to_piece(&self, id: u32, special: bool) -> Cow<'_, [u8]> {
        decode::piece(&self.vocab, self.escape_ws_bpe, id, special)
    }

    /// Ids to text, as `llama_detokenize(ids, remove_special = false,
    /// unparse_special = special)`: for SPM the space the encoder put in
    /// front of the first word is removed; BPE vocabularies with llama.cpp's
    /// `clean_spaces` also drop spaces before `?!.,` and some contractions.
    /// Invalid UTF-8 becomes U+FFFD.
    pub fn decode(&self, ids: &[u32], special: bool) -> String {
        let bytes = self.decode_bytes(ids, special);
        match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }
    }

    /// [`Tokenizer::decode`] before UTF-8 conversion.
    pub fn decode_bytes(&self, ids: &[u32], special: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(ids.len() * 4);
        let mut remove_space = self.add_space_prefix;
        for &id in ids {
            let p = self.token_to_piece(id, special);
            let p: &[u8] = &p;
            let p = if remove_space && p.first() == Some(&b' ') {
                &p[1..]
            } else {
                p
            };
            out.extend_from_slice(p);
            remove_space = false;
        }
        if self.clean_spaces {
            decode::clean_spaces(&mut out);
        }
        out
    }

    /// Number of tokens in the vocabulary.
    pub fn vocab_size(&self) -> usize {
        self.vocab.len()
    }

    pub fn bos(&self) -> Option<u32> {
        self.vocab.special.bos
    }

    pub fn eos(&self) -> Option<u32> {
        self.vocab.special.eos
    }

    /// Special ids after llama.cpp's detection rules (EOT, FIM ... by text).
    pub fn special_tokens(&self) -> &SpecialTokens {
        &self.vocab.special
    }

    /// Whether generation should stop at this token (EOS, EOT,
    /// `<end_of_turn>`, `<|eot_id|>`, `<|im_end|>`, ... as llama.cpp decides).
    pub fn is_eog(&self, id: u32) -> bool {
        self.vocab.is_eog(id)
    }

    /// All end-of-generation ids, sorted.
    pub fn eog_ids(&self) -> &[u32] {
        &self.vocab.eog
    }

    /// Whether `encode(.., add_special = true, ..)` prepends BOS.
    pub fn add_bos(&self) -> bool {
        self.add_bos
    }

    /// Whether `encode(.., add_special = true, ..)` appends EOS.
    pub fn add_eos(&self) -> bool {
        self.add_eos
    }

    /// Id of an exact piece as stored in the vocabulary (`"<start_of_turn>"`, `"▁the"`).
    pub fn token_id(&self, piece: &str) -> Option<u32> {
        self.vocab.lookup(piece.as_bytes())
    }

    /// The stored piece of a token, unprocessed.
    pub fn token_text(&self, id: u32) -> Option<&str> {
        self.vocab.tokens.get(id as usize).map(String::as_str)
    }

    /// Control tokens (and unknown ones) are hidden by `decode(.., false)`.
    pub fn is_control(&self, id: u32) -> bool {
        (id as usize) < self.vocab.len()
            && self.vocab.attr(id) & (vocab::attr::CONTROL | vocab::attr::UNKNOWN) != 0
    }
}
