//! Resource limits of chat templates: real templates render long conversations well
//! inside their budget, hostile ones fail fast with a limit error.

use super::*;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/chat")
}

/// Every template we know to be legitimate: the built-ins, the templates of the jinja2
/// fixtures and the HF-style patterns in `tests/fixtures/chat/patterns`.
fn real_templates() -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = BuiltinTemplate::ALL
        .iter()
        .map(|t| (t.name().to_string(), t.source().to_string()))
        .collect();
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .chain(std::fs::read_dir(fixtures().join("patterns")).unwrap())
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for path in files {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let source = match path.extension().and_then(|x| x.to_str()) {
            Some("jinja") => std::fs::read_to_string(&path).unwrap(),
            Some("json") => {
                let fx: serde_json::Value =
                    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
                fx["template"].as_str().unwrap().to_string()
            }
            _ => continue,
        };
        if !all.iter().any(|(_, s)| *s == source) {
            all.push((name, source));
        }
    }
    assert!(all.len() >= 13, "{} templates", all.len());
    all
}

/// Text of `len` bytes (words, punctuation, line breaks, some non-ASCII), different for
/// each `seed`; assistant turns carry a `<think>` block.
fn text(seed: usize, len: usize, assistant: bool) -> String {
    const WORDS: [&str; 8] = [
        "the",
        "model",
        "answers,",
        "quickly.",
        "Ünïcode",
        "✓",
        "code:\n",
        "  spaced  ",
    ];
    let mut s = String::with_capacity(len + 16);
    if assistant {
        s.push_str("<think>\nreasoning</think>\n");
    }
    let mut i = seed;
    while s.len() < len {
        s.push_str(WORDS[i % WORDS.len()]);
        s.push(' ');
        i = i.wrapping_mul(31).wrapping_add(7);
    }
    while s.len() > len {
        s.pop();
    }
    s
}

/// `n` messages of `len` bytes, user and assistant in turn, after an optional system
/// message.
fn conversation(n: usize, len: usize, system: bool) -> Vec<ChatMessage> {
    let mut msgs = Vec::with_capacity(n + 1);
    if system {
        msgs.push(ChatMessage::system(text(usize::MAX / 3, len, false)));
    }
    for i in 0..n {
        msgs.push(if i % 2 == 0 {
            ChatMessage::user(text(i, len, false))
        } else {
            ChatMessage::assistant(text(i, len, true))
        });
    }
    msgs
}

fn opts() -> RenderOptions<'static> {
    RenderOptions {
        add_generation_prompt: true,
        bos_token: "<s>",
        eos_token: "</s>",
        now_unix_secs: Some(1_722_000_896),
        tools: None,
    }
}

/// Renders with the conversation's budget; the fuel used and the budget.
fn fuel_use(source: &str, msgs: &[ChatMessage]) -> Result<(String, u64, u64), ChatError> {
    let fuel = budget::fuel_for(msgs, &opts());
    render_fueled(source, msgs, &opts(), fuel).map(|(out, used)| (out, used, fuel))
}

#[test]
#[ignore = "prints the fuel real templates use"]
fn print_fuel_use() {
    for (n, len) in [(2, 10), (200, 4096), (4000, 20), (50, 20_000)] {
        for (name, source) in real_templates() {
            for system in [false, true] {
                let msgs = conversation(n, len, system);
                match fuel_use(&source, &msgs) {
                    Ok((_, used, fuel)) => eprintln!(
                        "{n:>5} x {len:>6} sys={system:<5} {name:<15} used {used:>9} of {fuel:>9} ({:.3})",
                        used as f64 / fuel as f64
                    ),
                    Err(e) => eprintln!("{n:>5} x {len:>6} sys={system:<5} {name:<15} {e}"),
                }
            }
        }
    }
}

/// Conversations every real template must render inside a quarter of its budget: 200
/// messages of 4 KB (with and without a system message), 4000 short ones, 50 of 20 KB.
/// Two templates do quadratic work and get smaller ones (see `quadratic_templates`).
#[test]
fn real_templates_render_long_conversations_within_budget() {
    let mut checked = 0;
    for (n, len) in [(200, 4096), (4000, 20), (50, 20_000)] {
        for (name, source) in real_templates() {
            if name == "accumulate" || (name == "prefix_scan" && n > 1000) {
                continue;
            }
            for system in [false, true] {
                let msgs = conversation(n, len, system);
                let start = cpu_time::ThreadTime::now();
                let (out, used, fuel) = match fuel_use(&source, &msgs) {
                    Err(ChatError::Raised(_)) if system && name == "mistral" => continue,
                    r => r.unwrap_or_else(|e| panic!("{name} {n} x {len}: {e}")),
                };
                assert!(out.len() >= n * len / 2, "{name}: {} bytes", out.len());
                assert!(used * 4 <= fuel, "{name} {n} x {len}: {used} of {fuel}");
                // thread CPU time: a loaded machine does not fail it
                assert!(
                    start.elapsed() < Duration::from_secs(2),
                    "{name} {n} x {len}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 60, "{checked}");
}

/// Templates that copy the conversation once per message need work quadratic in its
/// length; they still fit conversations of a few hundred KB of text.
#[test]
fn quadratic_templates() {
    let source = |name: &str| {
        std::fs::read_to_string(fixtures().join(format!("patterns/{name}.jinja"))).unwrap()
    };
    // Every message slices and filters all those before it.
    let (_, used, fuel) = fuel_use(&source("prefix_scan"), &conversation(500, 20, true)).unwrap();
    assert!(used * 2 <= fuel, "prefix_scan: {used} of {fuel}");
    // The whole prompt is rebuilt in a namespace variable for every message.
    let (_, used, fuel) = fuel_use(&source("accumulate"), &conversation(60, 4096, true)).unwrap();
    assert!(used * 2 <= fuel, "accumulate: {used} of {fuel}");
}

/// Tells whether an error is the expected one.
type Check = dyn Fn(&ChatError) -> bool;

/// Hostile templates: each must fail with the named error within 2 s of the thread's CPU
/// time (the budget of a small conversation is 64 MB of data; the CLI probes check the
/// memory). CPU time, not wall time, so a loaded machine does not fail the test; a hang
/// still fails it through the 60 s wall-clock bound.
#[test]
fn hostile_templates_fail_fast_with_a_limit_error() {
    let out_of_budget = |e: &ChatError| matches!(e, ChatError::OutOfBudget { .. });
    let too_deep = |e: &ChatError| matches!(e, ChatError::TooDeep { .. });
    let range_limit =
        |e: &ChatError| matches!(e, ChatError::Render { detail, .. } if detail.contains("range"));
    let deep_list = "{% set ns = namespace(l=[]) %}{% for i in range(99999) %}{% set ns.l = [ns.l] %}{% endfor %}";
    let big = "{% set s = 'x' * 1000000 %}";
    let tree = "{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = [ns.l, ns.l] %}{% endfor %}";
    let cases: Vec<(String, &Check)> = vec![
        // Ten billion steps.
        ("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}".into(), &out_of_budget),
        // A string doubled 64 times (a namespace makes it outlive the loop body).
        ("{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}".into(), &out_of_budget),
        // A list doubled 64 times (`| list` materializes minijinja's lazy `+`).
        ("{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = (ns.l + ns.l) | list %}{% endfor %}{{ ns.l | length }}".into(), &out_of_budget),
        ("{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = (ns.l * 2) | list %}{% endfor %}{{ ns.l | length }}".into(), &out_of_budget),
        // A string doubled by recursion.
        ("{% macro d(s, n) %}{% if n %}{{ d(s ~ s, n - 1) }}{% else %}{{ s | length }}{% endif %}{% endmacro %}{{ d('x', 64) }}".into(), &out_of_budget),
        // Endless recursion.
        ("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}".into(), &too_deep),
        ("{% for m in messages recursive %}{{ loop(messages) }}{% endfor %}".into(), &too_deep),
        // Huge ranges and repetitions.
        ("{% for i in range(10**12) %}{% endfor %}".into(), &range_limit),
        ("{{ 'x' * 10**10 }}".into(), &out_of_budget),
        ("{{ 'ab\ncd' | indent(10**9) }}".into(), &out_of_budget),
        ("{{ range(10) | batch(10**9, 'x') | list }}".into(), &out_of_budget),
        ("{{ '%1000000000d' | format(1) }}".into(), &out_of_budget),
        // Widths, precisions and indents that minijinja charges only afterwards.
        ("{{ '{:>1000000000}'.format(1) }}".into(), &out_of_budget),
        ("{{ '{:.1000000000f}'.format(1.5) }}".into(), &out_of_budget),
        ("{{ messages | tojson(indent=10**9) }}".into(), &out_of_budget),
        // A value nested 100 000 deep: printing, serializing, comparing and dropping it
        // recurse once per level.
        (format!("{deep_list}{{{{ ns.l | tojson(indent=32) }}}}"), &out_of_budget),
        (format!("{deep_list}{{{{ ns.l }}}}{{{{ ns.l | string | length }}}}{{{{ ns.l == ns.l ~ '' }}}}{{% for i in range(10**5) %}}{{{{ ns.l }}}}{{% endfor %}}"), &out_of_budget),
        // One big string held many times (charged once by minijinja) and a list that
        // holds the previous one twice, 64 times over: printing them is refused.
        (format!("{big}{{{{ [s] * 1000 }}}}"), &out_of_budget),
        (format!("{big}{{{{ ([s] * 1000) | join | length }}}}"), &out_of_budget),
        (format!("{big}{{{{ ([s] * 1000) | string | length }}}}"), &out_of_budget),
        (format!("{big}{{{{ ([s] * 1000) | tojson | length }}}}"), &out_of_budget),
        (format!("{big}{{{{ ' '.join([s] * 1000) | length }}}}"), &out_of_budget),
        (format!("{big}{{{{ ('{{}}' * 1000).format(*([s] * 1000)) | length }}}}"), &out_of_budget),
        (format!("{tree}{{{{ ns.l }}}}"), &out_of_budget),
        (format!("{tree}{{{{ ns.l | tojson }}}}"), &out_of_budget),
        // Strings that grow with each step.
        (format!("{big}{{% for i in range(10**5) %}}{{{{ s }}}}{{% endfor %}}"), &out_of_budget),
        (format!("{big}{{% set ns = namespace(t='') %}}{{% for i in range(10**5) %}}{{% set ns.t = ns.t ~ s %}}{{% endfor %}}"), &out_of_budget),
    ];
    let msgs = conversation(4, 100, true);
    for (template, expected) in &cases {
        let start = Instant::now();
        let cpu = cpu_time::ThreadTime::now();
        let err = match render_with(template, &msgs, &opts()) {
            Ok(out) => panic!("{template}: rendered {} bytes", out.len()),
            Err(e) => e,
        };
        let (took, wall) = (cpu.elapsed(), start.elapsed());
        assert!(expected(&err), "{template}: {err:?}");
        assert!(
            took < Duration::from_secs(2),
            "{template}: {took:?} of CPU time"
        );
        assert!(wall < Duration::from_secs(60), "{template}: {wall:?}");
        let text = err.to_string();
        assert!(text.starts_with("chat template "), "{text}");
    }
}

/// Without a namespace a `set` in a loop body lasts one iteration, so this doubling
/// (the form often quoted) never grows: it renders.
#[test]
fn loop_scoped_doubling_is_harmless() {
    let t = "{% set s = 'x' %}{% for i in range(64) %}{% set s = s ~ s %}{% endfor %}{{ s }}";
    assert_eq!(render_with(t, &[], &opts()).unwrap(), "x");
}

#[test]
fn limit_errors_name_the_limit() {
    let e = render_with(
        "{% for i in range(10**5) %}{% for j in range(10**5) %}{% endfor %}{% endfor %}",
        &[],
        &opts(),
    )
    .unwrap_err();
    let fuel = budget::fuel_for(&[], &opts());
    assert_eq!(e, ChatError::OutOfBudget { fuel });
    let text = e.to_string();
    assert!(
        text.contains("exceeded its resource limit") && text.contains(&fuel.to_string()),
        "{text}"
    );
    let e = render_with(
        "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
        &[],
        &opts(),
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("recursion deeper than 50 macro calls"),
        "{e}"
    );
}

#[test]
fn the_budget_grows_with_the_conversation() {
    let o = opts();
    let small = budget::fuel_for(&[], &o);
    assert_eq!(small, budget::BASE_FUEL + 7);
    let msgs = conversation(200, 4096, false);
    let bytes: usize = msgs.iter().map(|m| m.role.len() + m.content.len()).sum();
    assert_eq!(
        budget::fuel_for(&msgs, &o),
        small + 200 * budget::FUEL_PER_MESSAGE + bytes as u64 * budget::FUEL_PER_BYTE
    );
}
