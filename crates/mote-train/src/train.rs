//! The training loop: mini-batch Adam with a warmup + cosine learning-rate schedule, early
//! stopping on the validation score with patience, checkpoints (best weights, and the last
//! state with Adam's moments for an exact resume), deterministic seeding and a progress bar.
//! Distillation and magnitude pruning plug into the same loop through [`Objective`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor, D};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};

use crate::adam::Adam;
use crate::dataset::Dataset;
use crate::metrics::{roc_auc, Metrics};
use crate::model::{Mode, Model};
use crate::spec::{ModelSpec, Task};
use crate::{Result, Rng, TrainError};

#[derive(Debug, Clone)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    /// Peak learning rate (after warmup).
    pub learning_rate: f64,
    /// Epochs of linear warmup before the cosine decay.
    pub warmup_epochs: usize,
    /// Learning rate at the end of the cosine, as a fraction of the peak.
    pub final_lr_fraction: f64,
    /// Epochs without a better validation score before stopping.
    pub patience: usize,
    pub seed: u64,
    /// Directory for `best.*` and `last.*` checkpoints; None keeps them in memory only.
    pub checkpoint_dir: Option<PathBuf>,
    /// Continue from `checkpoint_dir/last.*` when it exists.
    pub resume: bool,
    /// Random time shift of up to this many rows of each sample (audio augmentation).
    pub time_shift: usize,
    /// SpecAugment-style masking of each training sample (audio augmentation).
    pub masking: Masking,
    /// Random warp of the second axis (frequency, for spectrogram-like samples) by a factor
    /// drawn from [1 − w, 1 + w] per training sample, a stand-in for other speakers' vocal
    /// tract lengths; 0 turns it off.
    pub frequency_warp: f32,
    /// Share ε of each hard label spread evenly over all classes (the target becomes
    /// 1 − ε + ε/K for the true class and ε/K for the others); 0 is plain cross-entropy.
    pub label_smoothing: f64,
    pub progress: bool,
    /// Threads for candle's CPU kernels (set through RAYON_NUM_THREADS when unset).
    pub threads: usize,
    /// Stop this run after this many epochs (a time box; `resume` continues from there
    /// with the same schedule).
    pub epoch_limit: Option<usize>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 30,
            batch_size: 32,
            learning_rate: 3e-3,
            warmup_epochs: 1,
            final_lr_fraction: 0.02,
            patience: 6,
            seed: 0x6d6f7465,
            checkpoint_dir: None,
            resume: false,
            time_shift: 0,
            masking: Masking::NONE,
            frequency_warp: 0.0,
            label_smoothing: 0.0,
            progress: true,
            threads: 2,
            epoch_limit: None,
        }
    }
}

impl TrainConfig {
    /// Learning rate at `step` of `total` (warmup then cosine).
    pub fn learning_rate_at(&self, step: usize, steps_per_epoch: usize) -> f64 {
        let warmup = self.warmup_epochs * steps_per_epoch;
        let total = (self.epochs * steps_per_epoch).max(1);
        if step < warmup {
            return self.learning_rate * (step + 1) as f64 / warmup as f64;
        }
        let t = (step - warmup) as f64 / (total - warmup).max(1) as f64;
        let floor = self.learning_rate * self.final_lr_fraction;
        floor
            + (self.learning_rate - floor) * 0.5 * (1.0 + (std::f64::consts::PI * t.min(1.0)).cos())
    }
}

/// SpecAugment's masks (Park et al., 2019) for spectrogram-like samples `[rows, columns, ..]`
/// (time × frequency): each training sample gets up to `time_masks` bands of at most
/// `time_width` consecutive rows and up to `freq_masks` bands of at most `freq_width`
/// consecutive columns set to the sample's mean, so the network cannot lean on any one
/// moment or frequency band, which is what changes most from one voice to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Masking {
    pub time_masks: usize,
    pub time_width: usize,
    pub freq_masks: usize,
    pub freq_width: usize,
}

impl Masking {
    /// No masking.
    pub const NONE: Masking = Masking {
        time_masks: 0,
        time_width: 0,
        freq_masks: 0,
        freq_width: 0,
    };

    fn is_none(&self) -> bool {
        (self.time_masks == 0 || self.time_width == 0)
            && (self.freq_masks == 0 || self.freq_width == 0)
    }

    /// Masks `sample` (`rows` rows of `row` values, the column being the index within a row
    /// divided by `row / columns`) in place.
    fn apply(&self, sample: &mut [f32], rows: usize, columns: usize, rng: &mut Rng) {
        if self.is_none() || rows == 0 || columns == 0 || sample.is_empty() {
            return;
        }
        let row = sample.len() / rows;
        let per_column = (row / columns).max(1);
        let mean = sample.iter().sum::<f32>() / sample.len() as f32;
        let band = |count: usize, width: usize, extent: usize, rng: &mut Rng| {
            let mut bands = Vec::new();
            for _ in 0..count {
                let w = (rng.next_u64() % (width.min(extent) as u64 + 1)) as usize;
                if w == 0 {
                    continue;
                }
                let start = (rng.next_u64() % ((extent - w) as u64 + 1)) as usize;
                bands.push(start..start + w);
            }
            bands
        };
        for rows_masked in band(self.time_masks, self.time_width, rows, rng) {
            sample[rows_masked.start * row..rows_masked.end * row].fill(mean);
        }
        for cols in band(self.freq_masks, self.freq_width, columns, rng) {
            for r in sample.chunks_exact_mut(row) {
                r[cols.start * per_column..cols.end * per_column].fill(mean);
            }
        }
    }
}

/// One epoch's figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochLog {
    pub epoch: usize,
    pub train_loss: f32,
    pub val_loss: f32,
    pub val_score: f32,
    pub learning_rate: f64,
}

/// A trained model with the best weights restored, and how it got there.
#[derive(Debug)]
pub struct Trained {
    pub model: Model,
    pub history: Vec<EpochLog>,
    pub best_epoch: usize,
    pub best_score: f32,
    /// True when early stopping ended training before `epochs`.
    pub stopped_early: bool,
}

impl Trained {
    pub fn evaluate(&self, data: &Dataset) -> Result<Metrics> {
        evaluate(&self.model, data)
    }

    pub fn to_graph(&self) -> Result<mote_ir::Graph> {
        crate::export::to_graph(&self.model)
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        self.model.save(path)
    }

    /// A saved model as a `Trained` (no history).
    pub fn load(path: &Path) -> Result<Trained> {
        Ok(Trained {
            model: Model::load(path)?,
            history: Vec::new(),
            best_epoch: 0,
            best_score: f32::NAN,
            stopped_early: false,
        })
    }
}

/// Extra terms and constraints of the loop.
#[derive(Default)]
pub(crate) struct Objective<'a> {
    /// Knowledge distillation: teacher, temperature, weight α of the soft term.
    pub teacher: Option<(&'a Model, f64, f64)>,
    /// Magnitude pruning: final sparsity and the epochs over which it ramps up.
    pub sparsity: Option<(f32, usize)>,
}

/// Trains a fresh model of `spec`.
pub fn train(
    spec: ModelSpec,
    train: &Dataset,
    val: &Dataset,
    cfg: &TrainConfig,
) -> Result<Trained> {
    let model = Model::new(spec, cfg.seed)?;
    train_model(model, train, val, cfg)
}

/// Continues training `model` (fine-tuning).
pub fn train_model(
    model: Model,
    train: &Dataset,
    val: &Dataset,
    cfg: &TrainConfig,
) -> Result<Trained> {
    fit(model, train, val, cfg, &Objective::default())
}

fn check_data(model: &Model, data: &Dataset, what: &str) -> Result<()> {
    data.validate()?;
    let want: usize = model.spec.input_shape.iter().product();
    if data.sample_size() != want {
        return Err(TrainError::Dataset(format!(
            "{what}: samples of shape {:?} ({} values) but the model takes {:?}",
            data.sample_shape,
            data.sample_size(),
            model.spec.input_shape
        )));
    }
    if let Task::Classify { classes } = &model.spec.task {
        if data.classes.len() > classes.len() {
            return Err(TrainError::Dataset(format!(
                "{what}: {} classes but the model has {}",
                data.classes.len(),
                classes.len()
            )));
        }
    }
    Ok(())
}

/// Gathers samples into a batch, shifting each one in time by up to `time_shift` rows,
/// warping its frequency axis and masking it as `cfg` says.
fn gather(data: &Dataset, idx: &[usize], cfg: &TrainConfig, rng: &mut Rng) -> Vec<f32> {
    let mut out = gather_shifted(data, idx, cfg.time_shift, rng);
    let n = data.sample_size();
    let rows = data.sample_shape.first().copied().unwrap_or(1).max(1);
    let columns = data.sample_shape.get(1).copied().unwrap_or(1).max(1);
    if n > 0 && cfg.frequency_warp > 0.0 && columns > 1 {
        for sample in out.chunks_exact_mut(n) {
            // Uniform in [1 − w, 1 + w] from 24 random bits.
            let u = (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
            let factor = 1.0 + cfg.frequency_warp * (2.0 * u - 1.0);
            warp_columns(sample, rows, columns, factor);
        }
    }
    if !cfg.masking.is_none() && n > 0 {
        for sample in out.chunks_exact_mut(n) {
            cfg.masking.apply(sample, rows, columns, rng);
        }
    }
    out
}

/// Stretches every row of `sample` along its `columns` by `factor` (column c takes the
/// value at c / factor, linearly interpolated, the edge value beyond the last column): a
/// factor above 1 moves spectral features to higher channels, as a shorter vocal tract
/// does. Extra values per column (channels of an image-like sample) move together.
fn warp_columns(sample: &mut [f32], rows: usize, columns: usize, factor: f32) {
    let row = sample.len() / rows.max(1);
    let per_column = (row / columns).max(1);
    if row == 0 || factor <= 0.0 || columns * per_column != row {
        return;
    }
    let last = (columns - 1) as f32;
    let mut source = vec![0f32; row];
    for r in sample.chunks_exact_mut(row) {
        source.copy_from_slice(r);
        for c in 0..columns {
            let x = (c as f32 / factor).clamp(0.0, last);
            let c0 = x.floor() as usize;
            let c1 = (c0 + 1).min(columns - 1);
            let t = x - c0 as f32;
            for k in 0..per_column {
                let (a, b) = (source[c0 * per_column + k], source[c1 * per_column + k]);
                r[c * per_column + k] = a + (b - a) * t;
            }
        }
    }
}

fn gather_shifted(data: &Dataset, idx: &[usize], shift: usize, rng: &mut Rng) -> Vec<f32> {
    let n = data.sample_size();
    let mut out = Vec::with_capacity(idx.len() * n);
    let rows = data.sample_shape.first().copied().unwrap_or(1).max(1);
    let row = n / rows;
    for &i in idx {
        let s = data.sample(i);
        if shift == 0 || rows < 2 {
            out.extend_from_slice(s);
            continue;
        }
        let k = (rng.next_u64() % (2 * shift as u64 + 1)) as isize - shift as isize;
        let start = out.len();
        out.resize(start + n, 0.0);
        for r in 0..rows as isize {
            let src = r - k;
            if (0..rows as isize).contains(&src) {
                let (d, s0) = (start + r as usize * row, src as usize * row);
                out[d..d + row].copy_from_slice(&s[s0..s0 + row]);
            }
        }
    }
    out
}

fn labels_tensor(data: &Dataset, idx: &[usize]) -> Result<Tensor> {
    let l: Vec<u32> = idx.iter().map(|&i| data.labels[i] as u32).collect();
    Ok(Tensor::from_vec(l, idx.len(), &Device::Cpu)?)
}

fn cross_entropy(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    smoothed_cross_entropy(logits, labels, 0.0)
}

/// Cross-entropy against labels smoothed by `epsilon`: (1 − ε)·CE(true class) plus ε times
/// the mean over classes of −log p.
fn smoothed_cross_entropy(logits: &Tensor, labels: &Tensor, epsilon: f64) -> Result<Tensor> {
    let logp = log_softmax(logits)?;
    let picked = logp.gather(&labels.unsqueeze(1)?, 1)?.mean_all()?.neg()?;
    if epsilon == 0.0 {
        return Ok(picked);
    }
    let uniform = logp.mean(D::Minus1)?.mean_all()?.neg()?;
    Ok(((picked * (1.0 - epsilon))? + (uniform * epsilon)?)?)
}

fn log_softmax(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let shifted = x.broadcast_sub(&max)?;
    let lse = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
    Ok(shifted.broadcast_sub(&lse)?)
}

/// The loss of a batch for `model`'s task (and the objective's extra terms).
fn batch_loss(
    model: &Model,
    x: &Tensor,
    labels: &Tensor,
    objective: &Objective,
    label_smoothing: f64,
    mode: Mode,
) -> Result<Tensor> {
    let out = model.forward(x, mode)?;
    match model.spec.task {
        Task::Reconstruct => Ok((out - model.batch_rows(x)?)?.sqr()?.mean_all()?),
        Task::Classify { .. } => {
            let hard = smoothed_cross_entropy(&out, labels, label_smoothing)?;
            let Some((teacher, t, alpha)) = objective.teacher else {
                return Ok(hard);
            };
            let log_pt = log_softmax(&(teacher.forward(x, Mode::Eval)?.detach() / t)?)?;
            let pt = log_pt.exp()?;
            let log_ps = log_softmax(&(&out / t)?)?;
            let kl = (pt * (log_pt - log_ps)?)?.sum(D::Minus1)?.mean_all()?;
            Ok(((kl * (alpha * t * t))? + (hard * (1.0 - alpha))?)?)
        }
    }
}

/// Evaluates `model` on `data`: loss, confusion matrix, and for an autoencoder the ROC AUC
/// of the reconstruction error with label 0 as normal.
pub fn evaluate(model: &Model, data: &Dataset) -> Result<Metrics> {
    check_data(model, data, "evaluation data")?;
    let batch = 256;
    let mut predicted = Vec::with_capacity(data.len());
    let mut scores = Vec::with_capacity(data.len());
    let mut loss_sum = 0f64;
    let mut rng = Rng(0);
    let idx: Vec<usize> = (0..data.len()).collect();
    for chunk in idx.chunks(batch) {
        let x = model.batch_tensor(gather_shifted(data, chunk, 0, &mut rng), chunk.len())?;
        let out = model.forward(&x, Mode::Eval)?;
        match model.spec.task {
            Task::Classify { .. } => {
                let labels = labels_tensor(data, chunk)?;
                loss_sum +=
                    cross_entropy(&out, &labels)?.to_scalar::<f32>()? as f64 * chunk.len() as f64;
                let p: Vec<u32> = out.argmax(D::Minus1)?.to_vec1()?;
                predicted.extend(p.into_iter().map(|v| v as usize));
            }
            Task::Reconstruct => {
                let err = (out - model.batch_rows(&x)?)?.sqr()?.mean(D::Minus1)?;
                let e: Vec<f32> = err.to_vec1()?;
                loss_sum += e.iter().map(|&v| v as f64).sum::<f64>();
                scores.extend(e);
            }
        }
    }
    let loss = (loss_sum / data.len().max(1) as f64) as f32;
    Ok(match &model.spec.task {
        Task::Classify { classes } => {
            let mut m = Metrics::from_predictions(classes, &data.labels, &predicted);
            m.loss = loss;
            m
        }
        Task::Reconstruct => {
            let positives: Vec<bool> = data.labels.iter().map(|&l| l != 0).collect();
            Metrics {
                classes: Vec::new(),
                confusion: Vec::new(),
                loss,
                auc: roc_auc(&scores, &positives),
            }
        }
    })
}

/// Resume state written next to `last.safetensors`.
#[derive(Debug, Serialize, Deserialize)]
struct LoopState {
    next_epoch: usize,
    adam_step: usize,
    best_epoch: usize,
    best_score: f32,
    bad_epochs: usize,
    history: Vec<EpochLog>,
}

fn ck_err(p: &Path, e: impl std::fmt::Display) -> TrainError {
    TrainError::Checkpoint(format!("{}: {e}", p.display()))
}

fn save_checkpoint(dir: &Path, model: &Model, adam: &Adam, state: &LoopState) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| ck_err(dir, e))?;
    let mut tensors: BTreeMap<String, Tensor> = model.snapshot()?;
    tensors.extend(adam.state());
    let p = dir.join("last.safetensors");
    candle_core::safetensors::save(&tensors.into_iter().collect(), &p)
        .map_err(|e| ck_err(&p, e))?;
    let p = dir.join("last.state.json");
    let text = serde_json::to_string(state).map_err(|e| ck_err(&p, e))?;
    std::fs::write(&p, text).map_err(|e| ck_err(&p, e))
}

fn load_checkpoint(dir: &Path, model: &Model, adam: &mut Adam) -> Result<Option<LoopState>> {
    let (w, s) = (dir.join("last.safetensors"), dir.join("last.state.json"));
    if !w.exists() || !s.exists() {
        return Ok(None);
    }
    let state: LoopState =
        serde_json::from_str(&std::fs::read_to_string(&s).map_err(|e| ck_err(&s, e))?)
            .map_err(|e| ck_err(&s, e))?;
    let tensors: BTreeMap<String, Tensor> = candle_core::safetensors::load(&w, &Device::Cpu)
        .map_err(|e| ck_err(&w, e))?
        .into_iter()
        .collect();
    model.restore(&tensors)?;
    adam.load_state(&tensors, state.adam_step);
    Ok(Some(state))
}

/// Per weight tensor, a 0/1 mask keeping the largest-magnitude `1 - sparsity` of it.
pub(crate) fn magnitude_masks(model: &Model, sparsity: f32) -> Result<BTreeMap<String, Tensor>> {
    let mut masks = BTreeMap::new();
    for (name, var) in model.params() {
        if !name.ends_with(".weight") {
            continue;
        }
        let values: Vec<f32> = var.as_tensor().flatten_all()?.to_vec1()?;
        let mut mags: Vec<f32> = values.iter().map(|v| v.abs()).collect();
        mags.sort_by(f32::total_cmp);
        let k = ((values.len() as f32) * sparsity).floor() as usize;
        let keep: Vec<f32> = if k == 0 {
            vec![1.0; values.len()]
        } else {
            let threshold = mags[k - 1];
            // Ties at the threshold: prune exactly k by counting.
            let mut pruned = 0;
            values
                .iter()
                .map(|v| {
                    if v.abs() <= threshold && pruned < k {
                        pruned += 1;
                        0.0
                    } else {
                        1.0
                    }
                })
                .collect()
        };
        masks.insert(
            name.clone(),
            Tensor::from_vec(keep, var.dims(), &Device::Cpu)?,
        );
    }
    Ok(masks)
}

fn apply_masks(model: &Model, masks: &BTreeMap<String, Tensor>) -> Result<()> {
    for (name, mask) in masks {
        if let Some(v) = model.param(name) {
            v.set(&(v.as_tensor() * mask)?)?;
        }
    }
    Ok(())
}

/// Keeps freed tensor buffers in the heap for reuse. glibc returns every allocation above
/// 128 KiB to the kernel on free, so each of the thousands of activation-sized tensors a
/// training step creates costs fresh zeroed pages: measured on the DS-CNN step, half of the
/// backward pass was page faults and page clearing. Process-wide, set once, glibc only.
fn keep_freed_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            extern "C" {
                fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
            }
            const M_TRIM_THRESHOLD: std::ffi::c_int = -1;
            const M_MMAP_THRESHOLD: std::ffi::c_int = -3;
            // SAFETY: mallopt only changes glibc's allocation thresholds; both values are
            // within the documented ranges (the mmap threshold at most 32 MiB on 64-bit).
            unsafe {
                mallopt(M_MMAP_THRESHOLD, 32 << 20);
                mallopt(M_TRIM_THRESHOLD, 512 << 20);
            }
        });
    }
}

pub(crate) fn fit(
    model: Model,
    train: &Dataset,
    val: &Dataset,
    cfg: &TrainConfig,
    objective: &Objective,
) -> Result<Trained> {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() && cfg.threads > 0 {
        // candle's CPU kernels size their thread pool from this variable.
        std::env::set_var("RAYON_NUM_THREADS", cfg.threads.to_string());
    }
    keep_freed_buffers();
    check_data(&model, train, "training data")?;
    check_data(&model, val, "validation data")?;
    if train.is_empty() || cfg.batch_size == 0 || cfg.epochs == 0 {
        return Err(TrainError::Dataset(
            "nothing to train: no samples, no batch or no epochs".into(),
        ));
    }
    if !(0.0..1.0).contains(&cfg.label_smoothing) {
        return Err(TrainError::Spec(format!(
            "label smoothing {} must be in [0, 1)",
            cfg.label_smoothing
        )));
    }
    let steps_per_epoch = train.len().div_ceil(cfg.batch_size);
    let mut adam = Adam::new();
    let mut state = LoopState {
        next_epoch: 0,
        adam_step: 0,
        best_epoch: 0,
        best_score: f32::NEG_INFINITY,
        bad_epochs: 0,
        history: Vec::new(),
    };
    let mut best = model.snapshot()?;
    if let (true, Some(dir)) = (cfg.resume, &cfg.checkpoint_dir) {
        if let Some(s) = load_checkpoint(dir, &model, &mut adam)? {
            state = s;
            let p = dir.join("best.safetensors");
            if p.exists() {
                best = candle_core::safetensors::load(&p, &Device::Cpu)
                    .map_err(|e| ck_err(&p, e))?
                    .into_iter()
                    .collect();
            }
        }
    }
    // Pruning only counts once the sparsity has reached its target.
    let scoring_from = objective.sparsity.map_or(0, |(_, ramp)| ramp);
    let bar = if cfg.progress {
        ProgressBar::new((cfg.epochs * steps_per_epoch) as u64)
    } else {
        ProgressBar::with_draw_target(
            Some((cfg.epochs * steps_per_epoch) as u64),
            ProgressDrawTarget::hidden(),
        )
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30} {pos}/{len} [{elapsed_precise}<{eta_precise}] {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_position((state.next_epoch * steps_per_epoch) as u64);
    let mut stopped_early = false;
    let trainable: Vec<(String, candle_core::Var)> = model
        .trainable()
        .into_iter()
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    let trainable_refs: Vec<(&String, &candle_core::Var)> =
        trainable.iter().map(|(n, v)| (n, v)).collect();
    for epoch in state.next_epoch..cfg.epochs {
        let masks = match objective.sparsity {
            Some((target, ramp)) => {
                // Cubic ramp (Zhu & Gupta): fast at first, gentle near the target.
                let t = ((epoch + 1) as f32 / ramp.max(1) as f32).min(1.0);
                let s = target * (1.0 - (1.0 - t).powi(3));
                let m = magnitude_masks(&model, s)?;
                apply_masks(&model, &m)?;
                Some(m)
            }
            None => None,
        };
        let mut rng = Rng(cfg.seed ^ (epoch as u64).wrapping_mul(0x9e37_79b9));
        let mut order: Vec<usize> = (0..train.len()).collect();
        rng.shuffle(&mut order);
        let mut loss_sum = 0f64;
        let mut lr = 0.0;
        for chunk in order.chunks(cfg.batch_size) {
            let step = adam.step;
            lr = cfg.learning_rate_at(step, steps_per_epoch);
            let x = model.batch_tensor(gather(train, chunk, cfg, &mut rng), chunk.len())?;
            let labels = labels_tensor(train, chunk)?;
            let loss = batch_loss(
                &model,
                &x,
                &labels,
                objective,
                cfg.label_smoothing,
                Mode::Train,
            )?;
            let grads = loss.backward()?;
            adam.update(&trainable_refs, &grads, lr)?;
            if let Some(m) = &masks {
                apply_masks(&model, m)?;
            }
            let l = loss.to_scalar::<f32>()?;
            if !l.is_finite() {
                return Err(TrainError::Dataset(format!(
                    "loss became {l} at epoch {epoch}: learning rate too high?"
                )));
            }
            loss_sum += l as f64 * chunk.len() as f64;
            bar.inc(1);
            bar.set_message(format!("epoch {} loss {l:.4}", epoch + 1));
        }
        let metrics = evaluate(&model, val)?;
        let score = if val.is_empty() {
            -(loss_sum as f32)
        } else {
            metrics.score()
        };
        let log = EpochLog {
            epoch,
            train_loss: (loss_sum / train.len() as f64) as f32,
            val_loss: metrics.loss,
            val_score: score,
            learning_rate: lr,
        };
        let line = format!(
            "epoch {} loss {:.4} val {:.4} score {:.4}",
            epoch + 1,
            log.train_loss,
            log.val_loss,
            score
        );
        // One line per epoch stays in the terminal (and in logs, where the bar is not
        // drawn), so that the whole learning curve can be read after the run.
        if cfg.progress {
            bar.suspend(|| eprintln!("{line} (lr {lr:.2e})"));
        }
        bar.set_message(line);
        state.history.push(log);
        if epoch + 1 >= scoring_from && score > state.best_score {
            state.best_score = score;
            state.best_epoch = epoch;
            state.bad_epochs = 0;
            best = model.snapshot()?;
            if let Some(dir) = &cfg.checkpoint_dir {
                std::fs::create_dir_all(dir).map_err(|e| ck_err(dir, e))?;
                let p = dir.join("best.safetensors");
                candle_core::safetensors::save(&best.clone().into_iter().collect(), &p)
                    .map_err(|e| ck_err(&p, e))?;
                model.save(&dir.join("best"))?;
            }
        } else if epoch + 1 >= scoring_from {
            state.bad_epochs += 1;
        }
        state.next_epoch = epoch + 1;
        state.adam_step = adam.step;
        if let Some(dir) = &cfg.checkpoint_dir {
            save_checkpoint(dir, &model, &adam, &state)?;
        }
        if cfg.epoch_limit.is_some_and(|n| epoch + 1 >= n) {
            break;
        }
        if state.bad_epochs > cfg.patience {
            stopped_early = epoch + 1 < cfg.epochs;
            break;
        }
    }
    bar.finish_and_clear();
    model.restore(&best)?;
    Ok(Trained {
        model,
        history: state.history,
        best_epoch: state.best_epoch,
        best_score: state.best_score,
        stopped_early,
    })
}

pub use evaluate as evaluate_model;

#[cfg(test)]
mod tests {
    use super::*;

    /// A 6×4 sample whose value at (row, column) is `10 * row + column`.
    fn sample() -> Vec<f32> {
        (0..6)
            .flat_map(|r| (0..4).map(move |c| (10 * r + c) as f32))
            .collect()
    }

    #[test]
    fn masks_replace_whole_bands_of_rows_and_columns_with_the_mean() {
        let original = sample();
        let mean = original.iter().sum::<f32>() / original.len() as f32;
        let masking = Masking {
            time_masks: 1,
            time_width: 2,
            freq_masks: 1,
            freq_width: 1,
        };
        let mut masked_some = false;
        for seed in 0..50 {
            let mut s = original.clone();
            masking.apply(&mut s, 6, 4, &mut Rng(seed));
            let changed: Vec<(usize, usize)> = (0..24)
                .filter(|&i| s[i] != original[i])
                .map(|i| (i / 4, i % 4))
                .collect();
            masked_some |= !changed.is_empty();
            for &(r, c) in &changed {
                assert_eq!(s[r * 4 + c], mean);
            }
            // What changed is at most two whole rows plus one whole column.
            let rows: std::collections::BTreeSet<usize> = (0..6)
                .filter(|&r| (0..4).all(|c| s[r * 4 + c] == mean))
                .collect();
            let cols: std::collections::BTreeSet<usize> = (0..4)
                .filter(|&c| (0..6).all(|r| s[r * 4 + c] == mean))
                .collect();
            assert!(
                rows.len() <= 2 && cols.len() <= 1,
                "seed {seed}: {changed:?}"
            );
            for &(r, c) in &changed {
                assert!(
                    rows.contains(&r) || cols.contains(&c),
                    "seed {seed}: ({r}, {c})"
                );
            }
        }
        assert!(masked_some);
    }

    #[test]
    fn frequency_warp_stretches_each_row_along_its_columns() {
        // Row r is 10r + c: a warp by 2 reads column c at c / 2, interpolated.
        let mut s = sample();
        warp_columns(&mut s, 6, 4, 2.0);
        for r in 0..6 {
            let base = 10.0 * r as f32;
            assert_eq!(
                &s[r * 4..r * 4 + 4],
                &[base, base + 0.5, base + 1.0, base + 1.5]
            );
        }
        // Shrinking reads past the last column: the edge value.
        let mut s = sample();
        warp_columns(&mut s, 6, 4, 0.5);
        assert_eq!(&s[4..8], &[10.0, 12.0, 13.0, 13.0]);
        // A factor of 1 changes nothing.
        let mut s = sample();
        warp_columns(&mut s, 6, 4, 1.0);
        assert_eq!(s, sample());
    }

    #[test]
    fn no_masking_leaves_samples_alone() {
        let mut s = sample();
        Masking::NONE.apply(&mut s, 6, 4, &mut Rng(1));
        assert_eq!(s, sample());
    }
}
