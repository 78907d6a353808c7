//! The server over HTTP on an ephemeral port, against the tiny fixture
//! models: error paths, SSE framing, cancellation, queueing, batching.

mod common;
mod errors;
mod sched;
mod stream;
