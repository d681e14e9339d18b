//! The quantizer on the real float models: the int8 graph it produces compiles, runs in mote's
//! runtime, and its dequantized outputs track the float reference evaluator's; the three
//! calibration methods choose ranges that differ the way they should.
//!
//! Calibration uses the models' own input domain: the int8 twin's golden inputs (for ad01
//! four real rows of anomaly-detection features among them) dequantized with the twin's input
//! quantization, plus uniform random inputs over that input range. Test inputs are further
//! random inputs, never seen in calibration.
//!
//! The bound on the tracking error is relative to the error of TFLite's own int8 model of
//! the same network on the same inputs (the twin; error = largest |int8 − float| output
//! difference over the largest |float| output): at most 1.5× it plus 0.01. Measured (min/max,
//! percentile 99.9, MSE; TFLite's): ad01 0.082, 0.062, 0.083 (0.118); vww 0.002, 0.008,
//! 0.003 (0.023); ResNet 0.19, 0.28, 0.28 (0.28) — the test prints them.

mod common;

use common::{
    dequantize, params, quantize as quantize_input, read_i8, synthetic_graph, Compiled, Rng,
};
use mote_compiler::{quantize, Calibration, QuantizeOptions, QuantizeReport};
use mote_ir::{Evaluator, Graph, Op};
use mote_testdata::{golden, shared_dir};

/// (float model, its int8 twin whose input quantization gives the input domain)
const MODELS: &[(&str, &str)] = &[
    ("ad01_fp32", "ad01_int8"),
    ("vww_96_float", "vww_96_int8"),
    ("pretrainedResnet", "pretrainedResnet_quant"),
];

struct Setup {
    name: &'static str,
    graph: Graph,
    /// TFLite's converter's int8 model of the same network.
    twin: Graph,
    calibration: Vec<Vec<f32>>,
    tests: Vec<Vec<f32>>,
}

fn setup(shared: &std::path::Path, name: &'static str, twin: &str) -> Setup {
    let g = golden(shared, name);
    let graph = mote_tflite::import(&std::fs::read(&g.model).unwrap()).unwrap();
    let t = golden(shared, twin);
    let twin_graph = mote_tflite::import(&std::fs::read(&t.model).unwrap()).unwrap();
    let input_params = params(&twin_graph, twin_graph.inputs[0]);
    let [lo, hi] = [-128, 127].map(|q| input_params.0 * (q - input_params.1) as f32);
    let elements = graph.tensors[graph.inputs[0]].elements();
    let mut calibration: Vec<Vec<f32>> = t
        .cases
        .iter()
        .map(|c| dequantize(&read_i8(&c.inputs[0]), input_params))
        .collect();
    let mut rng = Rng(7);
    for _ in 0..8 {
        calibration.push((0..elements).map(|_| rng.uniform(lo, hi)).collect());
    }
    let tests = (0..4)
        .map(|_| (0..elements).map(|_| rng.uniform(lo, hi)).collect())
        .collect();
    Setup {
        name,
        graph,
        twin: twin_graph,
        calibration,
        tests,
    }
}

/// How far the int8 model's dequantized outputs are from the float evaluator's, over the
/// test inputs: the largest absolute difference divided by the float output's largest
/// magnitude, and how many test inputs agree on the arg-max.
fn tracking_error(s: &Setup, int8: &Graph) -> (f32, usize) {
    let evaluator = Evaluator::new(&s.graph).unwrap();
    let runtime = Compiled::new(int8);
    let in_params = params(int8, int8.inputs[0]);
    let out_params = params(int8, int8.outputs[0]);
    let mut worst = 0f32;
    let mut same_argmax = 0;
    for input in &s.tests {
        let want = evaluator.run(&[input]).unwrap().into_outputs().remove(0);
        let q = quantize_input(input, in_params);
        let raw = runtime.run(&q.iter().map(|&v| v as u8).collect::<Vec<_>>());
        let got = dequantize(
            &raw.iter().map(|&b| b as i8).collect::<Vec<_>>(),
            out_params,
        );
        let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
        let err = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        worst = worst.max(err / scale);
        let argmax = |v: &[f32]| {
            v.iter()
                .enumerate()
                .fold((0, f32::MIN), |m, (i, &x)| if x > m.1 { (i, x) } else { m })
                .0
        };
        same_argmax += usize::from(argmax(&got) == argmax(&want));
    }
    (worst, same_argmax)
}

fn check_int8_graph(s: &Setup, q: &Graph, report: &QuantizeReport) {
    let name = s.name;
    // What export writes, import reads back unchanged.
    let exported = mote_tflite::export(q).unwrap_or_else(|e| panic!("{name}: export: {e}"));
    assert_eq!(
        &mote_tflite::import(&exported).unwrap(),
        q,
        "{name}: .tflite round trip"
    );
    for &t in q.inputs.iter().chain(&q.outputs) {
        assert_eq!(
            q.tensors[t].dtype,
            mote_ir::DType::Int8,
            "{name}: graph I/O is int8"
        );
    }
    for node in &q.nodes {
        let out = &q.tensors[node.outputs[0]];
        match &node.op {
            Op::Conv2d(_) | Op::DepthwiseConv2d(_) => {
                let f = q.tensors[node.inputs[1].unwrap()].quant.as_ref().unwrap();
                let channels = out.shape[3];
                assert_eq!(f.scale.len(), channels, "{name}: per-channel filter");
                assert_eq!(
                    f.axis,
                    if matches!(node.op, Op::Conv2d(_)) {
                        0
                    } else {
                        3
                    }
                );
                assert!(f.zero_point.iter().all(|&z| z == 0));
                if let Some(b) = node.inputs[2] {
                    let b = &q.tensors[b];
                    let x_scale = params(q, node.inputs[0].unwrap()).0;
                    let bq = b.quant.as_ref().unwrap();
                    assert_eq!(b.dtype, mote_ir::DType::Int32);
                    for (bs, fs) in bq.scale.iter().zip(&f.scale) {
                        assert_eq!(*bs, x_scale * fs, "{name}: bias scale = input × filter");
                    }
                }
            }
            Op::Softmax(_) => assert_eq!(params(q, node.outputs[0]), (1.0 / 256.0, -128)),
            Op::AveragePool2d(_) | Op::MaxPool2d(_) | Op::Reshape => assert_eq!(
                params(q, node.outputs[0]),
                params(q, node.inputs[0].unwrap()),
                "{name}: {} shares its input's parameters",
                node.op.name()
            ),
            _ => {}
        }
    }
    // A weight byte per float32 weight plus int32 biases: about a quarter.
    assert!(
        report.int8_weight_bytes * 3 < report.float_weight_bytes,
        "{name}: {} int8 weight bytes vs {} float",
        report.int8_weight_bytes,
        report.float_weight_bytes
    );
    assert!(report.int8_arena_bytes < report.float_arena_bytes);
    let macs: u64 = (0..s.graph.nodes.len()).map(|n| s.graph.macs(n)).sum();
    assert_eq!(report.macs, macs);
    for r in &report.ranges {
        assert!(
            r.chosen[0] <= 0.0 && r.chosen[1] >= 0.0 && r.scale > 0.0,
            "{name}: range of `{}` {:?} must include 0",
            r.name,
            r.chosen
        );
    }
}

#[test]
fn quantized_float_models_track_the_float_reference() {
    let Some(shared) = shared_dir() else { return };
    let mut mse_narrower = 0;
    for &(name, twin) in MODELS {
        let s = setup(&shared, name, twin);
        let (twin_err, twin_same) = tracking_error(&s, &s.twin);
        eprintln!(
            "{name} TFLite's int8 model: {twin_err:.4}, arg-max agrees on {twin_same}/{}",
            s.tests.len()
        );
        let mut by_method = Vec::new();
        for calibration in [
            Calibration::MinMax,
            Calibration::Percentile(99.9),
            Calibration::Mse,
        ] {
            let opts = QuantizeOptions {
                calibration,
                ..Default::default()
            };
            let (q, report) = quantize(&s.graph, &s.calibration, &opts)
                .unwrap_or_else(|e| panic!("{name} {calibration}: {e}"));
            check_int8_graph(&s, &q, &report);
            let (err, same) = tracking_error(&s, &q);
            eprintln!(
                "{name} {calibration}: max |int8 - float| / max |float| = {err:.4}, arg-max agrees on {same}/{}; weights {} -> {} bytes, arena {} -> {} bytes",
                s.tests.len(),
                report.float_weight_bytes,
                report.int8_weight_bytes,
                report.float_arena_bytes,
                report.int8_arena_bytes
            );
            assert!(
                err <= 1.5 * twin_err + 0.01,
                "{name} {calibration}: tracking error {err}, TFLite's int8 model's {twin_err}"
            );
            by_method.push(report);
        }

        // Percentile and MSE only ever clip min/max; on these models each clips somewhere.
        let minmax = &by_method[0];
        for other in &by_method[1..] {
            let mut narrower = 0;
            for (a, b) in minmax.ranges.iter().zip(&other.ranges) {
                assert_eq!(a.tensor, b.tensor);
                assert_eq!(
                    a.observed, b.observed,
                    "same calibration, same observations"
                );
                if a.rule.is_some() {
                    continue;
                }
                let slack = a.scale; // nudging the zero point moves an end by under a step
                assert!(
                    b.chosen[0] >= a.chosen[0] - slack && b.chosen[1] <= a.chosen[1] + slack,
                    "{name} {}: `{}` {:?} is wider than min/max {:?}",
                    other.calibration,
                    a.name,
                    b.chosen,
                    a.chosen
                );
                narrower += usize::from(b.scale < a.scale * 0.99);
            }
            if other.calibration != Calibration::Mse {
                assert!(
                    narrower > 0,
                    "{name} {}: no range narrower than min/max",
                    other.calibration
                );
            }
            mse_narrower += usize::from(other.calibration == Calibration::Mse) * narrower;
            eprintln!(
                "{name} {}: {narrower} of {} ranges narrower than min/max",
                other.calibration,
                minmax.ranges.len()
            );
        }
    }
    // MSE keeps min/max where clipping costs more than it saves (ad01's near-Gaussian
    // activations with few samples) but clips heavier tails elsewhere.
    assert!(
        mse_narrower > 0,
        "MSE never chose a range narrower than min/max"
    );
}

#[test]
fn errors_name_what_is_wrong() {
    let Some(shared) = shared_dir() else { return };
    let g = golden(&shared, "hello_world_float");
    let graph = mote_tflite::import(&std::fs::read(&g.model).unwrap()).unwrap();
    let opts = QuantizeOptions::default();
    let err = quantize(&graph, &[], &opts).unwrap_err().to_string();
    assert!(err.contains("no calibration samples"), "{err}");
    let err = quantize(&graph, &[vec![1.0, 2.0]], &opts)
        .unwrap_err()
        .to_string();
    assert!(err.contains("sample 0 has 2 values"), "{err}");
    let bad = QuantizeOptions {
        calibration: Calibration::Percentile(20.0),
        ..Default::default()
    };
    let err = quantize(&graph, &[vec![1.0]], &bad)
        .unwrap_err()
        .to_string();
    assert!(err.contains("percentile 20"), "{err}");
    // An int8 model is refused with the tensor named.
    let g8 = golden(&shared, "hello_world_int8");
    let int8 = mote_tflite::import(&std::fs::read(&g8.model).unwrap()).unwrap();
    let err = quantize(&int8, &[vec![1.0]], &opts)
        .unwrap_err()
        .to_string();
    assert!(err.contains("tensor #") && err.contains("int8"), "{err}");

    // And hello_world quantizes: a sine over [0, 2π].
    let samples: Vec<Vec<f32>> = (0..64).map(|i| vec![i as f32 * 0.1]).collect();
    let (q, report) = quantize(&graph, &samples, &opts).unwrap();
    assert_eq!(report.samples, 64);
    let runtime = Compiled::new(&q);
    let (inp, out) = (params(&q, q.inputs[0]), params(&q, q.outputs[0]));
    for x in [0.5f32, 1.5, 3.0, 4.5] {
        let raw = runtime.run(&[quantize_input(&[x], inp)[0] as u8]);
        let y = dequantize(&[raw[0] as i8], out)[0];
        assert!((y - x.sin()).abs() < 0.15, "sin({x}) ≈ {y}");
    }
}

/// The synthetic graph's operators the reference models lack quantize as TFLite would: the
/// ADD's constant operand as an asymmetric int8 tensor, MAX_POOL sharing its input's
/// parameters, RELU6's output range within [0, 6], no bias invented where there was none; and
/// the int8 model's probabilities stay near the float ones.
#[test]
fn synthetic_graph_quantizes_as_tflite_would() {
    let graph = synthetic_graph(3);
    let elements = graph.tensors[graph.inputs[0]].elements();
    let mut rng = Rng(5);
    let mut random = || -> Vec<f32> { (0..elements).map(|_| rng.uniform(-1.0, 1.0)).collect() };
    let samples: Vec<Vec<f32>> = (0..16).map(|_| random()).collect();
    let (q, report) = quantize(&graph, &samples, &QuantizeOptions::default()).unwrap();

    let exported = mote_tflite::export(&q).unwrap();
    assert_eq!(
        mote_tflite::import(&exported).unwrap(),
        q,
        ".tflite round trip"
    );
    let by_name = |name: &str| q.tensors.iter().position(|t| t.name == name).unwrap();
    let offset = &q.tensors[by_name("offset")];
    assert_eq!(offset.dtype, mote_ir::DType::Int8);
    assert!(offset.quant.as_ref().unwrap().is_per_tensor());
    assert_eq!(params(&q, by_name("maxpool")), params(&q, by_name("dw")));
    let relu6 = report.ranges.iter().find(|r| r.name == "conv").unwrap();
    assert!(
        relu6.chosen[0] == 0.0 && relu6.chosen[1] <= 6.0 + relu6.scale,
        "{relu6:?}"
    );
    assert_eq!(q.nodes[0].inputs[2], None, "the convolution had no bias");
    let text = report.to_string();
    assert!(
        text.contains("maxpool: ")
            && text.contains("shared with input `dw`")
            && text.contains("fixed by SOFTMAX"),
        "{text}"
    );
    assert_eq!(q.nodes[6].inputs.len(), 2, "FULLY_CONNECTED had no bias");

    let evaluator = Evaluator::new(&graph).unwrap();
    let runtime = Compiled::new(&q);
    let (inp, out) = (params(&q, q.inputs[0]), params(&q, q.outputs[0]));
    for _ in 0..8 {
        let input = random();
        let want = evaluator.run(&[&input]).unwrap().into_outputs().remove(0);
        let raw = runtime.run(
            &quantize_input(&input, inp)
                .iter()
                .map(|&v| v as u8)
                .collect::<Vec<_>>(),
        );
        let got = dequantize(&raw.iter().map(|&b| b as i8).collect::<Vec<_>>(), out);
        for (g, w) in got.iter().zip(&want) {
            // Measured: within 0.004 of the float probabilities.
            assert!((g - w).abs() < 0.01, "int8 {got:?} vs float {want:?}");
        }
    }
}

/// With `float_io` the int8 graph takes and gives float32 through QUANTIZE and DEQUANTIZE:
/// exactly what quantizing the input by hand, running the int8-I/O graph and dequantizing
/// its output gives.
#[test]
fn float_io_wraps_the_int8_graph_in_quantize_and_dequantize() {
    let graph = synthetic_graph(4);
    let elements = graph.tensors[graph.inputs[0]].elements();
    let mut rng = Rng(6);
    let mut random = || -> Vec<f32> { (0..elements).map(|_| rng.uniform(-1.0, 1.0)).collect() };
    let samples: Vec<Vec<f32>> = (0..8).map(|_| random()).collect();
    let (int8, _) = quantize(&graph, &samples, &QuantizeOptions::default()).unwrap();
    let opts = QuantizeOptions {
        float_io: true,
        ..Default::default()
    };
    let (wrapped, _) = quantize(&graph, &samples, &opts).unwrap();
    assert_eq!(wrapped.nodes.len(), int8.nodes.len() + 2);
    assert!(matches!(wrapped.nodes[0].op, Op::Quantize));
    assert!(matches!(wrapped.nodes.last().unwrap().op, Op::Dequantize));
    let (fi, fo) = (
        &wrapped.tensors[wrapped.inputs[0]],
        &wrapped.tensors[wrapped.outputs[0]],
    );
    assert_eq!((fi.dtype, fi.name.as_str()), (mote_ir::DType::Float32, "x"));
    assert_eq!(
        (fo.dtype, fo.name.as_str()),
        (mote_ir::DType::Float32, "probabilities")
    );
    assert_eq!(wrapped.tensors[int8.inputs[0]].name, "x_int8");
    let exported = mote_tflite::export(&wrapped).unwrap();
    assert_eq!(mote_tflite::import(&exported).unwrap(), wrapped);

    let (a, b) = (Compiled::new(&int8), Compiled::new(&wrapped));
    let (inp, out) = (
        params(&int8, int8.inputs[0]),
        params(&int8, int8.outputs[0]),
    );
    for _ in 0..4 {
        let x = random();
        let raw = a.run(
            &quantize_input(&x, inp)
                .iter()
                .map(|&v| v as u8)
                .collect::<Vec<_>>(),
        );
        let want = dequantize(&raw.iter().map(|&v| v as i8).collect::<Vec<_>>(), out);
        let got = common::bytes_f32(&b.run(&common::f32_bytes(&x)));
        assert_eq!(got, want);
    }
}

/// `input_quantization` fixes the input's parameters (a front end's int8 bytes go in as they
/// are) whatever calibration saw; the rest of the graph is still calibrated; nonsense
/// parameters are refused.
#[test]
fn input_quantization_is_taken_as_given() {
    let graph = synthetic_graph(5);
    let elements = graph.tensors[graph.inputs[0]].elements();
    let mut rng = Rng(9);
    let samples: Vec<Vec<f32>> = (0..8)
        .map(|_| (0..elements).map(|_| rng.uniform(0.0, 0.6)).collect())
        .collect();
    let given = (1.0 / 256.0, -128);
    let opts = QuantizeOptions {
        input_quantization: Some(given),
        ..Default::default()
    };
    let (q, report) = quantize(&graph, &samples, &opts).unwrap();
    assert_eq!(params(&q, q.inputs[0]), given);
    let (calibrated, _) = quantize(&graph, &samples, &QuantizeOptions::default()).unwrap();
    assert_ne!(params(&calibrated, calibrated.inputs[0]), given);
    let input_range = report.ranges.iter().find(|r| r.tensor == q.inputs[0]).unwrap();
    assert_eq!(input_range.rule.as_deref(), Some("given by the caller"));
    for bad in [(0.0, 0), (f32::NAN, 0), (0.1, 200)] {
        let opts = QuantizeOptions {
            input_quantization: Some(bad),
            ..Default::default()
        };
        let err = quantize(&graph, &samples, &opts).unwrap_err().to_string();
        assert!(err.contains("input quantization"), "{err}");
    }
}
