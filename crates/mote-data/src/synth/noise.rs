//! Background noises for the synthetic keyword clips, each scaled to unit RMS so that the
//! caller sets the level from a signal-to-noise ratio: white, pink (Paul Kellet's filter),
//! brown (leaky integrated white), mains hum with harmonics, and babble-like noise
//! (speech-shaped noise bands with syllable-rate envelopes, standing in for distant talkers).

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// The kinds of background noise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoiseKind {
    White,
    Pink,
    Brown,
    Hum,
    Babble,
}

impl NoiseKind {
    pub(crate) const ALL: [NoiseKind; 5] = [
        NoiseKind::White,
        NoiseKind::Pink,
        NoiseKind::Brown,
        NoiseKind::Hum,
        NoiseKind::Babble,
    ];
}

/// `n` samples of `kind` at `rate` Hz, unit RMS.
pub(crate) fn noise(kind: NoiseKind, n: usize, rate: f32, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let mut x = match kind {
        NoiseKind::White => white(n, rng),
        NoiseKind::Pink => pink(n, rng),
        NoiseKind::Brown => brown(n, rng),
        NoiseKind::Hum => hum(n, rate, rng),
        NoiseKind::Babble => babble(n, rate, rng),
    };
    normalise_rms(&mut x);
    x
}

pub(crate) fn white(n: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    (0..n)
        .map(|_| rng.sample::<f32, _>(StandardNormal))
        .collect()
}

/// Pink noise: Paul Kellet's refined 1/f filter (within 0.05 dB above 9 Hz at 44.1 kHz,
/// close enough at 16 kHz for background noise).
pub(crate) fn pink(n: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let mut b = [0.0f32; 7];
    (0..n)
        .map(|_| {
            let w: f32 = rng.sample(StandardNormal);
            b[0] = 0.99886 * b[0] + w * 0.0555179;
            b[1] = 0.99332 * b[1] + w * 0.0750759;
            b[2] = 0.96900 * b[2] + w * 0.153_852;
            b[3] = 0.86650 * b[3] + w * 0.3104856;
            b[4] = 0.55000 * b[4] + w * 0.5329522;
            b[5] = -0.7616 * b[5] - w * 0.0168980;
            let y = b[..6].iter().sum::<f32>() + b[6] + w * 0.5362;
            b[6] = w * 0.115926;
            y
        })
        .collect()
}

/// Brown (red) noise: integrated white noise, leaky so that it does not drift away.
fn brown(n: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let mut y = 0.0f32;
    let mut x: Vec<f32> = (0..n)
        .map(|_| {
            y = 0.995 * y + rng.sample::<f32, _>(StandardNormal);
            y
        })
        .collect();
    remove_mean(&mut x);
    x
}

/// Mains hum at 50 or 60 Hz (slightly off), odd harmonics stronger as from a transformer,
/// with a little hiss.
fn hum(n: usize, rate: f32, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let mains = if rng.random_bool(0.5) { 50.0 } else { 60.0 };
    let f0 = mains * rng.random_range(0.99f32..1.01);
    let harmonics: Vec<(f32, f32, f32)> = (1..=8)
        .map(|k| {
            let odd = if k % 2 == 1 { 1.0 } else { 0.4 };
            let amp = odd * rng.random_range(0.2f32..1.0) / k as f32;
            (
                k as f32 * f0,
                amp,
                rng.random_range(0.0..std::f32::consts::TAU),
            )
        })
        .collect();
    let hiss = rng.random_range(0.01f32..0.05);
    (0..n)
        .map(|i| {
            let t = i as f32 / rate;
            harmonics
                .iter()
                .map(|(f, a, p)| a * (std::f32::consts::TAU * f * t + p).sin())
                .sum::<f32>()
                + hiss * rng.sample::<f32, _>(StandardNormal)
        })
        .collect()
}

/// Babble-like noise: a few "talkers", each pink noise through two formant-like resonances
/// and switched by a syllable-rate (3–6 Hz) envelope. It has speech's spectrum and rhythm
/// without intelligible words, so it cannot be confused with a keyword.
fn babble(n: usize, rate: f32, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let talkers = rng.random_range(3..=6);
    let mut sum = vec![0.0f32; n];
    for _ in 0..talkers {
        let source = pink(n, rng);
        let f1 = rng.random_range(300.0f32..900.0);
        let f2 = rng.random_range(900.0f32..2500.0);
        let a = bandpass(&source, f1, 3.0, rate);
        let b = bandpass(&source, f2, 4.0, rate);
        let syllable_hz = rng.random_range(3.0f32..6.0);
        let phase = rng.random_range(0.0..std::f32::consts::TAU);
        let gain = rng.random_range(0.4f32..1.0);
        for i in 0..n {
            let t = i as f32 / rate;
            let envelope = (std::f32::consts::PI * syllable_hz * t + phase)
                .sin()
                .abs()
                .powf(1.5);
            sum[i] += gain * envelope * (a[i] + 0.6 * b[i]);
        }
    }
    sum
}

/// A second-order band-pass filter (RBJ audio-EQ cookbook, constant 0 dB peak gain).
pub(crate) fn bandpass(x: &[f32], centre_hz: f32, q: f32, rate: f32) -> Vec<f32> {
    let w0 = std::f32::consts::TAU * centre_hz / rate;
    let alpha = w0.sin() / (2.0 * q);
    let a0 = 1.0 + alpha;
    let (b0, b2) = (alpha / a0, -alpha / a0);
    let (a1, a2) = (-2.0 * w0.cos() / a0, (1.0 - alpha) / a0);
    let (mut x1, mut x2, mut y1, mut y2) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
    x.iter()
        .map(|&x0| {
            let y0 = b0 * x0 + b2 * x2 - a1 * y1 - a2 * y2;
            x2 = x1;
            x1 = x0;
            y2 = y1;
            y1 = y0;
            y0
        })
        .collect()
}

fn remove_mean(x: &mut [f32]) {
    if x.is_empty() {
        return;
    }
    let mean = x.iter().sum::<f32>() / x.len() as f32;
    x.iter_mut().for_each(|v| *v -= mean);
}

pub(crate) fn rms(x: &[f32]) -> f32 {
    if x.is_empty() {
        return 0.0;
    }
    (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt()
}

pub(crate) fn normalise_rms(x: &mut [f32]) {
    let r = rms(x);
    if r > 0.0 {
        x.iter_mut().for_each(|v| *v /= r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn every_noise_has_unit_rms_and_is_seeded() {
        for kind in NoiseKind::ALL {
            let a = noise(kind, 16_000, 16_000.0, &mut ChaCha8Rng::seed_from_u64(3));
            let b = noise(kind, 16_000, 16_000.0, &mut ChaCha8Rng::seed_from_u64(3));
            assert_eq!(a, b, "{kind:?}");
            assert!((rms(&a) - 1.0).abs() < 1e-3, "{kind:?}");
        }
    }

    #[test]
    fn pink_has_more_low_than_high_energy() {
        // Pink noise halves its power per octave: a first difference (a high-pass) keeps
        // much less of it than of white noise.
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let diff_ratio = |x: &[f32]| {
            let d: Vec<f32> = x.windows(2).map(|w| w[1] - w[0]).collect();
            rms(&d) / rms(x)
        };
        let w = white(16_000, &mut rng);
        let p = pink(16_000, &mut rng);
        assert!(diff_ratio(&p) < 0.5 * diff_ratio(&w));
    }
}
