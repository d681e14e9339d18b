//! Imports the real models in the shared reference folder (`$MOTE_SHARED/models`, see its
//! README.md): operator counts and I/O as the README lists them, quantization details, models
//! mote cannot run, and corrupt files (truncated, bit-flipped) that must be errors, not panics.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use mote_ir::{DType, Graph, Op};
use mote_testdata::shared_dir as shared;
use mote_tflite::{import, TfliteError};

fn read(shared: &Path, model: &str) -> Vec<u8> {
    let path = shared.join("models").join(model);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn load(shared: &Path, model: &str) -> Graph {
    import(&read(shared, model)).unwrap_or_else(|e| panic!("{model}: {e}"))
}

/// dtype, shape, and (scale, zero point) when quantized.
type Io = (DType, &'static [usize], Option<(f32, i64)>);

struct Expected {
    model: &'static str,
    ops: &'static [(&'static str, usize)],
    inputs: &'static [Io],
    outputs: &'static [Io],
}

const I8: DType = DType::Int8;
const F32: DType = DType::Float32;

/// From the shared README's model list (vww_96_float and pretrainedResnet, which it lists
/// without details, were read independently with `flatc --json`).
const EXPECTED: &[Expected] = &[
    Expected {
        model: "mlperf_tiny/kws/kws_ref_model.tflite",
        ops: &[
            ("AVERAGE_POOL_2D", 1),
            ("CONV_2D", 5),
            ("DEPTHWISE_CONV_2D", 4),
            ("FULLY_CONNECTED", 1),
            ("RESHAPE", 1),
            ("SOFTMAX", 1),
        ],
        inputs: &[(I8, &[1, 49, 10, 1], Some((0.584703, 83)))],
        outputs: &[(I8, &[1, 12], Some((0.00390625, -128)))],
    },
    Expected {
        model: "mlperf_tiny/vww/vww_96_int8.tflite",
        ops: &[
            ("AVERAGE_POOL_2D", 1),
            ("CONV_2D", 14),
            ("DEPTHWISE_CONV_2D", 13),
            ("FULLY_CONNECTED", 1),
            ("RESHAPE", 1),
            ("SOFTMAX", 1),
        ],
        inputs: &[(I8, &[1, 96, 96, 3], Some((0.00392157, -128)))],
        outputs: &[(I8, &[1, 2], Some((0.00390625, -128)))],
    },
    Expected {
        model: "mlperf_tiny/vww/vww_96_float.tflite",
        ops: &[
            ("AVERAGE_POOL_2D", 1),
            ("CONV_2D", 14),
            ("DEPTHWISE_CONV_2D", 13),
            ("FULLY_CONNECTED", 1),
            ("RESHAPE", 1),
            ("SOFTMAX", 1),
        ],
        inputs: &[(F32, &[1, 96, 96, 3], None)],
        outputs: &[(F32, &[1, 2], None)],
    },
    Expected {
        model: "mlperf_tiny/ic/pretrainedResnet_quant.tflite",
        ops: &[
            ("ADD", 3),
            ("AVERAGE_POOL_2D", 1),
            ("CONV_2D", 9),
            ("FULLY_CONNECTED", 1),
            ("RESHAPE", 1),
            ("SOFTMAX", 1),
        ],
        inputs: &[(I8, &[1, 32, 32, 3], Some((1.0, -128)))],
        outputs: &[(I8, &[1, 10], Some((0.00390625, -128)))],
    },
    Expected {
        model: "mlperf_tiny/ic/pretrainedResnet.tflite",
        ops: &[
            ("ADD", 3),
            ("AVERAGE_POOL_2D", 1),
            ("CONV_2D", 9),
            ("FULLY_CONNECTED", 1),
            ("RESHAPE", 1),
            ("SOFTMAX", 1),
        ],
        inputs: &[(F32, &[1, 32, 32, 3], None)],
        outputs: &[(F32, &[1, 10], None)],
    },
    Expected {
        model: "mlperf_tiny/ad/ad01_int8.tflite",
        ops: &[("FULLY_CONNECTED", 10)],
        inputs: &[(I8, &[1, 640], Some((0.391015, 89)))],
        outputs: &[(I8, &[1, 640], Some((0.364498, 96)))],
    },
    Expected {
        model: "mlperf_tiny/ad/ad01_fp32.tflite",
        ops: &[("FULLY_CONNECTED", 10)],
        inputs: &[(F32, &[1, 640], None)],
        outputs: &[(F32, &[1, 640], None)],
    },
    Expected {
        model: "tflm_examples/person_detection/person_detect.tflite",
        ops: &[
            ("AVERAGE_POOL_2D", 1),
            ("CONV_2D", 14),
            ("DEPTHWISE_CONV_2D", 14),
            ("RESHAPE", 1),
            ("SOFTMAX", 1),
        ],
        inputs: &[(I8, &[1, 96, 96, 1], Some((0.00784314, -1)))],
        outputs: &[(I8, &[1, 2], Some((0.00390625, -128)))],
    },
    Expected {
        model: "tflm_examples/micro_speech/micro_speech_quantized.tflite",
        ops: &[
            ("DEPTHWISE_CONV_2D", 1),
            ("FULLY_CONNECTED", 1),
            ("RESHAPE", 1),
            ("SOFTMAX", 1),
        ],
        inputs: &[(I8, &[1, 1960], Some((0.101716, -128)))],
        outputs: &[(I8, &[1, 4], Some((0.00390625, -128)))],
    },
    Expected {
        model: "tflm_examples/hello_world/hello_world_int8.tflite",
        ops: &[("FULLY_CONNECTED", 3)],
        inputs: &[(I8, &[1, 1], Some((0.0244801, -128)))],
        outputs: &[(I8, &[1, 1], Some((0.00829096, 5)))],
    },
    Expected {
        model: "tflm_examples/hello_world/hello_world_float.tflite",
        ops: &[("FULLY_CONNECTED", 3)],
        inputs: &[(F32, &[1, 1], None)],
        outputs: &[(F32, &[1, 1], None)],
    },
    Expected {
        model: "tflm_examples/memory_footprint/simple_add_model.tflite",
        ops: &[("ADD", 1)],
        inputs: &[
            (I8, &[1, 128, 128, 1], Some((0.0407254, -2))),
            (I8, &[1, 128, 128, 1], Some((0.0412456, -1))),
        ],
        outputs: &[(I8, &[1, 128, 128, 1], Some((0.0583774, -3)))],
    },
    Expected {
        model: "microflow/models/sine.tflite",
        ops: &[("FULLY_CONNECTED", 3)],
        inputs: &[(I8, &[1, 1], Some((0.024574, -128)))],
        outputs: &[(I8, &[1, 1], Some((0.00826967, 7)))],
    },
];

fn check_io(model: &str, what: &str, g: &Graph, ids: &[usize], want: &[Io]) {
    assert_eq!(ids.len(), want.len(), "{model}: number of {what}s");
    for (&id, (dtype, shape, quant)) in ids.iter().zip(want) {
        let t = &g.tensors[id];
        assert_eq!(
            (t.dtype, t.shape.as_slice()),
            (*dtype, *shape),
            "{model}: {what} `{}`",
            t.name
        );
        match (quant, &t.quant) {
            (None, None) => {}
            (Some((scale, zp)), Some(q)) => {
                assert!(
                    q.is_per_tensor(),
                    "{model}: {what} `{}` is per-channel",
                    t.name
                );
                // The README prints six significant digits.
                assert!(
                    ((q.scale[0] - scale) / scale).abs() < 2e-5,
                    "{model}: {what} scale {} vs {scale}",
                    q.scale[0]
                );
                assert_eq!(q.zero_point[0], *zp, "{model}: {what} zero point");
            }
            (want, got) => panic!(
                "{model}: {what} `{}` quantization {got:?}, expected {want:?}",
                t.name
            ),
        }
    }
}

#[test]
fn reference_models_import_with_readme_operators_and_io() {
    let Some(shared) = shared() else { return };
    for e in EXPECTED {
        let g = load(&shared, e.model);
        let mut ops = BTreeMap::new();
        for n in &g.nodes {
            *ops.entry(n.op.name()).or_insert(0usize) += 1;
        }
        let want: BTreeMap<&str, usize> = e.ops.iter().copied().collect();
        assert_eq!(ops, want, "{}: operators", e.model);
        check_io(e.model, "input", &g, &g.inputs, e.inputs);
        check_io(e.model, "output", &g, &g.outputs, e.outputs);
        // Every weight of a quantized model arrives as constant data of the right length.
        for t in &g.tensors {
            if let Some(d) = &t.data {
                assert_eq!(d.len(), t.byte_len(), "{}: tensor `{}`", e.model, t.name);
            }
        }
    }
}

/// Filters of CONV_2D are `[out_c, kh, kw, in_c]` with one scale per output channel along
/// axis 0; DEPTHWISE_CONV_2D filters `[1, kh, kw, out_c]` along axis 3; biases along axis 0.
fn assert_per_channel_filters(model: &str, g: &Graph) -> usize {
    let mut checked = 0;
    for (n, node) in g.nodes.iter().enumerate() {
        let axis = match node.op {
            Op::Conv2d(_) => 0,
            Op::DepthwiseConv2d(_) => 3,
            _ => continue,
        };
        let filter = &g.tensors[node.inputs[1].unwrap()];
        let out_c = filter.shape[axis];
        let q = filter
            .quant
            .as_ref()
            .unwrap_or_else(|| panic!("{model}: node {n} filter unquantized"));
        assert_eq!(
            (q.scale.len(), q.zero_point.len(), q.axis),
            (out_c, out_c, axis),
            "{model}: node {n} filter `{}`",
            filter.name
        );
        assert!(
            q.zero_point.iter().all(|&z| z == 0),
            "{model}: filters are symmetric"
        );
        let bias = &g.tensors[node.inputs[2].unwrap()];
        let qb = bias.quant.as_ref().unwrap();
        assert_eq!(
            (bias.dtype, bias.shape.as_slice(), qb.scale.len(), qb.axis),
            (DType::Int32, &[out_c][..], out_c, 0)
        );
        checked += 1;
    }
    checked
}

#[test]
fn per_channel_quantization_has_one_scale_per_output_channel() {
    let Some(shared) = shared() else { return };
    for (model, convs) in [
        ("mlperf_tiny/kws/kws_ref_model.tflite", 9),
        ("mlperf_tiny/vww/vww_96_int8.tflite", 27),
        ("mlperf_tiny/ic/pretrainedResnet_quant.tflite", 9),
        // Its depthwise biases say quantized_dimension 3 on a 1-D tensor; that must read as 0.
        ("tflm_examples/person_detection/person_detect.tflite", 28),
    ] {
        let g = load(&shared, model);
        assert_eq!(assert_per_channel_filters(model, &g), convs, "{model}");
    }
    // A conv filter seen up close: kws' first conv is 64 filters of 10x4 over 1 channel.
    let g = load(&shared, "mlperf_tiny/kws/kws_ref_model.tflite");
    let first = &g.tensors[g.nodes[0].inputs[1].unwrap()];
    assert_eq!(first.shape, [64, 10, 4, 1]);
    assert_eq!(first.quant.as_ref().unwrap().scale.len(), 64);
}

#[test]
fn micro_speech_depthwise_has_depth_multiplier_8() {
    let Some(shared) = shared() else { return };
    let g = load(
        &shared,
        "tflm_examples/micro_speech/micro_speech_quantized.tflite",
    );
    let dw: Vec<_> = g
        .nodes
        .iter()
        .filter_map(|n| {
            if let Op::DepthwiseConv2d(a) = &n.op {
                Some(a)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(dw.len(), 1);
    assert_eq!((dw[0].depth_multiplier, dw[0].stride), (8, [2, 2]));
}

#[test]
fn unsupported_models_name_the_operator() {
    let Some(shared) = shared() else { return };
    for (model, index, op) in [
        (
            "tflm_examples/mnist_lstm/trained_lstm.tflite",
            0,
            "UNIDIRECTIONAL_SEQUENCE_LSTM",
        ),
        (
            "tflm_examples/micro_speech/audio_preprocessor_int8.tflite",
            0,
            "CUSTOM:SignalWindow",
        ),
        (
            "tflm_examples/person_detection/person_detect_vela.tflite",
            0,
            "CUSTOM:ethos-u",
        ),
        ("tflm_examples/models/keyword_scrambled.tflite", 1, "SVDF"),
    ] {
        match import(&read(&shared, model)) {
            Err(e @ TfliteError::UnsupportedOperator { .. }) => {
                let msg = e.to_string();
                let TfliteError::UnsupportedOperator { index: i, op: o } = e else {
                    unreachable!()
                };
                assert_eq!((i, o.as_str()), (index, op), "{model}");
                assert!(
                    msg.starts_with(&format!(
                        "operator #{index} ({op}): not supported by mote (supported: CONV_2D, "
                    )),
                    "{msg}"
                );
            }
            Err(e) => panic!("{model}: unexpected error {e}"),
            Ok(_) => panic!("{model}: imported"),
        }
    }
}

/// Imports `bytes`, turning a panic into a test failure that says which corruption caused it.
fn import_must_not_panic(bytes: &[u8], what: &dyn Fn() -> String) {
    if catch_unwind(AssertUnwindSafe(|| {
        let _ = import(bytes);
    }))
    .is_err()
    {
        panic!("import panicked on {}", what());
    }
}

const CORRUPTED: &[&str] = &[
    "tflm_examples/hello_world/hello_world_int8.tflite",
    "tflm_examples/memory_footprint/simple_add_model.tflite",
    "tflm_examples/micro_speech/micro_speech_quantized.tflite",
    "mlperf_tiny/kws/kws_ref_model.tflite",
    "tflm_examples/person_detection/person_detect.tflite",
];

#[test]
fn truncated_files_are_errors_not_panics() {
    let Some(shared) = shared() else { return };
    for model in CORRUPTED {
        let bytes = read(&shared, model);
        let step = (bytes.len() / 97).max(1);
        for len in (0..bytes.len()).step_by(step) {
            import_must_not_panic(&bytes[..len], &|| format!("{model} cut to {len} bytes"));
        }
    }
}

#[test]
fn bit_flipped_files_never_panic() {
    let Some(shared) = shared() else { return };
    // xorshift64*, fixed seed: the same mutations on every run.
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    for model in CORRUPTED {
        let original = read(&shared, model);
        let mut bytes = original.clone();
        for round in 0..300 {
            // Weight data dominates the bigger files, so half the flips go to the last 4 KiB,
            // where converters put the tables.
            let len = bytes.len();
            let tail = len.min(4096);
            let at = if round % 2 == 0 {
                (next() as usize) % len
            } else {
                len - tail + (next() as usize) % tail
            };
            let mask = (next() as u8) | 1;
            bytes[at] ^= mask;
            import_must_not_panic(&bytes, &|| {
                format!("{model} with byte {at} xor {mask:#04x}")
            });
            bytes[at] = original[at];
        }
    }
}

#[test]
fn every_shared_model_imports_or_errors_cleanly() {
    let Some(shared) = shared() else { return };
    let mut stack = vec![shared.join("models")];
    let (mut ok, mut err) = (0, 0);
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "tflite") {
                let bytes = std::fs::read(&path).unwrap();
                let result = catch_unwind(AssertUnwindSafe(|| import(&bytes)))
                    .unwrap_or_else(|_| panic!("import panicked on {}", path.display()));
                match result {
                    Ok(_) => ok += 1,
                    Err(e) => {
                        let msg = e.to_string();
                        assert!(
                            !msg.is_empty() && !msg.contains('\n'),
                            "{}: {msg:?}",
                            path.display()
                        );
                        err += 1;
                    }
                }
            }
        }
    }
    assert!(ok >= EXPECTED.len(), "{ok} models imported, {err} refused");
}
