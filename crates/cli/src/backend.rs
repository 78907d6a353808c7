//! `--backend cpu|gpu|auto`: where a model runs. `gpu` takes the first
//! hardware adapter, else any adapter (software ones included: SwiftShader,
//! lavapipe); `auto` takes a hardware adapter when one exists and runs on
//! the CPU otherwise, with a note on stderr.
//!
//! Every command that runs a model writes its body once, generic over the
//! device ([`OnDevice`]), and [`BackendArgs::run`] is the one place that
//! picks the device and calls it.

use std::any::Any;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use engine::{CpuDevice, Device, EngineError, SessionOptions};
use gguf::GgufFile;
use gpu::backend::GpuBackend;
use gpu::Gpu;
use model::{Backend, Model};

/// The `--backend` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    Cpu,
    Gpu,
    Auto,
}

#[derive(Args, Debug, Clone)]
pub struct BackendArgs {
    /// Where the model runs: the CPU, a GPU (any adapter, software ones
    /// included), or a hardware GPU when there is one, else the CPU.
    #[arg(long = "backend", value_enum, default_value_t = BackendArg::Cpu)]
    pub backend: BackendArg,
}

/// The device chosen.
#[derive(Debug)]
pub enum Chosen {
    Cpu,
    Gpu(Arc<Gpu>),
}

impl BackendArgs {
    /// Opens the device `--backend` asks for.
    pub fn choose(&self) -> Result<Chosen> {
        if self.backend == BackendArg::Cpu {
            return Ok(Chosen::Cpu);
        }
        let all = gpu::adapters();
        let hardware = all.iter().find(|a| !a.software);
        let pick = match (self.backend, hardware) {
            (_, Some(a)) => a,
            (BackendArg::Auto, None) => {
                let found = match all.first() {
                    Some(a) => format!("only the software adapter {:?}", a.name),
                    None => "no adapter".into(),
                };
                eprintln!("note: --backend auto: {found}; running on the CPU");
                return Ok(Chosen::Cpu);
            }
            (_, None) => match all.first() {
                Some(a) => a,
                None => {
                    // the device layer's error says how to get a software driver
                    return Err(Gpu::open(None).err().map_or_else(
                        || anyhow::anyhow!("no GPU adapter found"),
                        anyhow::Error::from,
                    ));
                }
            },
        };
        let g = Gpu::open(Some(pick.index))
            .with_context(|| format!("opening GPU adapter {:?}", pick.name))?;
        eprintln!(
            "backend: GPU {} ({}, {}{})",
            g.info.name,
            g.info.backend,
            g.info.device_type,
            if g.info.software { ", software" } else { "" }
        );
        Ok(Chosen::Gpu(Arc::new(g)))
    }
}

/// A command's body, written once for any device.
pub trait OnDevice {
    type Output;

    /// Runs the command with its model on `device`.
    fn run<D: Device>(self, device: D) -> Result<Self::Output>;
}

impl BackendArgs {
    /// Opens the device `--backend` asks for and runs `job` on it.
    pub fn run<J: OnDevice>(&self, job: J) -> Result<J::Output> {
        match self.choose()? {
            Chosen::Cpu => job.run(CpuDevice),
            Chosen::Gpu(g) => job.run(GpuDevice(g)),
        }
    }
}

/// A GPU adapter as an engine device: the weights on the GPU backend (the
/// CPU's threads, attention kernel and repacking do not apply).
#[derive(Debug, Clone)]
pub struct GpuDevice(pub Arc<Gpu>);

impl Device for GpuDevice {
    type Backend = GpuBackend;

    fn load_model(
        &self,
        file: Arc<GgufFile>,
        _opts: &SessionOptions,
    ) -> Result<Model<GpuBackend>, EngineError> {
        Ok(Model::with_backend(file, GpuBackend::new(self.0.clone()))?)
    }
}

/// `model` as a CPU model (`None` on another backend).
pub fn cpu_model<B: Backend>(model: &Model<B>) -> Option<&Model> {
    let m: &dyn Any = model;
    m.downcast_ref::<Model>()
}

/// [`cpu_model`], mutable.
pub fn cpu_model_mut<B: Backend>(model: &mut Model<B>) -> Option<&mut Model> {
    let m: &mut dyn Any = model;
    m.downcast_mut::<Model>()
}

/// `model`'s GPU backend (`None` on another backend).
pub fn gpu_backend<B: Backend>(model: &Model<B>) -> Option<&GpuBackend> {
    let b: &dyn Any = model.backend();
    b.downcast_ref::<GpuBackend>()
}

/// Where `model` runs, for reports: (threads, 0 on a GPU; the CPU's kernel
/// table or `gpu: ADAPTER`).
pub fn placement<B: Backend>(model: &Model<B>) -> (usize, String) {
    match (cpu_model(model), gpu_backend(model)) {
        (Some(m), _) => (m.threads(), m.kernels().isa.name().to_string()),
        (None, Some(g)) => (0, format!("gpu: {}", g.gpu().info.name)),
        (None, None) => (0, "unknown".into()),
    }
}
