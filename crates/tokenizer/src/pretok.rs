//! BPE pre-tokenizers: which splitting rules and flags each
//! `tokenizer.ggml.pre` value selects (as llama.cpp does), and the splitter
//! that cuts text into words before merges run.
//!
//! The common patterns (GPT-2, Llama-3, Qwen2/3.5, newline runs) have
//! hand-written splitters; the rest run through `fancy-regex` on a
//! "collapsed" text in which every non-ASCII codepoint stands for its Unicode
//! category, which is how llama.cpp evaluates `\p{..}` classes.

use fancy_regex::Regex;

use crate::config::VocabKind;
use crate::error::TokenizerError;
use crate::split;
use crate::unicode::{self, LETTER, MARK, NUMBER, PUNCT, SYMBOL, WHITESPACE};

/// One splitting step: every current piece is cut further by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Expr {
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`
    Gpt2,
    /// Llama-3 family: contractions (any case), `[^\r\n\p{L}\p{N}]?\p{L}+`,
    /// `\p{N}{1,max_digits}`, ` ?[^\s\p{L}\p{N}]+[\r\n]*`, `\s*[\r\n]+`,
    /// `\s+(?!\S)`, `\s+`. `marks`: letters runs also take `\p{M}` (Qwen3.5).
    Llama3 { max_digits: usize, marks: bool },
    /// `[^\n]+|[\n]+`
    Newlines,
    /// Any other pattern, evaluated by regex.
    Regex(&'static str),
}

const GPT2_DEFAULT: [Expr; 4] = [
    Expr::Regex(r"[\p{P}\$\+<=>\^~\|]+"),
    Expr::Gpt2,
    Expr::Regex(r"\p{N}+"),
    Expr::Regex(r"[0-9][0-9][0-9]"),
];
const LLAMA3: [Expr; 1] = [Expr::Llama3 {
    max_digits: 3,
    marks: false,
}];
const QWEN2: [Expr; 1] = [Expr::Llama3 {
    max_digits: 1,
    marks: false,
}];
const QWEN35: [Expr; 1] = [Expr::Llama3 {
    max_digits: 1,
    marks: true,
}];
const GPT2: [Expr; 1] = [Expr::Gpt2];
const STARCODER: [Expr; 2] = [Expr::Regex(r"\p{N}"), Expr::Gpt2];
const FALCON: [Expr; 3] = [
    Expr::Regex(r"[\p{P}\$\+<=>\^~\|`]+"),
    Expr::Gpt2,
    Expr::Regex(r"[0-9][0-9][0-9]"),
];
const DEEPSEEK_LLM: [Expr; 6] = [
    Expr::Regex(r"[\r\n]"),
    Expr::Regex(
        r"\s?[A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}\x{1C4}-\x{293}\x{295}-\x{2AF}\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}\x{386}\x{388}-\x{38A}\x{38C}\x{38E}-\x{3A1}\x{3A3}-\x{3F5}\x{3F7}-\x{481}\x{48A}-\x{52F}\x{531}-\x{556}\x{10A0}-\x{10C5}\x{13A0}-\x{13F5}\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA}\x{1CBD}-\x{1CBF}\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D}\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B}\x{1F5D}\x{1F5F}-\x{1F7D}\x{1F80}-\x{1FB4}\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4}\x{1FC6}-\x{1FCC}\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC}\x{1FF2}-\x{1FF4}\x{1FF6}-\x{1FFC}\x{2102}\x{2107}\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124}\x{2126}\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F}\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184}\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4}\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B}\x{A722}-\x{A76F}\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06}\x{FB13}-\x{FB17}\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F}\x{104B0}-\x{104D3}\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2}\x{10CC0}-\x{10CF2}\x{118A0}-\x{118DF}\x{1E900}-\x{1E943}]+",
    ),
    Expr::Regex(
        r"\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+",
    ),
    Expr::Regex(r"\s+$"),
    Expr::Regex(r"[\x{4E00}-\x{9FA5}\x{800}-\x{4E00}\x{AC00}-\x{D7FF}]+"),
    Expr::Regex(r"\p{N}+"),
];
const DEEPSEEK_CODER: [Expr; 5] = [
    Expr::Regex(r"[\r\n]"),
    Expr::Regex(r"\s?\p{L}+"),
    Expr::Regex(r"\s?\p{P}+"),
    Expr::Regex(r"[\x{4E00}-\x{9FA5}\x{800}-\x{4E00}\x{AC00}-\x{D7FF}]+"),
    Expr::Regex(r"\p{N}"),
];
const DEEPSEEK3: [Expr; 3] = [
    Expr::Regex(r"\p{N}{1,3}"),
    Expr::Regex(r"[\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+"),
    Expr::Regex(
        r##"[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"##,
    ),
];
const PORO: [Expr; 1] = [Expr::Regex(
    r" ?[^(\s|.,!?\x{2026}\x{3002}\x{FF0C}\x{3001}\x{964}\x{6D4}\x{60C})]+",
)];
const VIKING: [Expr; 2] = [
    Expr::Regex(r" ?[^(\s|.,!?\x{2026}\x{3002}\x{FF0C}\x{3001}\x{964}\x{6D4}\x{60C})]+"),
    Expr::Regex(r"\p{N}"),
];
const TEKKEN: [Expr; 1] = [Expr::Regex(
    r"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+",
)];
const GPT4O: [Expr; 1] = [Expr::Regex(
    r"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+",
)];
const SEED_CODER: [Expr; 1] = [Expr::Regex(
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+",
)];
const UFAKZEKA: [Expr; 1] = [Expr::Regex(
    r"[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
)];
const BAILINGMOE: [Expr; 1] = [Expr::Regex(
    r"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+",
)];
const MINICPM5: [Expr; 2] = [
    Expr::Regex(r"\p{N}{1,3}"),
    Expr::Regex(
        r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
    ),
];
const NEWLINES: [Expr; 1] = [Expr::Newlines];

/// What a `tokenizer.ggml.pre` value selects.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PreTokenizer {
    pub exprs: &'static [Expr],
    /// A word that is itself a token is emitted whole, without merges.
    pub ignore_merges: bool,
    /// Detokenize removes spaces before `?!.,` and some contractions.
    pub clean_spaces: bool,
    /// `add_bos` when the file does not say.
    pub add_bos_default: bool,
    /// `add_bos` whatever the file says (Gemma 4).
    pub force_add_bos: bool,
    /// The model type's default BOS id is dropped (ChatGLM).
    pub no_bos: bool,
    /// Spaces become `▁` before merges; pieces are raw UTF-8 (SPM-style BPE).
    pub escape_whitespaces: bool,
    /// Words are GPT-2 byte-encoded before merges.
    pub byte_encode: bool,
    /// Gemma 4: a word of only newlines that is a token is emitted whole.
    pub newline_words_whole: bool,
}

impl PreTokenizer {
    fn base(exprs: &'static [Expr]) -> PreTokenizer {
        PreTokenizer {
            exprs,
            ignore_merges: false,
            clean_spaces: true,
            add_bos_default: false,
            force_add_bos: false,
            no_bos: false,
            escape_whitespaces: false,
            byte_encode: true,
            newline_words_whole: false,
        }
    }

    /// The pre-tokenizer for a vocabulary kind and `tokenizer.ggml.pre` value;
    /// `None` if llama.cpp knows no such value or it needs a splitter we lack.
    pub fn resolve(kind: VocabKind, pre: &str) -> Option<PreTokenizer> {
        if kind == VocabKind::Spm {
            let mut p = PreTokenizer::base(&[]);
            p.clean_spaces = false;
            p.add_bos_default = true;
            return Some(p);
        }
        let keep = |mut p: PreTokenizer| {
            p.clean_spaces = false;
            p
        };
        let b = PreTokenizer::base;
        Some(match pre {
            "" | "default" => b(&GPT2_DEFAULT),
            "llama3" | "llama-v3" | "llama-bpe" | "falcon3" | "falcon-h1" | "pixtral"
            | "midm-2.0" | "lfm2" | "jina-v5-nano" => {
                let mut p = b(&LLAMA3);
                p.ignore_merges = true;
                p.add_bos_default = true;
                p
            }
            "dbrx" | "smaug-bpe" => b(&LLAMA3),
            "chatglm-bpe" => PreTokenizer {
                no_bos: true,
                ..b(&LLAMA3)
            },
            "glm4" | "glm5" => PreTokenizer {
                no_bos: true,
                ignore_merges: true,
                ..b(&LLAMA3)
            },
            "deepseek-llm" => keep(b(&DEEPSEEK_LLM)),
            "deepseek-coder" => keep(b(&DEEPSEEK_CODER)),
            "deepseek-v3" | "hunyuan-dense" | "hy_v4" | "joyai-llm" => keep(b(&DEEPSEEK3)),
            "falcon" => b(&FALCON),
            "mpt" | "gpt-2" | "phi-2" | "jina-es" | "jina-de" | "gigachat" | "jina-v2-es"
            | "jina-v2-de" | "a.x-4.0" | "mellum" | "modern-bert" | "exaone4" | "jina-v1-en"
            | "jina-v2-code" | "roberta-bpe" | "olmo" | "jais" => b(&GPT2),
            "trillion" | "granite-docling" => keep(b(&GPT2)),
            "starcoder" | "refact" | "codeshell" | "exaone" | "minerva-7b" | "mellum2" => {
                b(&STARCODER)
            }
            "command-r" | "smollm" => keep(b(&STARCODER)),
            "qwen2" | "deepseek-r1-qwen" | "kormo" | "f2llmv2" | "hunyuan" | "solar-open"
            | "grok-2" => keep(b(&QWEN2)),
            "megrez" | "stablelm2" => b(&QWEN2),
            "qwen35" => keep(b(&QWEN35)),
            "poro-chat" => keep(b(&PORO)),
            "bloom" | "gpt3-finnish" => b(&PORO),
            "viking" => keep(b(&VIKING)),
            "tekken" => PreTokenizer {
                ignore_merges: true,
                add_bos_default: true,
                ..keep(b(&TEKKEN))
            },
            "gpt-4o" | "llama4" | "kanana2" | "talkie" | "minimax-m2" => keep(b(&GPT4O)),
            "seed-coder" => keep(b(&SEED_CODER)),
            "ufakzeka" => keep(b(&UFAKZEKA)),
            "bailingmoe" | "bailingmoe2" | "llada-moe" => keep(b(&BAILINGMOE)),
            "minicpm5" => PreTokenizer {
                ignore_merges: true,
                ..b(&MINICPM5)
            },
            "gemma4" | "granite-embed-multi-311m" => PreTokenizer {
                escape_whitespaces: true,
                byte_encode: false,
                force_add_bos: true,
                newline_words_whole: true,
                ..b(&NEWLINES)
            },
            "sarvam-moe" => PreTokenizer {
                escape_whitespaces: true,
                byte_encode: false,
                ..keep(b(&NEWLINES))
            },
            _ => return None,
        })
    }
}

/// A compiled splitting step.
#[derive(Debug)]
enum Step {
    Gpt2,
    Llama3 {
        max_digits: usize,
        marks: bool,
    },
    Newlines,
    /// `collapsed`: the regex uses `\p{..}` and runs on the collapsed text.
    Regex {
        re: Regex,
        collapsed: bool,
    },
}

/// Cuts text into words; built once per tokenizer.
#[derive(Debug)]
pub(crate) struct Splitter {
    steps: Vec<Step>,
}

/// Stand-ins for non-ASCII codepoints in the collapsed text, by category.
const COLLAPSED_OTHER: char = '\u{F8D0}';
const COLLAPSED_NUMBER: char = '\u{F8D1}';
const COLLAPSED_LETTER: char = '\u{F8D2}';
const COLLAPSED_PUNCT: char = '\u{F8D3}';
const COLLAPSED_MARK: char = '\u{F8D4}';
const COLLAPSED_SYMBOL: char = '\u{F8D5}';

fn collapse_cp(cp: u32) -> char {
    if cp < 128 {
        return char::from_u32(cp).unwrap_or(COLLAPSED_OTHER);
    }
    let f = unicode::flags(cp);
    if f & WHITESPACE != 0 {
        '\u{0B}'
    } else if f & NUMBER != 0 {
        COLLAPSED_NUMBER
    } else if f & LETTER != 0 {
        COLLAPSED_LETTER
    } else if f & PUNCT != 0 {
        COLLAPSED_PUNCT
    } else if f & MARK != 0 {
        COLLAPSED_MARK
    } else if f & SYMBOL != 0 {
        COLLAPSED_SYMBOL
    } else {
        COLLAPSED_OTHER
    }
}

/// Class body (no brackets) for a `\p{..}` name in collapsed mode: the
/// stand-in plus every ASCII codepoint of that category.
fn collapsed_class(name: &str) -> Option<String> {
    let (stand_in, flag) = match name {
        "N" => (COLLAPSED_NUMBER, NUMBER),
        "L" | "Lu" | "Ll" | "Lt" | "Lm" | "Lo" => (COLLAPSED_LETTER, LETTER),
        "P" => (COLLAPSED_PUNCT, PUNCT),
        "M" => (COLLAPSED_MARK, MARK),
        "S" => (COLLAPSED_SYMBOL, SYMBOL),
        _ => return None,
    };
    let mut s = format!("\\x{{{:X}}}", stand_in as u32);
    for cp in 0u32..128 {
        if unicode::flags(cp) & !WHITESPACE == flag {
            s.push_str(&format!("\\x{{{cp:X}}}"));
        }
    }
    Some(s)
}

/// Rewrites `\p{X}` into collapsed classes; `None` if the pattern has none.
fn collapse_regex(pattern: &str) -> Option<String> {
    if !pattern.contains("\\p{") {
        return None;
    }
    let b = pattern.as_bytes();
    let mut out = String::with_capacity(pattern.len() * 2);
    let mut inside = false;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'\\' && i + 1 < b.len() {
            if b[i + 1] == b'p' && b.get(i + 2) == Some(&b'{') {
                if let Some(close) = pattern[i..].find('}') {
                    let name = &pattern[i + 3..i + close];
                    if let Some(body) = collapsed_class(name) {
                        if inside {
                            out.push_str(&body);
                        } else {
                            out.push('[');
                            out.push_str(&body);
                            out.push(']');
                        }
                        i += close + 1;
                        continue;
                    }
                }
            }
            // Any other escape is copied as a unit.
            let ch_len = pattern[i + 1..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&pattern[i..i + 1 + ch_len]);
            i += 1 + ch_len;
            continue;
        }
        if c == b'[' {
            inside = true;
        } else if c == b']' {
            inside = false;
        }
        let ch_len = pattern[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&pattern[i..i + ch_len]);
        i += ch_len;
    }
    Some(out)
}

impl Splitter {
    pub fn new(exprs: &[Expr]) -> Result<Splitter, TokenizerError> {
        let mut steps = Vec::with_capacity(exprs.len());
        for e in exprs {
            steps.push(match *e {
                Expr::Gpt2 => Step::Gpt2,
                Expr::Llama3 { max_digits, marks } => Step::Llama3 { max_digits, marks },
                Expr::Newlines => Step::Newlines,
                Expr::Regex(p) => {
                    let (src, collapsed) = match collapse_regex(p) {
                        Some(c) => (c, true),
                        None => (p.to_owned(), false),
                    };
                    let re = Regex::new(&src).map_err(|e| TokenizerError::BadRegex {
                        regex: p.to_owned(),
                        message: e.to_string(),
                    })?;
                    Step::Regex { re, collapsed }
                }
            });
        }
        Ok(Splitter { steps })
    }

    /// Splits `cps` into words: returns `(start, end)` codepoint ranges
    /// covering the whole input in order.
    pub fn split(&self, cps: &[u32]) -> Vec<(usize, usize)> {
        let mut pieces = vec![(0, cps.len())];
        if cps.is_empty() {
            return Vec::new();
        }
        let mut flags: Vec<u8> = Vec::new();
        for step in &self.steps {
            let mut out = Vec::with_capacity(pieces.len() * 2);
            match step {
                Step::Gpt2 => {
                    ensure_flags(&mut flags, cps);
                    for &(a, b) in &pieces {
                        split::gpt2(cps, &flags, a, b, &mut out);
                    }
                }
                Step::Llama3 { max_digits, marks } => {
                    ensure_flags(&mut flags, cps);
                    for &(a, b) in &pieces {
                        split::llama3(cps, &flags, a, b, *max_digits, *marks, &mut out);
                    }
                }
                Step::Newlines => {
                    for &(a, b) in &pieces {
                        split::newlines(cps, a, b, &mut out);
                    }
                }
                Step::Regex { re, collapsed } => {
                    regex_split(re, *collapsed, cps, &pieces, &mut out);
                }
            }
            pieces = out;
        }
        pieces
    }
}

fn ensure_flags(flags: &mut Vec<u8>, cps: &[u32]) {
    if flags.is_empty() {
        flags.extend(cps.iter().map(|&c| unicode::flags(c)));
    }
}

/// Runs `re` over each piece; matches and the gaps between them become pieces.
fn regex_split(
    re: &Regex,
    collapsed: bool,
    cps: &[u32],
    pieces: &[(usize, usize)],
    out: &mut Vec<(usize, usize)>,
) {
    // The text the regex sees, and the byte offset of every codepoint in it.
    let mut text = String::with_capacity(cps.len());
    let mut byte_of = Vec::with_capacity(cps.len() + 1);
    for &cp in cps {
        byte_of.push(text.len());
        let ch = if collapsed {
            collapse_cp(cp)
        } else if cp > 0x7F && unicode::flags(cp) & WHITESPACE != 0 {
            '\u{0B}'
        } else {
            char::from_u32(cp).unwrap_or('\u{FFFD}')
        };
        text.push(ch);
    }
    byte_of.push(text.len());
    let cp_at = |byte: usize| byte_of.partition_point(|&b| b < byte);

    for &(a, b) in pieces {
        let hay = &text[byte_of[a]..byte_of[b]];
        let base = byte_of[a];
        let mut prev = a;
        for m in re.find_iter(hay) {
            let Ok(m) = m else { break }; // backtrack limit: keep the rest whole
            if m.start() == m.end() {
                continue;
            }
            let (s, e) = (cp_at(base + m.start()), cp_at(base + m.end()));
            if s > prev {
                out.push((prev, s));
            }
            out.push((s, e));
            prev = e;
        }
        if prev < b {
            out.push((prev, b));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(exprs: &[Expr], s: &str) -> Vec<String> {
        let sp = Splitter::new(exprs).unwrap();
        let cps: Vec<u32> = s.chars().map(|c| c as u32).collect();
        sp.split(&cps)
            .into_iter()
            .map(|(a, b)| {
                cps[a..b]
                    .iter()
                    .map(|&c| char::from_u32(c).unwrap())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn every_known_pre_compiles() {
        for pre in [
            "default",
            "llama-bpe",
            "dbrx",
            "deepseek-llm",
            "deepseek-coder",
            "deepseek-v3",
            "falcon",
            "gpt-2",
            "starcoder",
            "qwen2",
            "qwen35",
            "poro-chat",
            "viking",
            "tekken",
            "gpt-4o",
            "seed-coder",
            "ufakzeka",
            "bailingmoe",
            "minicpm5",
            "gemma4",
        ] {
            let p = PreTokenizer::resolve(VocabKind::Bpe, pre).unwrap();
            Splitter::new(p.exprs).unwrap_or_else(|e| panic!("{pre}: {e}"));
        }
        assert!(PreTokenizer::resolve(VocabKind::Bpe, "no-such-pre").is_none());
    }

    #[test]
    fn gpt2_words() {
        assert_eq!(
            words(&GPT2, "Hello world's  end 123!!\n"),
            ["Hello", " world", "'s", " ", " end", " 123", "!!", "\n"]
        );
    }

    #[test]
    fn llama3_words() {
        assert_eq!(
            words(&LLAMA3, "I'M 12345 ok?\n\n  x"),
            ["I", "'M", " ", "123", "45", " ok", "?\n\n", " ", " x"]
        );
    }

    #[test]
    fn regex_collapsed_matches_unicode_digits() {
        // \p{N} isolates every digit, ASCII or not.
        assert_eq!(words(&STARCODER, "a12٣"), ["a", "1", "2", "٣"]);
        assert_eq!(words(&GPT2_DEFAULT, "1234567"), ["123", "456", "7"]);
    }

    #[test]
    fn collapse_rewrites_classes() {
        let c = collapse_regex(r"[^\s\p{L}]x\p{N}").unwrap();
        assert!(c.starts_with(r"[^\s\x{F8D2}\x{41}"));
        assert!(c.contains(r"x[\x{F8D1}\x{30}"));
        assert!(collapse_regex(r"[\r\n]").is_none());
    }
}
