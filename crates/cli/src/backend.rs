//! `--backend cpu|gpu|auto`: where a model runs. `gpu` takes the first
//! hardware adapter, else any adapter (software ones included: SwiftShader,
//! lavapipe); `auto` takes a hardware adapter when one exists and runs on
//! the CPU otherwise, with a note on stderr.

use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use gpu::Gpu;

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
