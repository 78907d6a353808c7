//! Chat template tests: built-in behaviour plus comparison with Python jinja2 fixtures
//! produced by `tools/render_chat_templates.py`.

use super::*;
use std::path::PathBuf;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/chat")
}

/// One fixture file of `tools/render_chat_templates.py`.
#[derive(serde::Deserialize)]
struct Fixture {
    name: String,
    template: String,
    /// The model file the template was read from, if any.
    gguf: Option<String>,
    cases: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    messages: Vec<Message>,
    /// `None`: the template's `tools` is none.
    tools: Option<Json>,
    add_generation_prompt: bool,
    bos_token: String,
    eos_token: String,
    expected: Option<String>,
    error: Option<String>,
}

#[derive(serde::Deserialize)]
struct Message {
    role: String,
    content: String,
    tool_calls: Option<Json>,
}

fn fixtures() -> Vec<Fixture> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixture_dir())
        .expect("tests/fixtures/chat exists (run tools/render_chat_templates.py)")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        })
        .collect()
}

#[test]
fn matches_python_jinja2_fixtures() {
    let fixtures = fixtures();
    for t in BuiltinTemplate::ALL {
        assert!(
            fixtures.iter().any(|f| f.name == t.name()),
            "no fixture for {}",
            t.name()
        );
    }
    let (mut checked, mut with_tools, mut with_calls) = (0, 0, 0);
    for fx in &fixtures {
        let name = &fx.name;
        if let Some(b) = BuiltinTemplate::from_name(name) {
            assert_eq!(
                b.source(),
                fx.template,
                "{name}: fixture is stale, re-run the tool"
            );
        }
        for (i, case) in fx.cases.iter().enumerate() {
            let messages: Vec<ChatMessage> = case
                .messages
                .iter()
                .map(|m| {
                    let msg = ChatMessage::new(&m.role, &m.content);
                    match &m.tool_calls {
                        Some(calls) => {
                            with_calls += 1;
                            msg.with_tool_calls(calls.clone())
                        }
                        None => msg,
                    }
                })
                .collect();
            let tools = case.tools.clone().map(|t| Tools::try_from(t).unwrap());
            with_tools += usize::from(tools.is_some());
            let opts = RenderOptions {
                add_generation_prompt: case.add_generation_prompt,
                bos_token: &case.bos_token,
                eos_token: &case.eos_token,
                now_unix_secs: None,
                tools: tools.as_ref(),
            };
            let got = render_with(&fx.template, &messages, &opts);
            match (&case.expected, &case.error) {
                (Some(want), _) => {
                    let got = got.unwrap_or_else(|e| panic!("{name} case {i}: {e}"));
                    assert_eq!(&got, want, "{name} case {i}");
                }
                (None, Some(err)) => match got {
                    Err(ChatError::Raised(msg)) => assert_eq!(&msg, err),
                    other => panic!("{name} case {i}: expected raise, got {other:?}"),
                },
                _ => panic!("{name} case {i}: malformed fixture"),
            }
            checked += 1;
        }
    }
    assert!(checked >= 90, "only {checked} cases checked");
    assert!(with_tools >= 16, "only {with_tools} cases with tools");
    assert!(
        with_calls >= 8,
        "only {with_calls} messages with tool calls"
    );
}

/// The fixtures of real model templates hold the file's `tokenizer.chat_template`.
#[test]
fn gguf_fixtures_hold_the_model_files_templates() {
    let mut n = 0;
    for fx in fixtures() {
        let Some(model) = &fx.gguf else { continue };
        n += 1;
        let path = fixture_dir().join("../../..").join(model);
        let Some(path) = test_support::require(&path, "run scripts/fetch-model.sh NAME") else {
            continue;
        };
        let file = gguf::GgufFile::open(&path).unwrap();
        let meta = crate::EngineMeta::from_gguf(file.metadata());
        assert_eq!(
            meta.chat_template.as_deref(),
            Some(fx.template.as_str()),
            "{model}"
        );
    }
    assert!(n >= 2, "{n}");
}

#[test]
fn gemma_renders_the_documented_format() {
    let msgs = [
        ChatMessage::system("Be brief."),
        ChatMessage::user("Hi"),
        ChatMessage::assistant("Hello."),
        ChatMessage::user("Bye"),
    ];
    let out = render(
        BuiltinTemplate::Gemma.source(),
        &msgs,
        true,
        "<bos>",
        "<eos>",
    )
    .unwrap();
    assert_eq!(
        out,
        "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello.<end_of_turn>\n<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n"
    );
}

#[test]
fn raise_exception_and_syntax_errors_are_reported() {
    let msgs = [ChatMessage::user("a"), ChatMessage::user("b")];
    let err = render(
        BuiltinTemplate::Mistral.source(),
        &msgs,
        true,
        "<s>",
        "</s>",
    )
    .unwrap_err();
    assert!(
        matches!(&err, ChatError::Raised(m) if m.contains("alternate")),
        "{err:?}"
    );
    let err = render("{% for m in messages %}", &msgs, true, "", "").unwrap_err();
    assert!(matches!(err, ChatError::Syntax { line: 1, .. }), "{err:?}");
    let err = render(
        "{{ messages[0].content | nosuchfilter }}",
        &msgs,
        true,
        "",
        "",
    )
    .unwrap_err();
    assert!(
        matches!(err, ChatError::Syntax { .. } | ChatError::Render { .. }),
        "{err:?}"
    );
}

#[test]
fn strftime_now_uses_the_given_clock() {
    let opts = RenderOptions {
        now_unix_secs: Some(1_722_000_896),
        ..RenderOptions::default()
    };
    let out = render_with("Today Date: {{ strftime_now('%d %b %Y') }}", &[], &opts).unwrap();
    assert_eq!(out, "Today Date: 26 Jul 2024");
    // The system clock is readable on this target and gives a plausible year.
    let out = render("{{ strftime_now('%Y') }}", &[], false, "", "").unwrap();
    assert!(out.parse::<i32>().unwrap() >= 2024, "{out}");
}

#[test]
fn python_string_methods_are_available() {
    let msgs = [ChatMessage::user("  Hello World  ")];
    let t = "{{ messages[0].content.strip().lower().replace('world', 'there') }}|{{ messages[0]['content'].split() | join(',') }}|{{ 'x'.upper() }}";
    assert_eq!(
        render(t, &msgs, false, "", "").unwrap(),
        "hello there|Hello,World|X"
    );
}

#[test]
fn builtin_lookup_and_detection() {
    for t in BuiltinTemplate::ALL {
        assert_eq!(BuiltinTemplate::from_name(t.name()), Some(t));
    }
    assert_eq!(
        BuiltinTemplate::from_name(" ChatML "),
        Some(BuiltinTemplate::ChatMl)
    );
    assert_eq!(BuiltinTemplate::from_name("vicuna"), None);
    let none = |_: &str| false;
    assert_eq!(
        BuiltinTemplate::detect("gemma3", none),
        Some(BuiltinTemplate::Gemma)
    );
    assert_eq!(
        BuiltinTemplate::detect("qwen2", none),
        Some(BuiltinTemplate::Qwen2)
    );
    assert_eq!(
        BuiltinTemplate::detect("llama", none),
        Some(BuiltinTemplate::Llama2)
    );
    let l3 = |t: &str| t == "<|eot_id|>" || t == "<|start_header_id|>";
    assert_eq!(
        BuiltinTemplate::detect("llama", l3),
        Some(BuiltinTemplate::Llama3)
    );
    let cml = |t: &str| t == "<|im_start|>" || t == "<|im_end|>";
    assert_eq!(
        BuiltinTemplate::detect("phi3", cml),
        Some(BuiltinTemplate::ChatMl)
    );
    assert_eq!(BuiltinTemplate::detect("bert", none), None);
}
