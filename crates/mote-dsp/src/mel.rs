//! Mel filterbank and log-mel energies of a power spectrum.
//!
//! `M` triangular filters with peaks equally spaced on the HTK mel scale
//! (`mel = 2595·log10(1 + f/700)`) between a low and a high edge; filter `m` rises from mel
//! point `m` to `m + 1` and falls to `m + 2`, with peak 1 (not area-normalised). Each FFT bin
//! therefore lies on the rising edge of at most one filter and the falling edge of the one
//! before, with weights summing to one: the filterbank stores, per bin, that filter and its
//! rising weight (`BINS` entries instead of a `BINS × M` matrix — 1.5 KB for 257 bins).

use crate::DspError;

/// Hz → mel (HTK).
pub fn hz_to_mel(hz: f32) -> f32 {
    2595.0 * libm::log10f(1.0 + hz / 700.0)
}

/// Mel → Hz (HTK).
pub fn mel_to_hz(mel: f32) -> f32 {
    700.0 * (libm::powf(10.0, mel / 2595.0) - 1.0)
}

/// Marks a bin outside every filter's rising edge.
const NO_FILTER: u16 = u16::MAX;

/// A mel filterbank over the `BINS = N/2 + 1` bins of an `N`-point FFT.
#[derive(Clone, Debug)]
pub struct MelFilterbank<const BINS: usize> {
    num_mels: usize,
    /// The filter whose rising edge holds the bin (its falling edge belongs to the filter
    /// before), or [`NO_FILTER`] when the bin is above the last rising edge.
    rising_filter: [u16; BINS],
    /// The bin's weight on that rising edge; `1 − weight` goes to the filter before.
    rising_weight: [f32; BINS],
}

impl<const BINS: usize> MelFilterbank<BINS> {
    /// `num_mels` filters from `low_hz` to `high_hz` for audio at `sample_rate` Hz.
    pub fn new(
        num_mels: usize,
        sample_rate: f32,
        low_hz: f32,
        high_hz: f32,
    ) -> Result<Self, DspError> {
        if num_mels == 0 || num_mels >= NO_FILTER as usize {
            return Err(DspError::Parameter {
                what: "num_mels",
                why: "must be at least 1 and below 65535",
            });
        }
        if BINS < 2 {
            return Err(DspError::Parameter {
                what: "BINS",
                why: "needs at least 2 bins",
            });
        }
        if !(0.0 <= low_hz && low_hz < high_hz && high_hz <= sample_rate / 2.0) {
            return Err(DspError::Parameter {
                what: "band edges",
                why: "need 0 <= low < high <= sample_rate / 2",
            });
        }
        let mel_low = hz_to_mel(low_hz);
        let mel_step = (hz_to_mel(high_hz) - mel_low) / (num_mels + 1) as f32;
        let hz_per_bin = sample_rate / (2 * (BINS - 1)) as f32;
        let mut rising_filter = [NO_FILTER; BINS];
        let mut rising_weight = [0f32; BINS];
        for b in 0..BINS {
            // Position in units of mel steps from the low edge: segment s (between mel points
            // s and s + 1) is filter s's rising edge and filter s − 1's falling edge.
            let position = (hz_to_mel(b as f32 * hz_per_bin) - mel_low) / mel_step;
            if (0.0..(num_mels + 1) as f32).contains(&position) {
                let segment = libm::floorf(position);
                rising_filter[b] = segment as u16;
                rising_weight[b] = position - segment;
            }
        }
        Ok(MelFilterbank {
            num_mels,
            rising_filter,
            rising_weight,
        })
    }

    /// Number of filters.
    pub fn num_mels(&self) -> usize {
        self.num_mels
    }

    /// Weight of `bin` in filter `filter` (0 outside the filter).
    pub fn weight(&self, filter: usize, bin: usize) -> f32 {
        let Some(&segment) = self.rising_filter.get(bin) else {
            return 0.0;
        };
        if segment == NO_FILTER {
            return 0.0;
        }
        let (segment, w) = (segment as usize, self.rising_weight[bin]);
        // Segment s is the rising edge of filter s and the falling edge of filter s − 1.
        if segment == filter && segment < self.num_mels {
            w
        } else if segment == filter + 1 {
            1.0 - w
        } else {
            0.0
        }
    }

    /// Filter energies `out[m] = Σ_k weight(m, k)·power[k]`; `out` has `num_mels` elements.
    pub fn apply(&self, power: &[f32; BINS], out: &mut [f32]) -> Result<(), DspError> {
        if out.len() != self.num_mels {
            return Err(DspError::Length {
                what: "mel energies",
                expected: self.num_mels,
                got: out.len(),
            });
        }
        out.fill(0.0);
        for ((&segment, &w), &p) in self
            .rising_filter
            .iter()
            .zip(&self.rising_weight)
            .zip(power)
        {
            if segment == NO_FILTER {
                continue;
            }
            let segment = segment as usize;
            if segment < self.num_mels {
                out[segment] += w * p;
            }
            if segment >= 1 {
                out[segment - 1] += (1.0 - w) * p;
            }
        }
        Ok(())
    }

    /// Log-mel energies `ln(max(energy, floor))`.
    pub fn log_mel(
        &self,
        power: &[f32; BINS],
        floor: f32,
        out: &mut [f32],
    ) -> Result<(), DspError> {
        self.apply(power, out)?;
        for x in out.iter_mut() {
            *x = libm::logf(x.max(floor));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mel_scale_round_trips_and_1000_hz_is_about_1000_mel() {
        assert!((hz_to_mel(1000.0) - 1000.0).abs() < 0.1);
        for hz in [0.0f32, 125.0, 1000.0, 7999.0] {
            assert!(
                (mel_to_hz(hz_to_mel(hz)) - hz).abs() < 0.05 + hz * 1e-5,
                "{hz}"
            );
        }
    }

    #[test]
    fn filters_partition_unity_between_the_first_and_last_peaks() {
        let fb = MelFilterbank::<257>::new(40, 16000.0, 20.0, 8000.0).unwrap();
        let hz_per_bin = 8000.0 / 256.0;
        let first_peak = mel_to_hz(hz_to_mel(20.0) + (hz_to_mel(8000.0) - hz_to_mel(20.0)) / 41.0);
        let last_peak =
            mel_to_hz(hz_to_mel(20.0) + 40.0 * (hz_to_mel(8000.0) - hz_to_mel(20.0)) / 41.0);
        let mut checked = 0;
        for bin in 0..257 {
            let hz = bin as f32 * hz_per_bin;
            let total: f32 = (0..40).map(|m| fb.weight(m, bin)).sum();
            if hz > first_peak + 1.0 && hz < last_peak - 1.0 {
                assert!((total - 1.0).abs() < 1e-5, "bin {bin}: {total}");
                checked += 1;
            }
            // No bin is in more than two filters, and weights stay within [0, 1].
            let nonzero = (0..40).filter(|&m| fb.weight(m, bin) > 0.0).count();
            assert!(nonzero <= 2, "bin {bin} in {nonzero} filters");
            for m in 0..40 {
                assert!((0.0..=1.0).contains(&fb.weight(m, bin)));
            }
        }
        assert!(checked > 200);
    }

    #[test]
    fn each_filter_peaks_once_and_apply_matches_the_weights() {
        let fb = MelFilterbank::<129>::new(10, 8000.0, 0.0, 4000.0).unwrap();
        let mut power = [0f32; 129];
        for (k, p) in power.iter_mut().enumerate() {
            *p = 1.0 + k as f32;
        }
        let mut out = [0f32; 10];
        fb.apply(&power, &mut out).unwrap();
        for (m, &got) in out.iter().enumerate() {
            let expected: f32 = (0..129).map(|k| fb.weight(m, k) * power[k]).sum();
            assert!((got - expected).abs() <= 1e-4 * expected, "filter {m}");
            assert!(expected > 0.0, "filter {m} is empty");
        }
    }

    #[test]
    fn bad_parameters_are_errors() {
        assert!(MelFilterbank::<257>::new(0, 16000.0, 0.0, 8000.0).is_err());
        assert!(MelFilterbank::<257>::new(40, 16000.0, 100.0, 9000.0).is_err());
        let fb = MelFilterbank::<257>::new(40, 16000.0, 0.0, 8000.0).unwrap();
        assert!(fb.apply(&[0.0; 257], &mut [0.0; 39]).is_err());
    }
}
