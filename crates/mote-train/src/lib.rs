//! Training tiny networks on the host and handing them to mote's compiler.
//!
//! A model is a [`ModelSpec`] (an architecture made only of layers that map onto `mote-ir`
//! operators) plus its parameters, kept as `candle` tensors so that candle's reverse-mode
//! autodiff trains them. [`Template`]s build the specs people need for keywords, images,
//! anomalies and accelerometer windows; [`train`] fits one with Adam, a warmup+cosine
//! learning-rate schedule, early stopping and checkpoints; [`Trained::to_graph`] exports a
//! float32 [`mote_ir::Graph`] with batch norm folded and ReLU fused; [`optimize`] shrinks a
//! trained model (distillation, magnitude and structured pruning, quantization-aware training).

mod adam;
pub mod dataset;
mod depthwise;
pub mod export;
pub mod metrics;
pub mod model;
pub mod optimize;
pub mod spec;
pub mod train;

pub use dataset::Dataset;
pub use metrics::Metrics;
pub use model::Model;
pub use optimize::{
    distill, distill_from_teacher_channels, prune_magnitude, prune_structured, qat,
    remove_channels, Footprint, Optimized,
};
pub use spec::{Layer, ModelSpec, Task, Template};
pub use train::{train, train_model, EpochLog, Masking, TrainConfig, Trained};

/// What went wrong in `mote-train`, and where.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("dataset: {0}")]
    Dataset(String),
    #[error("model spec: {0}")]
    Spec(String),
    #[error("tensor library: {0}")]
    Tensor(#[from] candle_core::Error),
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("export: {0}")]
    Export(String),
    #[error("checkpoint: {0}")]
    Checkpoint(String),
}

pub type Result<T> = std::result::Result<T, TrainError>;

/// SplitMix64: deterministic on every platform, for weight initialisation and shuffling
/// (candle's CPU device cannot be seeded).
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f32 {
        let u1 = self.unit().max(1e-7);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f32::consts::PI * u2).cos()
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}
