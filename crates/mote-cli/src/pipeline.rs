//! What the data-to-device commands (`train`, `quantize`, `prune`, `distill`, `eval`,
//! `quickstart`) share: loading a model in any of its forms, running it over a feature set
//! with mote's own runtime, scoring it, and measuring its footprint.
//!
//! Every accuracy mote reports is measured on the path the device takes: the model is
//! compiled to a `.mote` artefact and run by `mote-runtime` (float32 kernels for a float
//! model, int8 kernels for a quantized one), never by the training library's forward pass.
//! An int8 model's input is quantized with the input tensor's own scale and zero point, and
//! its output dequantized, so float and int8 models are scored on the same footing.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use mote_format::{AlignedBytes, DType};
use mote_ir::Graph;
use mote_runtime::Interpreter;

use crate::features::{FeatureSet, SplitFeatures};

/// A model ready to run on the host: its `.mote` artefact and, when known, its graph.
pub struct HostModel {
    pub name: String,
    pub artefact: Vec<u8>,
    pub report: mote_compiler::Report,
    pub graph: Option<Graph>,
}

/// The paths of a training checkpoint (`mote_train::Model::save` writes `<stem>.json` and
/// `<stem>.safetensors`): `model`, `model.json` and `model.safetensors` all name it.
pub fn checkpoint_stem(path: &Path) -> PathBuf {
    match path.extension().and_then(|e| e.to_str()) {
        Some("json") | Some("safetensors") => path.with_extension(""),
        _ => path.to_path_buf(),
    }
}

/// True when `path` names a training checkpoint rather than a `.tflite` or `.mote` file.
pub fn is_checkpoint(path: &Path) -> bool {
    checkpoint_stem(path).with_extension("json").is_file()
        && !matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("tflite") | Some("mote")
        )
}

/// Loads a trained (float) checkpoint.
pub fn load_checkpoint(path: &Path) -> Result<mote_train::Model> {
    let stem = checkpoint_stem(path);
    mote_train::Model::load(&stem)
        .with_context(|| format!("loading the checkpoint {}", stem.display()))
}

impl HostModel {
    /// Compiles `graph` for the host (reference kernels: no scratch, nothing to emulate).
    pub fn from_graph(name: &str, graph: Graph) -> Result<Self> {
        let options = mote_compiler::CompileOptions {
            kernels: mote_compiler::Kernels::Reference,
            ..Default::default()
        };
        let compiled = mote_compiler::compile_with(&graph, &options)
            .with_context(|| format!("compiling {name}"))?;
        Ok(HostModel {
            name: name.into(),
            artefact: compiled.bytes,
            report: compiled.report,
            graph: Some(graph),
        })
    }

    /// Loads a checkpoint (`.json`/`.safetensors` stem), a `.tflite` or a `.mote`.
    pub fn load(path: &Path) -> Result<Self> {
        let name = path.display().to_string();
        if is_checkpoint(path) {
            let model = load_checkpoint(path)?;
            let graph = mote_train::export::to_graph(&model)
                .with_context(|| format!("exporting {name} to mote's IR"))?;
            return Self::from_graph(&name, graph);
        }
        let raw = std::fs::read(path).with_context(|| format!("reading {name}"))?;
        if raw.get(4..8) == Some(b"TFL3") {
            let graph = mote_tflite::import(&raw).with_context(|| format!("importing {name}"))?;
            Self::from_graph(&name, graph)
        } else if raw.get(0..4) == Some(&mote_format::MAGIC[..]) {
            let report = mote_compiler::describe(&raw).with_context(|| format!("reading {name}"))?;
            Ok(HostModel {
                name,
                artefact: raw,
                report,
                graph: None,
            })
        } else {
            bail!(
                "{name} is neither a training checkpoint (.json + .safetensors), a TensorFlow \
                 Lite model (.tflite) nor a .mote artefact"
            )
        }
    }

    /// Runs the model on every sample of `set`; returns each sample's output as floats.
    pub fn outputs(&self, set: &FeatureSet) -> Result<Vec<Vec<f32>>> {
        let bytes = AlignedBytes::new(&self.artefact);
        let model = mote_format::Model::from_bytes(bytes.as_slice())
            .with_context(|| format!("loading {}", self.name))?;
        let mut arena = AlignedBytes::zeroed(model.arena_bytes());
        let mut interpreter = Interpreter::new(&model, arena.as_mut_slice())
            .with_context(|| format!("loading {}", self.name))?;
        if interpreter.input_count() != 1 || interpreter.output_count() != 1 {
            bail!(
                "{}: {} inputs and {} outputs; evaluation takes models with one of each",
                self.name,
                interpreter.input_count(),
                interpreter.output_count()
            );
        }
        let input = interpreter.input_info(0)?;
        let elements = input.byte_len / input.dtype.size();
        if elements != set.sample_len() {
            bail!(
                "{}: the model takes {:?} ({elements} values) but the data's features are {:?} \
                 ({} values)",
                self.name,
                input.shape(),
                set.sample_shape,
                set.sample_len()
            );
        }
        let output = interpreter.output_info(0)?;
        let mut results = Vec::with_capacity(set.len());
        for i in 0..set.len() {
            let x = set.sample(i);
            match input.dtype {
                DType::Float32 => interpreter.input_mut::<f32>(0)?.copy_from_slice(x),
                DType::Int8 => {
                    let q = interpreter.input_mut::<i8>(0)?;
                    for (q, &v) in q.iter_mut().zip(x) {
                        *q = quantize_value(v, input.scale, input.zero_point);
                    }
                }
                other => bail!("{}: input type {} is not supported here", self.name, other.name()),
            }
            interpreter
                .invoke()
                .with_context(|| format!("running {} on {}", self.name, set.sources[i].display()))?;
            let y: Vec<f32> = match output.dtype {
                DType::Float32 => interpreter.output::<f32>(0)?.to_vec(),
                DType::Int8 => interpreter
                    .output::<i8>(0)?
                    .iter()
                    .map(|&q| (q as i32 - output.zero_point) as f32 * output.scale)
                    .collect(),
                other => bail!("{}: output type {} is not supported here", self.name, other.name()),
            };
            results.push(y);
        }
        Ok(results)
    }

    /// Whether the model's input is int8 (a quantized model).
    pub fn is_int8(&self) -> bool {
        self.report
            .inputs
            .first()
            .is_some_and(|i| i.dtype == "int8")
    }
}

/// TFLite's quantization of one value: round half away from zero, then clamp.
pub fn quantize_value(v: f32, scale: f32, zero_point: i32) -> i8 {
    let q = (v / scale).round() as i64 + zero_point as i64;
    q.clamp(-128, 127) as i8
}

/// How well a model did on a feature set.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Score {
    pub samples: usize,
    /// Classifiers: fraction of samples whose largest output is their label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<f32>,
    /// Anomaly models (autoencoders): ROC AUC of the reconstruction error, normal vs the
    /// other classes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auc: Option<f32>,
    #[serde(skip)]
    pub metrics: Option<mote_train::Metrics>,
    /// Classifiers: accuracy per group (speaker, recording), worst first, so that a voice
    /// or a machine the model does not generalise to shows up by name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupScore>,
}

/// A classifier's accuracy on the samples of one group.
#[derive(Debug, Clone, serde::Serialize)]
pub struct GroupScore {
    pub group: String,
    pub samples: usize,
    pub accuracy: f32,
}

/// Accuracy per group, worst first (ties by name, for a stable order).
fn group_scores(groups: &[String], labels: &[usize], predicted: &[usize]) -> Vec<GroupScore> {
    let mut tally: std::collections::BTreeMap<&str, (usize, usize)> = Default::default();
    for ((group, &label), &guess) in groups.iter().zip(labels).zip(predicted) {
        let entry = tally.entry(group).or_default();
        entry.0 += 1;
        entry.1 += usize::from(label == guess);
    }
    let mut scores: Vec<GroupScore> = tally
        .into_iter()
        .map(|(group, (samples, correct))| GroupScore {
            group: group.to_string(),
            samples,
            accuracy: correct as f32 / samples as f32,
        })
        .collect();
    scores.sort_by(|a, b| a.accuracy.total_cmp(&b.accuracy).then(a.group.cmp(&b.group)));
    scores
}

impl Score {
    /// The one number a table shows: accuracy or AUC, in percent.
    pub fn headline(&self) -> String {
        match (self.accuracy, self.auc) {
            (Some(a), _) => format!("{:.2}%", a * 100.0),
            (None, Some(auc)) => format!("AUC {auc:.4}"),
            _ => "—".into(),
        }
    }

    /// Accuracy or AUC as a number (for comparisons between two models).
    pub fn value(&self) -> f32 {
        self.accuracy.or(self.auc).unwrap_or(0.0)
    }
}

/// Scores `model` on `set`: a classifier by accuracy (with per-class metrics), an
/// autoencoder (output the same size as its input) by the ROC AUC of its reconstruction
/// error with `normal` as the negative class.
pub fn score(model: &HostModel, data: &SplitFeatures, set: &FeatureSet) -> Result<Score> {
    if set.is_empty() {
        bail!("no samples to evaluate on");
    }
    let outputs = model.outputs(set)?;
    let reconstructs = outputs.first().is_some_and(|o| o.len() == set.sample_len())
        && outputs.first().is_some_and(|o| o.len() != data.classes.len());
    if reconstructs {
        let normal = data
            .normal_class()
            .ok_or_else(|| anyhow!("an anomaly model needs a class folder named `normal`"))?;
        let scores: Vec<f32> = outputs
            .iter()
            .enumerate()
            .map(|(i, y)| {
                let x = set.sample(i);
                x.iter().zip(y).map(|(a, b)| (a - b) * (a - b)).sum::<f32>() / x.len() as f32
            })
            .collect();
        let positives: Vec<bool> = set.labels.iter().map(|&l| l != normal).collect();
        let auc = mote_train::metrics::roc_auc(&scores, &positives);
        return Ok(Score {
            samples: set.len(),
            accuracy: None,
            auc,
            metrics: None,
            groups: Vec::new(),
        });
    }
    let predicted: Vec<usize> = outputs
        .iter()
        .map(|y| {
            y.iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |best, (i, &v)| if v > best.1 { (i, v) } else { best })
                .0
        })
        .collect();
    let metrics = mote_train::Metrics::from_predictions(&data.classes, &set.labels, &predicted);
    Ok(Score {
        samples: set.len(),
        accuracy: Some(metrics.accuracy()),
        auc: None,
        metrics: Some(metrics),
        groups: group_scores(&set.groups, &set.labels, &predicted),
    })
}

/// Size and cost of a model, the figures every optimization step reports before and after.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Footprint {
    /// Bytes of weights and biases (constants of the graph).
    pub weight_bytes: usize,
    pub parameters: usize,
    pub macs: u64,
    /// Arena of the `.mote` artefact compiled for the Cortex-M DSP kernels (what a device
    /// reserves).
    pub arena_bytes: usize,
}

impl Footprint {
    pub fn of_graph(graph: &Graph) -> Result<Footprint> {
        let compiled = mote_compiler::compile(graph).context("compiling for the footprint")?;
        let consts = graph.tensors.iter().filter(|t| t.is_const());
        Ok(Footprint {
            weight_bytes: consts.clone().map(|t| t.byte_len()).sum(),
            parameters: consts.map(|t| t.elements()).sum(),
            macs: (0..graph.nodes.len()).map(|n| graph.macs(n)).sum(),
            arena_bytes: compiled.report.arena_bytes,
        })
    }
}

/// Thousands separators for the tables.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}
