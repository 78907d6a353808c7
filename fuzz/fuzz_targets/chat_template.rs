//! Renders arbitrary chat templates with a few messages through the engine's bounded
//! renderer. Input: the template source, then up to eight messages, each introduced by a
//! NUL byte (roles alternate user/assistant; a first message starting with `!` is a
//! system message). Any panic, abort, stack overflow, timeout (run with `-timeout`) or
//! allocation above libFuzzer's limit is a bug: the budget must stop every template.
#![no_main]

use engine::chat::{render_with, ChatMessage, RenderOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.split('\0');
    let template = parts.next().unwrap_or("");
    let mut messages: Vec<ChatMessage> = Vec::new();
    for (i, part) in parts.take(8).enumerate() {
        messages.push(match part.strip_prefix('!') {
            Some(rest) if i == 0 => ChatMessage::system(rest),
            _ if messages.len() % 2 == usize::from(messages.first().is_some_and(|m| m.role == "system")) => {
                ChatMessage::user(part)
            }
            _ => ChatMessage::assistant(part),
        });
    }
    if messages.is_empty() {
        messages.push(ChatMessage::user("Hello!"));
    }
    let opts = RenderOptions {
        add_generation_prompt: data.len() % 2 == 0,
        bos_token: "<s>",
        eos_token: "</s>",
        now_unix_secs: Some(1_722_000_896),
    };
    let _ = render_with(template, &messages, &opts);
});
