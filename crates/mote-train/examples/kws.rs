//! The keyword demo end to end, timed: synthetic spoken keywords (mote-data) → micro front
//! end features 49×40 (mote-dsp) → DS-CNN sized for a 20 KB arena → test accuracy → int8
//! post-training quantization (mote-compiler) → int8 accuracy in mote's runtime, arena and
//! weight bytes → 50% structured pruning → distillation into a quarter-size student.
//!
//! `cargo run --release -p mote-train --example kws -- [clips per class] [epochs] [folder]`

use std::time::Instant;

use mote_compiler::{quantize, QuantizeOptions};
use mote_format::{AlignedBytes, Model as Artefact};
use mote_runtime::Interpreter;
use mote_train::{distill, prune_structured, Dataset, Template, TrainConfig};

/// The micro front end's int8 output q stands for (q + 128) · 10/256, as in TFLM's
/// micro_speech model; the int8 model then takes the front end's bytes as they are.
const INPUT_SCALE: f32 = 10.0 / 256.0;
const INPUT_ZERO_POINT: i64 = -128;

fn features(samples: &[i16]) -> Result<Vec<f32>, Box<dyn std::error::Error>> {
    let f = mote_dsp::micro_frontend::micro_features_1s(samples)
        .map_err(|e| format!("front end: {e:?}"))?;
    Ok(f.iter()
        .flatten()
        .map(|&q| (q as i64 - INPUT_ZERO_POINT) as f32 * INPUT_SCALE)
        .collect())
}

fn int8_accuracy(
    bytes: &[u8],
    arena: usize,
    test: &Dataset,
) -> Result<f32, Box<dyn std::error::Error>> {
    let bytes = AlignedBytes::new(bytes);
    let model = Artefact::from_bytes(bytes.as_slice()).map_err(|e| format!("{e:?}"))?;
    let mut arena = AlignedBytes::zeroed(arena.max(model.arena_bytes()));
    let mut it = Interpreter::new(&model, arena.as_mut_slice()).map_err(|e| format!("{e:?}"))?;
    let mut correct = 0;
    for i in 0..test.len() {
        let input: Vec<u8> = test
            .sample(i)
            .iter()
            .map(|&v| {
                ((v / INPUT_SCALE).round() as i64 + INPUT_ZERO_POINT).clamp(-128, 127) as i8 as u8
            })
            .collect();
        it.input_bytes_mut(0)
            .map_err(|e| format!("{e:?}"))?
            .copy_from_slice(&input);
        it.invoke().map_err(|e| format!("{e:?}"))?;
        let out = it.output_bytes(0).map_err(|e| format!("{e:?}"))?;
        let best = (0..out.len()).max_by_key(|&k| out[k] as i8).unwrap_or(0);
        correct += usize::from(best == test.labels[i]);
    }
    Ok(correct as f32 / test.len().max(1) as f32)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let per_class: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100);
    let epochs: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(20);
    let folder = args
        .get(3)
        .cloned()
        .unwrap_or_else(|| format!("/tmp/mote-kws-{per_class}"));
    let start = Instant::now();

    let options = mote_data::KeywordOptions {
        per_class,
        ..Default::default()
    };
    let summary = mote_data::synth_keywords(&folder, 7, &options)?;
    println!(
        "synthesis: {} clips in {:.1} s (reused: {})",
        summary.total(),
        summary.seconds,
        summary.reused
    );

    let t = Instant::now();
    let audio = mote_data::load_audio(&folder)?;
    let (mut train_f, mut train_l, mut test_f, mut test_l) = (vec![], vec![], vec![], vec![]);
    for item in &audio.items {
        let f = features(&item.data.samples)?;
        if summary.test_groups.contains(&item.group) {
            test_f.extend(f);
            test_l.push(item.label);
        } else {
            train_f.extend(f);
            train_l.push(item.label);
        }
    }
    let shape = vec![49, 40, 1];
    let all_train = Dataset::new(train_f, shape.clone(), train_l, audio.classes.clone())?;
    let test = Dataset::new(test_f, shape.clone(), test_l, audio.classes.clone())?;
    let (train, val) = all_train.split(0.1, 1);
    println!(
        "features: {} train, {} val, {} test in {:.1} s",
        train.len(),
        val.len(),
        test.len(),
        t.elapsed().as_secs_f64()
    );

    let template = Template::ds_cnn_for_arena(&shape, 20 * 1024);
    let spec = template.build(&shape, &audio.classes)?;
    let cfg = TrainConfig {
        epochs,
        time_shift: 3,
        ..TrainConfig::default()
    };
    let t = Instant::now();
    let trained = mote_train::train(spec, &train, &val, &cfg)?;
    let float_metrics = trained.evaluate(&test)?;
    println!(
        "{template:?}: trained {} epochs in {:.1} s; float test accuracy {:.2}%",
        trained.history.len(),
        t.elapsed().as_secs_f64(),
        100.0 * float_metrics.accuracy()
    );
    println!("{float_metrics}");

    let t = Instant::now();
    let graph = trained.to_graph()?;
    let calibration: Vec<Vec<f32>> = (0..train.len().min(200))
        .map(|i| train.sample(i).to_vec())
        .collect();
    let opts = QuantizeOptions {
        input_quantization: Some((INPUT_SCALE, INPUT_ZERO_POINT)),
        ..QuantizeOptions::default()
    };
    let (int8, report) = quantize(&graph, &calibration, &opts)?;
    let compiled = mote_compiler::compile(&int8)?;
    let int8_acc = int8_accuracy(&compiled.bytes, compiled.report.arena_bytes, &test)?;
    println!(
        "int8: test accuracy {:.2}%, arena {} B, weights {} B, artefact {} B, {} MACs ({:.1} s)",
        100.0 * int8_acc,
        compiled.report.arena_bytes,
        report.int8_weight_bytes,
        compiled.report.artefact_bytes,
        report.macs,
        t.elapsed().as_secs_f64()
    );
    println!(
        "demo (synthesis → int8 .mote): {:.1} s",
        start.elapsed().as_secs_f64()
    );
    if std::env::var_os("KWS_SKIP_OPTIMIZE").is_some() {
        return Ok(());
    }

    let t = Instant::now();
    let fine_tune = TrainConfig {
        epochs: (epochs / 2).max(4),
        learning_rate: 1e-3,
        ..cfg.clone()
    };
    let pruned = prune_structured(&trained.model, 0.5, &train, &val, &fine_tune, None)?;
    let pruned_acc = pruned.trained.evaluate(&test)?.accuracy();
    println!(
        "structured pruning 50% ({:.1} s): test accuracy {:.2}% -> {:.2}%\n{pruned}",
        t.elapsed().as_secs_f64(),
        100.0 * float_metrics.accuracy(),
        100.0 * pruned_acc
    );

    let t = Instant::now();
    let student = template.scaled(0.5).build(&shape, &audio.classes)?;
    let distilled = distill(&trained.model, student, &train, &val, &cfg, 4.0, 0.7)?;
    let student_acc = distilled.trained.evaluate(&test)?.accuracy();
    println!(
        "distillation ({:.1} s): test accuracy teacher {:.2}%, student {:.2}%\n{distilled}",
        t.elapsed().as_secs_f64(),
        100.0 * float_metrics.accuracy(),
        100.0 * student_acc
    );
    Ok(())
}
