//! `wasm-chord serve`: the OpenAI-compatible server (`server` crate) with
//! llama-server's flags (`-np` is rewritten to `--parallel`).

use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;
use engine::Device;
use server::{Defaults, ServerOptions};

use crate::backend::{BackendArgs, OnDevice};
use crate::common::{self, ContextArgs, ModelArgs, SamplingArgs};

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Address to listen on.
    #[arg(long = "host", default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on; 0 picks a free one (printed at start-up).
    #[arg(long = "port", default_value_t = 8080)]
    port: u16,
    /// Slots: requests generated at once (llama-server's `-np`); `-c` is per slot.
    #[arg(long = "parallel", value_name = "N", default_value_t = 4)]
    parallel: usize,
    /// Requests that may wait for a slot; beyond, 503 with Retry-After.
    #[arg(long = "queue", value_name = "N", default_value_t = 64)]
    queue: usize,
    /// Require `Authorization: Bearer KEY` (except on /health)
    /// [default: $WASM_CHORD_API_KEY].
    #[arg(long = "api-key", value_name = "KEY")]
    api_key: Option<String>,
    /// Allow this origin by CORS (`*` for any).
    #[arg(long = "cors-origin", value_name = "ORIGIN")]
    cors_origin: Option<String>,
    /// Seconds in-flight requests may take to finish after SIGTERM or Ctrl-C.
    #[arg(long = "shutdown-timeout", value_name = "S", default_value_t = 10)]
    shutdown_timeout: u64,
    /// Chat template: a built-in name or a file holding a Jinja template
    /// [default: the model's, else by architecture].
    #[arg(long = "chat-template", value_name = "NAME|FILE")]
    chat_template: Option<String>,
    #[command(flatten)]
    ctx: ContextArgs,
    #[command(flatten)]
    sampling: SamplingArgs,
    #[command(flatten)]
    backend: BackendArgs,
}

pub fn run(args: &ServeArgs) -> Result<()> {
    let path = args.model.path()?;
    // the header only (mapped, not read): the context cap and the options
    let file = common::open_gguf(&path, false)?;
    let load = engine::SessionOptions {
        chat_template: args
            .chat_template
            .as_deref()
            .map(crate::chat::template_option)
            .transpose()?,
        ..args.ctx.session_options(&file)?
    };
    drop(file);
    // the flags are checked as `run` checks them; a seed given is every request's default
    let sampling = SamplingArgs {
        seed: Some(args.sampling.seed.unwrap_or(0)),
        ..args.sampling.clone()
    };
    let sampler = sampling.params(load.n_ctx)?;
    let api_key = args
        .api_key
        .clone()
        .or_else(|| std::env::var("WASM_CHORD_API_KEY").ok())
        .filter(|k| !k.is_empty());
    let opts = ServerOptions {
        no_mmap: args.model.no_mmap,
        load,
        n_slots: args.parallel.max(1),
        max_queue: args.queue,
        api_key,
        cors_origin: args.cors_origin.clone(),
        shutdown_timeout: Duration::from_secs(args.shutdown_timeout),
        defaults: Defaults {
            sampler,
            seed: args.sampling.seed,
        },
        ..ServerOptions::new(&path)
    };
    args.backend.run(Serve { args, opts })
}

/// `serve` once its options are set.
struct Serve<'a> {
    args: &'a ServeArgs,
    opts: ServerOptions,
}

impl OnDevice for Serve<'_> {
    type Output = ();

    /// Serves with the model on `device` (loaded on the scheduler thread).
    fn run<D: Device>(self, device: D) -> Result<()> {
        let a = self.args;
        server::run(&a.host, a.port, self.opts, device).context("serve")
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use crate::{spellings, Cli, Command};

    #[test]
    fn np_is_parallel_not_n_p() {
        let argv = [
            "wasm-chord",
            "serve",
            "-np",
            "8",
            "-c",
            "512",
            "--port",
            "0",
        ];
        let cli = Cli::try_parse_from(spellings::rewrite_args(argv.map(Into::into))).unwrap();
        let Command::Serve(a) = cli.command else {
            panic!("not serve")
        };
        assert_eq!((a.parallel, a.ctx.ctx_size, a.port), (8, 512, 0));
        assert_eq!(
            (a.queue, a.shutdown_timeout, a.host.as_str()),
            (64, 10, "127.0.0.1")
        );
        // without the rewrite clap would read `-n p`
        assert!(Cli::try_parse_from(argv).is_err());
    }
}
