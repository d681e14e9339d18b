//! `mote`: the command-line face of mote. Each subcommand is one stage of the pipeline
//! (`inspect`, `compile`, `run`), usable on its own; errors are one line on stderr and a
//! non-zero exit.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

use mote_cli::model::LoadedModel;
use mote_cli::npy;

#[derive(Parser)]
#[command(
    name = "mote",
    version,
    about = "TinyML in Rust: compile and run neural networks for microcontrollers",
    long_about = "TinyML in Rust: compile and run neural networks for microcontrollers.\n\n\
        MODEL arguments accept a TensorFlow Lite flatbuffer (.tflite, compiled on the fly) or \
        a compiled .mote artefact; the file's contents decide, not its extension."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show a model's operators (shapes, MACs, weight bytes), inputs and outputs, and its
    /// memory: planned arena bytes, the lower bound, flash for the weights.
    Inspect {
        /// A .tflite or .mote file.
        model: PathBuf,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
        /// The kernels the artefact is for (decides each operator's scratch in the arena).
        #[arg(long, value_enum, default_value_t = KernelsArg::CortexMDsp)]
        kernels: KernelsArg,
    },
    /// Compile a .tflite model into a .mote artefact (weights, integer parameters and the
    /// memory plan, ready for the no_std runtime).
    Compile {
        /// The .tflite file.
        model: PathBuf,
        /// Where to write the .mote artefact.
        #[arg(short, long, value_name = "MODEL.mote")]
        output: PathBuf,
        /// The kernels the artefact is for: `cortex-m-dsp` (Cortex-M4/M7/M33; runs anywhere,
        /// the scratch is unused elsewhere) or `reference` (Cortex-M0/M3, smallest arena).
        #[arg(long, value_enum, default_value_t = KernelsArg::CortexMDsp)]
        kernels: KernelsArg,
    },
    /// Run a model once on the host with mote's runtime. Inputs and outputs are .npy files
    /// in the model's own dtype and shape, in the model's input and output order; without
    /// --output the outputs are printed.
    Run {
        /// A .tflite or .mote file.
        model: PathBuf,
        /// One .npy per model input, in order.
        #[arg(short, long = "input", value_name = "IN.npy")]
        inputs: Vec<PathBuf>,
        /// One .npy per model output, in order.
        #[arg(short, long = "output", value_name = "OUT.npy")]
        outputs: Vec<PathBuf>,
    },
    /// Measure a model on an emulated microcontroller: build the board's firmware with the
    /// model embedded, run it in QEMU on the model's golden input (or --input), check that
    /// the outputs equal the host runtime's, and report exact instructions per inference,
    /// flash (code and model) and RAM (arena, stack, statics).
    Bench(mote_cli::bench::BenchArgs),
    /// Dataset tools: generate the synthetic demo datasets (`synth-keywords`,
    /// `synth-vibration`) and print a dataset's class balance per split (`summary`).
    Data(mote_cli::data_cmd::DataArgs),
    /// Train a small network on a data folder (ROOT/<class>/<file>: .wav keywords, .csv
    /// vibration, .png/.bmp images) and write a checkpoint and a float .tflite.
    Train(mote_cli::learn::TrainArgs),
    /// Post-training int8 quantization (per-channel weights; calibration by min/max,
    /// percentile or MSE), with quantization-aware fine-tuning when it loses more than a
    /// point; writes NAME.tflite and NAME.mote and reports accuracy, weights, MACs, arena.
    Quantize(mote_cli::learn::QuantizeArgs),
    /// Prune a trained model: structured (remove channels) or by magnitude, with fine-tuning.
    Prune(mote_cli::learn::PruneArgs),
    /// Knowledge distillation: train a smaller student on a teacher's softened outputs and
    /// the labels.
    Distill(mote_cli::learn::DistillArgs),
    /// Score a model (checkpoint, .tflite or .mote) on a data folder's test split with mote's
    /// runtime: accuracy, per-class precision and recall, confusion matrix; or ROC AUC for an
    /// anomaly model.
    Eval(mote_cli::learn::EvalArgs),
    /// The whole pipeline in one command, nothing to download: synthesise spoken keywords,
    /// compute the micro_speech features, train a DS-CNN, quantize it to int8, compile it,
    /// score float and int8 on held-out voices, run it on the emulated Cortex-M4 when QEMU
    /// is installed, and print one table. A second run reuses the data and the model.
    Quickstart(mote_cli::quickstart::QuickstartArgs),
}

/// `--kernels` values.
#[derive(Clone, Copy, clap::ValueEnum)]
enum KernelsArg {
    /// The portable reference kernels (no scratch).
    Reference,
    /// The Cortex-M DSP-extension kernels.
    CortexMDsp,
}

impl From<KernelsArg> for mote_compiler::Kernels {
    fn from(k: KernelsArg) -> Self {
        match k {
            KernelsArg::Reference => mote_compiler::Kernels::Reference,
            KernelsArg::CortexMDsp => mote_compiler::Kernels::CortexMDsp,
        }
    }
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = dispatch(cli.command) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn dispatch(command: Command) -> Result<()> {
    match command {
        Command::Inspect {
            model,
            json,
            kernels,
        } => inspect(&LoadedModel::load_for(&model, kernels.into())?, json),
        Command::Compile {
            model,
            output,
            kernels,
        } => {
            let loaded = LoadedModel::load_for(&model, kernels.into())?;
            if !loaded.from_tflite {
                bail!("{} is already a .mote artefact", model.display());
            }
            npy::write_atomically(&output, &loaded.bytes)
                .with_context(|| format!("writing {}", output.display()))?;
            let r = &loaded.report;
            println!(
                "wrote {} ({} bytes: {} of constants); arena {} bytes (lower bound {})",
                output.display(),
                r.artefact_bytes,
                r.const_bytes,
                r.arena_bytes,
                r.lower_bound
            );
            Ok(())
        }
        Command::Run {
            model,
            inputs,
            outputs,
        } => run(&LoadedModel::load(&model)?, &inputs, &outputs),
        Command::Bench(args) => mote_cli::bench::run(&args),
        Command::Train(args) => mote_cli::learn::train(&args),
        Command::Quantize(args) => mote_cli::learn::quantize(&args),
        Command::Prune(args) => mote_cli::learn::prune(&args),
        Command::Distill(args) => mote_cli::learn::distill(&args),
        Command::Eval(args) => mote_cli::learn::eval(&args),
        Command::Quickstart(args) => mote_cli::quickstart::run(&args).map(|_| ()),
        Command::Data(args) => mote_cli::data_cmd::run(&args),
    }
}

fn inspect(model: &LoadedModel, json: bool) -> Result<()> {
    let r = &model.report;
    if json {
        let io = |list: &[mote_compiler::IoReport]| {
            list.iter()
                .map(|t| {
                    serde_json::json!({
                        "name": t.name, "dtype": t.dtype, "shape": t.shape,
                        "scale": t.scale, "zero_point": t.zero_point,
                    })
                })
                .collect::<Vec<_>>()
        };
        let ops: Vec<_> = r
            .ops
            .iter()
            .map(|o| {
                serde_json::json!({
                    "op": o.op, "dtype": o.dtype, "input_shapes": o.input_shapes,
                    "output_shape": o.output_shape, "macs": o.macs, "weight_bytes": o.weight_bytes,
                })
            })
            .collect();
        let value = serde_json::json!({
            "model": model.path.display().to_string(),
            "arena_bytes": r.arena_bytes,
            "lower_bound_bytes": r.lower_bound,
            "weight_bytes": r.const_bytes,
            "artefact_bytes": r.artefact_bytes,
            "macs": r.total_macs,
            "inputs": io(&r.inputs),
            "outputs": io(&r.outputs),
            "ops": ops,
        });
        println!("{value}");
        return Ok(());
    }
    println!("{}", model.path.display());
    let describe_io = |kind: &str, list: &[mote_compiler::IoReport]| {
        for (i, t) in list.iter().enumerate() {
            let quant = match (t.scale, t.zero_point) {
                (Some(s), Some(z)) => format!(" scale {s} zero_point {z}"),
                _ => String::new(),
            };
            let name = if t.name.is_empty() {
                String::new()
            } else {
                format!(" `{}`", t.name)
            };
            println!("  {kind} {i}{name}: {} {:?}{quant}", t.dtype, t.shape);
        }
    };
    describe_io("input", &r.inputs);
    describe_io("output", &r.outputs);
    println!();
    println!(
        "  {:>3}  {:<18} {:<8} {:<34} {:<16} {:>12} {:>10}",
        "#", "operator", "dtype", "inputs", "output", "MACs", "weights"
    );
    for (i, o) in r.ops.iter().enumerate() {
        let shapes: Vec<String> = o.input_shapes.iter().map(|s| format!("{s:?}")).collect();
        println!(
            "  {:>3}  {:<18} {:<8} {:<34} {:<16} {:>12} {:>10}",
            i,
            o.op,
            o.dtype,
            shapes.join(" "),
            format!("{:?}", o.output_shape),
            o.macs,
            o.weight_bytes
        );
    }
    println!();
    println!("  MACs per inference   {:>10}", r.total_macs);
    println!(
        "  flash: weights       {:>10} bytes (whole artefact {} bytes)",
        r.const_bytes, r.artefact_bytes
    );
    println!(
        "  RAM: arena          {:>10} bytes (lower bound {} bytes, {:.1}% above)",
        r.arena_bytes,
        r.lower_bound,
        if r.lower_bound > 0 {
            100.0 * (r.arena_bytes as f64 / r.lower_bound as f64 - 1.0)
        } else {
            0.0
        }
    );
    Ok(())
}

fn run(model: &LoadedModel, inputs: &[PathBuf], outputs: &[PathBuf]) -> Result<()> {
    // Checked before anything runs, so that a wrong command line costs nothing.
    let output_count = model.report.outputs.len();
    if !outputs.is_empty() && outputs.len() != output_count {
        bail!(
            "the model has {output_count} output(s) but {} --output file(s) were given",
            outputs.len()
        );
    }
    let arrays = inputs
        .iter()
        .map(|p| {
            let a = npy::read(p).with_context(|| format!("reading {}", p.display()))?;
            Ok((p.as_path(), a))
        })
        .collect::<Result<Vec<_>>>()?;
    let results = model.run(&arrays)?;
    if outputs.is_empty() {
        for (j, a) in results.iter().enumerate() {
            println!(
                "output {j}: {} {:?} {}",
                a.dtype.name(),
                a.shape,
                a.values_text()
            );
            let info = &model.report.outputs[j];
            if let (Some(scale), Some(zero_point), mote_format::DType::Int8) =
                (info.scale, info.zero_point, a.dtype)
            {
                let real: Vec<String> = a
                    .bytes
                    .iter()
                    .map(|&q| format!("{:.4}", scale * (q as i8 as i64 - zero_point) as f32))
                    .collect();
                println!("  dequantized: [{}]", real.join(", "));
            }
        }
    }
    for (a, path) in results.iter().zip(outputs) {
        npy::write_atomically(path, &a.to_npy()?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
