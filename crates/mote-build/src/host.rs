//! The host side of embedding: loading a model (compiling a `.tflite`), reading `.npy` test
//! inputs, making deterministic ones, and running the model once with mote's runtime to get
//! the outputs the device must reproduce.

use std::path::Path;

use mote_compiler::Report;
use mote_format::{AlignedBytes, DType, TensorInfo};
use mote_runtime::Interpreter;

use crate::BuildError;

/// A dense array: dtype, shape and little-endian element bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub bytes: Vec<u8>,
}

pub(crate) struct Loaded {
    pub bytes: Vec<u8>,
    pub report: Report,
}

/// Reads `path` as a `.tflite` (imported and compiled for `kernels`) or a `.mote`; the
/// contents decide.
pub(crate) fn load(path: &Path, kernels: mote_compiler::Kernels) -> Result<Loaded, BuildError> {
    let raw = std::fs::read(path).map_err(|source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if raw.get(4..8) == Some(b"TFL3") {
        let graph = mote_tflite::import(&raw).map_err(|source| BuildError::Import {
            path: path.to_path_buf(),
            source,
        })?;
        let options = mote_compiler::CompileOptions {
            kernels,
            ..Default::default()
        };
        let compiled = mote_compiler::compile_with(&graph, &options).map_err(|source| {
            BuildError::Compile {
                path: path.to_path_buf(),
                source,
            }
        })?;
        Ok(Loaded {
            bytes: compiled.bytes,
            report: compiled.report,
        })
    } else if raw.get(0..4) == Some(&mote_format::MAGIC[..]) {
        let report = mote_compiler::describe(&raw).map_err(|source| BuildError::Format {
            path: path.to_path_buf(),
            source,
        })?;
        Ok(Loaded { bytes: raw, report })
    } else {
        Err(BuildError::NotAModel {
            path: path.to_path_buf(),
        })
    }
}

/// A compiled model held in aligned memory, ready to run on the host.
pub(crate) struct HostModel {
    bytes: AlignedBytes,
    name: String,
}

impl HostModel {
    pub fn new(bytes: &[u8], name: &str) -> Result<Self, BuildError> {
        let model = HostModel {
            bytes: AlignedBytes::new(bytes),
            name: name.to_string(),
        };
        model.model()?;
        Ok(model)
    }

    fn model(&self) -> Result<mote_format::Model<'_>, BuildError> {
        mote_format::Model::from_bytes(self.bytes.as_slice()).map_err(|e| BuildError::HostRun {
            model: self.name.clone(),
            source: e.into(),
        })
    }

    /// The inputs' descriptions, in order.
    pub fn inputs(&self) -> Vec<TensorInfo> {
        let Ok(model) = self.model() else {
            return Vec::new();
        };
        model
            .inputs()
            .iter()
            .filter_map(|t| t.and_then(|t| model.tensor(t)))
            .collect()
    }

    /// The operators the model uses, as a `mote_runtime::ops` set: the firmware builds in
    /// only these.
    pub fn op_set(&self) -> u32 {
        let Ok(model) = self.model() else {
            return mote_runtime::ops::ALL;
        };
        (0..model.op_count())
            .filter_map(|o| model.op(o))
            .fold(0, |set, op| set | mote_runtime::ops::bit(op.opcode))
    }

    /// Runs the model once on `inputs`, which must match the model's inputs in number,
    /// dtype and shape.
    pub fn run(&self, inputs: &[Array]) -> Result<Vec<Array>, BuildError> {
        let model = self.model()?;
        let host_err = |source| BuildError::HostRun {
            model: self.name.clone(),
            source,
        };
        let mut arena = AlignedBytes::zeroed(model.arena_bytes());
        let mut interpreter = Interpreter::new(&model, arena.as_mut_slice()).map_err(host_err)?;
        if inputs.len() != interpreter.input_count() {
            return Err(BuildError::Inputs {
                model: self.name.clone(),
                message: format!(
                    "the model has {} input(s) but {} test input(s) were given",
                    interpreter.input_count(),
                    inputs.len()
                ),
            });
        }
        for (i, a) in inputs.iter().enumerate() {
            let info = interpreter.input_info(i).map_err(host_err)?;
            if a.dtype != info.dtype || a.shape != info.shape() {
                return Err(BuildError::Inputs {
                    model: self.name.clone(),
                    message: format!(
                        "input {i}: the model expects {} {:?}, the test input is {} {:?}",
                        info.dtype.name(),
                        info.shape(),
                        a.dtype.name(),
                        a.shape
                    ),
                });
            }
            interpreter
                .input_bytes_mut(i)
                .map_err(host_err)?
                .copy_from_slice(&a.bytes);
        }
        interpreter.invoke().map_err(host_err)?;
        (0..interpreter.output_count())
            .map(|j| {
                let info = interpreter.output_info(j).map_err(host_err)?;
                Ok(Array {
                    dtype: info.dtype,
                    shape: info.shape().to_vec(),
                    bytes: interpreter.output_bytes(j).map_err(host_err)?.to_vec(),
                })
            })
            .collect()
    }
}

/// float32 outputs may differ from the reference by this much, relative to the value (or to
/// 1% of the output's largest magnitude, for values near zero) — the tolerance of mote's
/// golden tests.
pub const FLOAT_RELATIVE_TOLERANCE: f32 = 1e-5;

/// Whether `got` equals `want`: byte for byte for integer dtypes, within
/// [`FLOAT_RELATIVE_TOLERANCE`] for float32.
pub(crate) fn matches(got: &Array, want: &Array) -> bool {
    if got.dtype != want.dtype || got.shape != want.shape || got.bytes.len() != want.bytes.len() {
        return false;
    }
    if got.dtype != DType::Float32 {
        return got.bytes == want.bytes;
    }
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
    g.iter()
        .zip(&w)
        .all(|(a, b)| (a - b).abs() <= FLOAT_RELATIVE_TOLERANCE * b.abs().max(scale * 1e-2))
}

/// The test input used when a model has no golden inputs: element `i` is
/// `((i * 7 + 3) % 256) - 128` — for int8 exactly the input that TFLM's figures in
/// `shared/anchors/tflm_qemu_m4.md` were measured with; int32 elements take the same value,
/// float32 elements that value divided by 64.
pub fn deterministic_input(dtype: DType, byte_len: usize) -> Vec<u8> {
    let value = |i: usize| ((i * 7 + 3) % 256) as i32 - 128;
    let elements = byte_len / dtype.size();
    match dtype {
        DType::Int8 => (0..elements).map(|i| value(i) as i8 as u8).collect(),
        DType::Int32 => (0..elements).flat_map(|i| value(i).to_le_bytes()).collect(),
        DType::Float32 => (0..elements)
            .flat_map(|i| (value(i) as f32 / 64.0).to_le_bytes())
            .collect(),
    }
}

/// Reads a C-ordered `.npy` file of int8, int32 or float32.
pub fn read_npy(path: &Path) -> Result<Array, BuildError> {
    let npy_err = |message: String| BuildError::Npy {
        path: path.to_path_buf(),
        message,
    };
    let raw = std::fs::read(path).map_err(|source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let file =
        npyz::NpyFile::new(&raw[..]).map_err(|e| npy_err(format!("not a .npy file: {e}")))?;
    if file.order() != npyz::Order::C {
        return Err(npy_err("Fortran-ordered arrays are not supported".into()));
    }
    let shape: Vec<usize> = file.shape().iter().map(|&d| d as usize).collect();
    let type_str = match file.dtype() {
        npyz::DType::Plain(t) => t.to_string(),
        other => {
            return Err(npy_err(format!(
                "structured dtype {other:?} is not supported"
            )))
        }
    };
    let read_err = |e: std::io::Error| npy_err(e.to_string());
    let (dtype, bytes) = match type_str.as_str() {
        "|i1" | "<i1" | "i1" => (
            DType::Int8,
            file.into_vec::<i8>()
                .map_err(read_err)?
                .into_iter()
                .map(|v| v as u8)
                .collect(),
        ),
        "<i4" => (
            DType::Int32,
            file.into_vec::<i32>()
                .map_err(read_err)?
                .into_iter()
                .flat_map(i32::to_le_bytes)
                .collect(),
        ),
        "<f4" => (
            DType::Float32,
            file.into_vec::<f32>()
                .map_err(read_err)?
                .into_iter()
                .flat_map(f32::to_le_bytes)
                .collect(),
        ),
        other => {
            return Err(npy_err(format!(
                "dtype `{other}` is not supported (int8, int32 and float32 are)"
            )))
        }
    };
    Ok(Array {
        dtype,
        shape,
        bytes,
    })
}
