//! Bad input to the `mote` binary (issue #2, items 6 and 7): each case must exit non-zero
//! with one line on stderr that names what is wrong — the input's index and file, the dtype or
//! shape expected and found, the operator that is not supported — and must leave nothing in
//! the output folder, not even a temporary file.
//!
//! Most cases use a small hand-built `.mote` model with two inputs, so they run anywhere; the
//! ones that need a real `.tflite` use the shared reference models and are skipped without
//! them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use mote_cli::npy::Array;
use mote_format::params::AddParams;
use mote_format::{DType, Location, ModelBuilder, OpCode, TensorRecord};

/// The shape of both inputs and of the output of [`two_input_model`].
const SHAPE: [usize; 4] = [1, 2, 2, 1];

/// A fresh, empty folder for one test, with an empty `out/` folder inside for outputs.
fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("cli_errors")
        .join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("out")).unwrap();
    dir
}

fn mote(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mote"))
        .args(args.iter().map(|a| a.as_ref()))
        .output()
        .expect("running mote")
}

/// Asserts that `out` is a failure with exactly one line on stderr, `error: …`, that contains
/// every one of `words`; returns the line.
fn one_line_error(out: &Output, words: &[&str]) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "mote succeeded; stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let line = stderr.trim_end();
    assert!(
        !line.contains('\n') && line.starts_with("error: "),
        "not a one-line error:\n{stderr}"
    );
    for word in words {
        assert!(
            line.contains(word),
            "the error does not mention `{word}`: {line}"
        );
    }
    line.to_string()
}

/// Asserts that `dir` holds nothing at all.
fn assert_empty(dir: &Path) {
    let left: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        left.is_empty(),
        "files were left in {}: {left:?}",
        dir.display()
    );
}

/// Int8 ADD of two `[1, 2, 2, 1]` inputs, written to `dir/add.mote`.
fn two_input_model(dir: &Path) -> PathBuf {
    let mut b = ModelBuilder::new();
    let tensor = |offset| TensorRecord {
        dtype: DType::Int8,
        shape: SHAPE.to_vec(),
        location: Location::Arena,
        offset,
        scale: 0.5,
        zero_point: 0,
    };
    let x = b.add_tensor(tensor(0));
    let y = b.add_tensor(tensor(16));
    let sum = b.add_tensor(tensor(32));
    let params = AddParams {
        left_shift: 20,
        input1_multiplier: 1 << 30,
        input2_multiplier: 1 << 30,
        output_multiplier: 1 << 30,
        output_shift: -19,
        act_min: -128,
        act_max: 127,
        ..AddParams::default()
    };
    b.add_op(OpCode::Add, vec![Some(x), Some(y)], vec![sum], &params);
    b.inputs = vec![x, y];
    b.outputs = vec![sum];
    b.arena_bytes = 48;
    let path = dir.join("add.mote");
    std::fs::write(&path, b.finish().unwrap()).unwrap();
    path
}

/// Writes an `.npy` of `dtype` and `shape` (zeros) to `dir/name`.
fn npy(dir: &Path, name: &str, dtype: DType, shape: &[usize]) -> PathBuf {
    let elements: usize = shape.iter().product();
    let a = Array {
        dtype,
        shape: shape.to_vec(),
        bytes: vec![0; elements * dtype.size()],
    };
    let path = dir.join(name);
    std::fs::write(&path, a.to_npy().unwrap()).unwrap();
    path
}

/// A shared `.tflite` model, or `None` (the test is skipped) without the shared data.
fn shared_model(path: &str) -> Option<PathBuf> {
    Some(mote_testdata::shared_dir()?.join("models").join(path))
}

const HELLO_WORLD: &str = "tflm_examples/hello_world/hello_world_int8.tflite";

#[test]
fn wrong_input_dtype_names_the_input_the_file_and_both_dtypes() {
    let dir = scratch("dtype");
    let model = two_input_model(&dir);
    let a = npy(&dir, "a.npy", DType::Int8, &SHAPE);
    let b = npy(&dir, "b_float.npy", DType::Float32, &SHAPE);
    let out = dir.join("out/sum.npy");
    let result = mote(&[
        &"run",
        &model,
        &"--input",
        &a,
        &"--input",
        &b,
        &"--output",
        &out,
    ]);
    one_line_error(&result, &["input 1", "b_float.npy", "int8", "float32"]);
    assert_empty(&dir.join("out"));
}

#[test]
fn wrong_input_shape_names_the_input_the_file_and_both_shapes() {
    let dir = scratch("shape");
    let model = two_input_model(&dir);
    let a = npy(&dir, "a_wide.npy", DType::Int8, &[1, 2, 2, 3]);
    let b = npy(&dir, "b.npy", DType::Int8, &SHAPE);
    let out = dir.join("out/sum.npy");
    let result = mote(&[&"run", &model, &"-i", &a, &"-i", &b, &"-o", &out]);
    one_line_error(
        &result,
        &["input 0", "a_wide.npy", "[1, 2, 2, 1]", "[1, 2, 2, 3]"],
    );
    assert_empty(&dir.join("out"));
}

#[test]
fn missing_input_file_is_named() {
    let dir = scratch("missing");
    let model = two_input_model(&dir);
    let a = npy(&dir, "a.npy", DType::Int8, &SHAPE);
    let out = dir.join("out/sum.npy");
    let result = mote(&[
        &"run",
        &model,
        &"-i",
        &a,
        &"-i",
        &dir.join("nowhere.npy"),
        &"-o",
        &out,
    ]);
    one_line_error(&result, &["nowhere.npy"]);
    assert_empty(&dir.join("out"));
}

#[test]
fn input_that_is_not_npy_is_named() {
    let dir = scratch("not_npy");
    let model = two_input_model(&dir);
    let a = npy(&dir, "a.npy", DType::Int8, &SHAPE);
    let text = dir.join("notes.txt");
    std::fs::write(&text, "not an array\n").unwrap();
    let result = mote(&[
        &"run",
        &model,
        &"-i",
        &a,
        &"-i",
        &text,
        &"-o",
        &dir.join("out/sum.npy"),
    ]);
    one_line_error(&result, &["notes.txt", ".npy"]);
    assert_empty(&dir.join("out"));
}

#[test]
fn too_few_or_too_many_inputs_give_both_counts() {
    let dir = scratch("input_count");
    let model = two_input_model(&dir);
    let a = npy(&dir, "a.npy", DType::Int8, &SHAPE);
    let out = dir.join("out/sum.npy");
    let result = mote(&[&"run", &model, &"-i", &a, &"-o", &out]);
    one_line_error(&result, &["2 input(s)", "1 --input"]);
    let result = mote(&[&"run", &model, &"-i", &a, &"-i", &a, &"-i", &a, &"-o", &out]);
    one_line_error(&result, &["2 input(s)", "3 --input"]);
    let result = mote(&[&"run", &model]);
    one_line_error(&result, &["2 input(s)", "0 --input"]);
    assert_empty(&dir.join("out"));
}

#[test]
fn output_count_mismatch_gives_both_counts_and_writes_nothing() {
    let dir = scratch("output_count");
    let model = two_input_model(&dir);
    let a = npy(&dir, "a.npy", DType::Int8, &SHAPE);
    let (o1, o2) = (dir.join("out/one.npy"), dir.join("out/two.npy"));
    let result = mote(&[&"run", &model, &"-i", &a, &"-i", &a, &"-o", &o1, &"-o", &o2]);
    one_line_error(&result, &["1 output(s)", "2 --output"]);
    assert_empty(&dir.join("out"));
}

#[test]
fn corrupt_mote_is_refused_by_its_checksum_or_its_structure() {
    let dir = scratch("corrupt_mote");
    let model = two_input_model(&dir);
    let a = npy(&dir, "a.npy", DType::Int8, &SHAPE);
    let mut bytes = std::fs::read(&model).unwrap();

    // One flipped bit anywhere after the header is caught by the checksum.
    let flipped = dir.join("flipped.mote");
    let mut f = bytes.clone();
    f[100] ^= 0x10;
    std::fs::write(&flipped, &f).unwrap();
    for result in [
        mote(&[&"inspect", &flipped]),
        mote(&[
            &"run",
            &flipped,
            &"-i",
            &a,
            &"-i",
            &a,
            &"-o",
            &dir.join("out/sum.npy"),
        ]),
    ] {
        one_line_error(&result, &["flipped.mote", "checksum"]);
    }

    // With the checksum re-stamped, an unknown opcode is caught by the structural checks.
    let ops_offset = u32::from_le_bytes(bytes[32..36].try_into().unwrap()) as usize;
    bytes[ops_offset..ops_offset + 2].copy_from_slice(&77u16.to_le_bytes());
    let crc = crc32(&bytes[16..]);
    bytes[12..16].copy_from_slice(&crc.to_le_bytes());
    let restamped = dir.join("restamped.mote");
    std::fs::write(&restamped, &bytes).unwrap();
    for result in [
        mote(&[&"inspect", &restamped]),
        mote(&[
            &"run",
            &restamped,
            &"-i",
            &a,
            &"-i",
            &a,
            &"-o",
            &dir.join("out/sum.npy"),
        ]),
    ] {
        one_line_error(&result, &["restamped.mote", "operator 0", "opcode"]);
    }
    assert_empty(&dir.join("out"));
}

/// CRC-32 (IEEE), as the `.mote` header uses; a few lines here instead of a dev-dependency.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

#[test]
fn file_that_is_no_model_is_named() {
    let dir = scratch("not_a_model");
    let text = dir.join("readme.txt");
    std::fs::write(&text, "hello, I am not a model\n").unwrap();
    one_line_error(&mote(&[&"inspect", &text]), &["readme.txt", "neither"]);
    one_line_error(
        &mote(&[&"compile", &text, &"-o", &dir.join("out/m.mote")]),
        &["readme.txt"],
    );
    assert_empty(&dir.join("out"));
}

#[test]
fn truncated_tflite_is_refused_and_compiles_to_nothing() {
    let Some(source) = shared_model(HELLO_WORLD) else {
        return;
    };
    let dir = scratch("truncated_tflite");
    let bytes = std::fs::read(source).unwrap();
    let truncated = dir.join("truncated.tflite");
    for keep in [bytes.len() / 2, bytes.len() - 1, 9] {
        std::fs::write(&truncated, &bytes[..keep]).unwrap();
        one_line_error(&mote(&[&"inspect", &truncated]), &["truncated.tflite"]);
        let result = mote(&[&"compile", &truncated, &"-o", &dir.join("out/m.mote")]);
        one_line_error(&result, &["truncated.tflite"]);
    }
    assert_empty(&dir.join("out"));
}

#[test]
fn unsupported_operator_is_named() {
    let Some(lstm) = shared_model("tflm_examples/mnist_lstm/trained_lstm.tflite") else {
        return;
    };
    let dir = scratch("unsupported");
    let result = mote(&[&"compile", &lstm, &"-o", &dir.join("out/lstm.mote")]);
    one_line_error(
        &result,
        &[
            "trained_lstm.tflite",
            "UNIDIRECTIONAL_SEQUENCE_LSTM",
            "not supported",
        ],
    );
    one_line_error(
        &mote(&[&"inspect", &lstm]),
        &["UNIDIRECTIONAL_SEQUENCE_LSTM"],
    );
    assert_empty(&dir.join("out"));
}

#[test]
fn inspect_json_is_one_object_with_integer_arena_bytes() {
    let dir = scratch("inspect_json");
    let mut models = vec![two_input_model(&dir)];
    models.extend(shared_model(HELLO_WORLD));
    for model in models {
        let out = mote(&[&"inspect", &model, &"--json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert_eq!(
            stdout.trim_end().lines().count(),
            1,
            "not one line: {stdout}"
        );
        let value: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON value");
        assert!(value.is_object(), "{value}");
        assert!(
            value["arena_bytes"].as_u64().is_some_and(|n| n > 0),
            "arena_bytes: {}",
            value["arena_bytes"]
        );
        assert_eq!(
            value["inputs"].as_array().map(Vec::len),
            Some(if model.ends_with("add.mote") { 2 } else { 1 })
        );
    }
}

#[test]
fn run_prints_outputs_without_output_files_and_writes_only_them_with() {
    let dir = scratch("run_ok");
    let model = two_input_model(&dir);
    let a = npy(&dir, "a.npy", DType::Int8, &SHAPE);
    let out = mote(&[&"run", &model, &"-i", &a, &"-i", &a]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.starts_with("output 0: int8 [1, 2, 2, 1] [0, 0, 0, 0]"),
        "{stdout}"
    );

    let written = dir.join("out/sum.npy");
    let out = mote(&[&"run", &model, &"-i", &a, &"-i", &a, &"-o", &written]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let left: Vec<_> = std::fs::read_dir(dir.join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["sum.npy"]);
    let result = mote_cli::npy::read(&written).unwrap();
    assert_eq!(
        (result.dtype, result.shape.as_slice()),
        (DType::Int8, &SHAPE[..])
    );
}

#[test]
fn compile_writes_only_its_output() {
    let Some(source) = shared_model(HELLO_WORLD) else {
        return;
    };
    let dir = scratch("compile_ok");
    let target = dir.join("out/hello.mote");
    let out = mote(&[&"compile", &source, &"-o", &target]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let left: Vec<_> = std::fs::read_dir(dir.join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["hello.mote"]);
    // A .mote cannot be compiled again; the error says so and writes nothing.
    let again = dir.join("out/again.mote");
    one_line_error(
        &mote(&[&"compile", &target, &"-o", &again]),
        &["hello.mote", "already"],
    );
    assert!(!again.exists());
}

/// `--kernels reference` with the interpreter is refused before anything is built: the
/// interpreter links the core's own kernels, so the flag would change nothing.
#[test]
fn reference_kernels_with_the_interpreter_are_refused() {
    let out = mote(&[
        &"bench",
        &"model.tflite",
        &"--board",
        &"mps2-an386",
        &"--kernels",
        &"reference",
    ]);
    one_line_error(&out, &["--kernels reference", "--runtime compiled"]);
}
