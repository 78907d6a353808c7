//! `wasm-chord chat`: a conversation on stdin/stdout with the model's chat template.
//!
//! One user message per input line; `/reset` starts over, `/exit` (or end of input)
//! quits. The KV cache is kept between turns: each turn re-renders the conversation and
//! the session evaluates only what follows the cached common prefix. Answers stream to
//! stdout, one line break after each; prompts, notes and statistics go to stderr. When
//! stdin is not a terminal (piped), the same loop answers each line in turn. `--tools`
//! hands a list of tool definitions to the template (its `tools`), as transformers'
//! `apply_chat_template(tools=...)` does; `--verbose-prompt` shows each rendered prompt.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::RecvTimeoutError;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use engine::{ChatMessage, Device, EngineError, GenerateParams, Session, Tools};
use gguf::GgufFile;
use model::Backend;

use crate::backend::{BackendArgs, OnDevice};
use crate::common::{self, ContextArgs, ModelArgs, SamplingArgs};

#[derive(Args, Debug)]
pub struct ChatArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// System prompt.
    #[arg(short = 's', long = "system", value_name = "SYSTEM")]
    system: Option<String>,
    /// Chat template: a built-in name (gemma, llama2, llama3, chatml, zephyr, mistral,
    /// qwen2) or a file holding a Jinja template [default: the model's, else by architecture].
    #[arg(long = "chat-template", value_name = "NAME|FILE")]
    chat_template: Option<String>,
    /// Tools the model may call: a JSON file holding an array of tool definitions, e.g.
    /// [{"type": "function", "function": {"name": ..., "description": ..., "parameters":
    /// {JSON schema}}}], passed to the chat template as `tools`.
    #[arg(long = "tools", value_name = "FILE")]
    tools: Option<std::path::PathBuf>,
    /// Print each rendered prompt (the chat template's output) to stderr.
    #[arg(long = "verbose-prompt")]
    verbose_prompt: bool,
    /// Maximum tokens per answer; -1 = until the end of the turn or a full context.
    #[arg(short = 'n', long = "n-predict", default_value_t = -1, allow_negative_numbers = true)]
    n_predict: i64,
    /// Stop an answer before this string (repeatable).
    #[arg(long = "stop", value_name = "STR")]
    stop: Vec<String>,
    #[command(flatten)]
    ctx: ContextArgs,
    #[command(flatten)]
    sampling: SamplingArgs,
    #[command(flatten)]
    backend: BackendArgs,
}

/// What one input line asks for.
#[derive(Debug, PartialEq, Eq)]
enum Input<'a> {
    Exit,
    Reset,
    Skip,
    Message(&'a str),
}

fn parse_line(line: &str) -> Input<'_> {
    let line = line.trim_end_matches(['\n', '\r']);
    match line.trim() {
        "/exit" | "/quit" => Input::Exit,
        "/reset" | "/clear" => Input::Reset,
        "" => Input::Skip,
        _ => Input::Message(line),
    }
}

/// The most a chat template file may hold (real templates take a few KiB).
const TEMPLATE_FILE_CAP: u64 = 1 << 20;

/// `--chat-template`: an existing regular file is read, a directory, FIFO or device is
/// refused, anything else is passed on as a name (or inline Jinja source) for the
/// engine to check.
pub(crate) fn template_option(t: &str) -> Result<String> {
    let p = Path::new(t);
    match std::fs::metadata(p) {
        Ok(m) if m.is_file() => {
            let what = || format!("reading chat template file {}", p.display());
            let bytes = common::read_capped(p, TEMPLATE_FILE_CAP).with_context(what)?;
            String::from_utf8(bytes).with_context(what)
        }
        Ok(m) => bail!(
            "--chat-template {} is a {}, not a template file",
            p.display(),
            gguf::file_kind(&m)
        ),
        Err(_) => Ok(t.to_string()),
    }
}

/// `--tools FILE`: a JSON array of tool definitions, at most [`Tools::MAX_BYTES`].
fn tools_option(path: &Path) -> Result<Tools> {
    let what = || format!("reading tools file {}", path.display());
    let meta = std::fs::metadata(path).with_context(what)?;
    if !meta.is_file() {
        bail!(
            "--tools {} is a {}, not a JSON file",
            path.display(),
            gguf::file_kind(&meta)
        );
    }
    let bytes = common::read_capped(path, Tools::MAX_BYTES as u64).with_context(what)?;
    let text = String::from_utf8(bytes).with_context(what)?;
    Tools::from_json(&text).with_context(|| format!("--tools {}", path.display()))
}

pub fn run(args: &ChatArgs) -> Result<()> {
    let template = args
        .chat_template
        .as_deref()
        .map(template_option)
        .transpose()?;
    let tools = args.tools.as_deref().map(tools_option).transpose()?;
    let path = args.model.path()?;
    let file = common::open_model(&path, args.model.no_mmap)?;
    args.backend.run(Chat {
        args,
        template,
        tools,
        file,
        path,
    })
}

/// `chat` once the model file is open.
struct Chat<'a> {
    args: &'a ChatArgs,
    template: Option<String>,
    tools: Option<Tools>,
    file: Arc<GgufFile>,
    path: PathBuf,
}

impl OnDevice for Chat<'_> {
    type Output = ();

    fn run<D: Device>(self, device: D) -> Result<()> {
        let Chat {
            args,
            template,
            tools,
            file,
            path,
        } = self;
        let session = args.ctx.session(&device, file, &path, template)?;
        converse(session, args, tools.as_ref(), &path)
    }
}

/// The conversation loop over stdin, on any backend.
fn converse<B: Backend>(
    mut session: Session<B>,
    args: &ChatArgs,
    tools: Option<&Tools>,
    path: &Path,
) -> Result<()> {
    let sampler = args.sampling.params(session.n_ctx())?;
    if session.chat_template().is_none() {
        anyhow::bail!(
            "{} has no chat template and none is built in for its architecture {:?}: pass --chat-template NAME|FILE",
            path.display(),
            session.meta().architecture
        );
    }
    if tools.is_some() && !session.chat_template().is_some_and(|t| t.contains("tools")) {
        eprintln!("warning: the chat template does not read `tools`: --tools has no effect");
    }
    let params = GenerateParams {
        sampler,
        max_tokens: if args.n_predict < 0 {
            usize::MAX
        } else {
            args.n_predict as usize
        },
        stop: args.stop.clone(),
        ..GenerateParams::default()
    };
    let base: Vec<ChatMessage> = args.system.iter().map(ChatMessage::system).collect();
    let mut messages = base.clone();
    let interactive = std::io::stdin().is_terminal();
    if interactive {
        eprintln!(
            "chatting with {} (n_ctx {}); /reset clears the conversation, /exit or Ctrl-D quits",
            path.display(),
            session.n_ctx()
        );
    }
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut line = String::new();
    loop {
        if interactive {
            eprint!("> ");
            let _ = std::io::stderr().flush();
        }
        if read_message(&mut input, &mut line)? == 0 {
            break;
        }
        let text = match parse_line(&line) {
            Input::Exit => break,
            Input::Skip => continue,
            Input::Reset => {
                messages = base.clone();
                session.reset();
                eprintln!("(conversation cleared)");
                continue;
            }
            Input::Message(t) => t.to_string(),
        };
        messages.push(ChatMessage::user(text));
        let prompt = render_within_deadline(&session, &messages, tools)?;
        if args.verbose_prompt {
            eprintln!("{prompt}");
        }
        match answer(&mut session, &messages, tools, &params)? {
            Some(reply) => {
                messages.push(ChatMessage::assistant(reply));
                if interactive {
                    eprintln!("{}", crate::run::stats_line(&session.timings()));
                }
            }
            None => {
                messages.pop();
            }
        }
    }
    Ok(())
}

/// The longest message line `chat` reads from stdin.
const MESSAGE_CAP: usize = common::TEXT_FILE_CAP as usize;

/// Reads one line of stdin into `line` (cleared first): its length in bytes, 0 at the
/// end of input. A line longer than [`MESSAGE_CAP`] or not UTF-8 is an error, so input
/// without line breaks (`< /dev/zero`) cannot grow memory without bound.
fn read_message(input: &mut impl BufRead, line: &mut String) -> Result<usize> {
    let mut bytes = std::mem::take(line).into_bytes();
    bytes.clear();
    let n = std::io::Read::take(&mut *input, MESSAGE_CAP as u64 + 1)
        .read_until(b'\n', &mut bytes)
        .context("reading stdin")?;
    if n > MESSAGE_CAP {
        bail!(
            "a message on stdin is longer than the limit of {} MiB",
            MESSAGE_CAP >> 20
        );
    }
    *line = String::from_utf8(bytes).context("reading stdin: a message is not UTF-8")?;
    Ok(n)
}

/// Wall-clock limit of one render of the chat template.
const RENDER_DEADLINE: Duration = Duration::from_millis(1500);
/// How much the process may grow (resident memory) while a template renders.
const RENDER_GROWTH: u64 = 1 << 30;
/// How often the watchdog looks at the clock and the resident memory.
const RENDER_POLL: Duration = Duration::from_millis(5);

/// Renders the conversation once under a deadline and a memory ceiling. The engine's
/// budget bounds the steps and memory of a template, but minijinja 3.1 does not charge
/// some operations on values that share parts (comparing or printing a list that holds
/// itself 64 times over takes exponential time; `+` on lists chained in a loop grows
/// uncharged). When the render outlives the deadline or grows the process by more than
/// [`RENDER_GROWTH`], the process ends with an error, since a running render cannot be
/// stopped. The memory watch reads `/proc/self/status` (Linux; elsewhere only the
/// deadline applies).
fn render_within_deadline<B: Backend>(
    session: &Session<B>,
    messages: &[ChatMessage],
    tools: Option<&Tools>,
) -> Result<String> {
    let (done, wait) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        let start = std::time::Instant::now();
        let base = resident_bytes();
        let refuse = |what: String| -> ! {
            eprintln!(
                "error: chat template exceeded its resource limit: {what} (--chat-template picks another template)"
            );
            std::process::exit(1);
        };
        loop {
            match wait.recv_timeout(RENDER_POLL) {
                Err(RecvTimeoutError::Timeout) => {}
                _ => return,
            }
            if start.elapsed() > RENDER_DEADLINE {
                refuse(format!(
                    "rendering took more than {} s",
                    RENDER_DEADLINE.as_secs_f64()
                ));
            }
            if let (Some(base), Some(now)) = (base, resident_bytes()) {
                if now.saturating_sub(base) > RENDER_GROWTH {
                    refuse(format!(
                        "rendering took more than {} MiB of memory",
                        RENDER_GROWTH >> 20
                    ));
                }
            }
        }
    });
    let rendered = session.render_chat(messages, tools, true);
    let _ = done.send(());
    let _ = watchdog.join();
    rendered.context("rendering the conversation (--chat-template picks another template)")
}

/// This process's resident memory (`VmRSS`), where the OS tells it.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Streams one answer; `None` when the conversation no longer fits (reported on stderr,
/// the message is dropped).
fn answer<B: Backend>(
    session: &mut Session<B>,
    messages: &[ChatMessage],
    tools: Option<&Tools>,
    params: &GenerateParams,
) -> Result<Option<String>> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut reply = String::new();
    for item in session.chat(messages, tools, params) {
        match item {
            Ok(piece) => {
                reply.push_str(&piece.text);
                out.write_all(piece.text.as_bytes())
                    .and_then(|()| out.flush())
                    .context("writing to stdout")?;
            }
            Err(
                e @ (EngineError::PromptTooLong { .. } | EngineError::PromptTooLongBytes { .. }),
            ) => {
                eprintln!("error: {e}; use /reset to start a new conversation");
                return Ok(None);
            }
            Err(e @ EngineError::ContextFull { .. }) => {
                eprintln!("\nnote: {e}; the answer is cut, use /reset to start over");
            }
            Err(e @ EngineError::Chat(_)) => {
                return Err(e)
                    .context("rendering the conversation (--chat-template picks another template)")
            }
            Err(e) => return Err(e).context("generating the answer"),
        }
    }
    writeln!(out).context("writing to stdout")?;
    out.flush().context("writing to stdout")?;
    Ok(Some(reply))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_messages() {
        assert_eq!(parse_line("/exit\n"), Input::Exit);
        assert_eq!(parse_line("  /reset \r\n"), Input::Reset);
        assert_eq!(parse_line("\n"), Input::Skip);
        assert_eq!(parse_line("Hi there\r\n"), Input::Message("Hi there"));
        // Leading spaces of a message are kept (only line ends are cut).
        assert_eq!(parse_line("  code:\n"), Input::Message("  code:"));
    }

    #[test]
    fn template_names_pass_through_files_are_read() {
        assert_eq!(template_option("gemma").unwrap(), "gemma");
        let p = std::env::temp_dir().join(format!("wc-tmpl-{}.jinja", std::process::id()));
        std::fs::write(&p, "{{ messages[0].content }}").unwrap();
        assert_eq!(
            template_option(p.to_str().unwrap()).unwrap(),
            "{{ messages[0].content }}"
        );
        std::fs::remove_file(&p).unwrap();
    }
}
