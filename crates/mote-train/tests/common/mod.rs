//! Toy data and a runner for the exported graph in mote's runtime, shared by the tests.

#![allow(dead_code)]

use mote_format::{AlignedBytes, Model as Artefact};
use mote_ir::Graph;
use mote_runtime::Interpreter;
use mote_train::{Dataset, Rng, TrainConfig};

/// A separable toy problem of `[h, w, c]` maps: class k has a bright blob in region k of
/// the map (plus noise), so a small network learns it in a few epochs.
pub fn blobs(n: usize, shape: [usize; 3], classes: usize, seed: u64) -> Dataset {
    let [h, w, c] = shape;
    let mut rng = Rng(seed);
    let mut features = Vec::with_capacity(n * h * w * c);
    let mut labels = Vec::with_capacity(n);
    for i in 0..n {
        let k = i % classes;
        // Region k: a band of columns (works for h = 1 as well).
        let band = w / classes;
        for y in 0..h {
            for x in 0..w {
                for _ in 0..c {
                    let inside = x >= k * band && x < (k + 1) * band;
                    let _ = y;
                    features.push(if inside { 1.0 } else { 0.0 } + 0.3 * rng.normal());
                }
            }
        }
        labels.push(k);
    }
    Dataset::new(
        features,
        shape.to_vec(),
        labels,
        (0..classes).map(|k| format!("c{k}")).collect(),
    )
    .unwrap()
}

pub fn quiet(epochs: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: 16,
        learning_rate: 1e-2,
        patience: 100,
        progress: false,
        ..TrainConfig::default()
    }
}

/// Runs a float32 graph once in mote's runtime.
pub fn run_in_runtime(graph: &Graph, input: &[f32]) -> Vec<f32> {
    let compiled = mote_compiler::compile(graph).expect("compile");
    let bytes = AlignedBytes::new(&compiled.bytes);
    let model = Artefact::from_bytes(bytes.as_slice()).expect("artefact");
    let mut arena = AlignedBytes::zeroed(compiled.report.arena_bytes.max(model.arena_bytes()));
    let mut interpreter = Interpreter::new(&model, arena.as_mut_slice()).expect("interpreter");
    let raw: Vec<u8> = input.iter().flat_map(|v| v.to_le_bytes()).collect();
    interpreter
        .input_bytes_mut(0)
        .unwrap()
        .copy_from_slice(&raw);
    interpreter.invoke().expect("invoke");
    interpreter
        .output_bytes(0)
        .unwrap()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}
