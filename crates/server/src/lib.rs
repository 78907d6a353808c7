//! `wasm-chord serve`: an OpenAI-compatible HTTP server over the engine's
//! multi-sequence [`Scheduler`](engine::Scheduler).
//!
//! The server binds first and answers `/health` with 503 while the model
//! loads on the scheduler thread, which then owns the scheduler: HTTP
//! handlers tokenize prompts and hand jobs to it over a channel; between
//! steps it admits them (continuous batching: new prompts are prefilled in
//! chunks beside running decodes, in the slot holding the longest common
//! prefix), and it streams each event back to its request. A client that
//! leaves cancels its generation at the next step.
#![forbid(unsafe_code)]

mod api;
mod error;
mod format;
mod generate;
mod info;
mod metrics;
mod options;
mod params;
mod routes;
mod sse;
mod state;
mod worker;

use std::future::IntoFuture;
use std::sync::Arc;

use engine::{CpuDevice, Device, Loaded, Prompter, Scheduler, SchedulerOptions};
use gguf::GgufFile;
use tokio::net::TcpListener;
pub use tokio_util::sync::CancellationToken;

pub use error::{ApiError, ServerError};
pub use options::ServerOptions;
pub use params::Defaults;
use state::{AppState, Ready};

/// Binds `host:port` (port 0: an ephemeral port).
pub async fn bind(host: &str, port: u16) -> Result<TcpListener, ServerError> {
    let addr = format!("{host}:{port}");
    TcpListener::bind(&addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })
}

/// Serves on `listener` until `shutdown` is cancelled: then stops
/// accepting, lets in-flight requests finish for up to
/// `opts.shutdown_timeout`, and returns. A model that fails to load is an
/// error (after the server has stopped). The model runs on the CPU.
pub async fn serve(
    listener: TcpListener,
    opts: ServerOptions,
    shutdown: CancellationToken,
) -> Result<(), ServerError> {
    serve_on(listener, opts, CpuDevice, shutdown).await
}

/// [`serve`] with the model on `device`.
pub async fn serve_on<D: Device>(
    listener: TcpListener,
    opts: ServerOptions,
    device: D,
    shutdown: CancellationToken,
) -> Result<(), ServerError> {
    let grace = opts.shutdown_timeout;
    let st = Arc::new(AppState::new(opts));
    let (loaded_tx, loaded_rx) = tokio::sync::oneshot::channel();
    spawn_scheduler(Arc::clone(&st), device, loaded_tx)?;
    let app = routes::router(st);
    let token = shutdown.clone();
    let server = axum::serve(listener, app)
        .with_graceful_shutdown(async move { token.cancelled().await })
        .into_future();
    let load_failed = async {
        match loaded_rx.await {
            Ok(Err(e)) => e,
            _ => std::future::pending().await,
        }
    };
    let deadline = async {
        shutdown.cancelled().await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        r = server => Ok(r?),
        e = load_failed => {
            shutdown.cancel();
            Err(e)
        }
        () = deadline => {
            eprintln!("serve: the grace period of {grace:?} is over: dropping the requests still running");
            Ok(())
        }
    }
}

/// [`bind`] and [`serve_on`] `device` on a runtime of their own, until
/// Ctrl-C or SIGTERM; prints the address it listens on (`listening on
/// http://...`).
pub fn run<D: Device>(
    host: &str,
    port: u16,
    opts: ServerOptions,
    device: D,
) -> Result<(), ServerError> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let signalled = shutdown_signal()?;
        let listener = bind(host, port).await?;
        eprintln!("serve: listening on http://{}", listener.local_addr()?);
        let token = CancellationToken::new();
        let grace = opts.shutdown_timeout;
        let t = token.clone();
        tokio::spawn(async move {
            signalled.await;
            eprintln!(
                "serve: shutting down: no new connections; in-flight requests have {grace:?}"
            );
            t.cancel();
        });
        serve_on(listener, opts, device, token).await
    })
}

/// Ctrl-C, or SIGTERM on Unix. The handlers are installed before this
/// returns (a signal that comes before the future is first polled is not
/// lost, and never kills the process).
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}

/// The scheduler thread: loads the model on `device`, marks the server
/// ready, then runs the scheduler until the server (its job channel) is
/// gone.
fn spawn_scheduler<D: Device>(
    st: Arc<AppState>,
    device: D,
    loaded: tokio::sync::oneshot::Sender<Result<(), ServerError>>,
) -> Result<(), ServerError> {
    std::thread::Builder::new()
        .name("scheduler".into())
        .spawn(move || {
            let (sched, prompter) = match load(&st.opts, &device) {
                Ok(l) => l,
                Err(e) => {
                    let _ = loaded.send(Err(e));
                    return;
                }
            };
            let o = &st.opts;
            eprintln!(
                "serve: {} loaded: {} slots of {} tokens; KV cache {:.1} MiB ({:?})",
                st.model_name,
                o.n_slots,
                prompter.n_ctx(),
                sched.kv_bytes() as f64 / (1 << 20) as f64,
                o.load.cache_type,
            );
            let (jobs_tx, jobs) = std::sync::mpsc::channel();
            let (status, metrics) = (Arc::clone(&st.status), Arc::clone(&st.metrics));
            let _ = st.ready.set(Ready::new(Arc::new(prompter), jobs_tx));
            // the server owns the job channel's sender: when it is gone, so is this
            drop(st);
            let _ = loaded.send(Ok(()));
            worker::run(sched, jobs, status, metrics);
        })?;
    Ok(())
}

fn load<D: Device>(
    o: &ServerOptions,
    device: &D,
) -> Result<(Scheduler<D::Backend>, Prompter), ServerError> {
    let err = |source| ServerError::Load {
        path: o.model.display().to_string(),
        source,
    };
    let file = match o.no_mmap {
        true => GgufFile::read(&o.model),
        false => GgufFile::open(&o.model),
    }
    .map_err(|e| err(e.into()))?;
    let Loaded { model, prompter } = Loaded::on(device, Arc::new(file), &o.load).map_err(err)?;
    let n_ctx = prompter.n_ctx();
    let sched = Scheduler::new(
        Arc::new(model),
        Arc::clone(prompter.tokenizer()),
        SchedulerOptions {
            n_seq: o.n_slots.max(1),
            n_ctx,
            n_batch: o.load.n_batch.clamp(1, n_ctx),
            // a request waits in the queue until the next step even with a slot free
            max_queue: o.max_queue.max(1),
            cache_type: o.load.cache_type,
        },
    )
    .map_err(err)?;
    Ok((sched, prompter))
}
