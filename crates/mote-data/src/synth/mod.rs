//! Synthetic demo datasets, generated deterministically from a seed so that the demos need
//! no download: spoken keywords from Debian's speech synthesisers ([`keywords`]) and a
//! rotating machine's vibration with fault signatures ([`vibration`]). Both write a
//! `README.md` saying the data is synthetic, and a `manifest.json` with the parameters: a
//! second run with the same parameters over a complete folder reuses it instead of
//! regenerating, and a folder that a run left half-written is regenerated.

pub mod keywords;
mod noise;
pub mod vibration;

use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The file that describes a synthetic dataset.
pub const MANIFEST: &str = "manifest.json";

/// What `manifest.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// `synth-keywords` or `synth-vibration`.
    pub generator: String,
    /// Bumped whenever the generator's output for a given seed changes.
    pub generator_version: u32,
    pub seed: u64,
    /// The options the data was made with.
    pub parameters: serde_json::Value,
    /// Always true: this data was synthesised, not recorded.
    pub synthetic: bool,
    /// False while files are being written.
    pub complete: bool,
    pub classes: Vec<String>,
    /// Files per class, in `classes` order.
    pub counts: Vec<usize>,
    /// The groups (voices, machines) reserved for the test split.
    pub test_groups: Vec<String>,
    /// Every data file, relative to the folder.
    pub files: Vec<String>,
}

/// What a synthesiser produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SynthSummary {
    pub out: PathBuf,
    pub classes: Vec<String>,
    pub counts: Vec<usize>,
    pub test_groups: Vec<String>,
    /// True when an existing complete folder with the same parameters was reused.
    pub reused: bool,
    /// Wall-clock time of this call.
    pub seconds: f64,
}

impl SynthSummary {
    pub fn total(&self) -> usize {
        self.counts.iter().sum()
    }
}

/// Reads `DIR/manifest.json`; `Ok(None)` when the folder has none.
pub fn read_manifest(dir: impl AsRef<Path>) -> Result<Option<Manifest>> {
    let path = dir.as_ref().join(MANIFEST);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(path, e)),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| Error::Manifest {
            path,
            what: e.to_string(),
        })
}

fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<()> {
    let path = dir.join(MANIFEST);
    let text = serde_json::to_string_pretty(manifest).map_err(|e| Error::Manifest {
        path: path.clone(),
        what: e.to_string(),
    })?;
    // Written to a temporary name and renamed, so a crash never leaves a torn manifest.
    let temporary = dir.join(format!("{MANIFEST}.tmp"));
    std::fs::write(&temporary, text + "\n").map_err(|e| Error::io(&temporary, e))?;
    std::fs::rename(&temporary, &path).map_err(|e| Error::io(&path, e))
}

/// Whether `out` already holds a complete dataset made with exactly these parameters.
fn reusable(
    out: &Path,
    generator: &str,
    version: u32,
    seed: u64,
    parameters: &serde_json::Value,
) -> Option<Manifest> {
    let m = read_manifest(out).ok()??;
    let same = m.complete
        && m.generator == generator
        && m.generator_version == version
        && m.seed == seed
        && &m.parameters == parameters
        && m.files.iter().all(|f| out.join(f).is_file());
    same.then_some(m)
}

/// Prepares `out` for a fresh dataset: creates it, or clears what an earlier run of the
/// same generator wrote. A folder holding anything else is refused rather than mixed into.
fn prepare_out(out: &Path, generator: &str) -> Result<()> {
    if out.exists() {
        let mut entries = std::fs::read_dir(out).map_err(|e| Error::io(out, e))?;
        let empty = entries.next().is_none();
        if !empty {
            match read_manifest(out)? {
                Some(m) if m.generator == generator => {
                    for class in &m.classes {
                        let dir = out.join(class);
                        if dir.is_dir() {
                            std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
                        }
                    }
                }
                _ => {
                    return Err(Error::Options(format!(
                        "{} is not empty and holds no {generator} dataset; choose an empty or new folder",
                        out.display()
                    )))
                }
            }
        }
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))
}

/// The random stream of one clip: the seed picks the key, the clip's number the stream, so
/// a clip's content does not depend on which thread made it or in what order.
fn clip_rng(seed: u64, clip: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(clip);
    rng
}

/// Runs `make(job)` for `0..jobs` on `threads` threads; stops at the first error.
fn run_parallel<F>(
    jobs: usize,
    threads: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
    make: F,
) -> Result<()>
where
    F: Fn(usize) -> Result<()> + Sync,
{
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let first_error = std::sync::Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| loop {
                if failed.load(Ordering::Relaxed) {
                    break;
                }
                let job = next.fetch_add(1, Ordering::Relaxed);
                if job >= jobs {
                    break;
                }
                if let Err(e) = make(job) {
                    failed.store(true, Ordering::Relaxed);
                    if let Ok(mut slot) = first_error.lock() {
                        slot.get_or_insert(e);
                    }
                    break;
                }
                progress(done.fetch_add(1, Ordering::Relaxed) + 1, jobs);
            });
        }
    });
    match first_error.into_inner() {
        Ok(Some(e)) => Err(e),
        _ => Ok(()),
    }
}
