//! The model API of the CPU backend: loading, kernel tables, threads,
//! attention kernel and the load-time weight transcodings.

use std::sync::Arc;

use gguf::GgufFile;
use kernels::arch::Kernels;
use kernels::types::AttentionBackend;
use kernels::ThreadPool;

use super::CpuBackend;
use crate::error::ModelError;
use crate::model::Model;

impl Model<CpuBackend> {
    /// Open and validate a GGUF model file (not on wasm32: no file system).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<Model, ModelError> {
        Model::from_file(Arc::new(GgufFile::open(path.as_ref())?))
    }

    /// Build from an already parsed file, on the CPU backend: reads the
    /// config, then finds and checks every tensor against it, and that
    /// every id of the tokenizer has a row in the embedding and output
    /// tensors.
    pub fn from_file(file: Arc<GgufFile>) -> Result<Model, ModelError> {
        let backend = CpuBackend::new(file.clone());
        let model = Model::with_backend(file, backend)?;
        model.tune_kernels();
        Ok(model)
    }

    /// Lets the kernel table choose its decode kernels for the weight types
    /// of this model (`kernels::arch::tune::prepare`: cached per CPU model,
    /// else timed once per process; never changes results).
    fn tune_kernels(&self) {
        let types: Vec<_> = self.weights().matrices().map(|w| w.kernel_type()).collect();
        kernels::arch::tune::prepare(self.backend().kernels, &types);
    }

    /// Re-encode the Q5_0 matrices as Q8_0 (`Weights::repack_q5_0`) if that
    /// allocates at most `max_bytes`; returns the bytes allocated (0 when
    /// skipped or when there is no Q5_0 matrix).
    pub fn repack_q5_0(&mut self, max_bytes: usize) -> Result<usize, ModelError> {
        if self.weights().q5_0_repack_bytes() > max_bytes {
            return Ok(0);
        }
        let file = self.file_arc().clone();
        let bytes = self.weights_mut().repack_q5_0(&file)?;
        self.tune_kernels();
        Ok(bytes)
    }

    /// Build the kernel table's repacked decode layouts (`Weights::pack`)
    /// if they allocate at most `max_bytes`; returns the bytes allocated
    /// (0 when skipped or when the table has no layout for these types).
    /// Call after `with_kernels` (a layout serves the table it was built
    /// for; other tables read the file's bytes).
    pub fn pack_for_decode(&mut self, max_bytes: usize) -> Result<usize, ModelError> {
        let k = self.kernels();
        if self.weights().pack_bytes(k) > max_bytes {
            return Ok(0);
        }
        let file = self.file_arc().clone();
        self.weights_mut().pack(&file, k)
    }

    /// Use another kernel table (e.g. the scalar reference).
    pub fn with_kernels(mut self, kernels: &'static Kernels) -> Model {
        self.backend_mut().kernels = kernels;
        self.tune_kernels();
        self
    }

    /// Run the forward pass on `n` threads (`0` = available cores; always
    /// 1 on wasm32). Replaces the thread pool; build `Scratch` after this
    /// call so that attention has scratch for every thread.
    pub fn set_threads(&mut self, n: usize) {
        let b = self.backend_mut();
        if n != b.pool.n_threads() || n == 0 {
            b.pool = ThreadPool::new(n);
        }
    }

    /// [`Model::set_threads`], by value.
    pub fn with_threads(mut self, n: usize) -> Model {
        self.set_threads(n);
        self
    }

    /// Threads used by the forward pass.
    pub fn threads(&self) -> usize {
        self.backend().pool.n_threads()
    }

    /// Use `backend` for attention (`Auto`, the default: see
    /// `AttentionBackend::resolve`).
    /// Any backend works with any `Scratch` of this model.
    pub fn set_attention(&mut self, backend: AttentionBackend) {
        self.backend_mut().attention = backend;
    }

    /// [`Model::set_attention`], by value.
    pub fn with_attention(mut self, backend: AttentionBackend) -> Model {
        self.set_attention(backend);
        self
    }

    /// The attention backend setting.
    pub fn attention(&self) -> AttentionBackend {
        self.backend().attention
    }

    /// The forward pass's thread pool.
    pub fn pool(&self) -> &ThreadPool {
        &self.backend().pool
    }

    /// The kernel table.
    pub fn kernels(&self) -> &'static Kernels {
        self.backend().kernels
    }
}
