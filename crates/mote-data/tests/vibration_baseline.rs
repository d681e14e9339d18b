//! The vibration dataset is learnable the way the demo needs: a deliberately simple
//! anomaly detector — log energies in resonator bands, z-scored on the training machines'
//! normal clips, the score being the largest |z| — fitted on normal clips only separates
//! the held-out machines' faults from their normal clips. The demo's trained model must
//! reach ROC AUC ≥ 0.95; this baseline checks that the data leaves room for it.

use mote_data::synth::vibration::Condition;
use mote_data::{load_csv, synth_vibration, CsvOptions, SplitConfig, VibrationOptions};

/// A second-order band-pass (RBJ cookbook) run over `x`; returns the output's mean power.
fn band_power(x: &[f32], centre: f32, q: f32, fs: f32) -> f32 {
    let w0 = std::f32::consts::TAU * centre / fs;
    let alpha = w0.sin() / (2.0 * q);
    let a0 = 1.0 + alpha;
    let (b0, b2, a1, a2) = (
        alpha / a0,
        -alpha / a0,
        -2.0 * w0.cos() / a0,
        (1.0 - alpha) / a0,
    );
    let (mut x1, mut x2, mut y1, mut y2, mut power) = (0.0f32, 0.0f32, 0.0f32, 0.0f32, 0.0f32);
    for &x0 in x {
        let y0 = b0 * x0 + b2 * x2 - a1 * y1 - a2 * y2;
        x2 = x1;
        x1 = x0;
        y2 = y1;
        y1 = y0;
        power += y0 * y0;
    }
    power / x.len() as f32
}

fn features(x: &[f32], fs: f32) -> Vec<f32> {
    // 24 bands, log-spaced from 8 Hz to 1.9 kHz.
    (0..24)
        .map(|b| {
            let centre = 8.0 * (1900.0f32 / 8.0).powf(b as f32 / 23.0);
            (band_power(x, centre, 4.0, fs) + 1e-9).ln()
        })
        .collect()
}

/// ROC AUC: the probability that a random anomaly scores above a random normal clip.
fn auc(normal: &[f32], anomalous: &[f32]) -> f64 {
    let mut wins = 0.0;
    for &a in anomalous {
        for &n in normal {
            wins += if a > n {
                1.0
            } else if a == n {
                0.5
            } else {
                0.0
            };
        }
    }
    wins / (normal.len() * anomalous.len()) as f64
}

#[test]
fn a_simple_detector_trained_on_normal_data_finds_the_faults() {
    let tmp = tempfile::tempdir().unwrap();
    let options = VibrationOptions {
        machines: 8,
        normal_per_machine: 16,
        faults_per_machine: 3,
        ..VibrationOptions::default()
    };
    let summary = synth_vibration(tmp.path(), 21, &options).unwrap();
    let ds = load_csv(tmp.path(), &CsvOptions::default()).unwrap();
    let split = ds
        .split(&SplitConfig {
            seed: 0,
            val_fraction: 0.0,
            test_fraction: 0.0,
            test_groups: summary.test_groups.clone(),
        })
        .unwrap();
    let fs = options.sample_rate as f32;
    let normal = ds.class_index(Condition::Normal.name()).unwrap();
    let feats: Vec<Vec<f32>> = ds
        .items
        .iter()
        .map(|i| features(&i.data.values, fs))
        .collect();

    // Fit: mean and spread of each feature over the training machines' normal clips.
    let train: Vec<usize> = split
        .train
        .iter()
        .copied()
        .filter(|&i| ds.items[i].label == normal)
        .collect();
    let dims = feats[0].len();
    let mean: Vec<f32> = (0..dims)
        .map(|d| train.iter().map(|&i| feats[i][d]).sum::<f32>() / train.len() as f32)
        .collect();
    let std: Vec<f32> = (0..dims)
        .map(|d| {
            (train
                .iter()
                .map(|&i| (feats[i][d] - mean[d]).powi(2))
                .sum::<f32>()
                / train.len() as f32)
                .sqrt()
                .max(1e-3)
        })
        .collect();
    let score = |i: usize| {
        (0..dims)
            .map(|d| ((feats[i][d] - mean[d]) / std[d]).abs())
            .fold(0.0f32, f32::max)
    };

    let test_normal: Vec<f32> = split
        .test
        .iter()
        .filter(|&&i| ds.items[i].label == normal)
        .map(|&i| score(i))
        .collect();
    let mut report = Vec::new();
    let mut all_faults = Vec::new();
    for condition in &Condition::ALL[1..] {
        let label = ds.class_index(condition.name()).unwrap();
        let scores: Vec<f32> = split
            .test
            .iter()
            .filter(|&&i| ds.items[i].label == label)
            .map(|&i| score(i))
            .collect();
        report.push(format!(
            "{} {:.3}",
            condition.name(),
            auc(&test_normal, &scores)
        ));
        all_faults.extend(scores);
    }
    let overall = auc(&test_normal, &all_faults);
    eprintln!(
        "baseline ROC AUC on held-out machines: {overall:.3} ({})",
        report.join(", ")
    );
    assert!(test_normal.len() >= 16 && all_faults.len() >= 15);
    assert!(
        overall >= 0.9,
        "baseline AUC {overall:.3}: {}",
        report.join(", ")
    );
}
