//! Shared pieces of mote's benchmarks (issue #2): loading a covered model with its first
//! golden case, checking that mote's output still equals TFLM's before anything is timed,
//! and the memory table that compares mote's arena with its lower bound and with TFLM's
//! (64-bit host from the golden manifests, Cortex-M4 from `anchors/tflm_qemu_m4.json`).
//! The timing itself lives in `benches/models.rs`; the table is printed by `arena-report`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use mote_cli::npy::{self, Array};
use mote_compiler::Compiled;
use mote_format::{AlignedBytes, DType};
use mote_runtime::Interpreter;
use mote_testdata::Golden;

/// float32 outputs may differ from TFLM's by this much relative to the output's scale — the
/// same tolerance as the golden tests.
const FLOAT_RELATIVE_TOLERANCE: f32 = 1e-5;

/// What can go wrong while preparing or checking a benchmark.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{model}: {step}: {message}")]
    Load {
        model: String,
        step: &'static str,
        message: String,
    },
    #[error("{model}: output {output} differs from TFLM's golden output: {detail}")]
    Mismatch {
        model: String,
        output: usize,
        detail: String,
    },
    #[error("reading {path}: {message}")]
    Anchors { path: PathBuf, message: String },
}

fn load_error(model: &str, step: &'static str, message: impl ToString) -> Error {
    Error::Load {
        model: model.to_string(),
        step,
        message: message.to_string(),
    }
}

/// A covered model compiled by mote, with golden case 0's inputs and TFLM's outputs for them.
pub struct Prepared {
    pub golden: Golden,
    pub compiled: Compiled,
    pub inputs: Vec<Array>,
    pub expected: Vec<Array>,
}

impl Prepared {
    /// Imports and compiles the model of `shared/golden/<name>` and reads its case 0.
    pub fn load(shared: &Path, name: &str) -> Result<Self, Error> {
        let golden = mote_testdata::golden(shared, name);
        let tflite = std::fs::read(&golden.model).map_err(|e| {
            load_error(
                name,
                "reading the model",
                format!("{}: {e}", golden.model.display()),
            )
        })?;
        let graph = mote_tflite::import(&tflite).map_err(|e| load_error(name, "import", e))?;
        let compiled =
            mote_compiler::compile(&graph).map_err(|e| load_error(name, "compile", e))?;
        let case = golden
            .cases
            .first()
            .ok_or_else(|| load_error(name, "golden", "the manifest lists no cases"))?;
        let read_all = |paths: &[PathBuf]| -> Result<Vec<Array>, Error> {
            paths
                .iter()
                .map(|p| {
                    npy::read(p)
                        .map_err(|e| load_error(name, "golden", format!("{}: {e:#}", p.display())))
                })
                .collect()
        };
        let inputs = read_all(&case.inputs)?;
        let expected = read_all(&case.outputs)?;
        Ok(Prepared {
            golden,
            compiled,
            inputs,
            expected,
        })
    }

    pub fn name(&self) -> &str {
        &self.golden.name
    }

    /// The `.mote` artefact, aligned as [`mote_format::Model::from_bytes`] needs.
    pub fn artefact(&self) -> AlignedBytes {
        AlignedBytes::new(&self.compiled.bytes)
    }

    /// Copies case 0's inputs into the interpreter's input tensors.
    pub fn set_inputs(&self, interpreter: &mut Interpreter) -> Result<(), Error> {
        for (i, input) in self.inputs.iter().enumerate() {
            let slot = interpreter
                .input_bytes_mut(i)
                .map_err(|e| load_error(self.name(), "input", e))?;
            if slot.len() != input.bytes.len() {
                return Err(load_error(
                    self.name(),
                    "input",
                    format!(
                        "input {i} holds {} bytes, the golden file {}",
                        slot.len(),
                        input.bytes.len()
                    ),
                ));
            }
            slot.copy_from_slice(&input.bytes);
        }
        Ok(())
    }

    /// Compares the interpreter's outputs (after an invoke on case 0) with TFLM's: int8 byte
    /// for byte, float32 within the golden tests' tolerance.
    pub fn check_outputs(&self, interpreter: &Interpreter) -> Result<(), Error> {
        for (j, want) in self.expected.iter().enumerate() {
            let mismatch = |detail: String| Error::Mismatch {
                model: self.name().to_string(),
                output: j,
                detail,
            };
            let got = interpreter
                .output_bytes(j)
                .map_err(|e| mismatch(e.to_string()))?;
            if let Some(detail) = compare(want.dtype, got, &want.bytes) {
                return Err(mismatch(detail));
            }
        }
        Ok(())
    }
}

/// `None` when `got` matches `want`, else what differs first.
fn compare(dtype: DType, got: &[u8], want: &[u8]) -> Option<String> {
    if got.len() != want.len() {
        return Some(format!("{} bytes instead of {}", got.len(), want.len()));
    }
    if dtype != DType::Float32 {
        let i = got.iter().zip(want).position(|(a, b)| a != b)?;
        return Some(format!("byte {i} is {}, TFLM gave {}", got[i], want[i]));
    }
    let floats = |b: &[u8]| -> Vec<f32> {
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    };
    let (g, w) = (floats(got), floats(want));
    let scale = w
        .iter()
        .fold(0f32, |m, v| m.max(v.abs()))
        .max(f32::MIN_POSITIVE);
    g.iter().zip(&w).enumerate().find_map(|(i, (a, b))| {
        let ok = (a - b).abs() <= FLOAT_RELATIVE_TOLERANCE * b.abs().max(scale * 1e-2);
        (!ok).then(|| format!("element {i} is {a}, TFLM gave {b}"))
    })
}

/// TFLM's arena on the emulated Cortex-M4 (reference kernels, the smallest arena with which
/// the model allocates and runs), by model path under `shared/models`.
pub fn m4_arenas(shared: &Path) -> Result<HashMap<String, u64>, Error> {
    let path = shared.join("anchors").join("tflm_qemu_m4.json");
    let fail = |message: String| Error::Anchors {
        path: path.clone(),
        message,
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
        Err(e) => return Err(fail(e.to_string())),
    };
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| fail(e.to_string()))?;
    parse_m4_arenas(&json).map_err(fail)
}

fn parse_m4_arenas(json: &serde_json::Value) -> Result<HashMap<String, u64>, String> {
    let entries = json.as_object().ok_or("not a JSON object")?;
    let mut arenas = HashMap::new();
    // Every key but `_about` is one model: {"model": path, "reference": {...}, "cmsis_nn": {...}}.
    for (key, entry) in entries.iter().filter(|(k, _)| !k.starts_with('_')) {
        let model = entry["model"]
            .as_str()
            .ok_or_else(|| format!("{key}: no model path"))?;
        let bytes = entry["reference"]["min_arena_bytes"]
            .as_u64()
            .ok_or_else(|| format!("{key}: no reference.min_arena_bytes"))?;
        arenas.insert(model.to_string(), bytes);
    }
    Ok(arenas)
}

/// One line of the memory table.
#[derive(Debug, Clone, PartialEq)]
pub struct ArenaRow {
    pub model: String,
    pub arena_bytes: usize,
    pub lower_bound: usize,
    pub tflm_host_bytes: Option<u64>,
    pub tflm_m4_bytes: Option<u64>,
    pub const_bytes: usize,
    pub macs: u64,
}

impl ArenaRow {
    pub fn new(prepared: &Prepared, m4: &HashMap<String, u64>, shared: &Path) -> Self {
        let report = &prepared.compiled.report;
        let model_path = prepared
            .golden
            .model
            .strip_prefix(shared.join("models"))
            .unwrap_or(&prepared.golden.model);
        ArenaRow {
            model: prepared.name().to_string(),
            arena_bytes: report.arena_bytes,
            lower_bound: report.lower_bound,
            tflm_host_bytes: prepared.golden.tflm_arena_bytes,
            tflm_m4_bytes: m4
                .get(&model_path.to_string_lossy().replace('\\', "/"))
                .copied(),
            const_bytes: report.const_bytes,
            macs: report.total_macs,
        }
    }
}

/// The memory table as markdown.
pub fn arena_table(rows: &[ArenaRow]) -> String {
    let mut out = String::from(
        "| model | mote arena | lower bound | arena / lower bound | TFLM arena, 64-bit host | TFLM arena, Cortex-M4 | mote / TFLM M4 | mote / TFLM host | weights (const bytes) | MACs |\n\
         |---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n",
    );
    let dash = || "—".to_string();
    for r in rows {
        let arena = r.arena_bytes as f64;
        let vs = |tflm: Option<u64>| tflm.map_or_else(dash, |t| ratio(arena, t as f64));
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.model,
            thousands(r.arena_bytes as u64),
            thousands(r.lower_bound as u64),
            ratio(arena, r.lower_bound as f64),
            r.tflm_host_bytes.map_or_else(dash, thousands),
            r.tflm_m4_bytes.map_or_else(dash, thousands),
            vs(r.tflm_m4_bytes),
            vs(r.tflm_host_bytes),
            thousands(r.const_bytes as u64),
            thousands(r.macs),
        ));
    }
    out
}

fn ratio(a: f64, b: f64) -> String {
    if b == 0.0 {
        "—".to_string()
    } else {
        format!("{:.3}", a / b)
    }
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(43_114_753), "43,114,753");
    }

    #[test]
    fn m4_anchor_uses_reference_minimum_arena_and_skips_about() {
        let json = serde_json::json!({
            "_about": {"what": "x"},
            "kws": {"model": "mlperf_tiny/kws/kws.tflite",
                    "reference": {"arena_used_bytes": 10, "min_arena_bytes": 12},
                    "cmsis_nn": {"arena_used_bytes": 11, "min_arena_bytes": 13}}
        });
        let arenas = parse_m4_arenas(&json).unwrap();
        assert_eq!(arenas.len(), 1);
        assert_eq!(arenas["mlperf_tiny/kws/kws.tflite"], 12);
        assert!(parse_m4_arenas(&serde_json::json!({"m": {"model": "a"}})).is_err());
    }

    #[test]
    fn comparison_is_exact_for_int8_and_tolerant_for_float() {
        assert_eq!(compare(DType::Int8, &[1, 2], &[1, 2]), None);
        assert!(compare(DType::Int8, &[1, 3], &[1, 2])
            .unwrap()
            .contains("byte 1"));
        let f = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        assert_eq!(
            compare(DType::Float32, &f(&[1.0, 2.0]), &f(&[1.0, 2.000001])),
            None
        );
        assert!(compare(DType::Float32, &f(&[1.0, 2.1]), &f(&[1.0, 2.0])).is_some());
    }

    #[test]
    fn table_marks_missing_tflm_figures() {
        let row = ArenaRow {
            model: "m".into(),
            arena_bytes: 1500,
            lower_bound: 1000,
            tflm_host_bytes: Some(3000),
            tflm_m4_bytes: None,
            const_bytes: 2048,
            macs: 1_000_000,
        };
        let table = arena_table(&[row]);
        assert!(
            table.contains(
                "| m | 1,500 | 1,000 | 1.500 | 3,000 | — | — | 0.500 | 2,048 | 1,000,000 |"
            ),
            "{table}"
        );
    }
}
