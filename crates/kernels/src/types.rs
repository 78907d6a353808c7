//! Types that describe operations rather than implement them: what a model
//! hands any backend (RoPE parameters, the attention setting, attention
//! errors). Defined beside their CPU kernels (`ops`, `attention`) and named
//! here, so that code generic over backends need not name those modules.

pub use crate::attention::{AttentionBackend, AttnError};
pub use crate::ops::{RopeMode, RopeParams};
