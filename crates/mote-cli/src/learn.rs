//! `mote train`, `mote quantize`, `mote prune`, `mote distill` and `mote eval`: the first
//! half of the pipeline, from a labelled data folder to a small int8 model.
//!
//! Models move between the commands as files: a training checkpoint (`NAME.json` with the
//! architecture and `NAME.safetensors` with the weights, what `mote-train` writes; every
//! command that trains writes one, plus a float `NAME.tflite`), and after quantization an
//! int8 `NAME.tflite` (for TFLM and anything else that reads TensorFlow Lite) with the
//! `NAME.mote` artefact beside it. Each command that changes a model prints a table of
//! accuracy (or AUC), weight bytes, MACs and arena before and after; scores are measured by
//! running the compiled model with mote's runtime over the data's test split.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use mote_ir::Graph;

use crate::features::{self, DataKind, FeatureSet, SplitFeatures};
use crate::npy::write_atomically;
use crate::pipeline::{self, thousands, HostModel, Score};

/// Training knobs shared by the commands that train.
#[derive(clap::Args, Debug, Clone)]
pub struct TrainingArgs {
    /// Most epochs to train (early stopping may end sooner).
    #[arg(long, default_value_t = 30)]
    pub epochs: usize,
    /// Samples per mini-batch.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Peak learning rate of Adam (after one epoch of warmup, then cosine decay).
    #[arg(long, default_value_t = 3e-3)]
    pub lr: f64,
    /// Epochs without a better validation score before training stops.
    #[arg(long, default_value_t = 6)]
    pub patience: usize,
    /// Keywords: warp each training clip's frequency axis by a random factor in
    /// [1 − W, 1 + W] (other speakers' vocal tracts). Default 0.1 for keywords, 0 for other
    /// data.
    #[arg(long, value_name = "W")]
    pub frequency_warp: Option<f32>,
    /// Label smoothing ε for classifiers: the target puts 1 − ε on the true class and
    /// spreads ε over all classes, which keeps the logits from growing without bound. (On the
    /// quickstart's keywords 0.1 did not help: 89.4% vs 89.7% at width 1.)
    #[arg(long, default_value_t = 0.0, value_name = "EPSILON")]
    pub label_smoothing: f64,
    /// Seed of the weight initialisation, the shuffling and the train/val/test split.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// No progress bar (for logs).
    #[arg(long)]
    pub quiet: bool,
}

impl TrainingArgs {
    pub fn config(&self, kind: DataKind) -> mote_train::TrainConfig {
        mote_train::TrainConfig {
            epochs: self.epochs,
            batch_size: self.batch_size,
            learning_rate: self.lr,
            patience: self.patience,
            label_smoothing: self.label_smoothing,
            frequency_warp: match kind {
                DataKind::Keywords => self.frequency_warp.unwrap_or(KEYWORD_FREQUENCY_WARP),
                _ => self.frequency_warp.unwrap_or(0.0),
            },
            seed: self.seed.wrapping_add(0x6d6f7465),
            progress: !self.quiet,
            // Keywords can be said early or late in the clip: shift by up to 4 frames (80 ms).
            time_shift: if kind == DataKind::Keywords { 4 } else { 0 },
            masking: if kind == DataKind::Keywords {
                keyword_masking()
            } else {
                mote_train::Masking::NONE
            },
            ..Default::default()
        }
    }
}

/// Frequency warp of keyword clips (see `--frequency-warp`). Measured on the quickstart's
/// data (test = held-out voices, seed 0, lr 5e-3, patience 8): DS-CNN width 0.5, none
/// 83.3% → 0.1 86.4% (0.2: 83.7%); width 1, none 89.7% → 0.1 90.7%.
const KEYWORD_FREQUENCY_WARP: f32 = 0.1;

/// SpecAugment for keywords: two time masks of up to 5 frames (100 ms) and two frequency
/// masks of up to 5 of the front end's 40 channels per training clip. Measured on the
/// quickstart's data (6,000 clips, test = held-out voices): 83.9% → 85.4% float accuracy.
fn keyword_masking() -> mote_train::Masking {
    mote_train::Masking {
        time_masks: 2,
        time_width: 5,
        freq_masks: 2,
        freq_width: 5,
    }
}

/// Arguments of `mote train`.
#[derive(clap::Args, Debug, Clone)]
pub struct TrainArgs {
    /// A data folder: ROOT/<class>/<file>, with .wav (keywords), .csv (vibration; an
    /// anomaly model trains on the `normal` class only) or .png/.bmp (images).
    pub data: PathBuf,
    /// The architecture: ds_cnn (keywords), small_cnn (images), fc_autoencoder (anomalies),
    /// conv1d (accelerometer windows). Default: the one for the kind of data; ds_cnn is
    /// sized so that its int8 arena stays within 20 KB.
    #[arg(long, value_name = "NAME")]
    pub template: Option<String>,
    /// Scale the template's channel counts by this factor.
    #[arg(long, default_value_t = 1.0)]
    pub width: f32,
    /// The checkpoint to write: NAME.json, NAME.safetensors, and the float model NAME.tflite.
    #[arg(short, long, value_name = "NAME")]
    pub output: PathBuf,
    #[command(flatten)]
    pub training: TrainingArgs,
}

/// Arguments of `mote quantize`.
#[derive(clap::Args, Debug, Clone)]
pub struct QuantizeArgs {
    /// A float model: a training checkpoint (NAME or NAME.json) or a float .tflite.
    pub model: PathBuf,
    /// The data folder the model was trained on: calibration from its train split, accuracy
    /// on its test split.
    pub data: PathBuf,
    /// Where to write the int8 model: NAME.tflite and NAME.mote.
    #[arg(short, long, value_name = "NAME")]
    pub output: PathBuf,
    /// How activation ranges are chosen from the calibration data.
    #[arg(long, value_enum, default_value_t = CalibrationArg::Minmax)]
    pub calibration: CalibrationArg,
    /// The percentile for --calibration percentile.
    #[arg(long, default_value_t = 99.99)]
    pub percentile: f32,
    /// Calibration samples (taken evenly from the train split).
    #[arg(long, default_value_t = 200)]
    pub calibration_samples: usize,
    /// Quantization-aware training: `auto` fine-tunes with fake quantization when
    /// post-training quantization loses more than 1 point (needs a checkpoint), `always`,
    /// or `never`.
    #[arg(long, value_enum, default_value_t = QatArg::Auto)]
    pub qat: QatArg,
    #[command(flatten)]
    pub training: TrainingArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CalibrationArg {
    Minmax,
    Percentile,
    Mse,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum QatArg {
    Auto,
    Always,
    Never,
}

/// Arguments of `mote prune`.
#[derive(clap::Args, Debug, Clone)]
pub struct PruneArgs {
    /// A training checkpoint (NAME or NAME.json).
    pub model: PathBuf,
    /// The data folder the model was trained on.
    pub data: PathBuf,
    /// Where to write the pruned checkpoint (and its float NAME.tflite).
    #[arg(short, long, value_name = "NAME")]
    pub output: PathBuf,
    /// Structured pruning: remove this fraction of every hidden layer's channels (the
    /// network really shrinks: fewer MACs, bytes and arena), then fine-tune.
    #[arg(long, value_name = "FRACTION", conflicts_with = "magnitude")]
    pub structured: Option<f32>,
    /// Magnitude pruning: zero this fraction of the weights (smallest first, ramped up
    /// while fine-tuning). Fewer non-zero weights; MACs and arena stay.
    #[arg(long, value_name = "SPARSITY")]
    pub magnitude: Option<f32>,
    /// Structured pruning of a classifier: fine-tune on the unpruned model's softened
    /// outputs as well as on the labels, with this weight α of the soft term (knowledge
    /// distillation from the model itself; 1 − α goes to the labels; 0: labels only).
    /// Default 0.7 for classifiers. On the quickstart's keywords (width 1, 50%, fine-tuned
    /// with `--epochs 60 --patience 15 --lr 5e-3`): 89.3% against 88.3% on the labels alone,
    /// the unpruned model 90.7% (the default, shorter fine-tuning reaches 86.1%).
    #[arg(long, value_name = "ALPHA", requires = "structured")]
    pub distill_alpha: Option<f64>,
    /// Softmax temperature of the soft targets of `--distill-alpha`.
    #[arg(long, default_value_t = 3.0)]
    pub temperature: f64,
    #[command(flatten)]
    pub training: TrainingArgs,
}

/// Arguments of `mote distill`.
#[derive(clap::Args, Debug, Clone)]
pub struct DistillArgs {
    /// The teacher: a training checkpoint (NAME or NAME.json).
    pub teacher: PathBuf,
    /// The data folder the teacher was trained on.
    pub data: PathBuf,
    /// Where to write the student checkpoint (and its float NAME.tflite).
    #[arg(short, long, value_name = "NAME")]
    pub output: PathBuf,
    /// The student's size as a fraction of the teacher's parameters: the widest student of
    /// the teacher's template that is at most this big.
    #[arg(long, default_value_t = 0.25)]
    pub ratio: f32,
    /// Softmax temperature of the soft targets.
    #[arg(long, default_value_t = 4.0)]
    pub temperature: f64,
    /// Weight of the soft (teacher) term; 1 − alpha goes to the hard labels.
    #[arg(long, default_value_t = 0.7)]
    pub alpha: f64,
    /// Start the student from the teacher's own most important channels (the teacher
    /// pruned, smallest channels first, to at most `--ratio` of its parameters) instead of
    /// from random weights of a narrower template. (On the quickstart's keywords it did
    /// not help: 86.9% against 87.6% from random weights, one seed each.)
    #[arg(long)]
    pub from_teacher: bool,
    #[command(flatten)]
    pub training: TrainingArgs,
}

/// Arguments of `mote eval`.
#[derive(clap::Args, Debug, Clone)]
pub struct EvalArgs {
    /// A training checkpoint, a .tflite (float or int8) or a .mote artefact.
    pub model: PathBuf,
    /// A data folder (ROOT/<class>/<file>).
    pub data: PathBuf,
    /// Which part of the data: the test split (held-out groups), val, train or all.
    #[arg(long, value_enum, default_value_t = SplitArg::Test)]
    pub split: SplitArg,
    /// The split's seed (the one the model was trained with).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print one JSON object (`accuracy` or `auc`, `samples`, and for classifiers
    /// `groups`: the accuracy per speaker or recording, worst first).
    #[arg(long)]
    pub json: bool,
    /// Also list the accuracy per group (speaker, recording), worst first: which voices or
    /// machines the model does not generalise to.
    #[arg(long)]
    pub by_group: bool,
    /// Score only the samples of this group (a speaker, a voice, a recording, as
    /// `--by-group` names them); repeat for several. The confusion matrix then shows which
    /// classes that voice or machine gets wrong.
    #[arg(long = "group", value_name = "GROUP")]
    pub groups: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SplitArg {
    Train,
    Val,
    Test,
    All,
}

/// A split's features as the training library's dataset; an autoencoder sees only the
/// normal class.
fn dataset(
    data: &SplitFeatures,
    set: &FeatureSet,
    normal_only: bool,
) -> Result<mote_train::Dataset> {
    let set = match (normal_only, data.normal_class()) {
        (true, Some(normal)) => set.only_label(normal),
        (true, None) => bail!("an anomaly model needs a class folder named `normal`"),
        (false, _) => set.clone(),
    };
    mote_train::Dataset::new(
        set.values,
        set.sample_shape,
        set.labels,
        data.classes.clone(),
    )
    .map_err(|e| anyhow!("{e}"))
}

fn is_autoencoder(model: &mote_train::Model) -> bool {
    model.spec.classes().is_none()
}

/// The part scores are reported on: the test split, or validation when there is no test
/// split.
pub fn report_set(data: &SplitFeatures) -> (&'static str, &FeatureSet) {
    if data.test.is_empty() {
        ("val", &data.val)
    } else {
        ("test", &data.test)
    }
}

/// Loads and featurizes a data folder, saying what it found.
pub fn load_data(root: &Path, seed: u64, quiet: bool) -> Result<SplitFeatures> {
    let data = features::load(root, seed)?;
    if !quiet {
        eprintln!(
            "{}: {} data, {} classes, {} train / {} val / {} test samples of shape {:?}",
            root.display(),
            data.kind.name(),
            data.classes.len(),
            data.train.len(),
            data.val.len(),
            data.test.len(),
            data.train.sample_shape
        );
    }
    Ok(data)
}

/// The default template for a kind of data.
pub fn default_template(kind: DataKind, sample_shape: &[usize]) -> mote_train::Template {
    match kind {
        // The widest DS-CNN whose int8 activations fit a 20 KB arena.
        DataKind::Keywords => mote_train::Template::ds_cnn_for_arena(sample_shape, 20 * 1024),
        DataKind::Images => mote_train::Template::SmallCnn { width: 16 },
        DataKind::Vibration => mote_train::Template::FcAutoencoder {
            hidden: 128,
            bottleneck: 8,
        },
    }
}

/// Writes the checkpoint `NAME.json` + `NAME.safetensors` and the float `NAME.tflite`,
/// each through a temporary file so that a failure leaves no half-written model.
pub fn save_checkpoint(model: &mote_train::Model, output: &Path) -> Result<Graph> {
    let stem = pipeline::checkpoint_stem(output);
    if let Some(dir) = stem.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = stem.with_file_name(format!(
        ".{}.partial",
        stem.file_name().and_then(|n| n.to_str()).unwrap_or("model")
    ));
    model
        .save(&tmp)
        .with_context(|| format!("writing the checkpoint {}", stem.display()))?;
    let graph = mote_train::export::to_graph(model).context("exporting to mote's IR")?;
    let tflite = mote_tflite::export(&graph).context("writing the float .tflite")?;
    write_atomically(&stem.with_extension("tflite"), &tflite)?;
    for ext in ["json", "safetensors"] {
        std::fs::rename(tmp.with_extension(ext), stem.with_extension(ext))
            .with_context(|| format!("writing {}", stem.with_extension(ext).display()))?;
    }
    Ok(graph)
}

/// `mote train`.
pub fn train(args: &TrainArgs) -> Result<()> {
    let data = load_data(&args.data, args.training.seed, args.training.quiet)?;
    let trained = train_on(&data, args)?;
    let graph = save_checkpoint(&trained.model, &args.output)?;
    let host = HostModel::from_graph("the trained model", graph)?;
    let (part, set) = report_set(&data);
    let score = pipeline::score(&host, &data, set)?;
    println!(
        "trained {} ({} parameters) for {} epochs (best {}{}); {part} {}: {}",
        trained.model.spec.template,
        trained.model.parameter_count(),
        trained.history.len(),
        trained.best_epoch,
        if trained.stopped_early {
            ", stopped early"
        } else {
            ""
        },
        if score.accuracy.is_some() {
            "accuracy"
        } else {
            "score"
        },
        score.headline()
    );
    if let Some(m) = &score.metrics {
        println!("{m}");
    }
    let stem = pipeline::checkpoint_stem(&args.output);
    println!(
        "wrote {0}.json, {0}.safetensors and the float model {0}.tflite",
        stem.display()
    );
    Ok(())
}

/// Trains the template `args` asks for on `data`.
pub fn train_on(data: &SplitFeatures, args: &TrainArgs) -> Result<mote_train::Trained> {
    let shape = &data.train.sample_shape;
    let template = match &args.template {
        Some(name) => mote_train::Template::from_name(name).map_err(|e| anyhow!("{e}"))?,
        None => default_template(data.kind, shape),
    };
    let template = if args.width != 1.0 {
        template.scaled(args.width)
    } else {
        template
    };
    let spec = template
        .build(shape, &data.classes)
        .map_err(|e| anyhow!("{e}"))?;
    let autoencoder = spec.classes().is_none();
    let train = dataset(data, &data.train, autoencoder)?;
    let val = dataset(data, &data.val, autoencoder)?;
    let cfg = args.training.config(data.kind);
    mote_train::train(spec, &train, &val, &cfg).map_err(|e| anyhow!("training: {e}"))
}

/// Accuracy/AUC, weight bytes, MACs and arena of one model, for the before/after tables.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    pub label: String,
    pub score: Score,
    pub footprint: pipeline::Footprint,
}

/// Prints rows as a table.
pub fn print_rows(part: &str, rows: &[Row]) {
    println!(
        "{:<28} {:>12} {:>12} {:>12} {:>12} {:>12}",
        "model", part, "parameters", "weight bytes", "MACs", "arena bytes"
    );
    for r in rows {
        println!(
            "{:<28} {:>12} {:>12} {:>12} {:>12} {:>12}",
            r.label,
            r.score.headline(),
            thousands(r.footprint.parameters as u64),
            thousands(r.footprint.weight_bytes as u64),
            thousands(r.footprint.macs),
            thousands(r.footprint.arena_bytes as u64)
        );
    }
}

/// Scores a float graph and measures its footprint.
fn float_row(label: &str, data: &SplitFeatures, graph: &Graph) -> Result<Row> {
    let host = HostModel::from_graph(label, graph.clone())?;
    let (_, set) = report_set(data);
    Ok(Row {
        label: label.into(),
        score: pipeline::score(&host, data, set)?,
        footprint: pipeline::Footprint::of_graph(graph)?,
    })
}

/// Calibration samples: `n` taken evenly over the train split.
pub fn calibration_samples(set: &FeatureSet, n: usize) -> Vec<Vec<f32>> {
    let n = n.clamp(1, set.len().max(1));
    (0..n)
        .map(|i| i * set.len() / n)
        .filter(|&i| i < set.len())
        .map(|i| set.sample(i).to_vec())
        .collect()
}

/// The quantizer's options for data of `kind`.
pub fn quantize_options(
    kind: DataKind,
    args: Option<&QuantizeArgs>,
) -> mote_compiler::QuantizeOptions {
    let calibration = match args.map(|a| (a.calibration, a.percentile)) {
        Some((CalibrationArg::Percentile, p)) => mote_compiler::Calibration::Percentile(p),
        Some((CalibrationArg::Mse, _)) => mote_compiler::Calibration::Mse,
        _ => mote_compiler::Calibration::MinMax,
    };
    mote_compiler::QuantizeOptions {
        calibration,
        // Keyword models take the micro front end's int8 bytes as they are.
        input_quantization: (kind == DataKind::Keywords).then_some((
            features::KEYWORD_INPUT_SCALE,
            features::KEYWORD_INPUT_ZERO_POINT,
        )),
        ..Default::default()
    }
}

/// An int8 model: its graph, the `.mote` artefact (for Cortex-M DSP kernels) and its row.
pub struct Quantized {
    pub graph: Graph,
    pub report: mote_compiler::QuantizeReport,
    pub row: Row,
}

/// Quantizes `float` and scores the int8 model.
pub fn quantize_graph(
    label: &str,
    data: &SplitFeatures,
    float: &Graph,
    options: &mote_compiler::QuantizeOptions,
    samples: usize,
) -> Result<Quantized> {
    let calibration = calibration_samples(&data.train, samples);
    let (graph, report) =
        mote_compiler::quantize(float, &calibration, options).context("quantizing")?;
    let host = HostModel::from_graph(label, graph.clone())?;
    let (_, set) = report_set(data);
    let score = pipeline::score(&host, data, set)?;
    let footprint = pipeline::Footprint::of_graph(&graph)?;
    Ok(Quantized {
        graph,
        report,
        row: Row {
            label: label.into(),
            score,
            footprint,
        },
    })
}

/// Writes an int8 graph as `NAME.tflite` and `NAME.mote` (for the Cortex-M DSP kernels).
pub fn write_int8(graph: &Graph, output: &Path) -> Result<(PathBuf, PathBuf)> {
    let stem = match output.extension().and_then(|e| e.to_str()) {
        Some("tflite") | Some("mote") => output.with_extension(""),
        _ => output.to_path_buf(),
    };
    if let Some(dir) = stem.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tflite = mote_tflite::export(graph).context("writing the int8 .tflite")?;
    let compiled = mote_compiler::compile(graph).context("compiling the int8 model")?;
    let (t, m) = (stem.with_extension("tflite"), stem.with_extension("mote"));
    write_atomically(&t, &tflite)?;
    write_atomically(&m, &compiled.bytes)?;
    Ok((t, m))
}

/// `mote quantize`.
pub fn quantize(args: &QuantizeArgs) -> Result<()> {
    let data = load_data(&args.data, args.training.seed, args.training.quiet)?;
    let checkpoint = pipeline::is_checkpoint(&args.model)
        .then(|| pipeline::load_checkpoint(&args.model))
        .transpose()?;
    let float = match &checkpoint {
        Some(m) => mote_train::export::to_graph(m).context("exporting the checkpoint")?,
        None => {
            let raw = std::fs::read(&args.model)
                .with_context(|| format!("reading {}", args.model.display()))?;
            mote_tflite::import(&raw)
                .with_context(|| format!("importing {}", args.model.display()))?
        }
    };
    let options = quantize_options(data.kind, Some(args));
    let float_row = float_row("float32", &data, &float)?;
    let mut best = quantize_graph(
        &format!("int8 ({})", options.calibration),
        &data,
        &float,
        &options,
        args.calibration_samples,
    )?;
    let mut rows = vec![float_row.clone(), best.row.clone()];
    let loss = float_row.score.value() - best.row.score.value();
    let want_qat = match args.qat {
        QatArg::Always => true,
        QatArg::Never => false,
        QatArg::Auto => loss > 0.01,
    };
    if want_qat {
        let Some(model) = &checkpoint else {
            bail!(
                "quantization-aware training needs a training checkpoint, not {} (post-training \
                 quantization lost {:.2} points; use --qat never to keep it)",
                args.model.display(),
                loss * 100.0
            );
        };
        eprintln!(
            "post-training quantization lost {:.2} points: quantization-aware fine-tuning",
            loss * 100.0
        );
        let autoencoder = is_autoencoder(model);
        let train = dataset(&data, &data.train, autoencoder)?;
        let val = dataset(&data, &data.val, autoencoder)?;
        let mut cfg = args.training.config(data.kind);
        cfg.epochs = cfg.epochs.min(5);
        cfg.learning_rate /= 10.0;
        let tuned = mote_train::qat(model, &train, &val, &cfg).map_err(|e| anyhow!("QAT: {e}"))?;
        let tuned_float = mote_train::export::to_graph(&tuned.trained.model)?;
        let q = quantize_graph(
            &format!("int8 after QAT ({})", options.calibration),
            &data,
            &tuned_float,
            &options,
            args.calibration_samples,
        )?;
        rows.push(q.row.clone());
        if q.row.score.value() > best.row.score.value() {
            best = q;
        }
    }
    let (t, m) = write_int8(&best.graph, &args.output)?;
    print_rows(report_set(&data).0, &rows);
    println!(
        "calibration: {} on {} samples; kept: {}",
        best.report.calibration, best.report.samples, best.row.label
    );
    println!("wrote {} and {}", t.display(), m.display());
    Ok(())
}

/// The weight of the soft term when `mote prune --structured` fine-tunes a classifier on
/// the unpruned model's outputs (see [`PruneArgs::distill_alpha`]).
const DEFAULT_PRUNE_DISTILL_ALPHA: f64 = 0.7;

/// `mote prune`.
pub fn prune(args: &PruneArgs) -> Result<()> {
    let data = load_data(&args.data, args.training.seed, args.training.quiet)?;
    let model = pipeline::load_checkpoint(&args.model)?;
    let autoencoder = is_autoencoder(&model);
    let train = dataset(&data, &data.train, autoencoder)?;
    let val = dataset(&data, &data.val, autoencoder)?;
    let cfg = args.training.config(data.kind);
    let distill_alpha = match (args.distill_alpha, autoencoder) {
        (Some(a), true) if a > 0.0 => {
            bail!("--distill-alpha: distilling needs a classifier, and this model is an autoencoder")
        }
        (_, true) => 0.0,
        (a, false) => a.unwrap_or(DEFAULT_PRUNE_DISTILL_ALPHA),
    };
    let (label, out) = match (args.structured, args.magnitude) {
        (Some(f), None) => (
            format!("structured {:.0}%", f * 100.0),
            mote_train::prune_structured(
                &model,
                f,
                &train,
                &val,
                &cfg,
                (distill_alpha > 0.0).then_some((args.temperature, distill_alpha)),
            ),
        ),
        (None, Some(s)) => (
            format!("magnitude {:.0}%", s * 100.0),
            mote_train::prune_magnitude(&model, s, cfg.epochs.div_ceil(2), &train, &val, &cfg),
        ),
        _ => bail!("say how to prune: --structured FRACTION or --magnitude SPARSITY"),
    };
    let out = out.map_err(|e| anyhow!("pruning: {e}"))?;
    let before = mote_train::export::to_graph(&model)?;
    let after = save_checkpoint(&out.trained.model, &args.output)?;
    compare_and_print(&data, &before, &after, &label, out.after.nonzero_parameters)?;
    println!(
        "wrote {}.json/.safetensors/.tflite",
        pipeline::checkpoint_stem(&args.output).display()
    );
    Ok(())
}

/// Prints float and int8 rows for a model before and after an optimization.
fn compare_and_print(
    data: &SplitFeatures,
    before: &Graph,
    after: &Graph,
    label: &str,
    nonzero_after: usize,
) -> Result<()> {
    let options = quantize_options(data.kind, None);
    let mut rows = Vec::new();
    for (name, g) in [("before", before), (label, after)] {
        rows.push(float_row(&format!("{name}, float32"), data, g)?);
        rows.push(quantize_graph(&format!("{name}, int8"), data, g, &options, 200)?.row);
    }
    print_rows(report_set(data).0, &rows);
    println!(
        "non-zero parameters after: {}",
        thousands(nonzero_after as u64)
    );
    Ok(())
}

/// The widest student of the teacher's template with at most `ratio` of its parameters.
pub fn student_spec(
    teacher: &mote_train::Model,
    data: &SplitFeatures,
    ratio: f32,
) -> Result<mote_train::ModelSpec> {
    // The checkpoint names its template but not its sizes: start from the template `mote
    // train` picks for this data (the teacher's own, unless --template chose another), so
    // that the student keeps the teacher's shape (e.g. the DS-CNN's early downsampling).
    let default = default_template(data.kind, &data.train.sample_shape);
    let base = if default.name() == teacher.spec.template {
        default
    } else {
        mote_train::Template::from_name(&teacher.spec.template).map_err(|e| anyhow!("{e}"))?
    };
    let budget = (teacher.parameter_count() as f32 * ratio) as usize;
    let mut factor = 2.0f32;
    while factor > 0.02 {
        let spec = base
            .scaled(factor)
            .build(&data.train.sample_shape, &data.classes)
            .map_err(|e| anyhow!("{e}"))?;
        let params = mote_train::Model::new(spec.clone(), 0)
            .map_err(|e| anyhow!("{e}"))?
            .parameter_count();
        if params <= budget {
            return Ok(spec);
        }
        factor *= 0.9;
    }
    bail!(
        "no {} student has at most {ratio} of the teacher's {} parameters",
        teacher.spec.template,
        teacher.parameter_count()
    )
}

/// `mote distill`.
pub fn distill(args: &DistillArgs) -> Result<()> {
    let data = load_data(&args.data, args.training.seed, args.training.quiet)?;
    let teacher = pipeline::load_checkpoint(&args.teacher)?;
    if is_autoencoder(&teacher) {
        bail!("distillation takes a classifier as the teacher");
    }
    let train = dataset(&data, &data.train, false)?;
    let val = dataset(&data, &data.val, false)?;
    let cfg = args.training.config(data.kind);
    let out = if args.from_teacher {
        mote_train::distill_from_teacher_channels(
            &teacher,
            args.ratio as f64,
            &train,
            &val,
            &cfg,
            args.temperature,
            args.alpha,
        )
    } else {
        let student = student_spec(&teacher, &data, args.ratio)?;
        mote_train::distill(
            &teacher,
            student,
            &train,
            &val,
            &cfg,
            args.temperature,
            args.alpha,
        )
    }
    .map_err(|e| anyhow!("distillation: {e}"))?;
    let before = mote_train::export::to_graph(&teacher)?;
    let after = save_checkpoint(&out.trained.model, &args.output)?;
    compare_and_print(
        &data,
        &before,
        &after,
        "student",
        out.after.nonzero_parameters,
    )?;
    println!(
        "student: {} parameters, {:.1}% of the teacher's {}",
        out.after.parameters,
        100.0 * out.after.parameters as f64 / out.before.parameters.max(1) as f64,
        out.before.parameters
    );
    println!(
        "wrote {}.json/.safetensors/.tflite",
        pipeline::checkpoint_stem(&args.output).display()
    );
    Ok(())
}

/// The samples of `set` whose group is one of `groups`; an error naming each group the
/// split does not hold (with the split's own groups, so that a typo is easy to see).
fn only_groups(set: &FeatureSet, groups: &[String], split: &str) -> Result<FeatureSet> {
    let present: std::collections::BTreeSet<&str> = set.groups.iter().map(String::as_str).collect();
    let missing: Vec<&str> = groups
        .iter()
        .map(String::as_str)
        .filter(|g| !present.contains(g))
        .collect();
    if !missing.is_empty() {
        let shown: Vec<&str> = present.iter().take(12).copied().collect();
        bail!(
            "no sample of group {} in the {} split (it holds {} groups: {}{})",
            missing.join(", "),
            split,
            present.len(),
            shown.join(", "),
            if present.len() > shown.len() { ", …" } else { "" }
        );
    }
    Ok(set.only_groups(groups))
}

/// `mote eval`.
pub fn eval(args: &EvalArgs) -> Result<()> {
    let data = load_data(&args.data, args.seed, args.json)?;
    let model = HostModel::load(&args.model)?;
    let all;
    let set = match args.split {
        SplitArg::Train => &data.train,
        SplitArg::Val => &data.val,
        SplitArg::Test => &data.test,
        SplitArg::All => {
            let mut joined = data.train.clone();
            for s in [&data.val, &data.test] {
                joined.values.extend_from_slice(&s.values);
                joined.labels.extend_from_slice(&s.labels);
                joined.groups.extend_from_slice(&s.groups);
                joined.sources.extend_from_slice(&s.sources);
            }
            all = joined;
            &all
        }
    };
    if set.is_empty() {
        bail!(
            "{}: the {:?} split is empty (try --split all)",
            args.data.display(),
            args.split
        );
    }
    let split_name = format!("{:?}", args.split).to_lowercase();
    let chosen;
    let set = if args.groups.is_empty() {
        set
    } else {
        chosen = only_groups(set, &args.groups, &split_name)?;
        &chosen
    };
    let score = pipeline::score(&model, &data, set)?;
    if args.json {
        let mut v = serde_json::to_value(&score)?;
        v["model"] = args.model.display().to_string().into();
        v["split"] = split_name.into();
        if !args.groups.is_empty() {
            v["only_groups"] = args.groups.clone().into();
        }
        println!("{v}");
    } else {
        let only = if args.groups.is_empty() {
            String::new()
        } else {
            format!(", group {}", args.groups.join(", "))
        };
        println!(
            "{} on {} ({:?} split{only}, {} samples): {}",
            args.model.display(),
            args.data.display(),
            args.split,
            score.samples,
            score.headline()
        );
        if let Some(m) = &score.metrics {
            println!("{m}");
        }
        if args.by_group {
            println!("accuracy by group, worst first:");
            for g in &score.groups {
                println!("  {:>7.2}%  {:>5}  {}", g.accuracy * 100.0, g.samples, g.group);
            }
        }
    }
    Ok(())
}
