//! Chat templates are code from the model file (or from `--chat-template`): rendering
//! one runs under a budget of steps and memory, and only `chat` renders them.

use std::path::{Path, PathBuf};

use gguf::{GgufFile, GgufWriter, Value};

use crate::common::{tiny, tmp_dir};
use crate::probe::Probe;

/// Templates that loop, allocate or recurse without end, and what the error names.
const HOSTILE: [(&str, &str); 7] = [
    (
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "resource limit",
    ),
    (
        "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
        "resource limit",
    ),
    (
        "{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = (ns.l + ns.l) | list %}{% endfor %}{{ ns.l | length }}",
        "resource limit",
    ),
    (
        "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
        "recursion",
    ),
    ("{% for i in range(10**12) %}{% endfor %}", "range"),
    ("{{ '{:>1000000000}'.format(1) }}", "resource limit"),
    (
        "{% set ns = namespace(l=[]) %}{% for i in range(99999) %}{% set ns.l = [ns.l] %}{% endfor %}{{ ns.l | tojson(indent=8) }}",
        "resource limit",
    ),
];

/// RSS ceiling of a refused render (the budget of a short conversation is 64 MB of data).
const RSS: u64 = 200 << 20;

/// A copy of the tiny model whose `tokenizer.chat_template` is `template`.
fn with_template(dir: &Path, i: usize, template: &str) -> String {
    let file = GgufFile::open(tiny("tiny-q4_0")).expect("open the tiny model");
    let mut w = GgufWriter::from_gguf(&file);
    w.add_kv("tokenizer.chat_template", Value::String(template.into()));
    let p = dir.join(format!("hostile-template-{i}.gguf"));
    std::fs::write(&p, w.to_bytes()).expect("write the model copy");
    p.to_string_lossy().into_owned()
}

#[test]
fn chat_refuses_a_hostile_template_in_the_model_file() {
    let dir = tmp_dir();
    for (i, (template, needle)) in HOSTILE.iter().enumerate() {
        let model = with_template(&dir, i, template);
        Probe::new(&["chat", "-m", &model, "-n", "2"])
            .stdin("hi\n")
            .run()
            .clean_error(needle)
            .clean_error("chat template")
            .faster_than(2.0)
            .rss_below(RSS);
    }
}

/// Two lists that each hold the previous one twice, 64 times over: minijinja 3.1 does
/// not charge comparing them (2^64 steps), so `chat` stops the render at its deadline.
#[test]
fn chat_stops_a_render_that_outlives_its_deadline() {
    let path = template_file(
        "{% set ns = namespace(a=[1], b=[1]) %}{% for i in range(64) %}{% set ns.a = [ns.a, ns.a] %}{% set ns.b = [ns.b, ns.b] %}{% endfor %}{{ ns.a == ns.b }}",
    );
    chat_with_file(&path, "hi\n")
        .clean_error("rendering took more than 1.5 s")
        .faster_than(2.0)
        .rss_below(RSS);
}

/// Templates whose growth minijinja 3.1 does not charge: `~` with a list that repeats a
/// 1 MB string, and `+` on lists chained in a loop. `chat` stops them when the process
/// grows by 1 GiB, well below the suite's 2 GB, or by their budget error first.
#[test]
fn chat_stops_a_render_that_grows_uncharged() {
    for source in [
        "{% set s = 'x' * 1000000 %}{% set l = [s] * 3000 %}{{ (l ~ '') | length }}",
        "{% set ns = namespace(l=[1]) %}{% for i in range(40) %}{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l | length }}",
    ] {
        let out = chat_with_file(&template_file(source), "hi\n");
        out.clean_error("chat template exceeded its resource limit")
            .faster_than(2.0)
            .rss_below(1600 << 20);
    }
}

/// A fresh Jinja file holding `source`.
fn template_file(source: &str) -> PathBuf {
    let path = tmp_dir().join("template.jinja");
    std::fs::write(&path, source).expect("write the template");
    path
}

/// `chat` on the tiny model with the template file `path`, one message per `input` line.
fn chat_with_file(path: &Path, input: &str) -> crate::probe::Outcome {
    Probe::new(&[
        "chat",
        "-m",
        &tiny("tiny-q4_0"),
        "--chat-template",
        path.to_str().unwrap(),
        "-n",
        "2",
    ])
    .stdin(input)
    .run()
}

#[test]
fn commands_that_do_not_render_ignore_a_hostile_template() {
    let dir = tmp_dir();
    for (i, (template, _)) in HOSTILE.iter().enumerate() {
        let model = with_template(&dir, i, template);
        Probe::new(&["info", "-m", &model]).run().success();
        Probe::new(&["run", "-m", &model, "-p", "hi", "-n", "2"])
            .run()
            .success();
        Probe::new(&["tokenize", "-m", &model, "-p", "hi"])
            .run()
            .success();
    }
}

#[test]
fn chat_refuses_a_hostile_template_file() {
    for (template, needle) in HOSTILE {
        chat_with_file(&template_file(template), "hi\n")
            .clean_error(needle)
            .faster_than(2.0)
            .rss_below(RSS);
    }
}

#[test]
fn chat_renders_a_long_conversation() {
    // 40 turns of 2 KB each through a file template: the budget grows with the
    // conversation; the context (not the template) ends it.
    let path = template_file(
        "{% for m in messages %}{{ m.role }}: {{ m.content | trim }}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}",
    );
    let line = "word ".repeat(400) + "\n";
    let out = chat_with_file(&path, &line.repeat(40));
    assert!(
        !out.stderr.contains("chat template"),
        "the template was refused: {}",
        out.stderr
    );
}
