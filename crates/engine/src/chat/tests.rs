//! Chat template tests: built-in behaviour plus comparison with Python jinja2 fixtures
//! produced by `tools/render_chat_templates.py`.

use super::*;
use std::path::PathBuf;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/chat")
}

#[test]
fn matches_python_jinja2_fixtures() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixture_dir())
        .expect("tests/fixtures/chat exists (run tools/render_chat_templates.py)")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    for t in BuiltinTemplate::ALL {
        assert!(
            names.iter().any(|n| n == t.name()),
            "no fixture for {}",
            t.name()
        );
    }
    let mut checked = 0;
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let fx: serde_json::Value = serde_json::from_str(&text).unwrap();
        let name = fx["name"].as_str().unwrap();
        let template = fx["template"].as_str().unwrap();
        if let Some(b) = BuiltinTemplate::from_name(name) {
            assert_eq!(
                b.source(),
                template,
                "{name}: fixture is stale, re-run the tool"
            );
        }
        for (i, case) in fx["cases"].as_array().unwrap().iter().enumerate() {
            let messages: Vec<ChatMessage> = case["messages"]
                .as_array()
                .unwrap()
                .iter()
                .map(|m| {
                    ChatMessage::new(m["role"].as_str().unwrap(), m["content"].as_str().unwrap())
                })
                .collect();
            let got = render(
                template,
                &messages,
                case["add_generation_prompt"].as_bool().unwrap(),
                case["bos_token"].as_str().unwrap(),
                case["eos_token"].as_str().unwrap(),
            );
            match (case.get("expected"), case.get("error")) {
                (Some(want), _) => {
                    let got = got.unwrap_or_else(|e| panic!("{name} case {i}: {e}"));
                    assert_eq!(got, want.as_str().unwrap(), "{name} case {i}");
                }
                (None, Some(err)) => match got {
                    Err(ChatError::Raised(msg)) => assert_eq!(msg, err.as_str().unwrap()),
                    other => panic!("{name} case {i}: expected raise, got {other:?}"),
                },
                _ => panic!("{name} case {i}: malformed fixture"),
            }
            checked += 1;
        }
    }
    assert!(checked >= 50, "only {checked} cases checked");
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
