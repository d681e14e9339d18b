//! `mote quickstart`: the whole pipeline in one command, with nothing to download.
//!
//! 1. synthesise the keyword dataset (espeak-ng and flite voices over noise: synthetic);
//! 2. compute TFLM's micro_speech features for every clip (`mote-dsp`, the same code the
//!    device runs);
//! 3. train a DS-CNN (half the width of the widest that fits a 20 KB int8 arena);
//! 4. quantize it to int8 (per-channel weights, the input taking the front end's bytes);
//! 5. write `model_int8.tflite` and `model_int8.mote`, and score float and int8 on the test
//!    split (voices never heard in training) with mote's runtime;
//! 6. when QEMU is installed, run the int8 model on the emulated Cortex-M4 (mps2-an386) on
//!    a test clip's features, checking its output against the host's, and count its
//!    instructions;
//! and finish with one table. Everything lands in `--out` (default `./mote-quickstart`); a
//! second run reuses the dataset and the trained model that are already there.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};

use crate::features::DataKind;
use crate::learn::{self, TrainingArgs};
use crate::pipeline::{self, thousands};

/// Arguments of `mote quickstart`.
#[derive(clap::Args, Debug, Clone)]
pub struct QuickstartArgs {
    /// Where the dataset, the models and the summary go.
    #[arg(long, default_value = "mote-quickstart", value_name = "DIR")]
    pub out: PathBuf,
    /// Seed of the synthetic data, the split and the training.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Clips per class to synthesise.
    #[arg(long, default_value_t = 500)]
    pub per_class: usize,
    /// Most training epochs (early stopping usually ends sooner).
    #[arg(long, default_value_t = 30)]
    pub epochs: usize,
    /// Scale of the DS-CNN's channel counts (1 = the widest that fits a 20 KB int8 arena).
    /// The default half width trains about twice as fast (30 epochs in 160 s vs ~310 s on 2
    /// cores); the full width is more accurate on held-out voices (float 90.9% vs 85.8% on
    /// the default 6,000 clips, seed 0).
    #[arg(long, default_value_t = 0.5)]
    pub width: f32,
    /// Skip the emulated Cortex-M4 even when QEMU is installed.
    #[arg(long)]
    pub no_device: bool,
    /// Train again even if a trained model is already in DIR.
    #[arg(long)]
    pub retrain: bool,
}

/// What the quickstart measured (also written to DIR/summary.json).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    pub classes: usize,
    pub train_samples: usize,
    pub test_samples: usize,
    pub float_accuracy: f32,
    pub int8_accuracy: f32,
    pub float_weight_bytes: usize,
    pub int8_weight_bytes: usize,
    pub macs: u64,
    pub arena_bytes: usize,
    pub model_bytes: usize,
    /// From the emulated Cortex-M4, when it ran.
    pub device: Option<crate::bench::BenchReport>,
    pub seconds: f64,
}

fn step(n: usize, what: &str) {
    eprintln!("\n== [{n}/6] {what}");
}

/// `mote quickstart`.
pub fn run(args: &QuickstartArgs) -> Result<Summary> {
    let start = Instant::now();
    let out = &args.out;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let data_dir = out.join("keywords");

    step(
        1,
        "synthetic keywords (espeak-ng, flite) — reused when already complete",
    );
    let options = mote_data::KeywordOptions {
        per_class: args.per_class,
        ..Default::default()
    };
    let bar = indicatif::ProgressBar::new(0).with_message("synthesising keywords");
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{msg} [{bar:40}] {pos}/{len} ({elapsed}, eta {eta})",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    let summary =
        mote_data::synth_keywords_with_progress(&data_dir, args.seed, &options, &|done, total| {
            bar.set_length(total as u64);
            // Threads report out of order; the bar only moves forward.
            if done as u64 > bar.position() {
                bar.set_position(done as u64);
            }
        })
        .with_context(|| format!("synthesising keywords into {}", data_dir.display()))?;
    bar.finish_and_clear();
    eprintln!(
        "{} clips in {} ({})",
        summary.total(),
        data_dir.display(),
        if summary.reused {
            "reused"
        } else {
            "synthesised"
        }
    );

    step(
        2,
        "micro_speech features (TFLM's front end, mote-dsp) and the split by voice",
    );
    let t = Instant::now();
    let data = learn::load_data(&data_dir, args.seed, false)?;
    eprintln!("{}", data.balance);
    eprintln!("features in {:.1} s", t.elapsed().as_secs_f64());

    step(3, "training the float DS-CNN");
    let float_stem = out.join("model_float");
    let checkpoint = float_stem.with_extension("json");
    let model = if checkpoint.is_file() && !args.retrain {
        eprintln!(
            "reusing {} (--retrain to train again)",
            checkpoint.display()
        );
        pipeline::load_checkpoint(&checkpoint)?
    } else {
        let train_args = learn::TrainArgs {
            data: data_dir.clone(),
            template: None,
            width: args.width,
            output: float_stem.clone(),
            training: TrainingArgs {
                epochs: args.epochs,
                batch_size: 32,
                lr: 5e-3,
                patience: 8,
                label_smoothing: 0.0,
                frequency_warp: None,
                seed: args.seed,
                quiet: false,
            },
        };
        let t = Instant::now();
        let trained = learn::train_on(&data, &train_args)?;
        eprintln!(
            "{} epochs in {:.0} s (best epoch {})",
            trained.history.len(),
            t.elapsed().as_secs_f64(),
            trained.best_epoch
        );
        learn::save_checkpoint(&trained.model, &float_stem)?;
        trained.model
    };
    let float_graph = mote_train::export::to_graph(&model)?;

    step(
        4,
        "int8 quantization (per-channel weights, calibration on the train split)",
    );
    let options = learn::quantize_options(DataKind::Keywords, None);
    let float_host = pipeline::HostModel::from_graph("float model", float_graph.clone())?;
    let (part, test) = learn::report_set(&data);
    let float_score = pipeline::score(&float_host, &data, test)?;
    let float_footprint = pipeline::Footprint::of_graph(&float_graph)?;
    let q = learn::quantize_graph("int8", &data, &float_graph, &options, 200)?;

    step(5, "writing model_int8.tflite and model_int8.mote");
    let (tflite, mote) = learn::write_int8(&q.graph, &out.join("model_int8"))?;
    let model_bytes = std::fs::metadata(&mote)?.len() as usize;
    eprintln!("{}\n{}", tflite.display(), mote.display());
    if let Some(m) = &q.row.score.metrics {
        eprintln!("int8 on the {part} split:\n{m}");
    }

    step(6, "on the emulated Cortex-M4 (mps2-an386, QEMU)");
    let device = if args.no_device {
        eprintln!("skipped (--no-device)");
        None
    } else if which("qemu-system-arm").is_none() {
        eprintln!(
            "skipped: qemu-system-arm is not installed (apt-get install qemu-system-arm); the \
             int8 accuracy above ran on the host with the same runtime"
        );
        None
    } else {
        Some(on_device(out, &mote, &q.graph, test)?)
    };

    let summary = Summary {
        classes: data.classes.len(),
        train_samples: data.train.len(),
        test_samples: test.len(),
        float_accuracy: float_score.value(),
        int8_accuracy: q.row.score.value(),
        float_weight_bytes: float_footprint.weight_bytes,
        int8_weight_bytes: q.row.footprint.weight_bytes,
        macs: q.row.footprint.macs,
        arena_bytes: q.row.footprint.arena_bytes,
        model_bytes,
        device,
        seconds: start.elapsed().as_secs_f64(),
    };
    crate::npy::write_atomically(
        &out.join("summary.json"),
        serde_json::to_string_pretty(&summary)?.as_bytes(),
    )?;
    print_summary(&summary, part);
    Ok(summary)
}

/// Builds the firmware with the int8 model, runs it in QEMU on the first test clip.
fn on_device(
    out: &Path,
    mote: &Path,
    graph: &mote_ir::Graph,
    test: &crate::features::FeatureSet,
) -> Result<crate::bench::BenchReport> {
    let input = &graph.tensors[graph.inputs[0]];
    let quant = input
        .quant
        .as_ref()
        .context("the int8 model's input has no quantization")?;
    let bytes: Vec<u8> = test
        .sample(0)
        .iter()
        .map(|&v| pipeline::quantize_value(v, quant.scale[0], quant.zero_point[0] as i32) as u8)
        .collect();
    let array = crate::npy::Array {
        dtype: mote_format::DType::Int8,
        shape: input.shape.clone(),
        bytes,
    };
    let npy = out.join("test_input.npy");
    crate::npy::write_atomically(&npy, &array.to_npy()?)?;
    let report = crate::bench::bench(&crate::bench::BenchArgs {
        model: mote.to_path_buf(),
        board: "mps2-an386".into(),
        json: false,
        case_dir: None,
        inputs: vec![npy],
        runs: 2,
        per_op: false,
        runtime: crate::bench::DeviceRuntime::Interpreter,
        kernels: crate::bench::DeviceKernels::Auto,
        timeout: 600,
    })?;
    anyhow::ensure!(
        report.outputs_match,
        "the emulated Cortex-M4's output differs from the host runtime's"
    );
    Ok(report)
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

fn print_summary(s: &Summary, part: &str) {
    let kb = |b: usize| format!("{:.1} KB", b as f64 / 1024.0);
    println!(
        "\nmote quickstart: keyword spotting, {} classes, synthetic speech",
        s.classes
    );
    println!(
        "{:<34} {}",
        "train / test clips",
        format!(
            "{} / {} (test: held-out voices)",
            s.train_samples, s.test_samples
        )
    );
    println!(
        "{:<34} {:.2}%",
        format!("accuracy float32 ({part})"),
        s.float_accuracy * 100.0
    );
    println!(
        "{:<34} {:.2}%",
        format!("accuracy int8 ({part})"),
        s.int8_accuracy * 100.0
    );
    println!(
        "{:<34} {} -> {}",
        "weights float32 -> int8",
        kb(s.float_weight_bytes),
        kb(s.int8_weight_bytes)
    );
    println!("{:<34} {}", "MACs per inference", thousands(s.macs));
    println!(
        "{:<34} {}",
        "arena (int8, Cortex-M DSP kernels)",
        kb(s.arena_bytes)
    );
    println!("{:<34} {}", "model_int8.mote", kb(s.model_bytes));
    match &s.device {
        Some(d) => {
            println!(
                "{:<34} {}",
                "instructions / inference (M4)",
                thousands(d.instructions)
            );
            println!(
                "{:<34} {} (code {} + model {})",
                "flash",
                kb(d.flash_bytes as usize),
                kb(d.code_bytes as usize),
                kb(d.model_bytes as usize)
            );
            println!(
                "{:<34} {} (arena + stack + statics)",
                "RAM",
                kb(d.ram_bytes as usize)
            );
            println!("{:<34} {}", "device output = host output", d.outputs_match);
        }
        None => println!("{:<34} not measured (no QEMU)", "instructions / inference"),
    }
    println!("{:<34} {:.0} s", "total time", s.seconds);
}
