//! **Synthetic** accelerometer recordings of rotating machines (a motor driving a fan or
//! pump through rolling-element bearings), for anomaly detection trained on normal data
//! only. Each clip is 1 s of one-axis acceleration in g at 4 kHz, written as a one-column
//! CSV (`accel_g`) to `out/<label>/<machine>__<n>.csv`; `out/recordings.csv` lists each
//! clip's machine, speed, load and fault severity.
//!
//! The signal model follows the textbook signatures (e.g. Randall, *Vibration-based
//! Condition Monitoring*):
//! - **normal**: running-speed harmonics from residual imbalance (1×, weaker 2×, 3×), the
//!   blade-pass tone, twice-line-frequency electrical vibration, broadband noise and a
//!   structural resonance excited by it; speed (RPM), load and noise level vary per clip,
//!   with a slow speed wobble.
//! - **imbalance**: a strong 1× component (its force grows with speed²).
//! - **misalignment**: strong 2× and 3× with fixed phases relative to 1×.
//! - **bearing_outer** / **bearing_inner**: impulse trains at the bearing's outer-race
//!   (BPFO) or inner-race (BPFI) defect frequency, from the bearing's geometry, with
//!   random slip; each impulse rings the machine's structural resonance. An inner-race
//!   defect turns with the shaft, so its impulses are amplitude-modulated at 1×.
//! - **looseness**: many harmonics of 1× and of ½× (sub-harmonics), and a truncated
//!   (one-sided clipped) waveform.
//!
//! Each machine has its own resonance, bearing geometry, blade count and baseline levels.
//! A seeded fraction of machines is reserved for test (listed in `manifest.json`): an
//! anomaly model trains on the `normal` clips of the other machines and is scored on the
//! test machines' normal clips against their faults.

use std::f32::consts::TAU;
use std::fmt::Write as _;
use std::path::Path;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::Serialize;

use super::noise::bandpass;
use super::{
    clip_rng, prepare_out, reusable, run_parallel, write_manifest, Manifest, SynthSummary,
};
use crate::error::{Error, Result};
use crate::split::group_hash;

/// The generator's name in `manifest.json`.
pub const GENERATOR: &str = "synth-vibration";
/// Bumped whenever the output for a given seed and options changes.
pub const GENERATOR_VERSION: u32 = 1;

/// The machine conditions, in class order; `normal` first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    Normal,
    Imbalance,
    Misalignment,
    BearingOuter,
    BearingInner,
    Looseness,
}

impl Condition {
    pub const ALL: [Condition; 6] = [
        Condition::Normal,
        Condition::Imbalance,
        Condition::Misalignment,
        Condition::BearingOuter,
        Condition::BearingInner,
        Condition::Looseness,
    ];

    /// The class (folder) name.
    pub fn name(self) -> &'static str {
        match self {
            Condition::Normal => "normal",
            Condition::Imbalance => "imbalance",
            Condition::Misalignment => "misalignment",
            Condition::BearingOuter => "bearing_outer",
            Condition::BearingInner => "bearing_inner",
            Condition::Looseness => "looseness",
        }
    }
}

/// Options for [`synth_vibration`]. The defaults are the demo's dataset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VibrationOptions {
    pub sample_rate: u32,
    /// Samples per clip.
    pub clip_samples: usize,
    pub machines: usize,
    /// Normal clips per machine.
    pub normal_per_machine: usize,
    /// Clips per machine of each fault.
    pub faults_per_machine: usize,
    /// Fraction of machines reserved for test.
    pub test_machine_fraction: f64,
    /// Shaft speed range in revolutions per minute.
    pub rpm: (f32, f32),
    /// Fault severity range, 0 (none) to 1 (severe).
    pub severity: (f32, f32),
    /// Worker threads. Not part of the manifest: the files are the same for any number
    /// of threads.
    #[serde(skip)]
    pub threads: usize,
}

impl Default for VibrationOptions {
    fn default() -> Self {
        VibrationOptions {
            sample_rate: 4000,
            clip_samples: 4000,
            machines: 12,
            normal_per_machine: 40,
            faults_per_machine: 6,
            test_machine_fraction: 0.25,
            rpm: (900.0, 3000.0),
            severity: (0.3, 1.0),
            threads: 2,
        }
    }
}

/// One machine's fixed properties.
#[derive(Debug, Clone)]
struct Machine {
    resonance_hz: f32,
    damping: f32,
    /// Defect frequencies as multiples of shaft speed.
    bpfo: f32,
    bpfi: f32,
    blades: u32,
    /// Residual 1× amplitude (g) at 1800 RPM, and 2×, 3× relative to it.
    a1: f32,
    r2: f32,
    r3: f32,
    blade_amp: f32,
    electrical_amp: f32,
    line_hz: f32,
    noise: f32,
    structural_noise: f32,
    phases: [f32; 12],
}

fn machine(seed: u64, index: usize) -> Machine {
    let mut rng = clip_rng(seed, (1u64 << 40) + index as u64);
    // Bearing kinematics: n balls of diameter d on pitch diameter D, contact angle ~0.
    let balls = rng.random_range(7..=12) as f32;
    let d_over_pitch = rng.random_range(0.15f32..0.3);
    let mut phases = [0.0; 12];
    phases
        .iter_mut()
        .for_each(|p| *p = rng.random_range(0.0..TAU));
    Machine {
        resonance_hz: rng.random_range(900.0..1600.0),
        damping: rng.random_range(0.02..0.06),
        bpfo: balls / 2.0 * (1.0 - d_over_pitch),
        bpfi: balls / 2.0 * (1.0 + d_over_pitch),
        blades: rng.random_range(5..=9),
        a1: rng.random_range(0.03..0.08),
        r2: rng.random_range(0.1..0.4),
        r3: rng.random_range(0.05..0.15),
        blade_amp: rng.random_range(0.01..0.04),
        electrical_amp: rng.random_range(0.005..0.02),
        line_hz: if rng.random_bool(0.5) { 50.0 } else { 60.0 },
        noise: rng.random_range(0.01..0.03),
        structural_noise: rng.random_range(0.005..0.02),
        phases,
    }
}

/// One clip's operating point.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Recording {
    pub rpm: f32,
    pub load: f32,
    pub severity: f32,
}

fn machine_name(index: usize) -> String {
    format!("machine-{index:02}")
}

/// Generates the vibration dataset in `out` (see the module docs), or reuses it when `out`
/// already holds a complete one made with the same seed and options.
pub fn synth_vibration(
    out: impl AsRef<Path>,
    seed: u64,
    options: &VibrationOptions,
) -> Result<SynthSummary> {
    synth_vibration_with_progress(out, seed, options, &|_, _| {})
}

/// [`synth_vibration`], calling `progress(done, total)` after each clip.
pub fn synth_vibration_with_progress(
    out: impl AsRef<Path>,
    seed: u64,
    options: &VibrationOptions,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<SynthSummary> {
    let started = std::time::Instant::now();
    let out = out.as_ref();
    validate(options)?;
    let classes: Vec<String> = Condition::ALL
        .iter()
        .map(|c| c.name().to_string())
        .collect();
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
    prepare_out(out, GENERATOR)?;

    // Jobs: for each machine, its normal clips then each fault's clips.
    let per_machine = options.normal_per_machine + 5 * options.faults_per_machine;
    let jobs: Vec<(usize, Condition, usize)> = (0..options.machines)
        .flat_map(|m| {
            let normal = (0..options.normal_per_machine).map(move |n| (m, Condition::Normal, n));
            let faults = Condition::ALL[1..]
                .iter()
                .flat_map(move |&c| (0..options.faults_per_machine).map(move |n| (m, c, n)));
            normal.chain(faults)
        })
        .collect();
    debug_assert_eq!(jobs.len(), options.machines * per_machine);
    let counts: Vec<usize> = Condition::ALL
        .iter()
        .map(|&c| {
            options.machines
                * if c == Condition::Normal {
                    options.normal_per_machine
                } else {
                    options.faults_per_machine
                }
        })
        .collect();
    let test_groups = test_machines(seed, options);
    let mut manifest = Manifest {
        generator: GENERATOR.into(),
        generator_version: GENERATOR_VERSION,
        seed,
        parameters,
        synthetic: true,
        complete: false,
        classes: classes.clone(),
        counts: counts.clone(),
        test_groups: test_groups.clone(),
        files: Vec::new(),
    };
    write_manifest(out, &manifest)?;
    for class in &classes {
        let dir = out.join(class);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    }
    let machines: Vec<Machine> = (0..options.machines).map(|m| machine(seed, m)).collect();
    let rows: Vec<std::sync::Mutex<String>> = (0..jobs.len()).map(|_| Default::default()).collect();
    run_parallel(jobs.len(), options.threads, progress, |job| {
        let (m, condition, n) = jobs[job];
        let mut rng = clip_rng(seed, job as u64);
        let (signal, recording) = clip(&machines[m], condition, &mut rng, options);
        let relative = format!("{}/{}__{n:04}.csv", condition.name(), machine_name(m));
        let mut text = String::with_capacity(signal.len() * 10 + 8);
        text.push_str("accel_g\n");
        for v in &signal {
            let _ = writeln!(text, "{v:.5}");
        }
        let path = out.join(&relative);
        std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
        if let Ok(mut row) = rows[job].lock() {
            *row = format!(
                "{relative},{},{},{:.1},{:.3},{:.3}",
                condition.name(),
                machine_name(m),
                recording.rpm,
                recording.load,
                recording.severity
            );
        }
        Ok(())
    })?;

    let rows: Vec<String> = rows
        .into_iter()
        .map(|r| r.into_inner().unwrap_or_default())
        .collect();
    manifest.files = rows
        .iter()
        .filter_map(|r| r.split(',').next().map(str::to_string))
        .collect();
    let table = std::iter::once("file,label,machine,rpm,load,severity".to_string())
        .chain(rows)
        .collect::<Vec<_>>()
        .join("\n");
    let recordings = out.join("recordings.csv");
    std::fs::write(&recordings, table + "\n").map_err(|e| Error::io(&recordings, e))?;
    let readme = out.join("README.md");
    std::fs::write(&readme, readme_text(seed, options, &test_groups))
        .map_err(|e| Error::io(&readme, e))?;
    manifest.complete = true;
    write_manifest(out, &manifest)?;
    Ok(SynthSummary {
        out: out.to_path_buf(),
        classes,
        counts,
        test_groups,
        reused: false,
        seconds: started.elapsed().as_secs_f64(),
    })
}

fn validate(o: &VibrationOptions) -> Result<()> {
    let ok = o.sample_rate >= 1000
        && o.clip_samples >= 64
        && o.machines >= 1
        && o.normal_per_machine >= 1
        && o.threads >= 1
        && (0.0..1.0).contains(&o.test_machine_fraction)
        && o.rpm.0 > 0.0
        && o.rpm.0 <= o.rpm.1
        // The highest bearing harmonic of interest must stay below Nyquist.
        && o.rpm.1 / 60.0 * 12.0 < o.sample_rate as f32 / 2.0
        && (0.0..=1.0).contains(&o.severity.0)
        && o.severity.0 <= o.severity.1
        && o.severity.1 <= 1.0;
    if ok {
        Ok(())
    } else {
        Err(Error::Options(format!("{o:?}")))
    }
}

fn test_machines(seed: u64, options: &VibrationOptions) -> Vec<String> {
    let mut ranked: Vec<(u64, String)> = (0..options.machines)
        .map(|m| {
            let name = machine_name(m);
            (group_hash(seed ^ 0x6d61_6368, &name), name)
        })
        .collect();
    ranked.sort();
    let mut n = (options.machines as f64 * options.test_machine_fraction).round() as usize;
    if options.test_machine_fraction > 0.0 && options.machines >= 2 {
        n = n.clamp(1, options.machines - 1);
    }
    let mut groups: Vec<String> = ranked.into_iter().take(n).map(|(_, g)| g).collect();
    groups.sort();
    groups
}

/// One clip of `machine` in `condition`: the samples (g) and its operating point.
fn clip(
    machine: &Machine,
    condition: Condition,
    rng: &mut ChaCha8Rng,
    o: &VibrationOptions,
) -> (Vec<f32>, Recording) {
    let fs = o.sample_rate as f32;
    let n = o.clip_samples;
    let rpm = rng.random_range(o.rpm.0..=o.rpm.1);
    let load = rng.random_range(0.2f32..1.0);
    let severity = if condition == Condition::Normal {
        0.0
    } else {
        rng.random_range(o.severity.0..=o.severity.1)
    };
    let noise_gain = rng.random_range(0.7f32..1.5);
    let fr0 = rpm / 60.0;
    let speed = fr0 / 30.0;
    // Forces from rotating masses grow with speed squared; the rest of the machine's
    // vibration grows more gently.
    let rotating = speed * speed;
    let gain = 0.8 + 0.4 * load;
    let wobble_hz = rng.random_range(0.2f32..1.0);
    let wobble_phase = rng.random_range(0.0..TAU);
    let wobble_depth = rng.random_range(0.001f32..0.004);

    // Shaft angle (radians) per sample, with a slow speed wobble.
    let mut angle = Vec::with_capacity(n);
    let mut theta = rng.random_range(0.0..TAU);
    for i in 0..n {
        let t = i as f32 / fs;
        let fr = fr0 * (1.0 + wobble_depth * (TAU * wobble_hz * t + wobble_phase).sin());
        theta += TAU * fr / fs;
        angle.push(theta);
    }

    let p = &machine.phases;
    let s = severity;
    // Harmonic amplitudes (g) of the shaft speed: index k is k× (index 0 unused).
    let mut harmonic = [0.0f32; 11];
    harmonic[1] = machine.a1 * rotating;
    harmonic[2] = machine.a1 * machine.r2 * rotating;
    harmonic[3] = machine.a1 * machine.r3 * rotating;
    let mut half_harmonic = [0.0f32; 6]; // (k + ½)×
    match condition {
        Condition::Imbalance => harmonic[1] *= 1.0 + 14.0 * s,
        Condition::Misalignment => {
            harmonic[1] *= 1.0 + s;
            harmonic[2] = machine.a1 * rotating * (1.5 + 6.0 * s);
            harmonic[3] = machine.a1 * rotating * (0.5 + 3.0 * s);
            harmonic[4] = machine.a1 * rotating * 0.5 * s;
        }
        Condition::Looseness => {
            for (k, h) in harmonic.iter_mut().enumerate().skip(1) {
                *h += machine.a1 * rotating * (0.5 + 3.0 * s) / (k as f32).sqrt();
            }
            half_harmonic[0] = machine.a1 * rotating * (0.5 + 2.0 * s);
            for (k, h) in half_harmonic.iter_mut().enumerate().skip(1) {
                *h = machine.a1 * rotating * (0.3 + 1.5 * s) / (k as f32 + 0.5);
            }
        }
        _ => {}
    }

    let mut x = vec![0.0f32; n];
    for (i, &a) in angle.iter().enumerate() {
        let mut v = 0.0;
        for (k, &h) in harmonic.iter().enumerate().skip(1) {
            if h != 0.0 {
                v += h * (k as f32 * a + p[k]).sin();
            }
        }
        for (k, &h) in half_harmonic.iter().enumerate() {
            if h != 0.0 {
                v += h * ((k as f32 + 0.5) * a + p[6 + k % 5]).sin();
            }
        }
        v += machine.blade_amp * speed * gain * (machine.blades as f32 * a + p[11]).sin();
        x[i] = gain * v;
    }
    if condition == Condition::Looseness {
        // A loose foot or mount lets the structure lift and hit: one side of the waveform
        // is cut short.
        let peak = x.iter().fold(0.0f32, |m, v| m.max(*v));
        let limit = peak * (0.7 - 0.4 * s);
        x.iter_mut().for_each(|v| *v = v.min(limit));
    }

    // Electrical vibration at twice line frequency, broadband and resonance-shaped noise.
    let electrical = machine.electrical_amp * gain;
    let white: Vec<f32> = (0..n)
        .map(|_| rng.sample::<f32, _>(StandardNormal))
        .collect();
    let ring_noise = bandpass(
        &white,
        machine.resonance_hz,
        1.0 / (2.0 * machine.damping),
        fs,
    );
    let ring_rms = (ring_noise.iter().map(|v| v * v).sum::<f32>() / n as f32)
        .sqrt()
        .max(1e-9);
    let floor = noise_gain * speed.sqrt();
    for i in 0..n {
        let t = i as f32 / fs;
        x[i] += electrical * (TAU * 2.0 * machine.line_hz * t).sin()
            + floor * machine.noise * rng.sample::<f32, _>(StandardNormal)
            + floor * machine.structural_noise * ring_noise[i] / ring_rms;
    }

    // Bearing defects: impulses at the defect frequency ringing the structural resonance.
    if matches!(condition, Condition::BearingOuter | Condition::BearingInner) {
        let inner = condition == Condition::BearingInner;
        let order = if inner { machine.bpfi } else { machine.bpfo };
        let wn = TAU * machine.resonance_hz;
        let wd = wn * (1.0 - machine.damping * machine.damping).sqrt();
        let decay = machine.damping * wn;
        let ring = ((6.0 / decay) * fs) as usize;
        let amplitude = (0.15 + 0.6 * s) * speed * gain;
        let load_zone = rng.random_range(0.0..TAU);
        // Impulse times, in shaft revolutions, with 1–2% random slip of the rolling elements.
        let mut rev = rng.random_range(0.0..1.0 / order);
        let total_rev = angle.last().copied().unwrap_or(0.0) / TAU;
        let start_rev = angle.first().copied().unwrap_or(0.0) / TAU;
        rev += start_rev;
        while rev < total_rev {
            // The sample where the shaft reaches `rev` revolutions.
            let at = angle.partition_point(|&a| a / TAU < rev);
            let mut a = amplitude * rng.random_range(0.8f32..1.2);
            if inner {
                // The defect passes through the load zone once per revolution.
                let m = 0.5 + 0.5 * (TAU * rev + load_zone).cos();
                a *= 0.15 + 0.85 * m * m;
            }
            for j in 0..ring.min(n.saturating_sub(at)) {
                let t = j as f32 / fs;
                x[at + j] += a * (-decay * t).exp() * (wd * t).sin();
            }
            rev += (1.0 / order) * (1.0 + rng.random_range(-0.015f32..0.015));
        }
    }
    (
        x,
        Recording {
            rpm,
            load,
            severity,
        },
    )
}

fn readme_text(seed: u64, o: &VibrationOptions, test_groups: &[String]) -> String {
    format!(
        "# Synthetic machine vibration (seed {seed})\n\n\
**This data is synthetic.** It was generated by `mote data synth-vibration` (crate \
`mote-data`) from a physical signal model, not measured on a machine. It is meant for \
demos and tests of vibration anomaly detection.\n\n\
## Layout\n\n\
`<label>/<machine>__<n>.csv`: one column `accel_g` (acceleration in g), {n} samples at \
{fs} Hz. Labels: normal, imbalance, misalignment, bearing_outer, bearing_inner, looseness. \
{machines} machines, each with {normal} normal clips and {faults} clips of each fault. \
`recordings.csv` gives every clip's machine, speed (RPM), load and fault severity.\n\n\
## How it was made\n\n\
Each machine has its own structural resonance (900–1600 Hz), bearing geometry (7–12 \
balls, which set its BPFO and BPFI), fan blade count and baseline vibration. Each clip \
has a random speed of {rpm_lo}–{rpm_hi} RPM with a slow wobble, a random load and noise \
level. Normal clips hold running-speed harmonics, the blade-pass tone, twice-line-frequency \
electrical vibration and broadband plus resonance-shaped noise. Faults (severity \
{s_lo}–{s_hi}): imbalance (strong 1×), misalignment (strong 2× and 3×), bearing outer or \
inner race (impulse trains at BPFO or BPFI ringing the resonance, inner race modulated at \
1×), looseness (1× and ½× harmonic series, truncated waveform). Everything is derived from \
the seed: the same seed and options give byte-identical files.\n\n\
## Anomaly detection protocol\n\n\
Train on the `normal` clips of every machine except the test machines below; score the \
test machines' `normal` clips against their fault clips (faults are never used for \
training, so the faults of the other machines may be scored as well). Test machines (also \
in `manifest.json` under `test_groups`):\n\n{list}\n",
        n = o.clip_samples,
        fs = o.sample_rate,
        machines = o.machines,
        normal = o.normal_per_machine,
        faults = o.faults_per_machine,
        rpm_lo = o.rpm.0,
        rpm_hi = o.rpm.1,
        s_lo = o.severity.0,
        s_hi = o.severity.1,
        list = test_groups
            .iter()
            .map(|g| format!("- `{g}`"))
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// One clip without writing anything, for inspection and tests: the samples (g) and its
/// operating point. The machine is the same as in [`synth_vibration`] with this seed;
/// `clip_index` picks a random stream of its own (not one of the written clips).
pub fn sample_clip(
    seed: u64,
    machine_index: usize,
    condition: Condition,
    clip_index: u64,
    options: &VibrationOptions,
) -> (Vec<f32>, Recording) {
    let m = machine(seed, machine_index);
    let mut rng = clip_rng(seed ^ 0x7361_6d70, clip_index);
    clip(&m, condition, &mut rng, options)
}
