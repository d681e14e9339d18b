//! Test support: where the shared reference data is, and what golden cases it holds.
//!
//! The reference models and TFLM's golden outputs live outside the repository, in
//! `../shared` next to the workspace (override with `MOTE_SHARED`). On a machine without
//! them the tests that need them print why they were skipped and pass; with
//! `MOTE_REQUIRE_SHARED` set (as `.ci/run` does) a missing folder is a failure, so CI can
//! never pass without running them.

use std::path::{Path, PathBuf};

/// The shared folder, or `None` (after printing why) when the tests should be skipped.
///
/// Panics, failing the calling test, when the folder is missing and `MOTE_REQUIRE_SHARED`
/// is set.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = match std::env::var_os("MOTE_SHARED") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
    };
    if dir.join("models").is_dir() && dir.join("golden").is_dir() {
        return Some(dir.canonicalize().unwrap_or(dir));
    }
    if std::env::var_os("MOTE_REQUIRE_SHARED").is_some() {
        panic!(
            "reference data not found at {} and MOTE_REQUIRE_SHARED is set (set MOTE_SHARED to its location)",
            dir.display()
        );
    }
    eprintln!(
        "skipped: reference data not found at {} (set MOTE_SHARED)",
        dir.display()
    );
    None
}

/// One golden case: input and output `.npy` files, in order.
#[derive(Debug, Clone)]
pub struct GoldenCase {
    pub index: usize,
    pub inputs: Vec<PathBuf>,
    pub outputs: Vec<PathBuf>,
}

/// A golden folder: the model it belongs to, TFLM's arena, and its cases.
#[derive(Debug, Clone)]
pub struct Golden {
    pub name: String,
    pub model: PathBuf,
    pub tflm_arena_bytes: Option<u64>,
    pub cases: Vec<GoldenCase>,
}

/// Reads `golden/<name>/manifest.json` under `shared` and lists its cases.
pub fn golden(shared: &Path, name: &str) -> Golden {
    let dir = shared.join("golden").join(name);
    let manifest_path = dir.join("manifest.json");
    let text = std::fs::read_to_string(&manifest_path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", manifest_path.display()));
    let manifest: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("parsing {}: {e}", manifest_path.display()));
    let model = shared.join("models").join(
        manifest["model"]
            .as_str()
            .expect("manifest has a model path"),
    );
    let n_inputs = manifest["inputs"].as_array().map_or(0, Vec::len);
    let n_outputs = manifest["outputs"].as_array().map_or(0, Vec::len);
    let cases = manifest["cases"]
        .as_array()
        .expect("manifest lists cases")
        .iter()
        .map(|c| {
            let k = c["case"].as_u64().expect("case number") as usize;
            GoldenCase {
                index: k,
                inputs: (0..n_inputs)
                    .map(|i| dir.join(format!("case_{k}.in{i}.npy")))
                    .collect(),
                outputs: (0..n_outputs)
                    .map(|j| dir.join(format!("case_{k}.out{j}.npy")))
                    .collect(),
            }
        })
        .collect();
    Golden {
        name: name.to_string(),
        model,
        tflm_arena_bytes: manifest["tflm_arena_bytes"].as_u64(),
        cases,
    }
}

/// The golden folders of the models mote's runtime covers (issue #2's list: the MLPerf Tiny
/// reference models, TFLM's hello_world, micro_speech and person_detection, microflow's sine
/// and simple_add), int8 and float32 where both exist.
pub const COVERED_MODELS: &[&str] = &[
    "ad01_int8",
    "ad01_fp32",
    "kws_ref_model",
    "vww_96_int8",
    "vww_96_float",
    "pretrainedResnet_quant",
    "pretrainedResnet",
    "hello_world_int8",
    "hello_world_float",
    "micro_speech_quantized",
    "person_detect",
    "sine",
    "simple_add_model",
];

/// A Python with TFLM's interpreter (`tflite_micro`, the oracle for the `.tflite` files mote
/// writes and for the front end): `MOTE_TFLM_PYTHON` (set by `scripts/test.sh`), the
/// workspace's `target/bench-venv` (made by `bench/run.sh`), or `python3`. `None`, after
/// saying why, when none has it; a panic instead when `MOTE_REQUIRE_TFLM` is set (as
/// `.ci/run` does).
pub fn tflm_python() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = std::env::var_os("MOTE_TFLM_PYTHON") {
        candidates.push(p.into());
    }
    candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-venv/bin/python"));
    candidates.push("python3".into());
    for python in candidates {
        let ok = std::process::Command::new(&python)
            .args(["-c", "import tflite_micro, numpy"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(python);
        }
    }
    if std::env::var_os("MOTE_REQUIRE_TFLM").is_some() {
        panic!("no Python with tflite_micro found (set MOTE_TFLM_PYTHON) and MOTE_REQUIRE_TFLM is set");
    }
    eprintln!("skipped: no Python with tflite_micro found (set MOTE_TFLM_PYTHON)");
    None
}
