//! `.npy` files in and out, typed by mote's dtypes, and writes that never leave a
//! half-written file behind.

use std::io::Write;

use npyz::WriterBuilder;
use std::path::Path;

use anyhow::{bail, Context, Result};
use mote_format::DType;

/// A dense array: dtype, shape and little-endian element bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Array {
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub bytes: Vec<u8>,
}

impl Array {
    /// The elements as text, for printing.
    pub fn values_text(&self) -> String {
        let words = self.bytes.chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]]);
        let values: Vec<String> = match self.dtype {
            DType::Int8 => self.bytes.iter().map(|&b| (b as i8).to_string()).collect(),
            DType::Int32 => words.map(|w| i32::from_le_bytes(w).to_string()).collect(),
            DType::Float32 => words.map(|w| f32::from_le_bytes(w).to_string()).collect(),
        };
        format!("[{}]", values.join(", "))
    }

    /// Encodes as a `.npy` file.
    pub fn to_npy(&self) -> Result<Vec<u8>> {
        let shape: Vec<u64> = self.shape.iter().map(|&d| d as u64).collect();
        let mut out = Vec::new();
        let words = self.bytes.chunks_exact(4).map(|c| [c[0], c[1], c[2], c[3]]);
        match self.dtype {
            DType::Int8 => {
                let mut w = npyz::WriteOptions::new()
                    .default_dtype()
                    .shape(&shape)
                    .writer(&mut out)
                    .begin_nd()?;
                w.extend(self.bytes.iter().map(|&b| b as i8))?;
                w.finish()?;
            }
            DType::Int32 => {
                let mut w = npyz::WriteOptions::new()
                    .default_dtype()
                    .shape(&shape)
                    .writer(&mut out)
                    .begin_nd()?;
                w.extend(words.map(i32::from_le_bytes))?;
                w.finish()?;
            }
            DType::Float32 => {
                let mut w = npyz::WriteOptions::new()
                    .default_dtype()
                    .shape(&shape)
                    .writer(&mut out)
                    .begin_nd()?;
                w.extend(words.map(f32::from_le_bytes))?;
                w.finish()?;
            }
        }
        Ok(out)
    }
}

/// Reads a `.npy` file of int8, int32 or float32 in C order.
pub fn read(path: &Path) -> Result<Array> {
    let raw = std::fs::read(path)?;
    parse(&raw)
}

/// Parses `.npy` bytes.
pub fn parse(raw: &[u8]) -> Result<Array> {
    let file = npyz::NpyFile::new(raw).context("not a valid .npy file")?;
    if file.order() != npyz::Order::C {
        bail!("Fortran-ordered arrays are not supported; save it in C order");
    }
    let shape: Vec<usize> = file.shape().iter().map(|&d| d as usize).collect();
    let type_str = match file.dtype() {
        npyz::DType::Plain(t) => t.to_string(),
        other => bail!("structured dtype {other:?} is not supported"),
    };
    let (dtype, bytes) = match type_str.as_str() {
        "|i1" | "<i1" | "i1" => (
            DType::Int8,
            file.into_vec::<i8>()?
                .into_iter()
                .map(|v| v as u8)
                .collect(),
        ),
        "<i4" => (
            DType::Int32,
            file.into_vec::<i32>()?
                .into_iter()
                .flat_map(i32::to_le_bytes)
                .collect(),
        ),
        "<f4" => (
            DType::Float32,
            file.into_vec::<f32>()?
                .into_iter()
                .flat_map(f32::to_le_bytes)
                .collect(),
        ),
        other => bail!(
            "dtype `{other}` is not supported (int8 `|i1`, int32 `<i4` and float32 `<f4` are)"
        ),
    };
    Ok(Array {
        dtype,
        shape,
        bytes,
    })
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so
/// that `path` is either the complete new file or untouched.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .context("the output path has no file name")?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| -> Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_each_dtype() {
        for (dtype, bytes) in [
            (DType::Int8, vec![0x80, 0x7f, 0x00, 0xff, 1, 2]),
            (
                DType::Int32,
                (-3i32..3).flat_map(i32::to_le_bytes).collect(),
            ),
            (
                DType::Float32,
                [0.5f32, -1.25, 3.0, 1e-8, -0.0, 7.0]
                    .iter()
                    .flat_map(|f| f.to_le_bytes())
                    .collect(),
            ),
        ] {
            let elements = bytes.len() / dtype.size();
            let a = Array {
                dtype,
                shape: vec![1, elements],
                bytes,
            };
            assert_eq!(parse(&a.to_npy().unwrap()).unwrap(), a);
        }
    }

    #[test]
    fn rejects_garbage_and_other_dtypes() {
        assert!(parse(b"not an npy file").is_err());
        let mut f64_file = Vec::new();
        let mut w = npyz::WriteOptions::new()
            .default_dtype()
            .shape(&[2])
            .writer(&mut f64_file)
            .begin_nd()
            .unwrap();
        w.extend([1.0f64, 2.0]).unwrap();
        w.finish().unwrap();
        let err = parse(&f64_file).unwrap_err().to_string();
        assert!(err.contains("<f8"), "{err}");
    }
}
