//! The vocabulary: pieces, score ranks, per-token attributes, a piece -> id index,
//! and the special-token rules llama.cpp applies at load (end-of-generation
//! set, control-looking tokens, special-token match order).

use crate::config::{SpecialTokens, TokenType, TokenizerConfig, VocabKind};
use crate::error::TokenizerError;
use crate::spm_queue::ScoreRanks;

/// Token attribute bits (llama.cpp's `llama_token_attr`).
pub(crate) mod attr {
    pub const UNKNOWN: u16 = 1 << 0;
    pub const UNUSED: u16 = 1 << 1;
    pub const NORMAL: u16 = 1 << 2;
    pub const CONTROL: u16 = 1 << 3;
    pub const USER_DEFINED: u16 = 1 << 4;
    pub const BYTE: u16 = 1 << 5;
    pub const LSTRIP: u16 = 1 << 7;
    pub const RSTRIP: u16 = 1 << 8;
}

fn attr_of(t: TokenType) -> u16 {
    match t {
        TokenType::Undefined => 0,
        TokenType::Normal => attr::NORMAL,
        TokenType::Unknown => attr::UNKNOWN,
        TokenType::Control => attr::CONTROL,
        TokenType::UserDefined => attr::USER_DEFINED,
        TokenType::Unused => attr::UNUSED,
        TokenType::Byte => attr::BYTE,
    }
}

/// Open-addressing hash index from piece bytes to id. Each slot packs a
/// 32-bit hash tag with the id, and the pieces are copied into one
/// contiguous arena, so a probe touches at most the slot and one arena line
/// (encoding does ~3 lookups per input character, most of them misses).
#[derive(Debug)]
struct PieceIndex {
    slots: Vec<u64>, // (tag << 32) | id; EMPTY = free
    mask: usize,
    arena: Vec<u8>,
    spans: Vec<(u32, u32)>, // id -> (offset, len) in `arena`
}

const EMPTY: u64 = u64::MAX;

fn hash_bytes(b: &[u8]) -> u64 {
    const K: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut h: u64 = b.len() as u64;
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = (h.rotate_left(5) ^ w).wrapping_mul(K);
    }
    // The last 0..=7 bytes as a zero-padded little-endian word (a loop, not
    // a copy: most pieces are this short, and a copy is a libc call).
    let tail = chunks
        .remainder()
        .iter()
        .rev()
        .fold(0u64, |w, &b| (w << 8) | u64::from(b));
    h = (h.rotate_left(5) ^ tail).wrapping_mul(K);
    // murmur3's 64-bit finalizer: every input bit reaches the low (slot) bits.
    h ^= h >> 33;
    h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    h ^= h >> 33;
    h = h.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    h ^ (h >> 33)
}

impl PieceIndex {
    fn build(tokens: &[String]) -> PieceIndex {
        let cap = (tokens.len() * 2).next_power_of_two().max(16);
        let total: usize = tokens.iter().map(String::len).sum();
        let mut arena = Vec::with_capacity(total);
        let mut spans = Vec::with_capacity(tokens.len());
        for t in tokens {
            spans.push((arena.len() as u32, t.len() as u32));
            arena.extend_from_slice(t.as_bytes());
        }
        let mut idx = PieceIndex {
            slots: vec![EMPTY; cap],
            mask: cap - 1,
            arena,
            spans,
        };
        for (id, t) in tokens.iter().enumerate() {
            let h = hash_bytes(t.as_bytes());
            let entry = (h & 0xFFFF_FFFF_0000_0000) | id as u64;
            let mut i = h as usize & idx.mask;
            loop {
                let s = idx.slots[i];
                if s == EMPTY {
                    idx.slots[i] = entry;
                    break;
                }
                if s >> 32 == h >> 32 && idx.piece(s as u32) == t.as_bytes() {
                    idx.slots[i] = entry; // a duplicate piece: the last id wins
                    break;
                }
                i = (i + 1) & idx.mask;
            }
        }
        idx
    }

    #[inline]
    fn piece(&self, id: u32) -> &[u8] {
        let (o, n) = self.spans[id as usize];
        &self.arena[o as usize..(o + n) as usize]
    }

    #[inline]
    fn get(&self, piece: &[u8]) -> Option<u32> {
        let h = hash_bytes(piece);
        let mut i = h as usize & self.mask;
        loop {
            let s = self.slots[i];
            if s == EMPTY {
                return None;
            }
            if s >> 32 == h >> 32 && self.piece(s as u32) == piece {
                return Some(s as u32);
            }
            i = (i + 1) & self.mask;
        }
    }
}

/// Texts llama.cpp treats as end-of-generation whatever the file says.
const EOG_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<｜end▁of▁sentence｜>",
    "[e~[",
];
const EOT_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "<｜end▁of▁sentence｜>",
    "<end_of_utterance>",
];
const FIM_PRE_TEXTS: &[&str] = &[
    "<|fim_prefix|>",
    "<fim-prefix>",
    "<fim_prefix>",
    "<｜fim▁begin｜>",
    "<PRE>",
    "▁<PRE>",
    "<|code_prefix|>",
    "<|prefix|>",
];
const FIM_SUF_TEXTS: &[&str] = &[
    "<|fim_suffix|>",
    "<fim-suffix>",
    "<fim_suffix>",
    "<｜fim▁hole｜>",
    "<SUF>",
    "▁<SUF>",
    "<|code_suffix|>",
    "<|suffix|>",
];
const FIM_MID_TEXTS: &[&str] = &[
    "<|fim_middle|>",
    "<fim-middle>",
    "<fim_middle>",
    "<｜fim▁end｜>",
    "<MID>",
    "▁<MID>",
    "<|code_middle|>",
    "<|middle|>",
];
const FIM_PAD_TEXTS: &[&str] = &["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"];
const FIM_REP_TEXTS: &[&str] = &[
    "<|fim_repo|>",
    "<|repo_name|>",
    "<fim-repo>",
    "<REPO>",
    "<reponame>",
];
const FIM_SEP_TEXTS: &[&str] = &["<|file_sep|>"];

#[derive(Debug)]
pub(crate) struct Vocab {
    pub kind: VocabKind,
    pub tokens: Vec<String>,
    pub attrs: Vec<u16>,
    index: PieceIndex,
    pub special: SpecialTokens,
    /// Sorted ids of end-of-generation tokens.
    pub eog: Vec<u32>,
    /// Control, user-defined and unknown tokens, longest text first: the
    /// order in which they are cut out of raw text.
    pub special_order: Vec<u32>,
    /// `<0xNN>` byte tokens (SPM byte fallback), by byte.
    pub byte_token: [Option<u32>; 256],
    /// Score ranks for the SentencePiece merge queue (empty for BPE).
    pub score_ranks: ScoreRanks,
    /// Bytes in the longest piece.
    pub max_piece_len: usize,
}

impl Vocab {
    /// Takes the pieces and scores out of `c` (no copy of a large vocabulary).
    pub fn build(c: &mut TokenizerConfig) -> Result<Vocab, TokenizerError> {
        let n = c.tokens.len();
        if n == 0 {
            return Err(TokenizerError::EmptyVocab { key: "tokens" });
        }
        if u32::try_from(n).is_err() || n == u32::MAX as usize {
            return Err(TokenizerError::VocabTooLarge { n });
        }
        if !c.scores.is_empty() && c.scores.len() < n {
            return Err(TokenizerError::LengthMismatch {
                key: "scores",
                expected: n,
                found: c.scores.len(),
            });
        }
        if !c.token_types.is_empty() && c.token_types.len() < n {
            return Err(TokenizerError::LengthMismatch {
                key: "token_types",
                expected: n,
                found: c.token_types.len(),
            });
        }
        let mut special = c.special.clone();
        for (name, id) in special.fields_mut() {
            if let Some(v) = *id {
                if v as usize >= n {
                    return Err(TokenizerError::SpecialTokenOutOfRange {
                        key: name,
                        id: v.into(),
                        n_vocab: n,
                    });
                }
            }
        }

        let mut tokens = std::mem::take(&mut c.tokens);
        for (i, t) in tokens.iter_mut().enumerate() {
            if t.is_empty() {
                *t = format!("[EMPTY_{i}]");
            }
        }
        let mut scores = std::mem::take(&mut c.scores);
        if scores.is_empty() {
            scores = vec![0.0; n];
        }
        scores.truncate(n);
        let mut attrs: Vec<u16> = if c.token_types.is_empty() {
            vec![attr::NORMAL; n]
        } else {
            c.token_types[..n].iter().map(|&t| attr_of(t)).collect()
        };
        let index = PieceIndex::build(&tokens);
        let lookup = |s: &str| index.get(s.as_bytes());

        // Detect EOT / EOM / FIM tokens by text when the file names none; each
        // such token is forced to be a control token.
        let find = |texts: &[&str]| texts.iter().find_map(|t| lookup(t));
        let mut force_control = Vec::new();
        for (slot, texts) in [
            (&mut special.eot, EOT_TEXTS),
            (&mut special.eom, &["<|eom_id|>"][..]),
            (&mut special.fim_pre, FIM_PRE_TEXTS),
            (&mut special.fim_suf, FIM_SUF_TEXTS),
            (&mut special.fim_mid, FIM_MID_TEXTS),
            (&mut special.fim_pad, FIM_PAD_TEXTS),
            (&mut special.fim_rep, FIM_REP_TEXTS),
            (&mut special.fim_sep, FIM_SEP_TEXTS),
        ] {
            if slot.is_none() {
                *slot = find(texts);
                force_control.extend(*slot);
            }
        }
        for id in force_control {
            attrs[id as usize] |= attr::CONTROL;
        }

        // Control tokens whose text says "unused" are unused.
        for (a, t) in attrs.iter_mut().zip(&tokens) {
            if *a & attr::CONTROL != 0 && t.contains("unused") {
                *a |= attr::UNUSED;
            }
        }

        let mut eog: Vec<u32> = [special.fim_pad, special.fim_rep, special.fim_sep]
            .into_iter()
            .flatten()
            .collect();
        for t in EOG_TEXTS {
            if let Some(id) = lookup(t) {
                eog.push(id);
                attrs[id as usize] |= attr::CONTROL;
            }
        }
        // gpt-oss: these always render.
        for t in ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"] {
            if let Some(id) = lookup(t) {
                attrs[id as usize] = attr::USER_DEFINED;
            }
        }
        eog.extend(
            [special.eos, special.eot, special.eom]
                .into_iter()
                .flatten(),
        );
        eog.sort_unstable();
        eog.dedup();

        let eog_text =
            |eog: &[u32], s: &str| eog.iter().copied().find(|&id| tokens[id as usize] == s);
        // o200k_harmony / solar-open: `<|end|>` is not end-of-generation there.
        let has = |eog: &[u32], s: &str| eog_text(eog, s).is_some();
        if let Some(end) = eog_text(&eog, "<|end|>") {
            let call = has(&eog, "<|call|>") || has(&eog, "<|calls|>");
            if call && (has(&eog, "<|return|>") || has(&eog, "<|flush|>")) {
                eog.retain(|&i| i != end);
                attrs[end as usize] = attr::USER_DEFINED;
            }
        }
        // Gemma 4 and PLaMo have an ordinary `</s>`.
        if let Some(s) = eog_text(&eog, "</s>") {
            if has(&eog, "<|tool_response>") || has(&eog, "<|plamo:eos|>") {
                eog.retain(|&i| i != s);
                attrs[s as usize] = attr::NORMAL;
            }
        }

        let mut special_order: Vec<u32> = (0..n as u32)
            .filter(|&i| {
                attrs[i as usize] & (attr::CONTROL | attr::USER_DEFINED | attr::UNKNOWN) != 0
            })
            .collect();
        special_order.sort_by(|&a, &b| tokens[b as usize].len().cmp(&tokens[a as usize].len()));

        apply_model_rules(c, &index, &special_order, &mut attrs);

        let mut byte_token = [None; 256];
        for (b, slot) in byte_token.iter_mut().enumerate() {
            *slot = lookup(&format!("<0x{b:02X}>"));
        }

        let score_ranks = match c.kind {
            VocabKind::Spm => ScoreRanks::build(&scores),
            VocabKind::Bpe => ScoreRanks::default(),
        };
        let max_piece_len = tokens.iter().map(String::len).max().unwrap_or(0);

        Ok(Vocab {
            kind: c.kind,
            tokens,
            attrs,
            index,
            special,
            eog,
            special_order,
            byte_token,
            score_ranks,
            max_piece_len,
        })
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Id of an exact piece.
    #[inline]
    pub fn lookup(&self, piece: &[u8]) -> Option<u32> {
        self.index.get(piece)
    }

    #[inline]
    pub fn attr(&self, id: u32) -> u16 {
        self.attrs[id as usize]
    }

    pub fn is_eog(&self, id: u32) -> bool {
        self.eog.binary_search(&id).is_ok()
    }
}

/// Per-model token attributes llama.cpp sets by model or pre-tokenizer name.
fn apply_model_rules(
    c: &TokenizerConfig,
    index: &PieceIndex,
    special_order: &[u32],
    attrs: &mut [u16],
) {
    let lookup = |s: &str| index.get(s.as_bytes());
    let set = |attrs: &mut [u16], id: Option<u32>, bit: u16, on: bool| {
        if let Some(id) = id {
            if on {
                attrs[id as usize] |= bit;
            } else {
                attrs[id as usize] &= !bit;
            }
        }
    };
    let name = c.model_name.as_str();
    if ["jina-v2-de", "jina-v2-es", "jina-v2-code"]
        .iter()
        .any(|p| c.pre.contains(p))
    {
        set(attrs, lookup("<mask>"), attr::LSTRIP, true);
    } else if name.contains("phi-3") || name.contains("phi3") {
        for &id in special_order {
            attrs[id as usize] |= attr::RSTRIP;
        }
        set(attrs, lookup("</s>"), attr::RSTRIP, true);
        for t in ["<unk>", "<s>", "<|endoftext|>"] {
            set(attrs, lookup(t), attr::RSTRIP, false);
        }
    } else if name.contains("modern-bert") {
        set(attrs, lookup("[MASK]"), attr::LSTRIP, true);
    }
}
