//! Time series from `.csv` files (the `csv` crate): one row per time step, one column per
//! channel (e.g. an accelerometer's x, y, z), an optional header row of channel names
//! (detected: a first row with any non-numeric cell is a header). A file is either one
//! sample ([`CsvMode::Whole`]) or a long recording cut into sliding windows
//! ([`CsvMode::Windows`]); a recording's windows share its group so that they are never
//! split across train and test.

use std::path::Path;

use crate::dataset::{class_files, Dataset, Item};
use crate::error::{Error, Result};

/// A multichannel series, row-major: `values[frame * channels + channel]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Channel names from the header, or `c0, c1, …` without one.
    pub columns: Vec<String>,
    pub frames: usize,
    pub channels: usize,
    pub values: Vec<f32>,
}

impl Series {
    /// One channel's values.
    pub fn channel(&self, channel: usize) -> Vec<f32> {
        if channel >= self.channels {
            return Vec::new();
        }
        self.values
            .iter()
            .skip(channel)
            .step_by(self.channels)
            .copied()
            .collect()
    }

    /// Frames `start .. start + len` as a new series (clamped to the series).
    pub fn window(&self, start: usize, len: usize) -> Series {
        let start = start.min(self.frames);
        let end = (start + len).min(self.frames);
        Series {
            columns: self.columns.clone(),
            frames: end - start,
            channels: self.channels,
            values: self.values[start * self.channels..end * self.channels].to_vec(),
        }
    }
}

/// How files become samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsvMode {
    /// Each file is one sample.
    Whole,
    /// Each file is a recording cut into windows of `window` frames every `hop` frames; a
    /// file shorter than one window gives no sample.
    Windows { window: usize, hop: usize },
}

/// Options for [`load_csv`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsvOptions {
    pub mode: CsvMode,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            mode: CsvMode::Whole,
        }
    }
}

/// Labelled time series.
pub type SeriesDataset = Dataset<Series>;

/// Loads every `ROOT/<class>/*.csv`, as whole files or windows.
pub fn load_csv(root: impl AsRef<Path>, options: &CsvOptions) -> Result<SeriesDataset> {
    let root = root.as_ref();
    if let CsvMode::Windows { window, hop } = options.mode {
        if window == 0 || hop == 0 {
            return Err(Error::Options(format!(
                "CSV windows need window > 0 and hop > 0 (got window {window}, hop {hop})"
            )));
        }
    }
    let (classes, files) = class_files(root, &["csv"])?;
    let mut items = Vec::new();
    for f in files {
        let series = read_series(&f.path)?;
        match options.mode {
            CsvMode::Whole => items.push(Item {
                label: f.label,
                group: f.group,
                source: f.path,
                data: series,
            }),
            CsvMode::Windows { window, hop } => {
                let mut start = 0;
                while start + window <= series.frames {
                    items.push(Item {
                        label: f.label,
                        group: f.group.clone(),
                        source: f.path.clone(),
                        data: series.window(start, window),
                    });
                    start += hop;
                }
            }
        }
    }
    Ok(Dataset {
        root: root.to_path_buf(),
        classes,
        items,
    })
}

/// Reads one `.csv` file as a series.
pub fn read_series(path: impl AsRef<Path>) -> Result<Series> {
    let path = path.as_ref();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .trim(csv::Trim::All)
        .flexible(true)
        .comment(Some(b'#'))
        .from_path(path)
        .map_err(|source| Error::Csv {
            path: path.to_path_buf(),
            source,
        })?;
    let mut columns: Option<Vec<String>> = None;
    let mut channels = 0;
    let mut values = Vec::new();
    let mut frames = 0;
    for (index, record) in reader.records().enumerate() {
        let record = record.map_err(|source| Error::Csv {
            path: path.to_path_buf(),
            source,
        })?;
        let line = record.position().map_or(index as u64 + 1, |p| p.line());
        if record.iter().all(|cell| cell.is_empty()) {
            continue;
        }
        let numbers: Vec<Option<f32>> = record.iter().map(|c| c.parse::<f32>().ok()).collect();
        if index == 0 && numbers.iter().any(Option::is_none) {
            columns = Some(record.iter().map(str::to_string).collect());
            channels = record.len();
            continue;
        }
        if channels == 0 {
            channels = record.len();
        } else if record.len() != channels {
            return Err(Error::invalid(
                path,
                format!(
                    "line {line} has {} columns, expected {channels}",
                    record.len()
                ),
            ));
        }
        for (column, (cell, number)) in record.iter().zip(&numbers).enumerate() {
            match number {
                Some(v) if v.is_finite() => values.push(*v),
                _ => {
                    return Err(Error::invalid(
                        path,
                        format!(
                            "line {line}, column {}: {cell:?} is not a finite number",
                            column + 1
                        ),
                    ))
                }
            }
        }
        frames += 1;
    }
    if frames == 0 {
        return Err(Error::invalid(path, "no data rows"));
    }
    let columns = columns.unwrap_or_else(|| (0..channels).map(|c| format!("c{c}")).collect());
    Ok(Series {
        columns,
        frames,
        channels,
        values,
    })
}
