//! What the handlers share: options, the loaded model's prompter and the
//! scheduler thread's job channel (once loaded), its status, the metrics.

use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, OnceLock};

use engine::Prompter;

use crate::error::ApiError;
use crate::metrics::{Gauges, Metrics};
use crate::options::ServerOptions;
use crate::worker::{Job, Status};

/// The model, once loaded.
#[derive(Debug)]
pub struct Ready {
    pub prompter: Arc<Prompter>,
    jobs: Mutex<Sender<Job>>,
}

impl Ready {
    pub fn new(prompter: Arc<Prompter>, jobs: Sender<Job>) -> Ready {
        Ready {
            prompter,
            jobs: Mutex::new(jobs),
        }
    }

    /// Hands a job to the scheduler thread.
    pub fn send(&self, job: Job) -> Result<(), ApiError> {
        let jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        jobs.send(job)
            .map_err(|_| ApiError::unavailable("the scheduler has stopped"))
    }
}

#[derive(Debug)]
pub struct AppState {
    pub opts: ServerOptions,
    pub model_name: String,
    pub ready: OnceLock<Ready>,
    pub status: Arc<Mutex<Status>>,
    pub metrics: Arc<Metrics>,
    /// Seconds since the epoch at start-up (`created` of the model).
    pub created: u64,
}

impl AppState {
    pub fn new(opts: ServerOptions) -> AppState {
        AppState {
            model_name: opts.model_name(),
            status: Arc::new(Mutex::new(Status {
                busy: vec![false; opts.n_slots],
                queued: 0,
            })),
            opts,
            ready: OnceLock::new(),
            metrics: Arc::default(),
            created: unix_now(),
        }
    }

    /// The loaded model, or 503 while it loads.
    pub fn ready(&self) -> Result<&Ready, ApiError> {
        self.ready.get().ok_or_else(ApiError::loading)
    }

    pub fn status(&self) -> Status {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn gauges(&self) -> Gauges {
        let s = self.status();
        Gauges {
            queued: s.queued,
            busy: s.busy.iter().filter(|&&b| b).count(),
            slots: s.busy.len(),
        }
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
