//! TFLM as the oracle for mote's exporter, quantizer and runtime at once: `.tflite` files that
//! mote writes are run by TFLM's reference kernels (`scripts/tflm_oracle.py`, the `tflite-micro`
//! Python package) and must give exactly the bytes that mote gives.
//!
//! (a) Every model mote covers, imported and exported again, gives TFLM's golden outputs byte
//! for byte. (b) The int8 graphs mote's quantizer makes from the float models (each
//! calibration method, FULLY_CONNECTED per tensor and per channel), exported, give in TFLM the
//! bytes mote's runtime gives, on several inputs.
//!
//! Python is `MOTE_TFLM_PYTHON`, else the workspace's `target/bench-venv/bin/python`, else
//! `python3` — the first that imports `tflite_micro`. Without one the tests are skipped,
//! unless `MOTE_REQUIRE_TFLM` is set. All inputs of a model go to one Python process.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{
    dequantize, f32_bytes, params, read_i8, synthetic_graph, write_f32, write_i8, Compiled, Rng,
};
use mote_compiler::{quantize, Calibration, QuantizeOptions};
use mote_testdata::{golden, shared_dir, COVERED_MODELS};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn scratch_dir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mote-tflm-{what}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `model` in TFLM on each input file (single-input models); returns the output files.
fn run_tflm(python: &Path, model: &Path, inputs: &[PathBuf], out: &Path) -> Vec<PathBuf> {
    let result = Command::new(python)
        .arg(workspace().join("scripts/tflm_oracle.py"))
        .arg(model)
        .args(inputs)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "tflm_oracle.py on {} failed: {}",
        model.display(),
        String::from_utf8_lossy(&result.stderr)
    );
    (0..inputs.len())
        .map(|c| out.join(format!("case_{c}.out0.npy")))
        .collect()
}

/// The data bytes of a .npy file (after its header).
fn npy_data(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header_len = match bytes.get(6) {
        Some(1) => 10 + u16::from_le_bytes([bytes[8], bytes[9]]) as usize,
        _ => 12 + u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
    };
    bytes[header_len..].to_vec()
}

#[test]
fn exported_reference_models_give_tflms_golden_outputs() {
    let Some(shared) = shared_dir() else { return };
    let Some(python) = mote_testdata::tflm_python() else { return };
    let dir = scratch_dir("golden");
    let mut compared = 0;
    for name in COVERED_MODELS {
        let g = golden(&shared, name);
        let graph = mote_tflite::import(&std::fs::read(&g.model).unwrap()).unwrap();
        if graph.inputs.len() != 1 {
            continue; // The oracle takes whole cases in order; one-input models keep it simple.
        }
        let exported = dir.join(format!("{name}.tflite"));
        std::fs::write(&exported, mote_tflite::export(&graph).unwrap()).unwrap();
        let inputs: Vec<PathBuf> = g.cases.iter().map(|c| c.inputs[0].clone()).collect();
        let outputs = run_tflm(&python, &exported, &inputs, &dir.join(name));
        for (case, got) in g.cases.iter().zip(&outputs) {
            assert!(
                npy_data(got) == npy_data(&case.outputs[0]),
                "{name} case {}: TFLM's output for mote's export differs from the golden output",
                case.index
            );
            compared += 1;
        }
    }
    assert!(compared >= 40, "only {compared} cases compared");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn quantized_float_models_run_the_same_in_tflm_and_mote() {
    let Some(shared) = shared_dir() else { return };
    let Some(python) = mote_testdata::tflm_python() else { return };
    let dir = scratch_dir("quantized");
    let cases: &[(&str, &str, Calibration, bool)] = &[
        ("ad01_fp32", "ad01_int8", Calibration::MinMax, true),
        ("vww_96_float", "vww_96_int8", Calibration::Mse, false),
        (
            "pretrainedResnet",
            "pretrainedResnet_quant",
            Calibration::Percentile(99.99),
            false,
        ),
        (
            "hello_world_float",
            "hello_world_int8",
            Calibration::MinMax,
            false,
        ),
    ];
    let mut compared = 0;
    for &(name, twin, calibration, fully_connected_per_channel) in cases {
        let g = golden(&shared, name);
        let graph = mote_tflite::import(&std::fs::read(&g.model).unwrap()).unwrap();
        let t = golden(&shared, twin);
        let twin_graph = mote_tflite::import(&std::fs::read(&t.model).unwrap()).unwrap();
        let domain = params(&twin_graph, twin_graph.inputs[0]);
        // Calibrate on the twin's golden inputs, in real values.
        let samples: Vec<Vec<f32>> = t
            .cases
            .iter()
            .map(|c| dequantize(&read_i8(&c.inputs[0]), domain))
            .collect();
        let opts = QuantizeOptions {
            calibration,
            fully_connected_per_channel,
            ..Default::default()
        };
        let (q, _) = quantize(&graph, &samples, &opts).unwrap_or_else(|e| panic!("{name}: {e}"));
        let per_channel_fc = q.nodes.iter().any(|n| {
            matches!(n.op, mote_ir::Op::FullyConnected(_))
                && n.inputs[1].is_some_and(|f| {
                    q.tensors[f]
                        .quant
                        .as_ref()
                        .is_some_and(|q| q.scale.len() > 1)
                })
        });
        assert_eq!(
            per_channel_fc, fully_connected_per_channel,
            "{name}: FULLY_CONNECTED quantization"
        );
        let model = dir.join(format!("{name}_int8.tflite"));
        std::fs::write(&model, mote_tflite::export(&q).unwrap()).unwrap();

        // Random int8 inputs over the whole range, and the twin's inputs.
        let input = &q.tensors[q.inputs[0]];
        let mut rng = Rng(11);
        let mut inputs: Vec<Vec<i8>> = (0..4)
            .map(|_| (0..input.elements()).map(|_| rng.int8()).collect())
            .collect();
        inputs.extend(t.cases.iter().take(2).map(|c| read_i8(&c.inputs[0])));
        let files: Vec<PathBuf> = inputs
            .iter()
            .enumerate()
            .map(|(i, data)| {
                let path = dir.join(format!("{name}_in{i}.npy"));
                write_i8(&path, &input.shape, data);
                path
            })
            .collect();
        let outputs = run_tflm(&python, &model, &files, &dir.join(name));
        let runtime = Compiled::new(&q);
        let mut distinct = std::collections::HashSet::new();
        for (i, (data, tflm)) in inputs.iter().zip(&outputs).enumerate() {
            let mote = runtime.run(&data.iter().map(|&v| v as u8).collect::<Vec<_>>());
            let tflm = npy_data(tflm);
            assert!(
                mote == tflm,
                "{name} ({calibration}) input {i}: mote gives {:?}…, TFLM {:?}…",
                &mote[..mote.len().min(16)],
                &tflm[..tflm.len().min(16)]
            );
            distinct.insert(mote);
            compared += 1;
        }
        // Inputs that all saturated to one output would make the comparison weak.
        assert!(
            distinct.len() > 1,
            "{name}: every input gave the same output"
        );
    }
    assert_eq!(compared, 24);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The operators and attributes the reference models lack (dilation, depth multiplier 2,
/// MAX_POOL, ADD of a constant, FULLY_CONNECTED without bias...), quantized by mote, exported,
/// and run in TFLM and in mote: the same bytes.
#[test]
fn synthetic_graph_runs_the_same_in_tflm_and_mote() {
    let Some(python) = mote_testdata::tflm_python() else { return };
    let dir = scratch_dir("synthetic");
    let graph = synthetic_graph(3);
    let elements = graph.tensors[graph.inputs[0]].elements();
    let mut rng = Rng(5);
    let samples: Vec<Vec<f32>> = (0..8)
        .map(|_| (0..elements).map(|_| rng.uniform(-1.0, 1.0)).collect())
        .collect();
    let (q, _) = quantize(&graph, &samples, &QuantizeOptions::default()).unwrap();
    let model = dir.join("synthetic.tflite");
    std::fs::write(&model, mote_tflite::export(&q).unwrap()).unwrap();
    let input = &q.tensors[q.inputs[0]];
    let inputs: Vec<Vec<i8>> = (0..6)
        .map(|_| (0..elements).map(|_| rng.int8()).collect())
        .collect();
    let files: Vec<PathBuf> = inputs
        .iter()
        .enumerate()
        .map(|(i, data)| {
            let path = dir.join(format!("in{i}.npy"));
            write_i8(&path, &input.shape, data);
            path
        })
        .collect();
    let outputs = run_tflm(&python, &model, &files, &dir.join("out"));
    let runtime = Compiled::new(&q);
    let mut distinct = std::collections::HashSet::new();
    for (i, (data, tflm)) in inputs.iter().zip(&outputs).enumerate() {
        let mote = runtime.run(&data.iter().map(|&v| v as u8).collect::<Vec<_>>());
        assert_eq!(mote, npy_data(tflm), "synthetic graph, input {i}");
        distinct.insert(mote);
    }
    assert!(distinct.len() > 1, "every input gave the same output");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The same graph with float32 I/O (QUANTIZE and DEQUANTIZE at the edges): TFLM and mote give
/// the same float bytes.
#[test]
fn float_io_graph_runs_the_same_in_tflm_and_mote() {
    let Some(python) = mote_testdata::tflm_python() else { return };
    let dir = scratch_dir("float-io");
    let graph = synthetic_graph(3);
    let elements = graph.tensors[graph.inputs[0]].elements();
    let mut rng = Rng(8);
    let mut random = || -> Vec<f32> { (0..elements).map(|_| rng.uniform(-1.5, 1.5)).collect() };
    let samples: Vec<Vec<f32>> = (0..8).map(|_| random()).collect();
    let opts = QuantizeOptions {
        float_io: true,
        ..Default::default()
    };
    let (q, _) = quantize(&graph, &samples, &opts).unwrap();
    let model = dir.join("float_io.tflite");
    std::fs::write(&model, mote_tflite::export(&q).unwrap()).unwrap();
    let shape = q.tensors[q.inputs[0]].shape.clone();
    let inputs: Vec<Vec<f32>> = (0..4).map(|_| random()).collect();
    let files: Vec<PathBuf> = inputs
        .iter()
        .enumerate()
        .map(|(i, data)| {
            let path = dir.join(format!("in{i}.npy"));
            write_f32(&path, &shape, data);
            path
        })
        .collect();
    let outputs = run_tflm(&python, &model, &files, &dir.join("out"));
    let runtime = Compiled::new(&q);
    for (i, (data, tflm)) in inputs.iter().zip(&outputs).enumerate() {
        assert_eq!(
            runtime.run(&f32_bytes(data)),
            npy_data(tflm),
            "float I/O, input {i}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
