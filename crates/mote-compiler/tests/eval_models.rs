//! The float reference evaluator (`mote_ir::eval`) on the real float models: its outputs agree
//! with TFLM's golden outputs and with mote's runtime float kernels within
//! `RELATIVE_TOLERANCE`, relative to the largest output magnitude of the case.

mod common;

use common::{bytes_f32, f32_bytes, read_f32, synthetic_graph, Compiled, Rng};
use mote_ir::Evaluator;
use mote_testdata::{golden, shared_dir};

/// The evaluator accumulates in the same order as TFLite's reference kernels, so what differs
/// is `exp` in SOFTMAX (the C library's, Rust's, the runtime's own) and little else: the
/// largest difference measured over these models is 8e-9 of the output's magnitude (printed
/// by the test); the bound leaves room for other platforms' `exp`.
const RELATIVE_TOLERANCE: f32 = 1e-6;

const FLOAT_MODELS: &[&str] = &[
    "ad01_fp32",
    "vww_96_float",
    "pretrainedResnet",
    "hello_world_float",
];

fn relative_error(got: &[f32], want: &[f32]) -> f32 {
    assert_eq!(got.len(), want.len());
    let scale = want
        .iter()
        .fold(0f32, |m, v| m.max(v.abs()))
        .max(f32::MIN_POSITIVE);
    got.iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs() / scale)
        .fold(0f32, f32::max)
}

#[test]
fn evaluator_matches_tflm_and_the_runtime_on_the_float_models() {
    let Some(shared) = shared_dir() else { return };
    let mut worst = (0f32, String::new());
    let mut compared = 0;
    for name in FLOAT_MODELS {
        let g = golden(&shared, name);
        let graph = mote_tflite::import(&std::fs::read(&g.model).unwrap()).unwrap();
        let evaluator = Evaluator::new(&graph).unwrap();
        let runtime = Compiled::new(&graph);
        for case in &g.cases {
            let input = read_f32(&case.inputs[0]);
            let evaluation = evaluator.run(&[&input]).unwrap();
            let got = evaluation.outputs()[0];
            let tflm = read_f32(&case.outputs[0]);
            let mote = bytes_f32(&runtime.run(&f32_bytes(&input)));
            for (what, want) in [("TFLM", &tflm), ("runtime", &mote)] {
                let err = relative_error(got, want);
                assert!(
                    err <= RELATIVE_TOLERANCE,
                    "{name} case {}: evaluator differs from {what} by {err} (relative)",
                    case.index
                );
                if err > worst.0 {
                    worst = (err, format!("{name} case {} vs {what}", case.index));
                }
                compared += 1;
            }
            // Every activation is kept for calibration: each node's output has a value.
            for node in &graph.nodes {
                let t = node.outputs[0];
                assert_eq!(
                    evaluation.tensor(t).map(<[f32]>::len),
                    Some(graph.tensors[t].elements()),
                    "{name}: tensor `{}` not kept",
                    graph.tensors[t].name
                );
            }
        }
    }
    assert!(
        compared >= FLOAT_MODELS.len() * 8,
        "only {compared} comparisons"
    );
    eprintln!("largest relative difference: {} ({})", worst.0, worst.1);
}

/// Dilation, depth multiplier 2, MAX_POOL, broadcast ADD, missing biases: the evaluator and the
/// runtime's float kernels agree on the synthetic graph too.
#[test]
fn evaluator_matches_the_runtime_on_the_synthetic_graph() {
    let graph = synthetic_graph(3);
    // The logits, not only the probabilities: SOFTMAX would hide differences.
    let mut logits = graph.clone();
    logits.outputs = vec![logits.nodes[6].outputs[0]];
    let elements = graph.tensors[graph.inputs[0]].elements();
    let mut rng = Rng(9);
    for g in [&graph, &logits] {
        let evaluator = Evaluator::new(g).unwrap();
        let runtime = Compiled::new(g);
        for _ in 0..4 {
            let input: Vec<f32> = (0..elements).map(|_| rng.uniform(-2.0, 2.0)).collect();
            let want = evaluator.run(&[&input]).unwrap().into_outputs().remove(0);
            let got = bytes_f32(&runtime.run(&f32_bytes(&input)));
            let err = relative_error(&want, &got);
            assert!(err <= RELATIVE_TOLERANCE, "synthetic graph: {err}");
        }
    }
}
