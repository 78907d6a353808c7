//! The hostile-input suite: every probe runs the `wasm-chord` binary on input an
//! attacker or a careless user could give it, and checks that it ends the way the
//! README promises: exit 0, a clap usage error (exit 2), or a clean error (exit 1,
//! the last stderr line `error: …` with no control characters). Every run is also
//! held to no signal, no panic, at most 60 s and at most 2 GB of peak RSS
//! (`probe::Probe::run`); some probes set tighter ceilings.

#[path = "../common/mod.rs"]
mod cli_common;
mod common;
mod probe;

mod chat;
mod files;
mod keep;
mod limits;
mod tokenizer;
