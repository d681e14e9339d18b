//! `mote data …`: the dataset tools — generate the synthetic demo datasets (spoken keywords,
//! machine vibration) and summarise a dataset folder's class balance per split. The work is
//! done by the `mote-data` crate; this module parses arguments, shows progress and prints.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use mote_data::{
    read_manifest, ClassBalance, CsvMode, CsvOptions, ImageOptions, KeywordOptions, Split,
    SplitConfig, SynthSummary, VibrationOptions,
};

/// Arguments of `mote data`.
#[derive(clap::Args, Debug, Clone)]
pub struct DataArgs {
    #[command(subcommand)]
    pub command: DataCommand,
}

#[derive(clap::Subcommand, Debug, Clone)]
pub enum DataCommand {
    /// Generate the synthetic spoken-keyword dataset (12 classes: yes, no, up, down, left,
    /// right, on, off, stop, go, silence, unknown) with the speech synthesisers espeak-ng and
    /// flite, mixed with background noise. 1 s 16 kHz wavs in OUT/<label>/<voice>__<n>.wav;
    /// OUT/README.md and OUT/manifest.json list the voices reserved for test. Same seed, same
    /// files; a complete folder made with the same options is reused.
    #[command(name = "synth-keywords")]
    SynthKeywords {
        /// Output folder (new, empty, or one this command made before).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Clips per class.
        #[arg(long, default_value_t = KeywordOptions::default().per_class)]
        per_class: usize,
        /// Worker threads.
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
    /// Generate the synthetic machine-vibration dataset for anomaly detection: 1 s of
    /// acceleration at 4 kHz per CSV, normal operation at varying speed and load, and
    /// imbalance, misalignment, bearing (outer/inner race) and looseness faults. Train on
    /// OUT/normal of the machines not listed as test machines in OUT/README.md.
    #[command(name = "synth-vibration")]
    SynthVibration {
        /// Output folder (new, empty, or one this command made before).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Number of simulated machines.
        #[arg(long, default_value_t = VibrationOptions::default().machines)]
        machines: usize,
        /// Worker threads.
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
    /// Load a dataset folder (DIR/<class>/<files>: .wav, .csv or .png/.bmp), split it by
    /// group with the seed (no speaker, voice or recording on two sides; the test groups of
    /// a synthetic dataset's manifest go to test) and print the class balance per split.
    Summary {
        dir: PathBuf,
        /// The split's seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Fraction of groups for validation.
        #[arg(long, default_value_t = 0.1)]
        val: f64,
        /// Fraction of groups for test, besides the held-out groups (default 0.1, or 0 when
        /// the folder's manifest.json names test groups).
        #[arg(long)]
        test: Option<f64>,
        /// A group to hold out for test (repeatable); adds to the manifest's.
        #[arg(long = "test-group", value_name = "GROUP")]
        test_groups: Vec<String>,
        /// CSV only: cut each file into windows of this many rows (default: whole files).
        #[arg(long, value_name = "ROWS")]
        window: Option<usize>,
        /// CSV only: rows between window starts (default: the window length).
        #[arg(long, value_name = "ROWS", requires = "window")]
        hop: Option<usize>,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `mote data …`.
pub fn run(args: &DataArgs) -> Result<()> {
    match &args.command {
        DataCommand::SynthKeywords {
            out,
            seed,
            per_class,
            threads,
        } => {
            let options = KeywordOptions {
                per_class: *per_class,
                threads: *threads,
                ..KeywordOptions::default()
            };
            let bar = Progress::new("synthesising keywords");
            let summary = mote_data::synth_keywords_with_progress(out, *seed, &options, &|d, t| {
                bar.update(d, t)
            })
            .with_context(|| format!("synth-keywords into {}", out.display()))?;
            bar.finish();
            print_synth(&summary, "voices");
            Ok(())
        }
        DataCommand::SynthVibration {
            out,
            seed,
            machines,
            threads,
        } => {
            let options = VibrationOptions {
                machines: *machines,
                threads: *threads,
                ..VibrationOptions::default()
            };
            let bar = Progress::new("synthesising vibration");
            let summary =
                mote_data::synth_vibration_with_progress(out, *seed, &options, &|d, t| {
                    bar.update(d, t)
                })
                .with_context(|| format!("synth-vibration into {}", out.display()))?;
            bar.finish();
            print_synth(&summary, "machines");
            Ok(())
        }
        DataCommand::Summary {
            dir,
            seed,
            val,
            test,
            test_groups,
            window,
            hop,
            json,
        } => {
            let mut held_out = test_groups.clone();
            let manifest = read_manifest(dir)?;
            if let Some(m) = &manifest {
                held_out.extend(m.test_groups.iter().cloned());
            }
            let default_test = if manifest.as_ref().is_some_and(|m| !m.test_groups.is_empty()) {
                0.0
            } else {
                0.1
            };
            let config = SplitConfig {
                seed: *seed,
                val_fraction: *val,
                test_fraction: test.unwrap_or(default_test),
                test_groups: held_out,
            };
            let mode = match window {
                Some(w) => CsvMode::Windows {
                    window: *w,
                    hop: hop.unwrap_or(*w),
                },
                None => CsvMode::Whole,
            };
            let (kind, balance, split) = summarise(dir, &config, mode)?;
            if *json {
                let value = serde_json::json!({
                    "dir": dir.display().to_string(),
                    "kind": kind,
                    "synthetic": manifest.as_ref().is_some_and(|m| m.synthetic),
                    "balance": balance,
                    "unmatched_test_groups": split.unmatched_test_groups,
                });
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                let note = if manifest.as_ref().is_some_and(|m| m.synthetic) {
                    ", synthetic"
                } else {
                    ""
                };
                println!("{} ({kind}{note}), split seed {seed}:", dir.display());
                println!("{balance}");
                if !split.unmatched_test_groups.is_empty() {
                    eprintln!(
                        "note: held-out groups with no items: {}",
                        split.unmatched_test_groups.join(", ")
                    );
                }
            }
            Ok(())
        }
    }
}

/// Loads `dir` as whichever kind of files it holds most of, splits it and counts.
fn summarise(
    dir: &Path,
    config: &SplitConfig,
    mode: CsvMode,
) -> Result<(&'static str, ClassBalance, Split)> {
    let kind = detect_kind(dir)?;
    macro_rules! balance {
        ($ds:expr) => {{
            let ds = $ds;
            let split = ds.split(config)?;
            let balance = ds.class_balance(&split).with_groups(&ds.groups(), &split);
            (balance, split)
        }};
    }
    let (balance, split) = match kind {
        "wav" => balance!(mote_data::load_audio(dir)?),
        "csv" => balance!(mote_data::load_csv(dir, &CsvOptions { mode })?),
        _ => balance!(mote_data::load_images(dir, &ImageOptions::default())?),
    };
    Ok((kind, balance, split))
}

/// `wav`, `csv` or `image`: the most common kind of file in the class folders.
fn detect_kind(dir: &Path) -> Result<&'static str> {
    let mut counts = [0usize; 3];
    let entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    for class in entries.flatten() {
        if !class.path().is_dir() {
            continue;
        }
        for file in std::fs::read_dir(class.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let ext = file
                .path()
                .extension()
                .map(|e| e.to_string_lossy().to_ascii_lowercase())
                .unwrap_or_default();
            match ext.as_str() {
                "wav" => counts[0] += 1,
                "csv" => counts[1] += 1,
                "png" | "bmp" => counts[2] += 1,
                _ => {}
            }
        }
    }
    let best = (0..3).max_by_key(|&i| counts[i]).unwrap_or(0);
    if counts[best] == 0 {
        bail!(
            "{}: no .wav, .csv, .png or .bmp files in class folders (expected DIR/<class>/<file>)",
            dir.display()
        );
    }
    Ok(["wav", "csv", "image"][best])
}

fn print_synth(summary: &SynthSummary, groups: &str) {
    let verb = if summary.reused {
        "reused (same seed and options)"
    } else {
        "wrote"
    };
    println!(
        "{verb} {} synthetic clips in {} ({:.1} s)",
        summary.total(),
        summary.out.display(),
        summary.seconds
    );
    for (class, count) in summary.classes.iter().zip(&summary.counts) {
        println!("  {class:<14} {count}");
    }
    println!(
        "test {groups} ({}): {}",
        summary.test_groups.len(),
        summary.test_groups.join(", ")
    );
    println!("see {}", summary.out.join("README.md").display());
}

/// An indicatif bar created on the first report (when the total is known).
struct Progress {
    message: &'static str,
    bar: OnceLock<ProgressBar>,
}

impl Progress {
    fn new(message: &'static str) -> Self {
        Progress {
            message,
            bar: OnceLock::new(),
        }
    }

    fn update(&self, done: usize, total: usize) {
        let bar = self.bar.get_or_init(|| {
            let bar = ProgressBar::new(total as u64).with_message(self.message);
            if let Ok(style) =
                ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({elapsed}, eta {eta})")
            {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        // Threads report out of order; the bar only moves forward.
        if done as u64 > bar.position() {
            bar.set_position(done as u64);
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.bar.get() {
            bar.finish_and_clear();
        }
    }
}
