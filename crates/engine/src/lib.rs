//! Inference engine: sampling, chat templates and the generation session.
#![forbid(unsafe_code)]

pub mod sampler;

pub use sampler::{Sampled, Sampler, SamplerError, SamplerParams};
