//! **Synthetic** spoken keywords, in the layout of Google's Speech Commands: 12 classes —
//! "yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", `silence` and
//! `unknown` (other words) — as 1 s mono int16 16 kHz clips in `out/<label>/<voice>__<n>.wav`.
//!
//! Every clip is made by a speech synthesiser from Debian's packages: `espeak-ng` (its
//! English accents × its voice variants, at random pitch and speed) or `flite` (the voices
//! `kal`, `kal16`, `awb`, `rms`, `slt`, at random duration stretch). The word is trimmed,
//! resampled to 16 kHz with a random ±8% speed perturbation (pitch and tempo together),
//! placed at a random offset, given a random level, and mixed with seeded background noise
//! (white, pink, brown, mains hum, babble-like) at a random signal-to-noise ratio.
//! `silence` clips are noise alone, at a random level.
//!
//! The group of a clip is its voice (`espeak-en-us+f3`, `flite-kal`); a fraction of the
//! voices, chosen by the seed, plus the flite voice `rms`, are reserved for the test split
//! and listed in `manifest.json` and `README.md`, so that a model is scored on voices it
//! never heard. Everything is derived from the seed: the same seed gives byte-identical files.

use std::path::Path;
use std::process::Command;

use rand::seq::IndexedRandom;
use rand::Rng;
use serde::Serialize;

use super::noise::{noise, rms, NoiseKind};
use super::{
    clip_rng, prepare_out, reusable, run_parallel, write_manifest, Manifest, SynthSummary,
};
use crate::audio::{read_wav_mono_f32, resample_ratio, to_i16, write_wav, SAMPLE_RATE};
use crate::error::{Error, Result};
use crate::split::group_hash;

/// The generator's name in `manifest.json`.
pub const GENERATOR: &str = "synth-keywords";
/// Bumped whenever the output for a given seed and options changes (2: espeak-ng variant
/// names fixed, see [`ESPEAK_VARIANTS`]).
pub const GENERATOR_VERSION: u32 = 2;

/// The ten keywords of the Speech Commands benchmark's 12-class task.
pub const KEYWORDS: [&str; 10] = [
    "yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go",
];
/// Words for the `unknown` class (Speech Commands' auxiliary words and digits).
pub const UNKNOWN_WORDS: [&str; 20] = [
    "bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow", "zero",
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
];

/// espeak-ng English accents (only the built-in voices: the mbrola ones need extra packages).
const ESPEAK_ACCENTS: [&str; 8] = [
    "en-us",
    "en-gb",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-029",
    "en-us-nyc",
];
/// espeak-ng voice variants (`voices/!v`): male, female, klatt-synthesised and character
/// voices. The whisper and robot variants are left out: no keyword spotter hears those.
/// A name is the variant's file name, case included: espeak-ng silently speaks with the
/// plain accent for a name it does not find (version 1 asked for `Paul`, `Robert` and
/// `Steph`, and got the accent's default voice under three more group names).
const ESPEAK_VARIANTS: [&str; 30] = [
    "", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2",
    "klatt3", "croak", "Andy", "Annie", "Denis", "Gene", "Jacky", "Lee", "Mario", "Michael",
    "paul", "robert", "steph", "grandpa", "linda",
];
/// flite voices and the speaker (group) each belongs to: `kal` and `kal16` are one speaker.
const FLITE_VOICES: [(&str, &str); 5] = [
    ("kal", "flite-kal"),
    ("kal16", "flite-kal"),
    ("awb", "flite-awb"),
    ("rms", "flite-rms"),
    ("slt", "flite-slt"),
];
/// `silence` clips have no voice; they are spread over this many pseudo-recordings
/// (`noise-00`, …) so that a split can put some of them on each side.
const NOISE_GROUPS: usize = 20;

fn noise_group(k: usize) -> String {
    format!("noise-{k:02}")
}

/// The flite speaker always held out for test.
const FLITE_TEST_GROUP: &str = "flite-rms";

/// Options for [`synth_keywords`]. The defaults are the demo's dataset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeywordOptions {
    /// Clips per class (all 12 classes get the same number).
    pub per_class: usize,
    /// Worker threads (each runs one synthesiser process at a time). Not part of the
    /// manifest: the files are the same for any number of threads.
    #[serde(skip)]
    pub threads: usize,
    /// Fraction of the espeak-ng voices reserved for test (chosen by the seed).
    pub test_voice_fraction: f64,
    /// Share of the spoken clips made with flite (its few voices are more natural).
    pub flite_share: f64,
    /// Signal-to-noise ratio range in dB.
    pub snr_db: (f32, f32),
}

impl Default for KeywordOptions {
    fn default() -> Self {
        KeywordOptions {
            per_class: 250,
            threads: 2,
            test_voice_fraction: 0.2,
            flite_share: 0.25,
            snr_db: (5.0, 35.0),
        }
    }
}

/// The 12 class names, in folder order of the output.
pub fn class_names() -> Vec<String> {
    let mut names: Vec<String> = KEYWORDS.iter().map(|w| w.to_string()).collect();
    names.push("silence".into());
    names.push("unknown".into());
    names
}

/// A synthesiser voice and the group (speaker) its clips belong to.
#[derive(Debug, Clone)]
struct Voice {
    group: String,
    engine: Engine,
}

#[derive(Debug, Clone)]
enum Engine {
    /// `-v` argument, e.g. `en-us+f3`.
    Espeak(String),
    /// `-voice` argument.
    Flite(&'static str),
}

fn espeak_voices() -> Vec<Voice> {
    let mut voices = Vec::new();
    for accent in ESPEAK_ACCENTS {
        for variant in ESPEAK_VARIANTS {
            let name = if variant.is_empty() {
                accent.to_string()
            } else {
                format!("{accent}+{variant}")
            };
            voices.push(Voice {
                group: format!("espeak-{name}"),
                engine: Engine::Espeak(name),
            });
        }
    }
    voices
}

fn flite_voices() -> Vec<Voice> {
    FLITE_VOICES
        .iter()
        .map(|(voice, group)| Voice {
            group: group.to_string(),
            engine: Engine::Flite(voice),
        })
        .collect()
}

/// The voices held out for test: a seeded `fraction` of the espeak-ng voices plus one
/// flite speaker, and the same fraction of the `silence` pseudo-recordings.
fn test_groups(seed: u64, fraction: f64) -> Vec<String> {
    let pick = |names: Vec<String>| {
        let mut ranked: Vec<(u64, String)> = names
            .into_iter()
            .map(|g| (group_hash(seed ^ 0x766f_6963_6573, &g), g))
            .collect();
        ranked.sort();
        let n = (ranked.len() as f64 * fraction).round() as usize;
        ranked
            .into_iter()
            .take(n)
            .map(|(_, g)| g)
            .collect::<Vec<_>>()
    };
    let mut groups = pick(espeak_voices().into_iter().map(|v| v.group).collect());
    groups.extend(pick((0..NOISE_GROUPS).map(noise_group).collect()));
    groups.push(FLITE_TEST_GROUP.to_string());
    groups.sort();
    groups
}

/// Generates the keyword dataset in `out` (see the module docs), or reuses it when `out`
/// already holds a complete one made with the same seed and options.
pub fn synth_keywords(
    out: impl AsRef<Path>,
    seed: u64,
    options: &KeywordOptions,
) -> Result<SynthSummary> {
    synth_keywords_with_progress(out, seed, options, &|_, _| {})
}

/// [`synth_keywords`], calling `progress(done, total)` after each clip.
pub fn synth_keywords_with_progress(
    out: impl AsRef<Path>,
    seed: u64,
    options: &KeywordOptions,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<SynthSummary> {
    let started = std::time::Instant::now();
    let out = out.as_ref();
    validate(options)?;
    let classes = class_names();
    let parameters = serde_json::to_value(options).map_err(|e| Error::Options(e.to_string()))?;
    if let Some(m) = reusable(out, GENERATOR, GENERATOR_VERSION, seed, &parameters) {
        return Ok(SynthSummary {
            out: out.to_path_buf(),
            classes: m.classes,
            counts: m.counts,
            test_groups: m.test_groups,
            reused: true,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    check_tool("espeak-ng")?;
    check_tool("flite")?;
    prepare_out(out, GENERATOR)?;

    let test_groups = test_groups(seed, options.test_voice_fraction);
    let mut manifest = Manifest {
        generator: GENERATOR.into(),
        generator_version: GENERATOR_VERSION,
        seed,
        parameters,
        synthetic: true,
        complete: false,
        classes: classes.clone(),
        counts: vec![options.per_class; classes.len()],
        test_groups: test_groups.clone(),
        files: Vec::new(),
    };
    write_manifest(out, &manifest)?;
    for class in &classes {
        let dir = out.join(class);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    }

    let espeak = espeak_voices();
    let flite = flite_voices();
    let jobs = classes.len() * options.per_class;
    let scratch = tempfile::tempdir().map_err(|e| Error::io(std::env::temp_dir(), e))?;
    let files: Vec<std::sync::Mutex<String>> = (0..jobs).map(|_| Default::default()).collect();
    run_parallel(jobs, options.threads, progress, |job| {
        let class = job / options.per_class;
        let n = job % options.per_class;
        let mut rng = clip_rng(seed, job as u64);
        let spec = plan_clip(&mut rng, class, &espeak, &flite, options);
        let wav = scratch.path().join(format!("tts-{job}.wav"));
        let samples = make_clip(&spec, &wav, &mut rng, options)?;
        let _ = std::fs::remove_file(&wav);
        let relative = format!("{}/{}__{n:04}.wav", classes[class], spec.group);
        write_wav(&out.join(&relative), &samples)?;
        if let Ok(mut slot) = files[job].lock() {
            *slot = relative;
        }
        Ok(())
    })?;

    manifest.files = files
        .into_iter()
        .map(|m| m.into_inner().unwrap_or_default())
        .collect();
    std::fs::write(out.join("README.md"), readme(seed, options, &test_groups))
        .map_err(|e| Error::io(out.join("README.md"), e))?;
    manifest.complete = true;
    write_manifest(out, &manifest)?;
    Ok(SynthSummary {
        out: out.to_path_buf(),
        classes,
        counts: manifest.counts,
        test_groups,
        reused: false,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn validate(options: &KeywordOptions) -> Result<()> {
    let (lo, hi) = options.snr_db;
    if options.per_class == 0
        || options.threads == 0
        || !(0.0..1.0).contains(&options.test_voice_fraction)
        || !(0.0..=1.0).contains(&options.flite_share)
        || !(lo.is_finite() && hi.is_finite() && lo <= hi)
    {
        return Err(Error::Options(format!("{options:?}")));
    }
    Ok(())
}

/// Fails with the install hint when a synthesiser is not on PATH.
fn check_tool(tool: &str) -> Result<()> {
    match Command::new(tool).arg("--version").output() {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(Error::ToolMissing { tool: tool.into() })
        }
        Err(e) => Err(Error::ToolFailed {
            command: format!("{tool} --version"),
            stderr: e.to_string(),
        }),
    }
}

/// Everything random about one clip, drawn before any work so that the clip depends only
/// on its own stream.
struct ClipSpec {
    group: String,
    /// None for `silence`.
    speech: Option<(Engine, String)>,
    espeak_pitch: u32,
    espeak_speed: u32,
    flite_stretch: f32,
}

fn plan_clip(
    rng: &mut rand_chacha::ChaCha8Rng,
    class: usize,
    espeak: &[Voice],
    flite: &[Voice],
    options: &KeywordOptions,
) -> ClipSpec {
    let silence = class == KEYWORDS.len();
    let word = if class < KEYWORDS.len() {
        KEYWORDS[class]
    } else {
        UNKNOWN_WORDS.choose(rng).copied().unwrap_or("bed")
    };
    let pool = if rng.random_bool(options.flite_share) {
        flite
    } else {
        espeak
    };
    let voice = pool
        .choose(rng)
        .cloned()
        .unwrap_or_else(|| espeak_voices().remove(0));
    ClipSpec {
        group: if silence {
            noise_group(rng.random_range(0..NOISE_GROUPS))
        } else {
            voice.group.clone()
        },
        speech: (!silence).then(|| (voice.engine, word.to_string())),
        espeak_pitch: rng.random_range(15..=85),
        espeak_speed: rng.random_range(120..=220),
        flite_stretch: rng.random_range(0.8f32..1.3),
    }
}

/// Synthesises (through `wav`, a scratch file), places and mixes one 1 s clip.
fn make_clip(
    spec: &ClipSpec,
    wav: &Path,
    rng: &mut rand_chacha::ChaCha8Rng,
    options: &KeywordOptions,
) -> Result<Vec<i16>> {
    let n = SAMPLE_RATE as usize;
    let mut clip = vec![0.0f32; n];
    let kind = *NoiseKind::ALL.choose(rng).unwrap_or(&NoiseKind::White);
    let background = noise(kind, n, SAMPLE_RATE as f32, rng);
    match &spec.speech {
        None => {
            // Silence: background alone, from nearly nothing to a noisy room.
            let level_db: f32 = if rng.random_bool(0.15) {
                -80.0
            } else {
                rng.random_range(-65.0..-20.0)
            };
            let level = 10f32.powf(level_db / 20.0);
            for (c, b) in clip.iter_mut().zip(&background) {
                *c = level * b;
            }
        }
        Some((engine, word)) => {
            let (raw, rate) = speak(engine, word, spec, wav)?;
            let perturb = rng.random_range(0.92f64..1.08);
            let speech = resample_ratio(&raw, SAMPLE_RATE as f64 / rate as f64 * perturb).map_err(
                |what| Error::Resample {
                    path: wav.to_path_buf(),
                    what,
                },
            )?;
            let mut speech = trim(&speech);
            let longest = n - n / 40;
            if speech.len() > longest {
                speech.truncate(longest);
                let fade = 320.min(longest);
                for i in 0..fade {
                    speech[longest - 1 - i] *= i as f32 / fade as f32;
                }
            }
            let peak = speech.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            if peak <= 0.0 {
                return Err(Error::ToolFailed {
                    command: describe(engine, word, spec),
                    stderr: "the synthesiser produced silence".into(),
                });
            }
            let level = 10f32.powf(rng.random_range(-20.0f32..-1.0) / 20.0) / peak;
            speech.iter_mut().for_each(|v| *v *= level);
            let offset = rng.random_range(0..=n - speech.len());
            clip[offset..offset + speech.len()].copy_from_slice(&speech);
            let snr_db = rng.random_range(options.snr_db.0..=options.snr_db.1);
            let noise_level = rms(&speech) / 10f32.powf(snr_db / 20.0);
            for (c, b) in clip.iter_mut().zip(&background) {
                *c += noise_level * b;
            }
        }
    }
    Ok(clip.into_iter().map(to_i16).collect())
}

/// The synthesiser's output for one word: mono samples and their rate.
fn speak(engine: &Engine, word: &str, spec: &ClipSpec, wav: &Path) -> Result<(Vec<f32>, u32)> {
    let mut command = match engine {
        Engine::Espeak(voice) => {
            let mut c = Command::new("espeak-ng");
            c.arg("-v")
                .arg(voice)
                .arg("-p")
                .arg(spec.espeak_pitch.to_string())
                .arg("-s")
                .arg(spec.espeak_speed.to_string())
                .arg("-w")
                .arg(wav)
                .arg(word);
            c
        }
        Engine::Flite(voice) => {
            let mut c = Command::new("flite");
            c.arg("-voice")
                .arg(voice)
                .arg("--setf")
                .arg(format!("duration_stretch={:.3}", spec.flite_stretch))
                .arg("-t")
                .arg(word)
                .arg("-o")
                .arg(wav);
            c
        }
    };
    let output = command.output().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::ToolMissing {
            tool: match engine {
                Engine::Espeak(_) => "espeak-ng".into(),
                Engine::Flite(_) => "flite".into(),
            },
        },
        _ => Error::ToolFailed {
            command: describe(engine, word, spec),
            stderr: e.to_string(),
        },
    })?;
    if !output.status.success() || !wav.is_file() {
        return Err(Error::ToolFailed {
            command: describe(engine, word, spec),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    read_wav_mono_f32(wav)
}

fn describe(engine: &Engine, word: &str, spec: &ClipSpec) -> String {
    match engine {
        Engine::Espeak(v) => format!(
            "espeak-ng -v {v} -p {} -s {} {word}",
            spec.espeak_pitch, spec.espeak_speed
        ),
        Engine::Flite(v) => format!(
            "flite -voice {v} --setf duration_stretch={:.3} -t {word}",
            spec.flite_stretch
        ),
    }
}

/// Cuts leading and trailing near-silence (below 2% of the peak, smoothed over 5 ms) and
/// keeps 10 ms on each side so that onsets are not clipped.
fn trim(x: &[f32]) -> Vec<f32> {
    let peak = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    if peak == 0.0 {
        return Vec::new();
    }
    let threshold = 0.02 * peak;
    let hop = 80;
    let loud = |chunk: &[f32]| chunk.iter().fold(0.0f32, |m, v| m.max(v.abs())) > threshold;
    let chunks: Vec<&[f32]> = x.chunks(hop).collect();
    let first = chunks.iter().position(|c| loud(c)).unwrap_or(0);
    let last = chunks
        .iter()
        .rposition(|c| loud(c))
        .unwrap_or(chunks.len().saturating_sub(1));
    let margin = 160;
    let start = (first * hop).saturating_sub(margin);
    let end = ((last + 1) * hop + margin).min(x.len());
    x[start..end].to_vec()
}

fn readme(seed: u64, options: &KeywordOptions, test_groups: &[String]) -> String {
    let classes = class_names().join(", ");
    format!(
        "# Synthetic spoken keywords (seed {seed})\n\n\
**This data is synthetic.** No person recorded it: every clip was generated by \
`mote data synth-keywords` (crate `mote-data`) with Debian's speech synthesisers \
`espeak-ng` and `flite`. It is meant for demos and tests of keyword spotting, not as a \
substitute for recorded speech.\n\n\
## Layout\n\n\
`<label>/<voice>__<n>.wav`: 1 s, mono, 16-bit, 16 kHz. {per} clips in each of the 12 \
classes: {classes}. The part of a file name before `__` is its group (the voice); \
`silence` clips belong to pseudo-recordings `noise-00` … `noise-19`.\n\n\
## How it was made\n\n\
- Voices: espeak-ng's English accents ({accents}) × its variants ({variants}), at pitch \
15–85 and 120–220 words per minute; flite's voices kal, kal16, awb, rms and slt \
(duration stretch 0.8–1.3), for {flite:.0}% of the spoken clips. `unknown` clips say one \
of: {unknown}.\n\
- Each word is trimmed of silence, resampled to 16 kHz with a random ±8% speed \
perturbation, placed at a random offset, scaled to a peak of −20 to −1 dBFS, and mixed \
with background noise (white, pink, brown, mains hum or babble-like) at {lo}–{hi} dB SNR.\n\
- `silence` clips are background noise alone, at −65 to −20 dBFS (some at −80).\n\
- Everything is derived from the seed ({seed}): generating again with the same seed and \
options gives byte-identical files.\n\n\
## Test voices\n\n\
These {nt} groups are reserved for the test split (they are also in `manifest.json` under \
`test_groups`), so that a model is scored on voices it never heard in training:\n\n{list}\n",
        per = options.per_class,
        accents = ESPEAK_ACCENTS.join(", "),
        variants = ESPEAK_VARIANTS
            .iter()
            .filter(|v| !v.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(", "),
        flite = 100.0 * options.flite_share,
        unknown = UNKNOWN_WORDS.join(", "),
        lo = options.snr_db.0,
        hi = options.snr_db.1,
        nt = test_groups.len(),
        list = test_groups
            .iter()
            .map(|g| format!("- `{g}`"))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// Every espeak-ng variant the generator asks for, as file names in espeak-ng's
/// `voices/!v` (for tests: each must exist).
pub fn espeak_variant_names() -> Vec<&'static str> {
    ESPEAK_VARIANTS
        .iter()
        .copied()
        .filter(|v| !v.is_empty())
        .collect()
}

/// The voices the generator uses, by group (for documentation and tests).
pub fn voice_groups() -> Vec<String> {
    let mut groups: Vec<String> = espeak_voices()
        .into_iter()
        .chain(flite_voices())
        .map(|v| v.group)
        .collect();
    groups.dedup();
    groups
}
