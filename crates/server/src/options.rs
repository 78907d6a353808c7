//! How a server is set up.

use std::path::PathBuf;
use std::time::Duration;

use engine::SessionOptions;

use crate::params::Defaults;

/// Everything `serve` needs besides its listening socket.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub model: PathBuf,
    /// Read the file into memory instead of mapping it.
    pub no_mmap: bool,
    /// Threads, attention, repacking, chat template, KV cache type, prompt
    /// chunk size (`n_batch`), and `n_ctx`: the context of each slot.
    pub load: SessionOptions,
    /// Slots: sequences run at once.
    pub n_slots: usize,
    /// Requests waiting for a slot beyond which the server answers 503.
    pub max_queue: usize,
    /// Required as `Authorization: Bearer KEY` on every route but `/health`.
    pub api_key: Option<String>,
    /// An origin allowed by CORS (`*` for any).
    pub cors_origin: Option<String>,
    /// In-flight requests may finish for this long after a shutdown signal.
    pub shutdown_timeout: Duration,
    /// Largest request body in bytes.
    pub body_limit: usize,
    pub defaults: Defaults,
}

impl ServerOptions {
    /// Defaults for `model`: 4 slots of 4096 tokens, a queue of 64, 10 s
    /// of grace, bodies up to 8 MiB.
    pub fn new(model: impl Into<PathBuf>) -> ServerOptions {
        ServerOptions {
            model: model.into(),
            no_mmap: false,
            load: SessionOptions {
                n_ctx: 4096,
                ..SessionOptions::default()
            },
            n_slots: 4,
            max_queue: 64,
            api_key: None,
            cors_origin: None,
            shutdown_timeout: Duration::from_secs(10),
            body_limit: 8 << 20,
            defaults: Defaults::default(),
        }
    }

    /// The model's name in responses: its file name.
    pub fn model_name(&self) -> String {
        self.model.file_name().map_or_else(
            || self.model.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    }
}
