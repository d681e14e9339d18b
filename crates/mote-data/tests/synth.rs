//! The synthesisers: same seed → identical files, reuse of a complete folder, layouts that
//! the loaders read, held-out groups, and the physics of the vibration faults.

use std::collections::BTreeMap;
use std::path::Path;

use mote_data::synth::vibration::{sample_clip, Condition};
use mote_data::{
    load_audio, load_csv, read_manifest, synth_keywords, synth_vibration, CsvOptions,
    KeywordOptions, SplitConfig, VibrationOptions,
};

/// Whether the speech synthesisers are installed; with MOTE_REQUIRE_TTS=1 their absence
/// fails the test instead of skipping it.
fn have_tts() -> bool {
    let found = ["espeak-ng", "flite"].iter().all(|tool| {
        std::process::Command::new(tool)
            .arg("--version")
            .output()
            .is_ok()
    });
    if !found {
        assert!(
            std::env::var_os("MOTE_REQUIRE_TTS").is_none(),
            "espeak-ng/flite missing and MOTE_REQUIRE_TTS is set (apt-get install espeak-ng flite)"
        );
        eprintln!("skipping: espeak-ng or flite not installed");
    }
    found
}

/// Every file under `dir` (relative path → bytes).
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// espeak-ng speaks with the accent's default voice, without a word, when a variant name is
/// not one of its files: every variant the generator names must be in its list.
#[test]
fn keyword_espeak_variants_exist() {
    if !have_tts() {
        return;
    }
    let out = std::process::Command::new("espeak-ng")
        .arg("--voices=variant")
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    let files: Vec<&str> = listing
        .lines()
        .filter_map(|line| line.split_whitespace().find(|w| w.starts_with("!v/")))
        .map(|f| &f[3..])
        .collect();
    assert!(files.len() > 20, "espeak-ng --voices=variant:\n{listing}");
    let names = mote_data::synth::keywords::espeak_variant_names();
    let missing: Vec<_> = names.iter().filter(|n| !files.contains(n)).collect();
    assert!(missing.is_empty(), "not espeak-ng variants: {missing:?}");
}

#[test]
fn keywords_are_deterministic_loadable_and_reused() {
    if !have_tts() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let options = KeywordOptions {
        per_class: 4,
        ..KeywordOptions::default()
    };
    let summary = synth_keywords(&a, 11, &options).unwrap();
    assert!(!summary.reused);
    assert_eq!(summary.classes.len(), 12);
    assert_eq!(summary.total(), 48);
    let one_thread = KeywordOptions {
        threads: 1,
        ..options.clone()
    };
    synth_keywords(&b, 11, &one_thread).unwrap();
    let (fa, fb) = (files(&a), files(&b));
    assert_eq!(fa.len(), 48 + 2, "48 clips, README.md, manifest.json");
    assert!(fa == fb, "same seed, different files");

    // A different seed gives different clips.
    let c = tmp.path().join("c");
    synth_keywords(&c, 12, &options).unwrap();
    assert_ne!(files(&c), fa);

    // Reuse: a second run over the complete folder changes nothing.
    let again = synth_keywords(&a, 11, &options).unwrap();
    assert!(again.reused);
    assert_eq!(again.counts, summary.counts);
    // Different options over our own folder: regenerated, old clips gone.
    let more = KeywordOptions {
        per_class: 2,
        ..options.clone()
    };
    let regenerated = synth_keywords(&a, 11, &more).unwrap();
    assert!(!regenerated.reused);
    assert_eq!(files(&a).len(), 24 + 2);

    let ds = load_audio(&b).unwrap();
    assert_eq!(ds.items.len(), 48);
    assert!(ds.items.iter().all(|i| i.data.samples.len() == 16_000));
    let readme = std::fs::read_to_string(b.join("README.md")).unwrap();
    assert!(readme.contains("synthetic"));
    let manifest = read_manifest(&b).unwrap().unwrap();
    assert!(manifest.complete && manifest.synthetic);
    for g in &manifest.test_groups {
        assert!(readme.contains(g.as_str()), "{g} missing from README");
    }

    // Loudness: spoken clips are louder than silence clips on average.
    let rms =
        |s: &[i16]| (s.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / s.len() as f64).sqrt();
    let mean_rms = |class: &str| {
        let label = ds.class_index(class).unwrap();
        let clips: Vec<f64> = ds
            .items
            .iter()
            .filter(|i| i.label == label)
            .map(|i| rms(&i.data.samples))
            .collect();
        clips.iter().sum::<f64>() / clips.len() as f64
    };
    assert!(mean_rms("yes") > 2.0 * mean_rms("silence"));

    // The manifest's held-out voices land on the test side only.
    let split = ds
        .split(&SplitConfig {
            seed: 0,
            val_fraction: 0.2,
            test_fraction: 0.0,
            test_groups: manifest.test_groups.clone(),
        })
        .unwrap();
    for &i in split.train.iter().chain(&split.val) {
        assert!(!manifest.test_groups.contains(&ds.items[i].group));
    }
}

#[test]
fn refuses_a_folder_it_did_not_make() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("precious.txt"), "keep me").unwrap();
    let err = synth_vibration(tmp.path(), 1, &VibrationOptions::default()).unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
    assert!(tmp.path().join("precious.txt").exists());
}

fn small_vibration() -> VibrationOptions {
    VibrationOptions {
        machines: 4,
        normal_per_machine: 3,
        faults_per_machine: 1,
        ..VibrationOptions::default()
    }
}

#[test]
fn vibration_layout_determinism_and_split() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let summary = synth_vibration(&a, 5, &small_vibration()).unwrap();
    assert_eq!(summary.counts, [12, 4, 4, 4, 4, 4]);
    // 25% of 4 machines.
    assert_eq!(summary.test_groups.len(), 1);
    // One thread or two: the same files (each clip has its own random stream).
    let one_thread = VibrationOptions {
        threads: 1,
        ..small_vibration()
    };
    synth_vibration(&b, 5, &one_thread).unwrap();
    assert!(files(&a) == files(&b));
    assert!(synth_vibration(&a, 5, &small_vibration()).unwrap().reused);

    let ds = load_csv(&a, &CsvOptions::default()).unwrap();
    assert_eq!(ds.items.len(), 32);
    assert!(ds
        .items
        .iter()
        .all(|i| i.data.frames == 4000 && i.data.columns == ["accel_g"]));
    let normal = ds.class_index("normal").unwrap();
    let split = ds
        .split(&SplitConfig {
            seed: 0,
            val_fraction: 0.0,
            test_fraction: 0.0,
            test_groups: summary.test_groups.clone(),
        })
        .unwrap();
    // Train: normal and fault clips of the other machines; test: the held-out machine's.
    assert_eq!(split.test.len(), 8 * summary.test_groups.len());
    assert!(split.test.iter().any(|&i| ds.items[i].label == normal));
    assert!(split.test.iter().any(|&i| ds.items[i].label != normal));
    let recordings = std::fs::read_to_string(a.join("recordings.csv")).unwrap();
    assert_eq!(recordings.lines().count(), 33);
}

/// Amplitude of the component at `hz` (least-squares fit of a sine and cosine, with a
/// Hann window to keep neighbouring components out).
fn amplitude_at(x: &[f32], hz: f32, fs: f32) -> f32 {
    let n = x.len();
    let (mut c, mut s, mut w_sum) = (0.0f64, 0.0f64, 0.0f64);
    for (i, &v) in x.iter().enumerate() {
        let w = 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / n as f64).cos();
        let phase = std::f64::consts::TAU * hz as f64 * i as f64 / fs as f64;
        c += w * v as f64 * phase.cos();
        s += w * v as f64 * phase.sin();
        w_sum += w;
    }
    (2.0 * (c * c + s * s).sqrt() / w_sum) as f32
}

fn kurtosis(x: &[f32]) -> f32 {
    let n = x.len() as f32;
    let mean = x.iter().sum::<f32>() / n;
    let m2 = x.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / n;
    let m4 = x.iter().map(|v| (v - mean).powi(4)).sum::<f32>() / n;
    m4 / (m2 * m2)
}

/// Median over clips of `feature(clip, shaft_hz)`.
fn median_feature(condition: Condition, feature: impl Fn(&[f32], f32) -> f32) -> f32 {
    let options = VibrationOptions::default();
    let mut values: Vec<f32> = (0..24)
        .map(|k| {
            let (x, rec) = sample_clip(3, k % 6, condition, k as u64, &options);
            feature(&x, rec.rpm / 60.0)
        })
        .collect();
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

#[test]
fn fault_signatures_are_where_the_physics_puts_them() {
    let fs = VibrationOptions::default().sample_rate as f32;
    // Amplitudes at 1×, 2×, ½× divided by speed², which rotating forces grow with, so
    // that clips at different speeds compare.
    let relative =
        |k: f32| move |x: &[f32], fr: f32| amplitude_at(x, k * fr, fs) / (fr / 30.0).powi(2);
    let normal_1x = median_feature(Condition::Normal, relative(1.0));
    let imbalance_1x = median_feature(Condition::Imbalance, relative(1.0));
    assert!(
        imbalance_1x > 4.0 * normal_1x,
        "1×: imbalance {imbalance_1x}, normal {normal_1x}"
    );

    let normal_2x = median_feature(Condition::Normal, relative(2.0));
    let misalignment_2x = median_feature(Condition::Misalignment, relative(2.0));
    assert!(
        misalignment_2x > 3.0 * normal_2x,
        "2×: misalignment {misalignment_2x}, normal {normal_2x}"
    );

    let normal_half = median_feature(Condition::Normal, relative(0.5));
    let loose_half = median_feature(Condition::Looseness, relative(0.5));
    assert!(
        loose_half > 5.0 * normal_half,
        "½×: looseness {loose_half}, normal {normal_half}"
    );

    // Bearing defects are impulsive: a Gaussian-like normal signal has kurtosis near 3
    // or below (sines lower it), impacts raise it.
    let normal_k = median_feature(Condition::Normal, |x, _| kurtosis(x));
    let outer_k = median_feature(Condition::BearingOuter, |x, _| kurtosis(x));
    let inner_k = median_feature(Condition::BearingInner, |x, _| kurtosis(x));
    eprintln!(
        "1×: normal {normal_1x:.4} imbalance {imbalance_1x:.4}; 2×: normal {normal_2x:.4} misalignment {misalignment_2x:.4}; \
         ½×: normal {normal_half:.4} looseness {loose_half:.4}; kurtosis: normal {normal_k:.2} outer {outer_k:.2} inner {inner_k:.2}"
    );
    assert!(normal_k < 3.5, "normal kurtosis {normal_k}");
    assert!(
        outer_k > normal_k + 1.0 && inner_k > normal_k + 1.0,
        "kurtosis: outer {outer_k}, inner {inner_k}, normal {normal_k}"
    );
}
