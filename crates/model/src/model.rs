//! A loaded model: the GGUF file, its typed config and weight views.

use std::sync::Arc;

use gguf::GgufFile;
use kernels::arch::Kernels;
use kernels::attention::AttentionBackend;
use kernels::ThreadPool;

use crate::config::Config;
use crate::error::ModelError;
use crate::weights::Weights;

/// A model ready to run: owns the file, borrows nothing.
#[derive(Debug)]
pub struct Model {
    file: Arc<GgufFile>,
    config: Config,
    weights: Weights,
    kernels: &'static Kernels,
    /// Threads of the forward pass (created once, reused by every call).
    pool: ThreadPool,
    /// Attention kernel of the forward pass.
    attention: AttentionBackend,
}

impl Model {
    /// Open and validate a GGUF model file (not on wasm32: no file system).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<Model, ModelError> {
        Model::from_file(Arc::new(GgufFile::open(path.as_ref())?))
    }

    /// Build from an already parsed file: reads the config, then finds and
    /// checks every tensor against it, and that every id of the tokenizer
    /// has a row in the embedding and output tensors.
    pub fn from_file(file: Arc<GgufFile>) -> Result<Model, ModelError> {
        let config = Config::from_gguf(file.metadata())?;
        let weights = Weights::from_gguf(&file, &config)?;
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
        let model = Model {
            file,
            config,
            weights,
            kernels: kernels::arch::select(),
            pool: ThreadPool::new(1),
            attention: AttentionBackend::default(),
        };
        model.tune_kernels();
        Ok(model)
    }

    /// Lets the kernel table choose its decode kernels for the weight types
    /// of this model (`kernels::arch::tune::prepare`: cached per CPU model,
    /// else timed once per process; never changes results).
    fn tune_kernels(&self) {
        let types: Vec<_> = self
            .weights
            .matrices()
            .map(|w| w.repacked.as_ref().map_or(w.ty, |r| r.ty))
            .collect();
        kernels::arch::tune::prepare(self.kernels, &types);
    }

    /// Re-encode the Q5_0 matrices as Q8_0 (`Weights::repack_q5_0`) if that
    /// allocates at most `max_bytes`; returns the bytes allocated (0 when
    /// skipped or when there is no Q5_0 matrix).
    pub fn repack_q5_0(&mut self, max_bytes: usize) -> Result<usize, ModelError> {
        if self.weights.q5_0_repack_bytes() > max_bytes {
            return Ok(0);
        }
        let bytes = self.weights.repack_q5_0(&self.file)?;
        self.tune_kernels();
        Ok(bytes)
    }

    /// Build the kernel table's repacked decode layouts (`Weights::pack`)
    /// if they allocate at most `max_bytes`; returns the bytes allocated
    /// (0 when skipped or when the table has no layout for these types).
    /// Call after `with_kernels` (a layout serves the table it was built
    /// for; other tables read the file's bytes).
    pub fn pack_for_decode(&mut self, max_bytes: usize) -> Result<usize, ModelError> {
        if self.weights.pack_bytes(self.kernels) > max_bytes {
            return Ok(0);
        }
        self.weights.pack(&self.file, self.kernels)
    }

    /// Use another kernel table (e.g. the scalar reference).
    pub fn with_kernels(mut self, kernels: &'static Kernels) -> Model {
        self.kernels = kernels;
        self.tune_kernels();
        self
    }

    /// Run the forward pass on `n` threads (`0` = available cores; always
    /// 1 on wasm32). Replaces the thread pool; build `Scratch` after this
    /// call so that attention has scratch for every thread.
    pub fn set_threads(&mut self, n: usize) {
        if n != self.pool.n_threads() || n == 0 {
            self.pool = ThreadPool::new(n);
        }
    }

    /// [`Model::set_threads`], by value.
    pub fn with_threads(mut self, n: usize) -> Model {
        self.set_threads(n);
        self
    }

    /// Threads used by the forward pass.
    pub fn threads(&self) -> usize {
        self.pool.n_threads()
    }

    /// Use `backend` for attention (`Auto`, the default, picks flash for
    /// calls attending to `AttentionBackend::AUTO_FLASH_MIN_LEN` keys or more).
    /// Any backend works with any `Scratch` of this model.
    pub fn set_attention(&mut self, backend: AttentionBackend) {
        self.attention = backend;
    }

    /// [`Model::set_attention`], by value.
    pub fn with_attention(mut self, backend: AttentionBackend) -> Model {
        self.set_attention(backend);
        self
    }

    /// The attention backend setting.
    pub fn attention(&self) -> AttentionBackend {
        self.attention
    }

    /// The forward pass's thread pool.
    pub fn pool(&self) -> &ThreadPool {
        &self.pool
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

    pub fn weights(&self) -> &Weights {
        &self.weights
    }

    pub fn file(&self) -> &GgufFile {
        &self.file
    }

    /// The shared file (e.g. for the tokenizer).
    pub fn file_arc(&self) -> &Arc<GgufFile> {
        &self.file
    }

    pub fn kernels(&self) -> &'static Kernels {
        self.kernels
    }
}
