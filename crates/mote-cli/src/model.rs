//! Loading a model for the CLI (a `.tflite` is imported and compiled on the fly, a `.mote`
//! is used as it is) and running it once on the host with mote's no_std runtime.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use mote_compiler::Report;
use mote_format::AlignedBytes;
use mote_runtime::Interpreter;

use crate::npy::Array;

pub struct LoadedModel {
    pub path: PathBuf,
    /// The `.mote` artefact.
    pub bytes: Vec<u8>,
    pub report: Report,
    /// Whether the file was a `.tflite` (compiled here) rather than a `.mote`.
    pub from_tflite: bool,
}

impl LoadedModel {
    /// Loads `path`, compiling a `.tflite` for the default kernels (the Cortex-M DSP ones).
    pub fn load(path: &Path) -> Result<Self> {
        Self::load_for(path, mote_compiler::CompileOptions::default().kernels)
    }

    /// Loads `path`, compiling a `.tflite` for `kernels`.
    pub fn load_for(path: &Path, kernels: mote_compiler::Kernels) -> Result<Self> {
        let raw = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let shown = path.display();
        if raw.get(4..8) == Some(b"TFL3") {
            let graph = mote_tflite::import(&raw).with_context(|| format!("importing {shown}"))?;
            let options = mote_compiler::CompileOptions { kernels, ..Default::default() };
            let compiled = mote_compiler::compile_with(&graph, &options)
                .with_context(|| format!("compiling {shown}"))?;
            Ok(LoadedModel {
                path: path.into(),
                bytes: compiled.bytes,
                report: compiled.report,
                from_tflite: true,
            })
        } else if raw.get(0..4) == Some(&mote_format::MAGIC[..]) {
            let report =
                mote_compiler::describe(&raw).with_context(|| format!("reading {shown}"))?;
            Ok(LoadedModel {
                path: path.into(),
                bytes: raw,
                report,
                from_tflite: false,
            })
        } else {
            bail!("{shown} is neither a TensorFlow Lite model (.tflite) nor a .mote artefact");
        }
    }

    /// Runs the model once on `inputs` (checked against the model's dtypes and shapes).
    /// Runs the model once on `inputs`, each checked against the model's dtype and shape and
    /// paired with the file it came from, which an error names.
    pub fn run(&self, inputs: &[(&Path, Array)]) -> Result<Vec<Array>> {
        let shown = self.path.display();
        let model_bytes = AlignedBytes::new(&self.bytes);
        let model = mote_format::Model::from_bytes(model_bytes.as_slice())
            .with_context(|| format!("loading {shown}"))?;
        let mut arena = AlignedBytes::zeroed(model.arena_bytes());
        let mut interpreter = Interpreter::new(&model, arena.as_mut_slice())
            .with_context(|| format!("loading {shown}"))?;
        if inputs.len() != interpreter.input_count() {
            bail!(
                "the model has {} input(s) but {} --input file(s) were given",
                interpreter.input_count(),
                inputs.len()
            );
        }
        for (i, (source, a)) in inputs.iter().enumerate() {
            let info = interpreter.input_info(i)?;
            if a.dtype != info.dtype || a.shape != info.shape() {
                bail!(
                    "input {i} ({}): the model expects {} {:?}, the file holds {} {:?}",
                    source.display(),
                    info.dtype.name(),
                    info.shape(),
                    a.dtype.name(),
                    a.shape
                );
            }
            interpreter.input_bytes_mut(i)?.copy_from_slice(&a.bytes);
        }
        interpreter
            .invoke()
            .with_context(|| format!("running {shown}"))?;
        (0..interpreter.output_count())
            .map(|j| {
                let info = interpreter.output_info(j)?;
                Ok(Array {
                    dtype: info.dtype,
                    shape: info.shape().to_vec(),
                    bytes: interpreter.output_bytes(j)?.to_vec(),
                })
            })
            .collect()
    }
}
