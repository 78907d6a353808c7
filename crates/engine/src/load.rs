//! A model file made ready to run: the model (threads, attention kernel,
//! load-time repacking) and its [`Prompter`] for the chosen context. A
//! [`Session`](crate::Session) builds its one-slot scheduler on it; a server
//! builds a scheduler of many slots on the same. A [`Device`] says where the
//! weights go: [`CpuDevice`], or another backend's (the CLI's GPU).

use std::sync::Arc;

use gguf::GgufFile;
use model::{Backend, CpuBackend, Model};
use tokenizer::Tokenizer;

use crate::config::EngineMeta;
use crate::error::EngineError;
use crate::prompter::Prompter;
use crate::session::{repack_model, SessionOptions, MAX_CTX, MAX_THREADS};

/// Default context when the option is 0: the training context, capped.
const DEFAULT_MAX_CTX: usize = 4096;

/// A loaded model and the prompter of its context (`prompter.n_ctx()`).
#[derive(Debug)]
pub struct Loaded<B: Backend = CpuBackend> {
    pub model: Model<B>,
    pub prompter: Prompter,
}

/// Where a model runs: loads a file's weights onto one backend. Code that
/// takes a `Device` runs on any backend; the caller picks it once.
pub trait Device: Send + 'static {
    type Backend: Backend;

    /// `file`'s model on this device, with the options that apply to it
    /// (the CPU's: threads, attention kernel, repacking).
    fn load_model(
        &self,
        file: Arc<GgufFile>,
        opts: &SessionOptions,
    ) -> Result<Model<Self::Backend>, EngineError>;
}

/// The CPU backend (`model::CpuBackend`).
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuDevice;

impl Device for CpuDevice {
    type Backend = CpuBackend;

    /// The options' threads (at most [`MAX_THREADS`]), attention kernel and
    /// repacking.
    fn load_model(&self, file: Arc<GgufFile>, opts: &SessionOptions) -> Result<Model, EngineError> {
        if opts.threads > MAX_THREADS {
            return Err(EngineError::InvalidOption {
                name: "threads",
                detail: format!("{} is above the maximum of {MAX_THREADS}", opts.threads),
            });
        }
        let file_len = file.file_len();
        let mut model = Model::from_file(file)?
            .with_threads(opts.threads)
            .with_attention(opts.attention);
        repack_model(&mut model, opts.repack, file_len)?;
        Ok(model)
    }
}

impl Loaded {
    /// Loads `file` on the CPU ([`CpuDevice`]) with the options' threads,
    /// attention, repacking, context (`n_ctx`, checked against the file's
    /// training context) and chat template; the other options are the
    /// caller's.
    pub fn from_file(file: Arc<GgufFile>, opts: &SessionOptions) -> Result<Loaded, EngineError> {
        Loaded::on(&CpuDevice, file, opts)
    }
}

impl<B: Backend> Loaded<B> {
    /// Loads `file` on `device` with the options that apply to it, the
    /// options' context and chat template.
    pub fn on<D: Device<Backend = B>>(
        device: &D,
        file: Arc<GgufFile>,
        opts: &SessionOptions,
    ) -> Result<Loaded<B>, EngineError> {
        Loaded::with_model(device.load_model(file, opts)?, opts)
    }

    /// Loads `file` on `backend` (which owns the weights: threads, attention
    /// and repacking are the CPU's options, unused here) with the options'
    /// context and chat template.
    pub fn with_backend(
        file: Arc<GgufFile>,
        backend: B,
        opts: &SessionOptions,
    ) -> Result<Loaded<B>, EngineError> {
        Loaded::with_model(Model::with_backend(file, backend)?, opts)
    }

    /// The prompter of `model` for the options' context and template.
    fn with_model(model: Model<B>, opts: &SessionOptions) -> Result<Loaded<B>, EngineError> {
        let file = model.file();
        let meta = EngineMeta::from_gguf(file.metadata());
        let tok = Arc::new(Tokenizer::from_gguf(file.metadata())?);
        let n_ctx = check_n_ctx(opts.n_ctx, model.config().n_ctx_train)?;
        let prompter = Prompter::new(tok, meta, opts.chat_template.as_deref(), n_ctx)?;
        Ok(Loaded { model, prompter })
    }
}

/// The context of a session asking for `n_ctx` tokens (0: the default) from a model
/// trained on `n_ctx_train` (0: unknown).
fn check_n_ctx(n_ctx: usize, n_ctx_train: usize) -> Result<usize, EngineError> {
    match (n_ctx, n_ctx_train) {
        (0, 0) => Ok(DEFAULT_MAX_CTX),
        (0, t) => Ok(t.min(DEFAULT_MAX_CTX)),
        (n, 0) if n > MAX_CTX => Err(EngineError::InvalidOption {
            name: "n_ctx",
            detail: format!(
                "{n} is above {MAX_CTX}, the largest context for a model file that declares no context length"
            ),
        }),
        (n, _) => Ok(n),
    }
}
