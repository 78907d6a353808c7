//! Inference engine: sampling, chat templates and the generation session.
//!
//! ```no_run
//! use engine::{ChatMessage, GenerateParams, Session, SessionOptions};
//! # fn main() -> Result<(), engine::EngineError> {
//! let mut s = Session::load("model.gguf", SessionOptions::default())?;
//! for piece in s.chat(&[ChatMessage::user("Hi!")], None, &GenerateParams::default()) {
//!     print!("{}", piece?.text);
//! }
//! println!("\n{:.1} tok/s", s.timings().gen_tok_per_s());
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub mod chat;
mod config;
mod error;
mod load;
mod prompter;
pub mod sampler;
pub mod scheduler;
pub mod session;

pub use chat::{BuiltinTemplate, ChatError, ChatMessage, Json, Tools};
pub use config::EngineMeta;
pub use error::EngineError;
pub use load::{CpuDevice, Device, Loaded};
pub use model::{AttentionBackend, CacheType};
pub use prompter::{ChatPrompt, Prompter};
pub use sampler::{Sampled, Sampler, SamplerError, SamplerParams};
pub use scheduler::{Event, Request, RequestId, Scheduler, SchedulerOptions};
pub use session::{
    kv_storage, pack_budget, repack_budget, repack_model, Completion, Detached, FinishReason,
    GenerateParams, Generation, Session, SessionOptions, Timings, TokenPiece, F16_AS_F32_MAX_BYTES,
    MAX_CTX, MAX_THREADS,
};
