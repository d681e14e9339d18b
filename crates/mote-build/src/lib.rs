//! Embedding a model in firmware, from the firmware's `build.rs`.
//!
//! [`Embed`] takes a model (a `.tflite`, compiled here with mote's importer and compiler, or a
//! ready `.mote`), the board's limits and, for benchmarking, test inputs; it writes into
//! `OUT_DIR` the `.mote` bytes and a Rust module that the firmware `include!`s: the bytes in a
//! 16-byte-aligned static, `ARENA_BYTES`, the inputs' and outputs' dtypes, shapes and
//! quantization, and the test inputs with the outputs that mote's runtime computes for them
//! on the host (so the device can check itself byte for byte). Before writing anything it
//! checks that the model fits the board — arena, stack and statics in RAM, model, code and test
//! data in flash — so that a model that does not fit fails the build, never the device.
//!
//! [`firmware`] holds the conventions of mote's own firmware (`firmware/boards/*`): which
//! environment variables choose the model and inputs, and the linker-script check of the
//! stack reserve.

mod emit;
pub mod firmware;
mod fit;
mod host;
pub mod plan;

use std::path::{Path, PathBuf};

pub use fit::{check_fit, Fit};
pub use host::{deterministic_input, read_npy, Array, FLOAT_RELATIVE_TOLERANCE};
pub use mote_compiler::{kernels_for_target, Kernels};

/// What a board offers and what the firmware needs besides the model, in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardLimits {
    /// The board's name, for messages.
    pub name: String,
    pub flash_bytes: usize,
    pub ram_bytes: usize,
    /// RAM kept for the stack.
    pub stack_reserve: usize,
    /// Flash for the firmware's code and constants other than the model and test data.
    pub code_estimate: usize,
    /// RAM for the firmware's statics other than the arena.
    pub statics_estimate: usize,
}

/// Where the test inputs embedded for benchmarking come from.
#[derive(Debug, Clone, PartialEq)]
pub enum TestInputs {
    /// No test data: a production firmware that fills the inputs itself.
    None,
    /// A fixed pattern (see [`deterministic_input`]), for models without golden inputs.
    Deterministic,
    /// One `.npy` file per model input, in order.
    Files(Vec<PathBuf>),
}

/// Test data and benchmark settings embedded next to the model.
#[derive(Debug, Clone, PartialEq)]
pub struct TestData {
    pub inputs: TestInputs,
    /// Reference outputs (`.npy`, e.g. TFLM's golden outputs) to check the host runtime's
    /// outputs against; empty to skip the check. The device always compares with the host
    /// runtime's outputs.
    pub golden_outputs: Vec<PathBuf>,
    /// How many timed inferences the firmware runs.
    pub runs: u32,
    /// Whether the firmware also runs one inference measuring each operator.
    pub per_op: bool,
}

impl Default for TestData {
    fn default() -> Self {
        TestData {
            inputs: TestInputs::None,
            golden_outputs: Vec::new(),
            runs: 1,
            per_op: false,
        }
    }
}

/// Why a model could not be embedded.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is neither a TensorFlow Lite model (.tflite) nor a .mote artefact")]
    NotAModel { path: PathBuf },
    #[error("importing {path}: {source}")]
    Import {
        path: PathBuf,
        source: mote_tflite::TfliteError,
    },
    #[error("compiling {path}: {source}")]
    Compile {
        path: PathBuf,
        source: mote_compiler::CompileError,
    },
    #[error("reading {path}: {source}")]
    Format {
        path: PathBuf,
        source: mote_format::FormatError,
    },
    #[error("reading {path}: {message}")]
    Npy { path: PathBuf, message: String },
    #[error("{model}: {message}")]
    Inputs { model: String, message: String },
    #[error("compiling {model} ahead of time: {message}")]
    Plan { model: String, message: String },
    #[error("running {model} on the host: {source}")]
    HostRun {
        model: String,
        source: mote_runtime::Error,
    },
    /// The model does not fit the board; the message names both and every figure.
    #[error("{0}")]
    DoesNotFit(Box<Fit>),
    #[error("{var}: {message}")]
    Env { var: &'static str, message: String },
}

/// What [`Embed::write`] produced.
#[derive(Debug, Clone)]
pub struct Embedded {
    /// The Rust module to `include!`.
    pub module: PathBuf,
    /// The `.mote` artefact it embeds.
    pub artefact: PathBuf,
    pub model_name: String,
    pub arena_bytes: usize,
    pub model_bytes: usize,
    /// The artefact's CRC-32 (from its header), which the firmware reports so that a
    /// benchmark can tell which model it measured.
    pub checksum: u32,
    pub fit: Fit,
    /// Whether the host runtime's outputs equal the golden outputs (`None` without them).
    pub host_matches_golden: Option<bool>,
}

/// A model to embed for one board.
#[derive(Debug, Clone)]
pub struct Embed {
    model: PathBuf,
    limits: BoardLimits,
    test: TestData,
    kernels: mote_compiler::Kernels,
    compiled: bool,
}

/// The name of the module file [`Embed::write`] writes into the output folder.
pub const MODULE_FILE: &str = "mote_model.rs";
/// The name of the artefact file it writes next to it.
pub const ARTEFACT_FILE: &str = "model.mote";

impl Embed {
    pub fn new(model: impl Into<PathBuf>, limits: BoardLimits) -> Self {
        Embed {
            model: model.into(),
            limits,
            test: TestData::default(),
            kernels: mote_compiler::CompileOptions::default().kernels,
            compiled: false,
        }
    }

    /// Also writes [`plan::PLAN_FILE`], the model compiled ahead of time into Rust (see
    /// [`plan`]); the `.mote` artefact is then not embedded (`model_bytes()` is empty and
    /// `MOTE_MODEL` is the plan's constants).
    pub fn compiled(mut self, compiled: bool) -> Self {
        self.compiled = compiled;
        self
    }

    /// The kernels the firmware runs, which decide each operator's scratch in the arena
    /// (the Cortex-M DSP kernels unless told otherwise).
    pub fn kernels(mut self, kernels: mote_compiler::Kernels) -> Self {
        self.kernels = kernels;
        self
    }

    /// Embeds test inputs and expected outputs for benchmarking.
    pub fn test_data(mut self, test: TestData) -> Self {
        self.test = test;
        self
    }

    /// Compiles the model if needed, runs it on the host on the test inputs, checks that it
    /// fits the board, and writes [`MODULE_FILE`], [`ARTEFACT_FILE`] and the test data into
    /// `out_dir`. Nothing is written for a model that does not fit.
    pub fn write(&self, out_dir: &Path) -> Result<Embedded, BuildError> {
        let loaded = host::load(&self.model, self.kernels)?;
        let name = model_name(&self.model);
        let model = host::HostModel::new(&loaded.bytes, &name)?;

        let (inputs, source) = match &self.test.inputs {
            TestInputs::None => (Vec::new(), "none".to_string()),
            TestInputs::Deterministic => (
                model
                    .inputs()
                    .iter()
                    .map(|t| Array {
                        dtype: t.dtype,
                        shape: t.shape().to_vec(),
                        bytes: deterministic_input(t.dtype, t.byte_len),
                    })
                    .collect(),
                "deterministic".to_string(),
            ),
            TestInputs::Files(paths) => (
                paths
                    .iter()
                    .map(|p| read_npy(p))
                    .collect::<Result<_, _>>()?,
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
        };
        let expected = if inputs.is_empty() {
            Vec::new()
        } else {
            model.run(&inputs)?
        };
        let host_matches_golden = if self.test.golden_outputs.is_empty() || inputs.is_empty() {
            None
        } else {
            let golden: Vec<Array> = self
                .test
                .golden_outputs
                .iter()
                .map(|p| read_npy(p))
                .collect::<Result<_, _>>()?;
            Some(
                golden.len() == expected.len()
                    && golden
                        .iter()
                        .zip(&expected)
                        .all(|(g, e)| host::matches(e, g)),
            )
        };

        let test_bytes: usize = inputs.iter().chain(&expected).map(|a| a.bytes.len()).sum();
        let fit = check_fit(
            &name,
            loaded.bytes.len(),
            loaded.report.arena_bytes,
            test_bytes,
            &self.limits,
        )?;

        let write = |file: &str, bytes: &[u8]| -> Result<PathBuf, BuildError> {
            let path = out_dir.join(file);
            write_if_changed(&path, bytes)?;
            Ok(path)
        };
        let artefact = write(ARTEFACT_FILE, &loaded.bytes)?;
        if self.compiled {
            let aligned = mote_format::AlignedBytes::new(&loaded.bytes);
            let validated = mote_format::Model::from_bytes(aligned.as_slice()).map_err(|source| {
                BuildError::Format {
                    path: self.model.clone(),
                    source,
                }
            })?;
            plan::write(&validated, &name, out_dir, self.kernels)?;
        }
        let input_files = inputs
            .iter()
            .enumerate()
            .map(|(i, a)| write(&format!("test_input_{i}.bin"), &a.bytes))
            .collect::<Result<Vec<_>, _>>()?;
        let expected_files = expected
            .iter()
            .enumerate()
            .map(|(j, a)| write(&format!("expected_output_{j}.bin"), &a.bytes))
            .collect::<Result<Vec<_>, _>>()?;
        let checksum = u32::from_le_bytes([
            loaded.bytes[12],
            loaded.bytes[13],
            loaded.bytes[14],
            loaded.bytes[15],
        ]);
        let text = emit::module(&emit::ModuleSpec {
            source: &self.model,
            board: &self.limits.name,
            model_name: &name,
            artefact: &artefact,
            model_bytes: loaded.bytes.len(),
            arena_bytes: loaded.report.arena_bytes,
            checksum,
            report: &loaded.report,
            test_source: &source,
            test_inputs: &input_files,
            test_input_lens: &inputs.iter().map(|a| a.bytes.len()).collect::<Vec<_>>(),
            expected_outputs: &expected_files,
            expected_output_lens: &expected.iter().map(|a| a.bytes.len()).collect::<Vec<_>>(),
            host_matches_golden,
            runs: self.test.runs,
            per_op: self.test.per_op,
            ops: model.op_set(),
            compiled: self.compiled,
        });
        let module = write(MODULE_FILE, text.as_bytes())?;
        Ok(Embedded {
            module,
            artefact,
            model_name: name,
            arena_bytes: loaded.report.arena_bytes,
            model_bytes: loaded.bytes.len(),
            checksum,
            fit,
            host_matches_golden,
        })
    }
}

/// The model's file name without its extension: how messages and reports name it.
pub fn model_name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Writes `bytes` unless the file already holds them, so that an unchanged model does not
/// make cargo recompile the firmware.
fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<(), BuildError> {
    if std::fs::read(path).ok().as_deref() == Some(bytes) {
        return Ok(());
    }
    std::fs::write(path, bytes).map_err(|source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests;
