//! Inference engine: sampling, chat templates and the generation session.
#![forbid(unsafe_code)]

pub mod chat;
pub mod sampler;

pub use chat::{BuiltinTemplate, ChatError, ChatMessage};
pub use sampler::{Sampled, Sampler, SamplerError, SamplerParams};
