//! Chat templates: render a conversation into a prompt with the model's Jinja template.
//!
//! Templates are Hugging Face chat templates (`tokenizer.chat_template` in GGUF files),
//! rendered with `minijinja` configured like transformers' `apply_chat_template`: sandboxed,
//! `trim_blocks` and `lstrip_blocks` on, Python string/dict/list methods available
//! (`minijinja-contrib` pycompat), and the globals `raise_exception(msg)` and
//! `strftime_now(fmt)` (UTC). Files without a template fall back to a [`BuiltinTemplate`].
//!
//! A template is untrusted code from the model file: every render runs with a budget of
//! steps and memory sized from the conversation, and a recursion limit (see [`budget`]).
//! Nothing is rendered when a model is loaded, only when a conversation is.

pub mod budget;
mod builtin;
mod guards;
mod json;
#[cfg(test)]
mod limit_tests;
mod pyjson;
mod strftime;
#[cfg(test)]
mod tests;

use minijinja::{syntax::SyntaxConfig, Environment, Error, ErrorKind, Value};

pub use builtin::BuiltinTemplate;
pub use json::{Json, Tools};
pub use strftime::DateTime;

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant` (templates may accept others, e.g. `tool` for the
    /// result of a tool call).
    pub role: String,
    /// Plain-text content.
    pub content: String,
    /// The tool calls of an assistant message, as the template reads them: usually
    /// `[{"type": "function", "function": {"name": ..., "arguments": {...}}}]`.
    pub tool_calls: Option<Json>,
}

impl ChatMessage {
    /// A message with any role.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
            tool_calls: None,
        }
    }
    /// The message with `tool_calls`.
    pub fn with_tool_calls(self, tool_calls: Json) -> Self {
        Self {
            tool_calls: Some(tool_calls),
            ..self
        }
    }
    /// A `system` message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::new("system", content)
    }
    /// A `user` message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new("user", content)
    }
    /// An `assistant` message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new("assistant", content)
    }
}

/// Errors from rendering a chat template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatError {
    /// The template does not parse.
    #[error("chat template syntax error at line {line}: {detail}")]
    Syntax { line: usize, detail: String },
    /// The template called `raise_exception(message)` (e.g. roles do not alternate).
    #[error("chat template rejected the conversation: {0}")]
    Raised(String),
    /// The template used up the steps and memory it may use for this conversation.
    #[error("chat template exceeded its resource limit: a budget of {fuel} steps for this conversation (an executed instruction or {} bytes of data each); the template loops or allocates too much", budget::BYTES_PER_FUEL)]
    OutOfBudget { fuel: u64 },
    /// The template nested macro calls (or includes) too deeply.
    #[error(
        "chat template exceeded its resource limit: recursion deeper than {levels} macro calls"
    )]
    TooDeep { levels: usize },
    /// Any other failure while rendering.
    #[error("chat template failed at line {line}: {detail}")]
    Render { line: usize, detail: String },
    /// A tool list is not a JSON array of objects (or is too long).
    #[error("invalid tools: {0}")]
    InvalidTools(String),
    /// No template of that name is built in.
    #[error("unknown built-in chat template {0:?} (known: gemma, llama2, llama3, chatml, zephyr, mistral, qwen2)")]
    UnknownBuiltin(String),
}

/// Everything a render needs besides the template and the messages.
#[derive(Debug, Clone, Default)]
pub struct RenderOptions<'a> {
    /// Append the header that starts the assistant's turn.
    pub add_generation_prompt: bool,
    /// Text of the BOS token (templates may emit it; do not add BOS again when tokenizing).
    pub bos_token: &'a str,
    /// Text of the EOS token.
    pub eos_token: &'a str,
    /// Clock for `strftime_now`, in seconds since the Unix epoch; `None` reads the system
    /// clock (on `wasm32-unknown-unknown`, which has none, the epoch is used).
    pub now_unix_secs: Option<i64>,
    /// Tool definitions, the template's `tools` (`none` when absent, as in transformers).
    pub tools: Option<&'a Tools>,
}

/// Renders `messages` with the Jinja chat `template`.
pub fn render(
    template: &str,
    messages: &[ChatMessage],
    add_generation_prompt: bool,
    bos_token: &str,
    eos_token: &str,
) -> Result<String, ChatError> {
    render_with(
        template,
        messages,
        &RenderOptions {
            add_generation_prompt,
            bos_token,
            eos_token,
            now_unix_secs: None,
            tools: None,
        },
    )
}

/// Renders `messages` with the Jinja chat `template` and explicit options, within the
/// budget [`budget::fuel_for`] gives the conversation.
pub fn render_with(
    template: &str,
    messages: &[ChatMessage],
    opts: &RenderOptions<'_>,
) -> Result<String, ChatError> {
    let fuel = budget::fuel_for(messages, opts);
    budget::on_render_stack(fuel, || render_fueled(template, messages, opts, fuel))
        .map(|(out, _)| out)
}

/// Renders with a budget of `fuel`; also returns the fuel the render used.
fn render_fueled(
    template: &str,
    messages: &[ChatMessage],
    opts: &RenderOptions<'_>,
    fuel: u64,
) -> Result<(String, u64), ChatError> {
    let mut env = environment(opts.now_unix_secs.unwrap_or_else(system_now))?;
    env.set_fuel(Some(fuel));
    env.set_recursion_limit(budget::RECURSION_LIMIT);
    let tmpl = env
        .template_from_str(template)
        .map_err(|e| ChatError::Syntax {
            line: e.line().unwrap_or(0),
            detail: describe(&e),
        })?;
    let messages: Vec<Value> = messages.iter().map(json::message_value).collect();
    let ctx = minijinja::context! {
        messages => messages,
        tools => opts.tools.map_or(Value::from(()), |t| t.json().value().clone()),
        add_generation_prompt => opts.add_generation_prompt,
        bos_token => opts.bos_token,
        eos_token => opts.eos_token,
    };
    let mut out = budget::CappedOutput::new(fuel.saturating_mul(budget::OUTPUT_BYTES_PER_FUEL));
    let done = tmpl.render_captured_to(ctx, &mut out);
    if out.overflowed() {
        return Err(ChatError::OutOfBudget { fuel });
    }
    let used = done
        .map_err(|e| classify(e, fuel))?
        .state()
        .fuel_levels()
        .map_or(0, |(used, _)| used);
    Ok((out.into_string(), used))
}

/// Depth minijinja counts per macro call.
const MACRO_DEPTH: usize = 4;

/// Marker prefix that identifies errors produced by `raise_exception`.
const RAISED: &str = "raise_exception: ";

fn environment(now: i64) -> Result<Environment<'static>, ChatError> {
    let mut env = Environment::new();
    let syntax = SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .build()
        .map_err(|e| ChatError::Render {
            line: 0,
            detail: describe(&e),
        })?;
    env.set_syntax(syntax);
    minijinja_contrib::add_to_environment(&mut env);
    guards::install(&mut env);
    env.add_function("raise_exception", |msg: String| -> Result<Value, Error> {
        Err(Error::new(
            ErrorKind::InvalidOperation,
            format!("{RAISED}{msg}"),
        ))
    });
    env.add_function("strftime_now", move |fmt: String| -> String {
        DateTime::from_unix(now).format(&fmt)
    });
    Ok(env)
}

/// minijinja's message when the recursion limit is hit.
const TOO_DEEP: &str = "recursion limit exceeded";

fn classify(e: Error, fuel: u64) -> ChatError {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = cur {
        if let Some(me) = err.downcast_ref::<Error>() {
            if me.kind() == ErrorKind::OutOfFuel {
                return ChatError::OutOfBudget { fuel };
            }
            if me.detail() == Some(TOO_DEEP) {
                return ChatError::TooDeep {
                    levels: budget::RECURSION_LIMIT / MACRO_DEPTH,
                };
            }
            if let Some(msg) = me.detail().and_then(|d| d.strip_prefix(RAISED)) {
                return ChatError::Raised(msg.to_string());
            }
        }
        cur = err.source();
    }
    ChatError::Render {
        line: e.line().unwrap_or(0),
        detail: describe(&e),
    }
}

fn describe(e: &Error) -> String {
    match e.detail() {
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.kind().to_string(),
    }
}

#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
fn system_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
fn system_now() -> i64 {
    0
}
