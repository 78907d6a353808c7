//! Small hand-made vocabularies: algorithm details, validation errors and
//! the streaming decoder, without any downloaded file.

use gguf::{Array, GgufFile, GgufWriter, Value};
use tokenizer::{
    SpecialTokens, StreamDecoder, TokenType, Tokenizer, TokenizerConfig, TokenizerError, VocabKind,
};

/// An SPM vocabulary: specials, byte tokens for every byte, a few pieces.
fn spm_config() -> TokenizerConfig {
    let mut tokens: Vec<String> = vec!["<unk>".into(), "<s>".into(), "</s>".into()];
    let mut types = vec![TokenType::Unknown, TokenType::Control, TokenType::Control];
    for b in 0..=255u8 {
        tokens.push(format!("<0x{b:02X}>"));
        types.push(TokenType::Byte);
    }
    let pieces = [
        ("▁", -1.0),
        ("a", -2.0),
        ("b", -2.0),
        ("c", -2.0),
        ("▁a", -1.5),
        ("ab", -0.5),
        ("▁ab", -0.2),
        ("bc", -0.1),
        ("<user>", 0.0),
    ];
    let mut scores = vec![0.0; tokens.len()];
    for (p, s) in pieces {
        tokens.push(p.into());
        scores.push(s);
        types.push(if p == "<user>" {
            TokenType::UserDefined
        } else {
            TokenType::Normal
        });
    }
    TokenizerConfig {
        kind: VocabKind::Spm,
        model: "llama".into(),
        pre: String::new(),
        tokens,
        scores,
        token_types: types,
        merges: Vec::new(),
        special: SpecialTokens {
            bos: Some(1),
            eos: Some(2),
            unk: Some(0),
            ..SpecialTokens::default()
        },
        add_bos: true,
        add_eos: false,
        add_space_prefix: true,
        model_name: String::new(),
    }
}

fn spm() -> Tokenizer {
    Tokenizer::from_config(spm_config()).unwrap()
}

fn pieces(t: &Tokenizer, ids: &[u32]) -> Vec<String> {
    ids.iter()
        .map(|&i| t.token_text(i).unwrap().to_owned())
        .collect()
}

#[test]
fn spm_merges_by_score_and_prefixes_a_space() {
    let t = spm();
    // "▁abc": ▁a(-1.5) vs ab(-0.5) vs bc(-0.1): bc first, then ▁a.
    assert_eq!(pieces(&t, &t.encode("abc", false, false)), ["▁a", "bc"]);
    // "▁ab": ab(-0.5) merges before ▁a, then ▁ab.
    assert_eq!(pieces(&t, &t.encode("ab", false, false)), ["▁ab"]);
    assert_eq!(
        t.encode("ab", true, false)[0],
        1,
        "BOS first with add_special"
    );
}

#[test]
fn spm_byte_fallback_for_unknown_characters() {
    let t = spm();
    let ids = t.encode("é", false, false);
    // "▁" then the two UTF-8 bytes of é as <0xC3> <0xA9>.
    assert_eq!(pieces(&t, &ids), ["▁", "<0xC3>", "<0xA9>"]);
    assert_eq!(t.decode(&ids, false), "é");
}

#[test]
fn control_tokens_need_parse_special_user_defined_do_not() {
    let t = spm();
    let plain = t.encode("<s>", false, false);
    assert!(!plain.contains(&1), "control text stays text: {plain:?}");
    assert_eq!(t.encode("<s>", false, true), [1]);
    let u = t.token_id("<user>").unwrap();
    assert!(t.encode("a<user>b", false, false).contains(&u));
    // After a special token, SPM adds the prefix space again.
    let ids = t.encode("<s>a", false, true);
    assert_eq!(pieces(&t, &ids), ["<s>", "▁a"]);
}

#[test]
fn decode_hides_control_tokens_and_the_prefix_space() {
    let t = spm();
    let ids = t.encode("ab abc", true, false);
    // llama.cpp removes the encoder's prefix space only from the first token:
    // after a (hidden) BOS it stays.
    assert_eq!(t.decode(&ids, false), " ab abc");
    assert_eq!(t.decode(&ids[1..], false), "ab abc");
    assert_eq!(t.decode(&ids, true), "<s> ab abc");
    assert!(t.token_to_piece(1, false).is_empty());
    assert_eq!(&*t.token_to_piece(1, true), b"<s>");
    assert!(
        t.token_to_piece(u32::MAX, true).is_empty(),
        "unknown ids are empty"
    );
    assert!(t.is_eog(2));
    assert!(!t.is_eog(1));
}

#[test]
fn stream_decoder_holds_split_characters() {
    let t = spm();
    let c3 = t.token_id("<0xC3>").unwrap();
    let a9 = t.token_id("<0xA9>").unwrap();
    let a = t.token_id("a").unwrap();
    let mut sd = StreamDecoder::new(&t, false);
    assert_eq!(sd.push(a), "a");
    assert_eq!(sd.push(c3), "", "half of é is held back");
    assert_eq!(sd.pending_len(), 1);
    assert_eq!(sd.push(a9), "é");
    assert_eq!(sd.push(c3), "");
    assert_eq!(
        sd.flush(),
        "\u{FFFD}",
        "an unfinished character is replaced at the end"
    );
    // An invalid byte in the middle does not stall the stream.
    let ff = t.token_id("<0xFF>").unwrap();
    let mut sd = StreamDecoder::new(std::sync::Arc::new(spm()), false);
    assert_eq!(sd.push(ff), "\u{FFFD}");
    assert_eq!(sd.push(a), "a");
}

#[test]
fn encode_handles_empty_and_long_inputs() {
    let t = spm();
    assert!(t.encode("", false, false).is_empty());
    assert_eq!(t.encode("", true, false), [1]);
    let long = "abc ab ".repeat(20_000);
    let ids = t.encode(&long, false, false);
    assert_eq!(
        ids.len(),
        20_000 * 3 + 1,
        "▁a bc ▁ab per repeat, then a lone ▁"
    );
    assert_eq!(t.decode(&ids, false), long);
}

#[test]
fn from_config_validates() {
    let mut c = spm_config();
    c.scores.truncate(5);
    assert!(matches!(
        Tokenizer::from_config(c),
        Err(TokenizerError::LengthMismatch { key: "scores", .. })
    ));
    let mut c = spm_config();
    c.special.eos = Some(100_000);
    assert!(matches!(
        Tokenizer::from_config(c),
        Err(TokenizerError::SpecialTokenOutOfRange {
            key: "eos",
            id: 100_000,
            ..
        })
    ));
    let mut c = spm_config();
    c.special.bos = None;
    assert!(matches!(
        Tokenizer::from_config(c),
        Err(TokenizerError::MissingSpecialToken { what: "BOS" })
    ));
    let mut c = spm_config();
    c.tokens.clear();
    assert!(matches!(
        Tokenizer::from_config(c),
        Err(TokenizerError::EmptyVocab { .. })
    ));
}

/// A GPT-2 style vocabulary: every byte's printable form plus some merges.
fn bpe_config(merges: &[&str]) -> TokenizerConfig {
    let table: Vec<char> = (0..=255u8)
        .map(|b| match b {
            0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF => b as char,
            _ => {
                let rank = (0..b)
                    .filter(|&x| !matches!(x, 0x21..=0x7E | 0xA1..=0xAC | 0xAE..=0xFF))
                    .count() as u32;
                char::from_u32(256 + rank).unwrap()
            }
        })
        .collect();
    let mut tokens: Vec<String> = table.iter().map(|c| c.to_string()).collect();
    for m in ["he", "ll", "hell", "hello", "Ġw", "Ġwo", "<|endoftext|>"] {
        tokens.push(m.into());
    }
    let mut types = vec![TokenType::Normal; tokens.len()];
    *types.last_mut().unwrap() = TokenType::Control;
    TokenizerConfig {
        kind: VocabKind::Bpe,
        model: "gpt2".into(),
        pre: "gpt-2".into(),
        scores: Vec::new(),
        token_types: types,
        merges: merges.iter().map(|s| s.to_string()).collect(),
        special: SpecialTokens {
            eos: Some(tokens.len() as u32 - 1),
            ..SpecialTokens::default()
        },
        tokens,
        add_bos: false,
        add_eos: false,
        add_space_prefix: false,
        model_name: String::new(),
    }
}

#[test]
fn bpe_merges_by_rank_within_words() {
    let t = Tokenizer::from_config(bpe_config(&[
        "h e", "l l", "he ll", "hell o", "Ġ w", "Ġw o",
    ]))
    .unwrap();
    let ids = t.encode("hello wo", false, false);
    assert_eq!(pieces(&t, &ids), ["hello", "Ġwo"]);
    assert_eq!(t.decode(&ids, false), "hello wo");
    // Without the last merge "hello" stays "hell" + "o".
    let t = Tokenizer::from_config(bpe_config(&["h e", "l l", "he ll"])).unwrap();
    assert_eq!(pieces(&t, &t.encode("hello", false, false)), ["hell", "o"]);
    // <|endoftext|> is end-of-generation by its text.
    assert!(t.is_eog(t.token_id("<|endoftext|>").unwrap()));
}

#[test]
fn bpe_merge_validation() {
    assert!(matches!(
        Tokenizer::from_config(bpe_config(&["h e", "nospace"])),
        Err(TokenizerError::MalformedMerge { index: 1, .. })
    ));
    assert!(matches!(
        Tokenizer::from_config(bpe_config(&["h zz"])),
        Err(TokenizerError::MergeUnknownToken { index: 0, piece, .. }) if piece == "zz"
    ));
    let mut c = bpe_config(&[]);
    c.pre = "no-such-pre".into();
    assert!(matches!(
        Tokenizer::from_config(c),
        Err(TokenizerError::UnsupportedPreTokenizer { .. })
    ));
}

fn strings(v: &[&str]) -> Value {
    Value::Array(Array::String(v.iter().map(|s| s.to_string()).collect()))
}

fn gguf_with(kvs: Vec<(&str, Value)>) -> GgufFile {
    let mut w = GgufWriter::new();
    for (k, v) in kvs {
        w.add_kv(k, v);
    }
    GgufFile::from_bytes(&w.to_bytes()).unwrap()
}

#[test]
fn from_gguf_reads_keys_and_defaults() {
    let f = gguf_with(vec![
        ("tokenizer.ggml.model", Value::String("llama".into())),
        (
            "tokenizer.ggml.tokens",
            strings(&[
                "<unk>",
                "<s>",
                "</s>",
                "▁",
                "h",
                "i",
                "▁h",
                "▁hi",
                "<end_of_turn>",
            ]),
        ),
        (
            "tokenizer.ggml.scores",
            Value::Array(Array::F32(vec![0.0; 9])),
        ),
        (
            "tokenizer.ggml.token_type",
            Value::Array(Array::I32(vec![2, 3, 3, 1, 1, 1, 1, 1, 3])),
        ),
    ]);
    let t = Tokenizer::from_gguf(f.metadata()).unwrap();
    // llama.cpp's SPM defaults: BOS 1, EOS 2, UNK 0, add_bos.
    assert_eq!((t.bos(), t.eos(), t.add_bos()), (Some(1), Some(2), true));
    assert_eq!(t.special_tokens().eot, Some(8), "EOT detected by its text");
    assert_eq!(t.eog_ids(), [2, 8]);
    assert_eq!(t.encode("hi", true, false), [1, 7]);
}

#[test]
fn from_gguf_reports_bad_metadata() {
    let base = |extra: Vec<(&'static str, Value)>| {
        let mut kvs = vec![
            ("tokenizer.ggml.model", Value::String("llama".into())),
            ("tokenizer.ggml.tokens", strings(&["<unk>", "<s>", "</s>"])),
        ];
        kvs.extend(extra);
        Tokenizer::from_gguf(gguf_with(kvs).metadata()).map(|_| ())
    };
    assert_eq!(base(vec![]), Ok(()));
    assert!(matches!(
        base(vec![("tokenizer.ggml.eos_token_id", Value::U32(7))]),
        Err(TokenizerError::SpecialTokenOutOfRange {
            key: "tokenizer.ggml.eos_token_id",
            id: 7,
            n_vocab: 3
        })
    ));
    assert!(matches!(
        base(vec![(
            "tokenizer.ggml.scores",
            Value::Array(Array::F32(vec![0.0]))
        )]),
        Err(TokenizerError::LengthMismatch {
            key: "tokenizer.ggml.scores",
            expected: 3,
            found: 1
        })
    ));
    assert!(matches!(
        base(vec![("tokenizer.ggml.add_bos_token", Value::U32(1))]),
        Err(TokenizerError::WrongType {
            key: "tokenizer.ggml.add_bos_token",
            ..
        })
    ));
    let f = gguf_with(vec![("tokenizer.ggml.model", Value::String("bert".into()))]);
    assert!(matches!(
        Tokenizer::from_gguf(f.metadata()),
        Err(TokenizerError::UnsupportedModel { .. })
    ));
    let f = gguf_with(vec![("general.name", Value::String("x".into()))]);
    assert!(matches!(
        Tokenizer::from_gguf(f.metadata()),
        Err(TokenizerError::MissingKey {
            key: "tokenizer.ggml.model"
        })
    ));
    let f = gguf_with(vec![
        ("tokenizer.ggml.model", Value::String("gpt2".into())),
        ("tokenizer.ggml.tokens", strings(&["a", "b"])),
    ]);
    assert!(matches!(
        Tokenizer::from_gguf(f.metadata()),
        Err(TokenizerError::MissingKey {
            key: "tokenizer.ggml.merges"
        })
    ));
}

#[test]
fn min_tokens_is_a_lower_bound() {
    let mut c = spm_config();
    c.tokens.push("▁▁▁▁".into());
    c.scores.push(1.0);
    c.token_types.push(TokenType::Normal);
    let t = Tokenizer::from_config(c).unwrap();
    // `<user>` and the `<0xNN>` pieces: 6 bytes; `▁▁▁▁` covers 4 spaces.
    assert_eq!(t.max_token_bytes(), 6);
    for text in [
        " ".repeat(100),
        "▁".repeat(100),
        "ab ".repeat(50),
        "<user>".repeat(20),
        "é\u{0}\u{7f}".repeat(30),
        String::new(),
    ] {
        let min = t.min_tokens(&text);
        for parse in [false, true] {
            let n = t.encode(&text, false, parse).len();
            assert!(min <= n, "{min} > {n} for {text:?}");
        }
    }
    // Spaces and literal `▁` count one byte each.
    assert_eq!(t.min_tokens(&"▁".repeat(60)), 10);
    assert_eq!(t.min_tokens(&" ".repeat(60)), 10);
    assert_eq!(t.min_tokens("abcdefg"), 2);
}
