//! `run` and `chat` against llama.cpp's greedy references.

mod common;

use common::*;

/// llama.cpp's greedy continuation of `prompt`, cut before the first step whose top-2
/// margin is below `min_margin` and before an end-of-generation token.
fn sure_prefix(p: &serde_json::Value, min_margin: f64, eog: &[u32]) -> Vec<u32> {
    let steps = p["steps"].as_array().unwrap();
    let n = steps
        .iter()
        .position(|s| s["margin"].as_f64().unwrap() < min_margin)
        .unwrap_or(steps.len());
    let gen = ids(&p["generated"]);
    let mut out = gen[..n].to_vec();
    if let Some(i) = out.iter().position(|id| eog.contains(id)) {
        out.truncate(i);
    }
    out
}

fn check_greedy(model_name: &str, model: &str, min_margin: f64, names: &[&str]) -> usize {
    let fx = fixture(&format!("{model_name}.greedy.json"));
    let eog = [fx["eos"].as_u64().unwrap() as u32];
    let mut compared = 0;
    for &(name, text) in PROMPTS.iter().filter(|(n, _)| names.contains(n)) {
        let p = fx["prompts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap();
        // Same prompt tokens as llama.cpp.
        let got: Vec<u32> =
            serde_json::from_str(&ok(&["tokenize", "-m", model, "--prompt", text, "--json"]))
                .unwrap();
        assert_eq!(got, ids(&p["ids"]), "{model_name} / {name}: prompt tokens");
        let want = sure_prefix(p, min_margin, &eog);
        if want.is_empty() {
            continue;
        }
        let n = want.len().to_string();
        let out = ok(&[
            "run",
            "-m",
            model,
            "--prompt",
            text,
            "-n",
            &n,
            "--temp",
            "0",
            "-c",
            "1024",
            "--cache-type",
            "f32",
        ]);
        assert_eq!(out, detokenize(model, &want), "{model_name} / {name}");
        compared += want.len();
    }
    compared
}

#[test]
fn run_temp0_equals_llama_cpp_greedy_on_tiny_models() {
    let names = ["capital", "once", "code", "fox", "qa", "emoji", "devil"];
    let mut total = 0;
    for m in ["tiny-q4_k_m", "tiny-q8_0", "tiny-q4_0", "tiny-f16"] {
        total += check_greedy(m, &tiny(m), 0.05, &names);
    }
    eprintln!("{total} greedy tokens equal to llama.cpp");
    assert!(total > 100, "only {total} tokens compared");
}

#[test]
fn run_gemma_greedy_if_present() {
    let Some(model) = gemma() else { return };
    // Few tokens: the scalar kernels are slow.
    let fx = fixture("gemma-3-270m-q4_k_m.greedy.json");
    let p = &fx["prompts"][0];
    assert_eq!(p["name"], "capital");
    let eog = [1u32, 106];
    let want: Vec<u32> = sure_prefix(p, 0.2, &eog).into_iter().take(6).collect();
    let out = ok(&[
        "run",
        "-m",
        &model,
        "-p",
        PROMPTS[0].1,
        "-n",
        &want.len().to_string(),
        "--temp",
        "0",
        "-c",
        "256",
    ]);
    assert_eq!(out, detokenize(&model, &want));
}

#[test]
fn stop_string_cuts_the_output_and_n0_prints_nothing() {
    let m = tiny("tiny-q8_0");
    let args = [
        "run",
        "-m",
        &m,
        "-p",
        "Once upon a time",
        "-n",
        "24",
        "--temp",
        "0",
    ];
    let full = ok(&args);
    let chars: Vec<(usize, char)> = full.char_indices().collect();
    assert!(chars.len() > 10, "{full:?}");
    let stop = &full[chars[5].0..chars[8].0];
    let cut = full.find(stop).unwrap();
    let mut with_stop = args.to_vec();
    with_stop.extend(["--stop", stop]);
    assert_eq!(ok(&with_stop), full[..cut]);
    let mut none = args.to_vec();
    none[6] = "0";
    assert_eq!(ok(&none), "");
}

#[test]
fn prompt_file_drops_one_newline_and_no_bos_changes_the_prompt() {
    let m = tiny("tiny-q4_k_m");
    let dir = std::env::temp_dir().join(format!("wc-cli-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("prompt.txt");
    std::fs::write(&f, "The quick brown fox\n").unwrap();
    let base = ["-n", "8", "--temp", "0", "-m", &m];
    let from_p = ok(&[&["run", "-p", "The quick brown fox"][..], &base].concat());
    let from_f = ok(&[&["run", "-f", f.to_str().unwrap()][..], &base].concat());
    assert_eq!(from_p, from_f);
    // Seeded sampling is reproducible.
    let sampled = [
        "run",
        "-m",
        &m,
        "-p",
        "The quick brown fox",
        "-n",
        "8",
        "--seed",
        "5",
        "--temp",
        "1",
    ];
    assert_eq!(ok(&sampled), ok(&sampled));
    let ids: Vec<u32> = serde_json::from_str(&ok(&[
        "tokenize",
        "-m",
        &m,
        "-p",
        "The quick brown fox",
        "--json",
        "--no-bos",
    ]))
    .unwrap();
    assert_ne!(ids.first(), Some(&1));
}

#[test]
fn chat_reads_piped_lines_and_reset_forgets_the_conversation() {
    let m = tiny("tiny-q4_k_m");
    let args = ["chat", "-m", &m, "-n", "6", "--temp", "0", "-c", "512"];
    let out = wc_stdin(&args, "Hello there\n/reset\nHello there\n/exit\nnot read\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    // Two answers, each followed by a newline; after /reset the same question gives
    // the same greedy answer.
    let half = text.len() / 2;
    assert_eq!(text.len() % 2, 0, "{text:?}");
    assert_eq!(text[..half], text[half..], "{text:?}");
    assert!(text.ends_with('\n'));
    // Without the reset the second turn sees the first one: the run still succeeds, and
    // a system prompt and a named template are accepted.
    let out = wc_stdin(
        &[&args[..], &["-s", "Be brief.", "--chat-template", "chatml"]].concat(),
        "Hello there\nAnd then?\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8(out.stdout).unwrap().matches('\n').count() >= 2);
    let err = fails(&[&args[..], &["--chat-template", "no-such-template"]].concat());
    assert!(err.contains("chat_template"), "{err}");
}

#[test]
fn chat_gemma_if_present() {
    let Some(model) = gemma() else { return };
    let out = wc_stdin(
        &["chat", "-m", &model, "-n", "3", "--temp", "0", "-c", "256"],
        "Say hello.\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.ends_with('\n') && text.trim().len() > 1, "{text:?}");
}

/// A file in the temporary directory, unique to this process.
fn temp_file(name: &str, contents: &[u8]) -> String {
    let p = std::env::temp_dir().join(format!("wc-{}-{name}", std::process::id()));
    std::fs::write(&p, contents).unwrap();
    p.to_string_lossy().into_owned()
}

/// What `tools/render_chat_templates.py`'s environment (jinja2 with transformers' `tojson`)
/// renders from the built-in qwen2 template with TOOLS and one user message.
const TOOLS: &str = r#"[{"type": "function", "function": {"name": "get_weather", "description": "Wetter in °C <jetzt> & 'später'", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]"#;
const TOOLS_PROMPT: &str = "<|im_start|>system\nYou are a helpful assistant.\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>\n{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", \"description\": \"Wetter in °C <jetzt> & 'später'\", \"parameters\": {\"type\": \"object\", \"properties\": {\"city\": {\"type\": \"string\"}}, \"required\": [\"city\"]}}}\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n";

#[test]
fn chat_tools_reach_the_template_as_transformers_renders_them() {
    let m = tiny("tiny-q4_k_m");
    let tools = temp_file("tools.json", TOOLS.as_bytes());
    let args = [
        "chat",
        "-m",
        &m,
        "-n",
        "2",
        "--temp",
        "0",
        "-c",
        "2048",
        "--chat-template",
        "qwen2",
        "--verbose-prompt",
    ];
    let out = wc_stdin(
        &[&args[..], &["--tools", &tools]].concat(),
        "Weather in Paris?\n",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains(TOOLS_PROMPT), "{err}");
    assert!(!err.contains("warning"), "{err}");
    // Without --tools the same template renders no tools section.
    let out = wc_stdin(&args, "Weather in Paris?\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n"),
        "{err}"
    );
    assert!(!err.contains("<tools>"), "{err}");
    // A template that does not read `tools` renders as before, with a warning.
    let out = wc_stdin(
        &[
            "chat",
            "-m",
            &m,
            "-n",
            "1",
            "--chat-template",
            "gemma",
            "--tools",
            &tools,
        ],
        "Hi\n",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("does not read `tools`"), "{err}");
    std::fs::remove_file(&tools).unwrap();
}

#[test]
fn chat_tools_file_errors_name_the_problem() {
    let m = tiny("tiny-q4_k_m");
    let cases: [(&str, &[u8], &str); 5] = [
        (
            "object.json",
            br#"{"type": "function"}"#,
            "expected a JSON array of tool definitions, found an object",
        ),
        (
            "item.json",
            br#"[{"type": "function"}, "get_weather"]"#,
            "tool 1 is a string, not an object",
        ),
        ("broken.json", b"[{\"type\": }]", "not valid JSON"),
        ("latin1.json", b"[{\"d\": \"caf\xe9\"}]", "invalid utf-8"),
        (
            "big.json",
            &[b' '; (1 << 20) + 1],
            "more than the limit of 1 MiB",
        ),
    ];
    for (name, contents, needle) in cases {
        let path = temp_file(name, contents);
        let err = fails(&[
            "chat",
            "-m",
            &m,
            "--chat-template",
            "qwen2",
            "--tools",
            &path,
        ]);
        assert!(err.contains(needle) && err.contains(&path), "{name}: {err}");
        std::fs::remove_file(&path).unwrap();
    }
    let err = fails(&["chat", "-m", &m, "--tools", "no/such/tools.json"]);
    assert!(
        err.contains("reading tools file no/such/tools.json"),
        "{err}"
    );
    let dir = std::env::temp_dir();
    let err = fails(&["chat", "-m", &m, "--tools", dir.to_str().unwrap()]);
    assert!(err.contains("is a directory, not a JSON file"), "{err}");
}
