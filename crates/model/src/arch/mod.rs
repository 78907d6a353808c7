//! One transformer block per architecture.

pub(crate) mod gemma3;
pub(crate) mod llama;
