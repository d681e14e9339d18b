//! Datasets for mote: loading labelled sensor data from folders, splitting it into
//! train/validation/test without leakage, summarising class balance, and generating
//! synthetic demo data that needs no download.
//!
//! DESIGN.md places datasets in `mote-train`; they live in this crate of their own so that
//! the data tools (`mote data …`, and anyone who only wants to load or split a folder)
//! build without the training framework and its tensor library.
//!
//! Layout convention for every loader: `ROOT/<class>/<file>`; the class is the folder name
//! (folders starting with `.` or `_`, such as Speech Commands' `_background_noise_`, are
//! skipped). Every item also carries a **group** — the speaker, voice, machine or recording
//! it came from — so that a split never puts one group on two sides (see [`group_of`]).
//!
//! - [`load_audio`]: `.wav` clips as mono int16 at 16 kHz ([`audio`]).
//! - [`load_csv`]: `.csv` time series, whole files or sliding windows ([`series`]).
//! - [`load_images`]: `.png`/`.bmp` images ([`images`]).
//! - [`split_by_group`] and [`ClassBalance`]: deterministic, leak-free splits ([`split`]).
//! - [`synth::keywords`] and [`synth::vibration`]: seeded synthetic datasets.

pub mod audio;
pub mod dataset;
pub mod error;
pub mod images;
pub mod series;
pub mod split;
pub mod synth;

pub use audio::{load_audio, load_wav, resample, AudioClip, AudioDataset, SAMPLE_RATE};
pub use dataset::{group_of, Dataset, Item};
pub use error::{Error, Result};
pub use images::{load_image, load_images, ImageDataset, ImageOptions, ImageSample};
pub use series::{load_csv, read_series, CsvMode, CsvOptions, Series, SeriesDataset};
pub use split::{split_by_group, ClassBalance, Part, Split, SplitConfig};
pub use synth::keywords::{synth_keywords, synth_keywords_with_progress, KeywordOptions};
pub use synth::vibration::{synth_vibration, synth_vibration_with_progress, VibrationOptions};
pub use synth::{read_manifest, Manifest, SynthSummary};
