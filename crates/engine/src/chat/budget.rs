//! Resource limits of one chat-template render.
//!
//! A template comes from the model file, so it is untrusted code: it could loop for
//! minutes or double a string until memory runs out. Every render therefore runs with
//! minijinja *fuel*: each executed instruction costs one fuel, and every 64 bytes of data
//! the template creates or processes (output, strings, list slots, the input of filters)
//! cost one more. Fuel only goes down, so the budget bounds both the time and the memory
//! of a render (about 64 bytes per fuel).
//!
//! The budget grows with the input, so a long legitimate conversation is refused by the
//! context size, never by the template: a fixed allowance for the template's own work,
//! plus an allowance per message and per byte of text handed to the template. Real
//! templates copy each message byte a few times (filters, concatenation, output), which
//! costs a few sixty-fourths of a fuel; they run a few dozen instructions per message,
//! and some scan or slice the conversation once per message. The allowances leave wide
//! margins above that (see the tests in `limit_tests.rs`).
//!
//! minijinja charges a value that holds the same big part many times only once, and
//! charges printed text only after building it; `guards.rs` and [`CappedOutput`] refuse
//! such values before `{{ }}`, `join`, `string`, `tojson`, `str.join` and `str.format`
//! print them. Known gaps that no budget here can close: `~` with such a list builds
//! all of it first (`[s] * 1000 ~ ''` with `s` of 1 MB: about 2 GB before the error),
//! comparing two lists that each hold the previous one twice, 64 times over, takes
//! 2^64 steps without allocating, and lazy `a + b` of lists is materialized uncharged
//! once 32 are chained. The CLI's `chat` stops renders for these at a deadline (1.5 s)
//! or at 1 GiB of memory growth.

use super::{ChatError, ChatMessage, RenderOptions};

/// Fuel every render gets, whatever the input: one million instructions or 64 MB of
/// data, a few hundred milliseconds of work.
pub const BASE_FUEL: u64 = 1_000_000;

/// Fuel per message handed to the template.
pub const FUEL_PER_MESSAGE: u64 = 256;

/// Fuel per byte of message text (role, content and tool calls), tool definitions, BOS
/// and EOS text: each input byte may be copied about 64 times.
pub const FUEL_PER_BYTE: u64 = 1;

/// Bytes of data one fuel pays for (minijinja's accounting).
pub const BYTES_PER_FUEL: u64 = 64;

/// Output bytes a render may write per fuel of its budget: 16 per byte of input, a
/// quarter of what the fuel could pay for, so a value printed a few bytes at a time
/// stops well within a second.
pub const OUTPUT_BYTES_PER_FUEL: u64 = 16;

/// Upper bound of a render: template recursion deeper than this many levels (a macro
/// call counts four, an include ten) is an error. minijinja's own ceiling is 500; a
/// lower one keeps the native stack small enough for wasm32's 1 MiB stack.
pub const RECURSION_LIMIT: usize = 200;

/// The fuel a render of `messages` with `opts` may use.
pub fn fuel_for(messages: &[ChatMessage], opts: &RenderOptions<'_>) -> u64 {
    let text: u64 = messages
        .iter()
        .map(|m| {
            let calls = m.tool_calls.as_ref().map_or(0, |c| c.size());
            ((m.role.len() + m.content.len()) as u64).saturating_add(calls)
        })
        .fold(0u64, u64::saturating_add)
        .saturating_add(opts.tools.map_or(0, |t| t.json().size()))
        .saturating_add((opts.bos_token.len() + opts.eos_token.len()) as u64);
    BASE_FUEL
        .saturating_add(FUEL_PER_MESSAGE.saturating_mul(messages.len() as u64))
        .saturating_add(FUEL_PER_BYTE.saturating_mul(text))
}

/// The render's output, refused past `cap` bytes: minijinja charges what a `{{ … }}`
/// writes only after writing all of it, and a list that holds one big string many
/// times over prints as far more bytes than it was charged for.
#[derive(Debug)]
pub(crate) struct CappedOutput {
    bytes: Vec<u8>,
    cap: u64,
    overflowed: bool,
}

impl CappedOutput {
    pub(crate) fn new(cap: u64) -> Self {
        Self {
            bytes: Vec::new(),
            cap,
            overflowed: false,
        }
    }

    /// Whether a write went past the cap (the render then failed).
    pub(crate) fn overflowed(&self) -> bool {
        self.overflowed
    }

    /// The output (minijinja writes only whole `str`s, so it is UTF-8).
    pub(crate) fn into_string(self) -> String {
        String::from_utf8(self.bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

impl std::io::Write for CappedOutput {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.bytes.len() as u64 + buf.len() as u64 > self.cap {
            self.overflowed = true;
            return Err(std::io::Error::other(
                "chat template output over its budget",
            ));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Native stack bytes per fuel for a render: a template can nest lists about one level
/// per five fuel, and dropping, printing, comparing or serializing such a value recurses
/// once per level (a few hundred bytes each).
#[cfg(not(target_family = "wasm"))]
const STACK_PER_FUEL: u64 = 160;

/// Smallest and largest render stack (only the pages a render touches are committed).
#[cfg(not(target_family = "wasm"))]
const MIN_STACK: u64 = 16 << 20;
#[cfg(not(target_family = "wasm"))]
const MAX_STACK: u64 = 1 << 30;

/// Runs `render` on a thread whose stack fits the nesting `fuel` allows, so a deeply
/// nested value cannot overflow the caller's stack.
#[cfg(not(target_family = "wasm"))]
pub(crate) fn on_render_stack<T: Send>(
    fuel: u64,
    render: impl FnOnce() -> Result<T, ChatError> + Send,
) -> Result<T, ChatError> {
    let size = fuel
        .saturating_mul(STACK_PER_FUEL)
        .clamp(MIN_STACK, MAX_STACK);
    std::thread::scope(|scope| {
        let thread = std::thread::Builder::new()
            .name("chat-template".into())
            .stack_size(usize::try_from(size).unwrap_or(usize::MAX))
            .spawn_scoped(scope, render)
            .map_err(|e| ChatError::Render {
                line: 0,
                detail: format!("cannot start the render thread ({size} bytes of stack): {e}"),
            })?;
        thread
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// On wasm there are no threads: the render runs on the caller's stack.
#[cfg(target_family = "wasm")]
pub(crate) fn on_render_stack<T: Send>(
    _fuel: u64,
    render: impl FnOnce() -> Result<T, ChatError> + Send,
) -> Result<T, ChatError> {
    render()
}
