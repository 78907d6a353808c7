//! A loaded model: the GGUF file, its typed config, and weights owned by a
//! backend (the CPU one unless said otherwise).

use std::sync::Arc;

use gguf::GgufFile;

use crate::backend::cpu::CpuBackend;
use crate::backend::Backend;
use crate::config::Config;
use crate::error::ModelError;
use crate::weights::Weights;

/// A model ready to run on backend `B`: owns the file, borrows nothing.
#[derive(Debug)]
pub struct Model<B: Backend = CpuBackend> {
    file: Arc<GgufFile>,
    config: Config,
    weights: Weights<B>,
    backend: B,
}

impl<B: Backend> Model<B> {
    /// Build from an already parsed file on `backend`: reads the config,
    /// then finds and checks every tensor against it (the backend loads
    /// each), and that every id of the tokenizer has a row in the
    /// embedding and output tensors.
    pub fn with_backend(file: Arc<GgufFile>, backend: B) -> Result<Model<B>, ModelError> {
        let config = Config::from_gguf(file.metadata())?;
        let weights = Weights::from_gguf(&file, &config, &backend)?;
        // Every id the tokenizer can produce needs an embedding row and an
        // output-head row (checked above to be n_vocab each).
        if let Some(tokens) = Config::tokenizer_len(file.metadata())? {
            for w in [&weights.tok_embd, &weights.output] {
                if tokens > w.rows {
                    return Err(ModelError::VocabTooLarge {
                        tokens,
                        tensor: w.name.clone(),
                        rows: w.rows,
                    });
                }
            }
        }
        Ok(Model {
            file,
            config,
            weights,
            backend,
        })
    }

    /// Keep only the first `n` blocks (debugging: compare hidden states
    /// layer by layer with a reference). The output head is unchanged.
    #[doc(hidden)]
    pub fn truncate_layers(&mut self, n: usize) {
        let n = n.min(self.config.n_layer);
        self.config.n_layer = n;
        self.config.swa_layers.truncate(n);
        self.weights.layers.truncate(n);
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn weights(&self) -> &Weights<B> {
        &self.weights
    }

    pub(crate) fn weights_mut(&mut self) -> &mut Weights<B> {
        &mut self.weights
    }

    pub fn file(&self) -> &GgufFile {
        &self.file
    }

    /// The shared file (e.g. for the tokenizer).
    pub fn file_arc(&self) -> &Arc<GgufFile> {
        &self.file
    }

    /// The backend the model runs on.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    pub(crate) fn backend_mut(&mut self) -> &mut B {
        &mut self.backend
    }
}
