//! Every golden case that TFLM produced for the models mote covers must come out of mote
//! byte for byte (int8) or within 1e-5 relative (float32) — through the library
//! (import → compile → interpreter) and through the `mote run` command line.

use std::path::Path;
use std::process::Command;

use mote_cli::npy::{self, Array};
use mote_format::{AlignedBytes, DType, Model};
use mote_runtime::Interpreter;
use mote_testdata::{golden, shared_dir, COVERED_MODELS};

/// float32 outputs may differ from TFLM's by this much, relative to the output's scale.
const FLOAT_RELATIVE_TOLERANCE: f32 = 1e-5;

fn assert_matches(context: &str, got: &Array, want: &Array) {
    assert_eq!(
        (got.dtype, &got.shape),
        (want.dtype, &want.shape),
        "{context}: dtype or shape differs"
    );
    match got.dtype {
        DType::Float32 => {
            let floats = |a: &Array| -> Vec<f32> {
                a.bytes
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect()
            };
            let (g, w) = (floats(got), floats(want));
            let scale = w
                .iter()
                .fold(0f32, |m, v| m.max(v.abs()))
                .max(f32::MIN_POSITIVE);
            for (i, (a, b)) in g.iter().zip(&w).enumerate() {
                let err = (a - b).abs();
                assert!(
                    err <= FLOAT_RELATIVE_TOLERANCE * b.abs().max(scale * 1e-2),
                    "{context}: element {i} is {a}, TFLM gave {b}"
                );
            }
        }
        _ => {
            if got.bytes != want.bytes {
                let first = got
                    .bytes
                    .iter()
                    .zip(&want.bytes)
                    .position(|(a, b)| a != b)
                    .unwrap_or(0);
                panic!(
                    "{context}: output differs from TFLM's first at byte {first} ({} vs {}); got {}, want {}",
                    got.bytes[first] as i8,
                    want.bytes[first] as i8,
                    got.values_text(),
                    want.values_text()
                );
            }
        }
    }
}

fn read(path: &Path) -> Array {
    npy::read(path).unwrap_or_else(|e| panic!("reading {}: {e:#}", path.display()))
}

#[test]
fn library_path_matches_tflm_on_every_golden_case() {
    let Some(shared) = shared_dir() else { return };
    let mut checked = 0;
    for name in COVERED_MODELS {
        let g = golden(&shared, name);
        let tflite = std::fs::read(&g.model).unwrap();
        let graph = mote_tflite::import(&tflite).unwrap_or_else(|e| panic!("{name}: import: {e}"));
        let compiled =
            mote_compiler::compile(&graph).unwrap_or_else(|e| panic!("{name}: compile: {e}"));
        let bytes = AlignedBytes::new(&compiled.bytes);
        let model = Model::from_bytes(bytes.as_slice()).unwrap();
        let mut arena = AlignedBytes::zeroed(model.arena_bytes());
        let mut interpreter = Interpreter::new(&model, arena.as_mut_slice()).unwrap();
        // One interpreter for all cases: nothing may leak from one invoke into the next.
        for case in &g.cases {
            for (i, path) in case.inputs.iter().enumerate() {
                interpreter
                    .input_bytes_mut(i)
                    .unwrap()
                    .copy_from_slice(&read(path).bytes);
            }
            interpreter.invoke().unwrap();
            for (j, path) in case.outputs.iter().enumerate() {
                let info = interpreter.output_info(j).unwrap();
                let got = Array {
                    dtype: info.dtype,
                    shape: info.shape().to_vec(),
                    bytes: interpreter.output_bytes(j).unwrap().to_vec(),
                };
                assert_matches(
                    &format!("{name} case {} output {j}", case.index),
                    &got,
                    &read(path),
                );
                checked += 1;
            }
        }
    }
    assert!(
        checked >= COVERED_MODELS.len() * 4,
        "only {checked} outputs were compared"
    );
}

#[test]
fn command_line_path_matches_tflm_on_every_golden_case() {
    let Some(shared) = shared_dir() else { return };
    let out_dir = std::env::temp_dir().join(format!("mote-golden-cli-{}", std::process::id()));
    std::fs::create_dir_all(&out_dir).unwrap();
    for name in COVERED_MODELS {
        let g = golden(&shared, name);
        // Compile once through the CLI, then run the .mote, so both commands are covered.
        let artefact = out_dir.join(format!("{name}.mote"));
        let status = Command::new(env!("CARGO_BIN_EXE_mote"))
            .args([
                "compile".as_ref(),
                g.model.as_os_str(),
                "-o".as_ref(),
                artefact.as_os_str(),
            ])
            .output()
            .unwrap();
        assert!(
            status.status.success(),
            "{name}: mote compile failed: {}",
            String::from_utf8_lossy(&status.stderr)
        );
        for case in &g.cases {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_mote"));
            cmd.arg("run").arg(&artefact);
            for input in &case.inputs {
                cmd.arg("--input").arg(input);
            }
            let outputs: Vec<_> = (0..case.outputs.len())
                .map(|j| out_dir.join(format!("{name}.{}.out{j}.npy", case.index)))
                .collect();
            for output in &outputs {
                cmd.arg("--output").arg(output);
            }
            let result = cmd.output().unwrap();
            assert!(
                result.status.success(),
                "{name} case {}: mote run failed: {}",
                case.index,
                String::from_utf8_lossy(&result.stderr)
            );
            for (j, (got, want)) in outputs.iter().zip(&case.outputs).enumerate() {
                assert_matches(
                    &format!("{name} case {} output {j} (CLI)", case.index),
                    &read(got),
                    &read(want),
                );
            }
        }
    }
    std::fs::remove_dir_all(&out_dir).ok();
}
