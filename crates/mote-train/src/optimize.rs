//! Making a trained model smaller: knowledge distillation into a narrower student, magnitude
//! pruning with fine-tuning, structured channel pruning that removes whole channels (a
//! narrower model of the same template: fewer MACs, bytes and arena), and quantization-aware
//! training. Each reports accuracy, weight bytes and MACs before and after.

use std::collections::BTreeMap;

use candle_core::{Device, Tensor};

use crate::dataset::Dataset;
use crate::model::Model;
use crate::spec::{Layer, ModelSpec, Shape};
use crate::train::{evaluate_model, fit, magnitude_masks, Objective, TrainConfig, Trained};
use crate::{Result, TrainError};

/// What a model costs on the device, from its exported float graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    pub parameters: usize,
    /// Non-zero weights (what a sparse encoding would store).
    pub nonzero_parameters: usize,
    /// Bytes of the int8 weights (one byte per weight, four per bias).
    pub int8_weight_bytes: usize,
    pub macs: u64,
}

impl Footprint {
    pub fn of(model: &Model) -> Result<Footprint> {
        let g = crate::export::to_graph(model)?;
        let macs = (0..g.nodes.len()).map(|n| g.macs(n)).sum();
        let (mut parameters, mut nonzero, mut bytes) = (0, 0, 0);
        for t in g.tensors.iter().filter(|t| t.is_const()) {
            let n = t.elements();
            parameters += n;
            let data = t.data.as_deref().unwrap_or(&[]);
            nonzero += data
                .chunks_exact(4)
                .filter(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]) != 0.0)
                .count();
            bytes += if t.name.ends_with("/bias") { 4 * n } else { n };
        }
        Ok(Footprint {
            parameters,
            nonzero_parameters: nonzero,
            int8_weight_bytes: bytes,
            macs,
        })
    }
}

/// An optimised model with its figures before and after (score = accuracy, or AUC).
#[derive(Debug)]
pub struct Optimized {
    pub trained: Trained,
    pub score_before: f32,
    pub score_after: f32,
    pub before: Footprint,
    pub after: Footprint,
}

impl std::fmt::Display for Optimized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (b, a) = (&self.before, &self.after);
        writeln!(
            f,
            "score      {:.4} -> {:.4}",
            self.score_before, self.score_after
        )?;
        writeln!(
            f,
            "parameters {} -> {} ({} non-zero)",
            b.parameters, a.parameters, a.nonzero_parameters
        )?;
        writeln!(
            f,
            "int8 bytes {} -> {}",
            b.int8_weight_bytes, a.int8_weight_bytes
        )?;
        write!(
            f,
            "MACs       {} -> {} ({:.1}% fewer)",
            b.macs,
            a.macs,
            100.0 * (1.0 - a.macs as f64 / b.macs.max(1) as f64)
        )
    }
}

fn report(before: &Model, trained: Trained, val: &Dataset) -> Result<Optimized> {
    Ok(Optimized {
        score_before: evaluate_model(before, val)?.score(),
        score_after: trained.evaluate(val)?.score(),
        before: Footprint::of(before)?,
        after: Footprint::of(&trained.model)?,
        trained,
    })
}

/// The distillation objective's settings: a positive temperature, a soft-term weight α in
/// [0, 1].
fn check_soft_targets(temperature: f64, alpha: f64) -> Result<()> {
    if temperature <= 0.0 || !(0.0..=1.0).contains(&alpha) {
        return Err(TrainError::Spec(format!(
            "temperature {temperature} must be > 0 and alpha {alpha} in [0, 1]"
        )));
    }
    Ok(())
}

/// Knowledge distillation: trains a fresh `student` on
/// `α·T²·KL(softmax(teacher/T) ‖ softmax(student/T)) + (1−α)·CE(labels)`.
pub fn distill(
    teacher: &Model,
    student: ModelSpec,
    train: &Dataset,
    val: &Dataset,
    cfg: &TrainConfig,
    temperature: f64,
    alpha: f64,
) -> Result<Optimized> {
    if teacher.spec.classes().is_none() || student.classes() != teacher.spec.classes() {
        return Err(TrainError::Spec(
            "distillation needs a teacher and a student classifying the same classes".into(),
        ));
    }
    check_soft_targets(temperature, alpha)?;
    let objective = Objective {
        teacher: Some((teacher, temperature, alpha)),
        sparsity: None,
    };
    let trained = fit(Model::new(student, cfg.seed)?, train, val, cfg, &objective)?;
    report(teacher, trained, val)
}

/// Knowledge distillation into a student cut from the teacher itself: the teacher's
/// channels pruned ([`remove_channels`], the smallest L1 norms first) until at most `ratio`
/// of its parameters remain, then trained on the objective of [`distill`]. The student
/// starts from the teacher's most important channels instead of from random weights.
#[allow(clippy::too_many_arguments)]
pub fn distill_from_teacher_channels(
    teacher: &Model,
    ratio: f64,
    train: &Dataset,
    val: &Dataset,
    cfg: &TrainConfig,
    temperature: f64,
    alpha: f64,
) -> Result<Optimized> {
    if teacher.spec.classes().is_none() {
        return Err(TrainError::Spec("distillation needs a classifier as the teacher".into()));
    }
    check_soft_targets(temperature, alpha)?;
    if !(ratio > 0.0 && ratio < 1.0) {
        return Err(TrainError::Spec(format!("ratio {ratio} must be in (0, 1)")));
    }
    let budget = ratio * Footprint::of(teacher)?.parameters as f64;
    // The least pruning that fits the budget, in steps of 1% of the channels.
    let mut student = None;
    for step in 1..100 {
        let candidate = remove_channels(teacher, step as f32 / 100.0, cfg.seed)?;
        if Footprint::of(&candidate)?.parameters as f64 <= budget {
            student = Some(candidate);
            break;
        }
    }
    let student = student.ok_or_else(|| {
        TrainError::Spec(format!(
            "no pruning of the teacher leaves at most {:.0}% of its parameters",
            ratio * 100.0
        ))
    })?;
    let objective = Objective {
        teacher: Some((teacher, temperature, alpha)),
        sparsity: None,
    };
    let trained = fit(student, train, val, cfg, &objective)?;
    report(teacher, trained, val)
}

/// Magnitude pruning: the smallest weights of each weight tensor are zeroed on a cubic
/// schedule over `ramp_epochs`, and the masks stay applied after every step of fine-tuning.
/// The graph keeps its shape: the zeros pay off only with sparse storage.
pub fn prune_magnitude(
    trained: &Model,
    sparsity: f32,
    ramp_epochs: usize,
    train: &Dataset,
    val: &Dataset,
    cfg: &TrainConfig,
) -> Result<Optimized> {
    if !(0.0..1.0).contains(&sparsity) {
        return Err(TrainError::Spec(format!(
            "sparsity {sparsity} must be in [0, 1)"
        )));
    }
    let model = trained.duplicate()?;
    let objective = Objective {
        teacher: None,
        sparsity: Some((sparsity, ramp_epochs.clamp(1, cfg.epochs))),
    };
    let out = fit(model, train, val, cfg, &objective)?;
    // Early stopping restores the best weights, which were saved under the final masks.
    let masks = magnitude_masks(&out.model, sparsity)?;
    for (n, m) in &masks {
        if let Some(v) = out.model.param(n) {
            v.set(&(v.as_tensor() * m)?)?;
        }
    }
    report(trained, out, val)
}

/// Structured channel pruning: in every convolution or dense layer but the last, the
/// `fraction` of output channels with the smallest L1 norm (of the batch-norm-folded
/// weights) is removed along with the matching inputs of the next layers (depthwise
/// layers follow their input's channels), giving a narrower model of the same template,
/// which is then fine-tuned. With `distill` = `(temperature, alpha)` the fine-tuning learns
/// from the unpruned model as a teacher as well as from the labels (the objective of
/// [`distill`]): the pruned network starts from the teacher's own channels, so its soft
/// outputs are the closest target there is.
pub fn prune_structured(
    trained: &Model,
    fraction: f32,
    train: &Dataset,
    val: &Dataset,
    cfg: &TrainConfig,
    distill: Option<(f64, f64)>,
) -> Result<Optimized> {
    if let Some((temperature, alpha)) = distill {
        if trained.spec.classes().is_none() {
            return Err(TrainError::Spec(
                "distilling while pruning needs a classifier".into(),
            ));
        }
        check_soft_targets(temperature, alpha)?;
    }
    let model = remove_channels(trained, fraction, cfg.seed)?;
    let objective = Objective {
        teacher: distill.map(|(t, a)| (trained, t, a)),
        sparsity: None,
    };
    let out = fit(model, train, val, cfg, &objective)?;
    report(trained, out, val)
}

/// The surgery of [`prune_structured`] without the fine-tuning: a narrower model holding
/// the kept channels' weights.
pub fn remove_channels(trained: &Model, fraction: f32, seed: u64) -> Result<Model> {
    if !(0.0..1.0).contains(&fraction) {
        return Err(TrainError::Spec(format!(
            "fraction {fraction} must be in [0, 1)"
        )));
    }
    let spec = &trained.spec;
    let last_weighted = spec
        .layers
        .iter()
        .rposition(|l| matches!(l, Layer::Conv2d { .. } | Layer::Dense { .. }))
        .ok_or_else(|| TrainError::Spec("nothing to prune".into()))?;
    let shapes = trained.shapes();
    let input = spec.input()?;
    // Per layer, the indices of the output channels kept (for a flat layer after Flatten,
    // feature indices).
    let mut kept_in: Vec<usize> = (0..match input {
        Shape::Map { c, .. } => c,
        Shape::Flat(n) => n,
    })
        .collect();
    let mut new_layers = Vec::new();
    let mut snapshot: BTreeMap<String, Tensor> = BTreeMap::new();
    let full = trained.snapshot()?;
    let mut prev_shape = input;
    for (i, layer) in spec.layers.iter().enumerate() {
        let out_channels = match shapes[i] {
            Shape::Map { c, .. } => c,
            Shape::Flat(n) => n,
        };
        let kept_out: Vec<usize> = match layer {
            Layer::Conv2d { .. } | Layer::Dense { .. } if i != last_weighted => {
                let (w, _) = trained.folded(i)?;
                let norms: Vec<f32> = w.abs()?.flatten_from(1)?.sum(1)?.to_vec1()?;
                let keep = ((out_channels as f32) * (1.0 - fraction)).round().max(1.0) as usize;
                let mut order: Vec<usize> = (0..out_channels).collect();
                order.sort_by(|&a, &b| norms[b].total_cmp(&norms[a]));
                let mut k: Vec<usize> = order[..keep].to_vec();
                k.sort_unstable();
                k
            }
            Layer::Conv2d { .. } | Layer::Dense { .. } => (0..out_channels).collect(),
            Layer::DepthwiseConv2d { .. }
            | Layer::AvgPool2d { .. }
            | Layer::MaxPool2d { .. }
            | Layer::GlobalAvgPool => kept_in.clone(),
            Layer::Flatten => {
                let Shape::Map { h, w, c } = prev_shape else {
                    return Err(TrainError::Spec(format!("layer {i}: flatten of a vector")));
                };
                // Channels-last: feature (y, x, ch) sits at (y·w + x)·c + ch.
                (0..h * w)
                    .flat_map(|p| kept_in.iter().map(move |&ch| p * c + ch))
                    .collect()
            }
        };
        let idx_out = Tensor::from_vec(
            kept_out.iter().map(|&v| v as u32).collect::<Vec<_>>(),
            kept_out.len(),
            &Device::Cpu,
        )?;
        let idx_in = Tensor::from_vec(
            kept_in.iter().map(|&v| v as u32).collect::<Vec<_>>(),
            kept_in.len(),
            &Device::Cpu,
        )?;
        let mut layer = *layer;
        match &mut layer {
            Layer::Conv2d { filters, .. } => *filters = kept_out.len(),
            Layer::Dense { units, .. } => *units = kept_out.len(),
            _ => {}
        }
        for (name, t) in full.iter().filter(|(n, _)| n.starts_with(&format!("{i}."))) {
            let t = match (&layer, name.ends_with(".weight")) {
                (Layer::Conv2d { .. } | Layer::Dense { .. }, true) => {
                    t.index_select(&idx_out, 0)?.index_select(&idx_in, 1)?
                }
                _ => t.index_select(&idx_out, 0)?,
            };
            snapshot.insert(name.clone(), t);
        }
        new_layers.push(layer);
        kept_in = kept_out;
        prev_shape = shapes[i];
    }
    let new_spec = ModelSpec {
        layers: new_layers,
        ..spec.clone()
    };
    let model = Model::new(new_spec, seed)?;
    model.restore(&snapshot)?;
    Ok(model)
}

/// Quantization-aware training: batch norm folded into the weights, per-channel symmetric
/// int8 fake quantization of the weights and per-tensor asymmetric fake quantization of each
/// layer's output with moving-average ranges, straight-through gradients; fine-tunes for
/// `cfg.epochs`. The result is still a float model, one that loses less when quantized.
pub fn qat(
    trained: &Model,
    train: &Dataset,
    val: &Dataset,
    cfg: &TrainConfig,
) -> Result<Optimized> {
    let mut model = trained.duplicate()?;
    model.enable_qat();
    let out = fit(model, train, val, cfg, &Objective::default())?;
    report(trained, out, val)
}
