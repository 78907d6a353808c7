//! Built-in chat templates, used when a GGUF file carries no `tokenizer.chat_template`
//! (e.g. base models such as Gemma 3 270M) or when the user picks one by name.
//!
//! The template texts (in `templates/`) are written from the published prompt formats of
//! each model family (`qwen2` is Qwen2.5's template with Qwen 2's default system prompt); `tools/render_chat_templates.py` renders them with Python jinja2 to
//! produce the fixtures the tests compare against.

/// A built-in chat template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BuiltinTemplate {
    /// Gemma 1–3: `<start_of_turn>user\n…<end_of_turn>\n<start_of_turn>model\n`.
    Gemma,
    /// Llama 2 chat: `<s>[INST] <<SYS>>\n…\n<</SYS>>\n\n… [/INST] … </s>`.
    Llama2,
    /// Llama 3: `<|start_header_id|>role<|end_header_id|>\n\n…<|eot_id|>`.
    Llama3,
    /// ChatML: `<|im_start|>role\n…<|im_end|>\n`.
    ChatMl,
    /// Zephyr: `<|user|>\n…</s>\n<|assistant|>\n`.
    Zephyr,
    /// Mistral instruct v0.1: `<s>[INST] … [/INST]…</s>` (no system role).
    Mistral,
    /// Qwen 2 / 2.5: ChatML with a default system prompt; with `tools`, Qwen2.5's tool
    /// format (`<tools>` in the system turn, `<tool_call>`, `<tool_response>`).
    Qwen2,
}

impl BuiltinTemplate {
    /// Every built-in template.
    pub const ALL: [BuiltinTemplate; 7] = [
        Self::Gemma,
        Self::Llama2,
        Self::Llama3,
        Self::ChatMl,
        Self::Zephyr,
        Self::Mistral,
        Self::Qwen2,
    ];

    /// Short name, as accepted by [`BuiltinTemplate::from_name`].
    pub fn name(self) -> &'static str {
        match self {
            Self::Gemma => "gemma",
            Self::Llama2 => "llama2",
            Self::Llama3 => "llama3",
            Self::ChatMl => "chatml",
            Self::Zephyr => "zephyr",
            Self::Mistral => "mistral",
            Self::Qwen2 => "qwen2",
        }
    }

    /// Looks a template up by its short name (case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(name.trim()))
    }

    /// Jinja source of the template.
    pub fn source(self) -> &'static str {
        match self {
            Self::Gemma => include_str!("templates/gemma.jinja"),
            Self::Llama2 => include_str!("templates/llama2.jinja"),
            Self::Llama3 => include_str!("templates/llama3.jinja"),
            Self::ChatMl => include_str!("templates/chatml.jinja"),
            Self::Zephyr => include_str!("templates/zephyr.jinja"),
            Self::Mistral => include_str!("templates/mistral.jinja"),
            Self::Qwen2 => include_str!("templates/qwen2.jinja"),
        }
    }

    /// Text that closes an assistant turn; generation in chat mode stops on it (it is
    /// usually an end-of-generation token too, but base models may not mark it so).
    pub fn end_of_turn(self) -> &'static str {
        match self {
            Self::Gemma => "<end_of_turn>",
            Self::Llama3 => "<|eot_id|>",
            Self::ChatMl | Self::Qwen2 => "<|im_end|>",
            Self::Llama2 | Self::Zephyr | Self::Mistral => "</s>",
        }
    }

    /// Picks a template from the model architecture (`general.architecture`) and, for
    /// architectures shared by several families, from marker tokens in the vocabulary.
    pub fn detect(architecture: &str, has_token: impl Fn(&str) -> bool) -> Option<Self> {
        let arch = architecture.to_ascii_lowercase();
        if arch.starts_with("gemma") {
            return Some(Self::Gemma);
        }
        if arch.starts_with("qwen") {
            return Some(Self::Qwen2);
        }
        if has_token("<|eot_id|>") && has_token("<|start_header_id|>") {
            return Some(Self::Llama3);
        }
        if has_token("<|im_start|>") && has_token("<|im_end|>") {
            return Some(Self::ChatMl);
        }
        if has_token("<start_of_turn>") {
            return Some(Self::Gemma);
        }
        if arch == "llama" {
            return Some(Self::Llama2);
        }
        None
    }
}
