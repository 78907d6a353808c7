//! Prompts to token ids for one model: raw prompts (as `wasm-chord run -p`
//! tokenizes them) and conversations through the chat template, checked
//! against a context window. Shared by a [`Session`](crate::Session) and by
//! any front end that runs its own [`Scheduler`](crate::Scheduler) (a
//! server), so both turn the same text into the same tokens.

use std::sync::Arc;

use tokenizer::Tokenizer;

use crate::chat::{self, BuiltinTemplate, ChatMessage, RenderOptions, Tools};
use crate::config::EngineMeta;
use crate::error::EngineError;

/// The chat template in use.
#[derive(Debug, Clone)]
struct Template {
    source: String,
    builtin: Option<BuiltinTemplate>,
}

/// A chat rendered and tokenized for generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatPrompt {
    /// Prompt ids (exactly one BOS when the model wants one).
    pub ids: Vec<u32>,
    /// The end-of-turn marker of a built-in template (it ends the answer).
    pub end_of_turn: Option<&'static str>,
}

/// A model's tokenizer, metadata and chat template, for a context of
/// `n_ctx` tokens.
#[derive(Debug, Clone)]
pub struct Prompter {
    tok: Arc<Tokenizer>,
    meta: EngineMeta,
    template: Option<Template>,
    n_ctx: usize,
}

impl Prompter {
    /// The chat template is `chat_template` (a built-in name or Jinja
    /// source) if given, else the file's, else a built-in chosen by
    /// architecture (or none).
    pub fn new(
        tok: Arc<Tokenizer>,
        meta: EngineMeta,
        chat_template: Option<&str>,
        n_ctx: usize,
    ) -> Result<Prompter, EngineError> {
        let template = choose_template(chat_template, &meta, &tok)?;
        Ok(Prompter {
            tok,
            meta,
            template,
            n_ctx,
        })
    }

    /// Renders a conversation (and its tool definitions) with the chat template.
    pub fn render_chat(
        &self,
        messages: &[ChatMessage],
        tools: Option<&Tools>,
        add_generation_prompt: bool,
    ) -> Result<String, EngineError> {
        let t = self
            .template
            .as_ref()
            .ok_or_else(|| EngineError::NoChatTemplate {
                arch: self.meta.architecture.clone(),
            })?;
        let text = |id: Option<u32>| id.and_then(|i| self.tok.token_text(i)).unwrap_or("");
        let opts = RenderOptions {
            add_generation_prompt,
            bos_token: text(self.tok.bos()),
            eos_token: text(self.tok.eos()),
            now_unix_secs: None,
            tools,
        };
        Ok(chat::render_with(&t.source, messages, &opts)?)
    }

    /// The prompt of the assistant's reply to a conversation: rendered with
    /// a generation prompt, control tokens parsed, exactly one BOS when the
    /// model wants one; refused before tokenizing when its length alone
    /// shows it cannot fit.
    pub fn chat_prompt(
        &self,
        messages: &[ChatMessage],
        tools: Option<&Tools>,
    ) -> Result<ChatPrompt, EngineError> {
        let text = self.render_chat(messages, tools, true)?;
        self.check_prompt_length(&text, self.tok.add_bos())?;
        let mut ids = self.tok.encode(&text, false, true);
        if let (true, Some(bos)) = (self.tok.add_bos(), self.tok.bos()) {
            if ids.first() != Some(&bos) {
                ids.insert(0, bos);
            }
        }
        Ok(ChatPrompt {
            ids,
            end_of_turn: self.chat_template_builtin().map(|b| b.end_of_turn()),
        })
    }

    /// A prompt's ids ([`Prompter::tokenize`]), refused before any tokenizing work when
    /// its length alone shows it cannot fit in the context window with one position
    /// free ([`EngineError::PromptTooLongBytes`]).
    pub fn tokenize_prompt(
        &self,
        text: &str,
        add_special: bool,
        parse_special: bool,
    ) -> Result<Vec<u32>, EngineError> {
        self.check_prompt_length(text, add_special && self.tok.add_bos())?;
        Ok(self.tok.encode(text, add_special, parse_special))
    }

    /// Refuses `text` if even its shortest possible tokenization (plus BOS) leaves no
    /// free position in the context, as the prefill of a generation would.
    fn check_prompt_length(&self, text: &str, bos: bool) -> Result<(), EngineError> {
        let min_tokens = self.tok.min_tokens(text) + usize::from(bos);
        if min_tokens >= self.n_ctx {
            return Err(EngineError::PromptTooLongBytes {
                bytes: text.len(),
                min_tokens,
                max_token_bytes: self.tok.max_token_bytes(),
                n_ctx: self.n_ctx,
            });
        }
        Ok(())
    }

    /// Text to token ids.
    pub fn tokenize(&self, text: &str, add_special: bool, parse_special: bool) -> Vec<u32> {
        self.tok.encode(text, add_special, parse_special)
    }

    /// Token ids to text.
    pub fn detokenize(&self, ids: &[u32], special: bool) -> String {
        self.tok.decode(ids, special)
    }

    /// Context window in tokens.
    pub fn n_ctx(&self) -> usize {
        self.n_ctx
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Arc<Tokenizer> {
        &self.tok
    }

    /// Engine-level metadata of the file (architecture, name, chat template).
    pub fn meta(&self) -> &EngineMeta {
        &self.meta
    }

    /// Jinja source of the chat template in use, if any.
    pub fn chat_template(&self) -> Option<&str> {
        self.template.as_ref().map(|t| t.source.as_str())
    }

    /// The built-in chat template in use; `None` when the template is Jinja source from
    /// the file or the `chat_template` option (or when there is none).
    pub fn chat_template_builtin(&self) -> Option<BuiltinTemplate> {
        self.template.as_ref().and_then(|t| t.builtin)
    }
}

/// Option (built-in name or Jinja source) > file template > built-in by architecture.
fn choose_template(
    option: Option<&str>,
    meta: &EngineMeta,
    tok: &Tokenizer,
) -> Result<Option<Template>, EngineError> {
    let builtin = |b: BuiltinTemplate| Template {
        source: b.source().to_string(),
        builtin: Some(b),
    };
    if let Some(opt) = option {
        if let Some(b) = BuiltinTemplate::from_name(opt) {
            return Ok(Some(builtin(b)));
        }
        if opt.contains("{{") || opt.contains("{%") {
            return Ok(Some(Template {
                source: opt.to_string(),
                builtin: None,
            }));
        }
        return Err(EngineError::InvalidOption {
            name: "chat_template",
            detail: format!("{opt:?} is neither a built-in template name nor Jinja source"),
        });
    }
    if let Some(src) = &meta.chat_template {
        return Ok(Some(Template {
            source: src.clone(),
            builtin: None,
        }));
    }
    Ok(BuiltinTemplate::detect(&meta.architecture, |t| tok.token_id(t).is_some()).map(builtin))
}
