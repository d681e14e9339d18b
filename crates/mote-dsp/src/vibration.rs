//! Time- and frequency-domain features for vibration monitoring: RMS, peak, crest factor,
//! kurtosis, and energies in frequency bands.
//!
//! Moments are accumulated in `f64` (a 4096-sample window of int-scaled data loses precision
//! in `f32`), and results returned as `f32`. Kurtosis is the plain (not excess) fourth
//! standardised moment: 3 for Gaussian noise, 1.5 for a sine, large for impulsive faults.

use crate::DspError;

/// The time-domain features of one window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VibrationFeatures {
    pub mean: f32,
    /// Root mean square of the signal (including its mean).
    pub rms: f32,
    /// Largest absolute value.
    pub peak: f32,
    /// `peak / rms`: √2 for a sine, higher for impacts.
    pub crest_factor: f32,
    /// Fourth standardised moment about the mean.
    pub kurtosis: f32,
}

/// Root mean square (0 for an empty signal).
pub fn rms(x: &[f32]) -> f32 {
    if x.is_empty() {
        return 0.0;
    }
    let sum: f64 = x.iter().map(|&v| v as f64 * v as f64).sum();
    libm::sqrt(sum / x.len() as f64) as f32
}

/// Largest absolute value (0 for an empty signal).
pub fn peak(x: &[f32]) -> f32 {
    x.iter().fold(0f32, |m, v| m.max(v.abs()))
}

/// `peak / rms` (0 for a silent signal).
pub fn crest_factor(x: &[f32]) -> f32 {
    let r = rms(x);
    if r == 0.0 {
        0.0
    } else {
        peak(x) / r
    }
}

/// Fourth standardised moment (0 for a constant signal).
pub fn kurtosis(x: &[f32]) -> f32 {
    if x.is_empty() {
        return 0.0;
    }
    let n = x.len() as f64;
    let mean = x.iter().map(|&v| v as f64).sum::<f64>() / n;
    let (mut m2, mut m4) = (0f64, 0f64);
    for &v in x {
        let d = v as f64 - mean;
        let d2 = d * d;
        m2 += d2;
        m4 += d2 * d2;
    }
    m2 /= n;
    m4 /= n;
    if m2 == 0.0 {
        0.0
    } else {
        (m4 / (m2 * m2)) as f32
    }
}

impl VibrationFeatures {
    /// All time-domain features of `x`.
    pub fn compute(x: &[f32]) -> Self {
        Self::from_samples(x.iter().copied())
    }

    /// The features of int16 samples times `scale` (e.g. `1.0 / 32768.0`), without a float
    /// copy of the window (on a device, 4 bytes per sample of RAM saved).
    pub fn compute_i16(x: &[i16], scale: f32) -> Self {
        Self::from_samples(x.iter().map(move |&v| v as f32 * scale))
    }

    /// Two passes over the samples: sums, then moments about the mean.
    fn from_samples<I: Iterator<Item = f32> + Clone>(samples: I) -> Self {
        let (mut n, mut sum, mut sum_sq, mut peak) = (0usize, 0f64, 0f64, 0f32);
        for v in samples.clone() {
            n += 1;
            sum += v as f64;
            sum_sq += v as f64 * v as f64;
            peak = peak.max(v.abs());
        }
        if n == 0 {
            return VibrationFeatures {
                mean: 0.0,
                rms: 0.0,
                peak: 0.0,
                crest_factor: 0.0,
                kurtosis: 0.0,
            };
        }
        let mean = sum / n as f64;
        let rms = libm::sqrt(sum_sq / n as f64) as f32;
        let (mut m2, mut m4) = (0f64, 0f64);
        for v in samples {
            let d = v as f64 - mean;
            let d2 = d * d;
            m2 += d2;
            m4 += d2 * d2;
        }
        m2 /= n as f64;
        m4 /= n as f64;
        VibrationFeatures {
            mean: mean as f32,
            rms,
            peak,
            crest_factor: if rms == 0.0 { 0.0 } else { peak / rms },
            kurtosis: if m2 == 0.0 {
                0.0
            } else {
                (m4 / (m2 * m2)) as f32
            },
        }
    }
}

/// Energy in each band `[low_hz, high_hz)` of a power spectrum of `power.len() = N/2 + 1`
/// bins at `sample_rate`: the sum of the bins whose centre frequency is in the band.
pub fn band_energies(
    power: &[f32],
    sample_rate: f32,
    bands: &[(f32, f32)],
    out: &mut [f32],
) -> Result<(), DspError> {
    if out.len() != bands.len() {
        return Err(DspError::Length {
            what: "band energies",
            expected: bands.len(),
            got: out.len(),
        });
    }
    if power.len() < 2 {
        return Err(DspError::Length {
            what: "power spectrum",
            expected: 2,
            got: power.len(),
        });
    }
    let hz_per_bin = sample_rate / (2 * (power.len() - 1)) as f32;
    for (o, &(low, high)) in out.iter_mut().zip(bands) {
        // Also refuses NaN edges.
        if low.partial_cmp(&high) != Some(core::cmp::Ordering::Less) {
            return Err(DspError::Parameter {
                what: "band",
                why: "low edge must be below the high edge",
            });
        }
        *o = power
            .iter()
            .enumerate()
            .filter(|(k, _)| {
                let hz = *k as f32 * hz_per_bin;
                hz >= low && hz < high
            })
            .map(|(_, &p)| p)
            .sum();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::f32::consts::PI;

    #[test]
    fn a_sine_has_rms_a_over_root_2_crest_root_2_and_kurtosis_1_5() {
        // A whole number of periods, so the moments are exact up to rounding.
        let x: [f32; 1000] =
            core::array::from_fn(|i| 2.0 * libm::sinf(2.0 * PI * 5.0 * i as f32 / 1000.0));
        let f = VibrationFeatures::compute(&x);
        assert!((f.rms - 2.0 / 2f32.sqrt()).abs() < 1e-4, "{f:?}");
        assert!((f.peak - 2.0).abs() < 1e-3);
        assert!((f.crest_factor - 2f32.sqrt()).abs() < 1e-3);
        assert!((f.kurtosis - 1.5).abs() < 1e-3);
        assert!(f.mean.abs() < 1e-5);
    }

    #[test]
    fn a_square_wave_has_kurtosis_1_and_crest_1() {
        let x: [f32; 64] = core::array::from_fn(|i| if i % 2 == 0 { 3.0 } else { -3.0 });
        assert!((kurtosis(&x) - 1.0).abs() < 1e-6);
        assert!((crest_factor(&x) - 1.0).abs() < 1e-6);
        assert!((rms(&x) - 3.0).abs() < 1e-6);
    }

    #[test]
    fn an_impulse_train_is_impulsive() {
        // One sample in 100 at 10: kurtosis ≈ 1/p − 3 + … ≫ 3, crest factor = 10/√(100/100) = 10.
        let x: [f32; 1000] = core::array::from_fn(|i| if i % 100 == 0 { 10.0 } else { 0.0 });
        assert!((crest_factor(&x) - 10.0).abs() < 1e-4);
        let p = 0.01f64;
        let expected = (1.0 - 3.0 * p + 3.0 * p * p) / (p * (1.0 - p));
        assert!(
            (kurtosis(&x) as f64 - expected).abs() < 1e-3,
            "{}",
            kurtosis(&x)
        );
    }

    #[test]
    fn band_energies_sum_the_right_bins() {
        // 9 bins at 100 Hz each (sample rate 1600, N = 16).
        let power = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
        let mut out = [0f32; 3];
        band_energies(
            &power,
            1600.0,
            &[(0.0, 200.0), (200.0, 500.0), (700.0, 801.0)],
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [3.0, 3.0 + 4.0 + 5.0, 8.0 + 9.0]);
        assert!(band_energies(&power, 1600.0, &[(5.0, 1.0)], &mut [0.0]).is_err());
        assert!(band_energies(&power, 1600.0, &[(0.0, 1.0)], &mut [0.0; 2]).is_err());
    }

    #[test]
    fn int16_samples_give_the_features_of_their_scaled_floats() {
        let x: [i16; 500] = core::array::from_fn(|i| ((i * 7919) % 2001) as i16 - 1000);
        let scaled: [f32; 500] = core::array::from_fn(|i| x[i] as f32 / 32768.0);
        assert_eq!(
            VibrationFeatures::compute_i16(&x, 1.0 / 32768.0),
            VibrationFeatures::compute(&scaled)
        );
        let f = VibrationFeatures::compute(&scaled);
        assert_eq!(
            (f.rms, f.peak, f.kurtosis),
            (rms(&scaled), peak(&scaled), kurtosis(&scaled))
        );
    }

    #[test]
    fn silence_gives_zeros_not_nans() {
        let f = VibrationFeatures::compute(&[0.0; 8]);
        assert_eq!((f.rms, f.crest_factor, f.kurtosis), (0.0, 0.0, 0.0));
        assert_eq!(VibrationFeatures::compute(&[]).rms, 0.0);
    }
}
