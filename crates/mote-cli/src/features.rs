//! From a data folder to model inputs: the one place that decides which features a model
//! of each kind of data takes, so that `mote train`, `mote eval`, `mote quantize` and
//! `mote quickstart` all compute them the same way (and the device can too: every feature
//! here comes from `mote-dsp`, which is `no_std`).
//!
//! The kind of data is told by the files in the class folders (`ROOT/<class>/<file>`):
//! - **keywords** (`.wav`): TFLM's micro_speech front end (`mote_dsp::micro_frontend`),
//!   49 frames × 40 channels of int8 per second, as a `[49, 40, 1]` input. The float model
//!   sees `(q + 128) / 256`, so that its int8 version, quantized with
//!   [`KEYWORD_INPUT_SCALE`] and [`KEYWORD_INPUT_ZERO_POINT`], takes the front end's bytes
//!   as they are;
//! - **vibration** (`.csv`, one clip per file): per channel, the log power in 64 equal
//!   bands of a Hann-windowed 512-point spectrum averaged over the clip, and four
//!   time-domain statistics (log RMS, log peak, crest factor, kurtosis), scaled to about
//!   unit range. Bands are counted in FFT bins, not Hz, so no sample rate is needed;
//! - **images** (`.png`, `.bmp`): pixels scaled to `[0, 1]`, `[height, width, channels]`;
//!   every image of a folder must have the same size.
//!
//! The split (train/validation/test) is by group (voice, machine, recording: see
//! `mote_data::group_of`), seeded, and honours the test groups that a synthetic dataset's
//! `manifest.json` reserves.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use mote_data::{Part, Split, SplitConfig};
use mote_dsp::micro_frontend::{FRAMES_PER_SECOND, NUM_CHANNELS};

/// Input quantization of keyword models: the float input is `(q + 128) / 256`.
pub const KEYWORD_INPUT_SCALE: f32 = 1.0 / 256.0;
pub const KEYWORD_INPUT_ZERO_POINT: i64 = -128;

/// Spectrum length and number of bands of the vibration features.
const VIBRATION_FFT: usize = 512;
const VIBRATION_BANDS: usize = 64;
/// Features per channel of a vibration clip: the bands and four time-domain statistics.
pub const VIBRATION_FEATURES: usize = VIBRATION_BANDS + 4;

/// What kind of data a folder holds, and so which features its models take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DataKind {
    Keywords,
    Vibration,
    Images,
}

impl DataKind {
    pub fn name(self) -> &'static str {
        match self {
            DataKind::Keywords => "keywords",
            DataKind::Vibration => "vibration",
            DataKind::Images => "images",
        }
    }
}

/// Labelled feature vectors, row-major: sample `i` is
/// `values[i * sample_len .. (i + 1) * sample_len]` with `sample_len = ∏ sample_shape`.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureSet {
    pub sample_shape: Vec<usize>,
    pub values: Vec<f32>,
    pub labels: Vec<usize>,
    pub groups: Vec<String>,
    pub sources: Vec<PathBuf>,
}

impl FeatureSet {
    fn empty(sample_shape: &[usize]) -> Self {
        FeatureSet {
            sample_shape: sample_shape.to_vec(),
            values: Vec::new(),
            labels: Vec::new(),
            groups: Vec::new(),
            sources: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    pub fn sample_len(&self) -> usize {
        self.sample_shape.iter().product()
    }

    pub fn sample(&self, i: usize) -> &[f32] {
        let n = self.sample_len();
        &self.values[i * n..(i + 1) * n]
    }

    /// Only the samples whose label is `label`.
    pub fn only_label(&self, label: usize) -> FeatureSet {
        let keep: Vec<usize> = (0..self.len()).filter(|&i| self.labels[i] == label).collect();
        self.subset(&keep)
    }

    /// The samples whose group is one of `groups`.
    pub fn only_groups(&self, groups: &[String]) -> FeatureSet {
        let keep: Vec<usize> = (0..self.len())
            .filter(|&i| groups.contains(&self.groups[i]))
            .collect();
        self.subset(&keep)
    }

    fn subset(&self, indices: &[usize]) -> FeatureSet {
        let mut out = FeatureSet::empty(&self.sample_shape);
        for &i in indices {
            out.values.extend_from_slice(self.sample(i));
            out.labels.push(self.labels[i]);
            out.groups.push(self.groups[i].clone());
            out.sources.push(self.sources[i].clone());
        }
        out
    }
}

/// A data folder turned into features and split.
#[derive(Debug, Clone)]
pub struct SplitFeatures {
    pub kind: DataKind,
    pub root: PathBuf,
    pub classes: Vec<String>,
    pub train: FeatureSet,
    pub val: FeatureSet,
    pub test: FeatureSet,
    /// The class balance table (counts per class on each side).
    pub balance: String,
}

impl SplitFeatures {
    pub fn part(&self, part: Part) -> &FeatureSet {
        match part {
            Part::Train => &self.train,
            Part::Val => &self.val,
            Part::Test => &self.test,
        }
    }

    /// The class an anomaly model treats as normal, if the data has one.
    pub fn normal_class(&self) -> Option<usize> {
        self.classes.iter().position(|c| c == "normal")
    }
}

/// Tells the kind of data from the first file found in the class folders.
pub fn detect_kind(root: &Path) -> Result<DataKind> {
    let entries = std::fs::read_dir(root)
        .with_context(|| format!("reading the data folder {}", root.display()))?;
    let mut class_dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    class_dirs.sort();
    for dir in &class_dirs {
        let Ok(files) = std::fs::read_dir(dir) else { continue };
        for f in files.filter_map(|e| e.ok()) {
            let ext = f
                .path()
                .extension()
                .map(|e| e.to_string_lossy().to_ascii_lowercase())
                .unwrap_or_default();
            match ext.as_str() {
                "wav" => return Ok(DataKind::Keywords),
                "csv" => return Ok(DataKind::Vibration),
                "png" | "bmp" => return Ok(DataKind::Images),
                _ => {}
            }
        }
    }
    bail!(
        "{}: no class folders with .wav, .csv, .png or .bmp files (expected ROOT/<class>/<file>)",
        root.display()
    )
}

/// Loads `root`, computes every item's features and splits them by group with `seed`.
pub fn load(root: &Path, seed: u64) -> Result<SplitFeatures> {
    let kind = detect_kind(root)?;
    let manifest = mote_data::read_manifest(root)
        .with_context(|| format!("reading {}/manifest.json", root.display()))?;
    let test_groups = manifest.map(|m| m.test_groups).unwrap_or_default();
    let config = SplitConfig {
        seed,
        test_groups: test_groups.clone(),
        // A synthetic set names its test groups; the rest is split train/validation only.
        test_fraction: if test_groups.is_empty() { 0.15 } else { 0.0 },
        val_fraction: 0.15,
    };
    let (classes, all, groups) = match kind {
        DataKind::Keywords => {
            let data = mote_data::load_audio(root)?;
            let mut set = FeatureSet::empty(&[FRAMES_PER_SECOND, NUM_CHANNELS, 1]);
            for item in &data.items {
                let features = mote_dsp::micro_frontend::micro_features_1s(&item.data.samples)
                    .map_err(|e| anyhow!("{}: front end: {e}", item.source.display()))?;
                set.values.extend(
                    features
                        .iter()
                        .flatten()
                        .map(|&q| (q as f32 - KEYWORD_INPUT_ZERO_POINT as f32) * KEYWORD_INPUT_SCALE),
                );
                set.labels.push(item.label);
                set.groups.push(item.group.clone());
                set.sources.push(item.source.clone());
            }
            let groups = data.groups().iter().map(|g| g.to_string()).collect::<Vec<_>>();
            (data.classes, set, groups)
        }
        DataKind::Vibration => {
            let data = mote_data::load_csv(root, &mote_data::CsvOptions::default())?;
            let channels = data.items.first().map_or(1, |i| i.data.channels);
            let mut set = FeatureSet::empty(&[channels * VIBRATION_FEATURES]);
            for item in &data.items {
                if item.data.channels != channels {
                    bail!(
                        "{}: {} channels, but the first file has {channels}",
                        item.source.display(),
                        item.data.channels
                    );
                }
                for c in 0..channels {
                    let f = vibration_features(&item.data.channel(c))
                        .with_context(|| format!("{}: channel {c}", item.source.display()))?;
                    set.values.extend_from_slice(&f);
                }
                set.labels.push(item.label);
                set.groups.push(item.group.clone());
                set.sources.push(item.source.clone());
            }
            let groups = data.groups().iter().map(|g| g.to_string()).collect::<Vec<_>>();
            (data.classes, set, groups)
        }
        DataKind::Images => {
            let data = mote_data::load_images(root, &mote_data::ImageOptions::default())?;
            let Some(first) = data.items.first() else {
                bail!("{}: no images", root.display());
            };
            let shape = [
                first.data.height as usize,
                first.data.width as usize,
                first.data.channels as usize,
            ];
            let mut set = FeatureSet::empty(&shape);
            for item in &data.items {
                let s = &item.data;
                if [s.height as usize, s.width as usize, s.channels as usize] != shape {
                    bail!(
                        "{}: {}×{}×{}, but the first image is {}×{}×{} (resize them to one size)",
                        item.source.display(),
                        s.height,
                        s.width,
                        s.channels,
                        shape[0],
                        shape[1],
                        shape[2]
                    );
                }
                set.values.extend(s.pixels.iter().map(|&p| p as f32 / 255.0));
                set.labels.push(item.label);
                set.groups.push(item.group.clone());
                set.sources.push(item.source.clone());
            }
            let groups = data.groups().iter().map(|g| g.to_string()).collect::<Vec<_>>();
            (data.classes, set, groups)
        }
    };
    if all.is_empty() {
        bail!("{}: no samples", root.display());
    }
    let split: Split = mote_data::split_by_group(&groups, &config)?;
    let balance = mote_data::ClassBalance::new(&classes, &all.labels, &split)
        .with_groups(&groups, &split)
        .to_string();
    Ok(SplitFeatures {
        kind,
        root: root.to_path_buf(),
        classes,
        train: all.subset(&split.train),
        val: all.subset(&split.val),
        test: all.subset(&split.test),
        balance,
    })
}

/// The vibration features of one channel of one clip (see the module docs).
pub fn vibration_features(x: &[f32]) -> Result<[f32; VIBRATION_FEATURES]> {
    if x.len() < VIBRATION_FFT {
        bail!(
            "{} samples; vibration features need at least {VIBRATION_FFT}",
            x.len()
        );
    }
    let bins = VIBRATION_FFT / 2 + 1;
    let hop = VIBRATION_FFT / 2;
    let window: [f32; VIBRATION_FFT] = mote_dsp::window::window(mote_dsp::window::WindowKind::Hann);
    let mut mean_power = vec![0f32; bins];
    let mut frame = [0f32; VIBRATION_FFT];
    let mut power = vec![0f32; bins];
    let mut frames = 0usize;
    let mut start = 0;
    while start + VIBRATION_FFT <= x.len() {
        for (i, f) in frame.iter_mut().enumerate() {
            *f = x[start + i] * window[i];
        }
        mote_dsp::fft::power_spectrum(&mut frame, &mut power).map_err(|e| anyhow!("{e}"))?;
        for (m, p) in mean_power.iter_mut().zip(&power) {
            *m += p;
        }
        frames += 1;
        start += hop;
    }
    let mut out = [0f32; VIBRATION_FEATURES];
    // Bins 1..=256 in 64 bands of 4 (the DC bin carries only the sensor's offset).
    let per_band = (bins - 1) / VIBRATION_BANDS;
    for (b, o) in out.iter_mut().take(VIBRATION_BANDS).enumerate() {
        let e: f32 = mean_power[1 + b * per_band..1 + (b + 1) * per_band].iter().sum();
        // log10 of the band's mean power, scaled so that typical values span about ±1.
        *o = (libm::log10f(e / frames as f32 + 1e-9) + 3.0) / 3.0;
    }
    let stats = mote_dsp::vibration::VibrationFeatures::compute(x);
    out[VIBRATION_BANDS] = libm::log10f(stats.rms + 1e-6);
    out[VIBRATION_BANDS + 1] = libm::log10f(stats.peak + 1e-6);
    out[VIBRATION_BANDS + 2] = stats.crest_factor / 10.0;
    out[VIBRATION_BANDS + 3] = libm::log10f(stats.kurtosis.max(1e-3));
    Ok(out)
}
