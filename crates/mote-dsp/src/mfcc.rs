//! MFCCs: the orthonormal DCT-II of log-mel energies, keeping the first coefficients.
//!
//! `c[k] = s_k · Σ_n x[n]·cos(π·k·(2n + 1) / 2N)` with `s_0 = √(1/N)`, `s_k = √(2/N)`
//! (the "ortho" DCT-II of scipy and librosa). The cosine table is computed once by
//! [`Dct::new`] with `libm`, so the host and the device agree bit for bit.

/// A DCT-II from `N` inputs to the first `K` coefficients.
#[derive(Clone, Debug)]
pub struct Dct<const N: usize, const K: usize> {
    basis: [[f32; N]; K],
}

impl<const N: usize, const K: usize> Dct<N, K> {
    /// The scaled cosine table.
    pub fn new() -> Self {
        let mut basis = [[0f32; N]; K];
        for (k, row) in basis.iter_mut().enumerate() {
            let scale = if k == 0 {
                libm::sqrt(1.0 / N as f64)
            } else {
                libm::sqrt(2.0 / N as f64)
            };
            for (n, b) in row.iter_mut().enumerate() {
                let angle = core::f64::consts::PI * k as f64 * (2 * n + 1) as f64 / (2 * N) as f64;
                *b = (scale * libm::cos(angle)) as f32;
            }
        }
        Dct { basis }
    }

    /// The first `K` coefficients of `input`.
    pub fn apply(&self, input: &[f32; N], out: &mut [f32; K]) {
        for (o, row) in out.iter_mut().zip(&self.basis) {
            *o = row.iter().zip(input).map(|(b, x)| b * x).sum();
        }
    }

    /// Row `k` of the transform (for inspection and tests).
    pub fn basis(&self, k: usize) -> Option<&[f32; N]> {
        self.basis.get(k)
    }
}

impl<const N: usize, const K: usize> Default for Dct<N, K> {
    fn default() -> Self {
        Self::new()
    }
}

/// A float speech front end built from the generic parts, for keyword models trained on
/// log-mel or MFCC features: int16 frames of `FRAME` samples scaled to [−1, 1), zero-padded
/// to a 512-point FFT, Hann window, power spectrum, 40 mel filters (20 Hz–8 kHz at 16 kHz),
/// `ln(max(e, 1e-10))`, and 13 MFCCs.
#[derive(Clone, Debug)]
pub struct MfccFrontend<const FRAME: usize> {
    window: [f32; FRAME],
    mel: crate::mel::MelFilterbank<{ MFCC_FFT / 2 + 1 }>,
    dct: Dct<MFCC_MELS, MFCC_COEFFS>,
}

/// FFT length of [`MfccFrontend`].
pub const MFCC_FFT: usize = 512;
/// Mel channels of [`MfccFrontend`].
pub const MFCC_MELS: usize = 40;
/// Coefficients kept by [`MfccFrontend`].
pub const MFCC_COEFFS: usize = 13;

impl<const FRAME: usize> MfccFrontend<FRAME> {
    /// Tables for 16 kHz audio; `FRAME` must be at most 512.
    pub fn new() -> Result<Self, crate::DspError> {
        if FRAME == 0 || FRAME > MFCC_FFT {
            return Err(crate::DspError::Parameter {
                what: "FRAME",
                why: "must be between 1 and 512 samples",
            });
        }
        Ok(MfccFrontend {
            window: crate::window::window(crate::window::WindowKind::Hann),
            mel: crate::mel::MelFilterbank::new(MFCC_MELS, 16_000.0, 20.0, 8_000.0)?,
            dct: Dct::new(),
        })
    }

    /// Log-mel energies and MFCCs of one frame.
    pub fn process(
        &self,
        samples: &[i16; FRAME],
        log_mel: &mut [f32; MFCC_MELS],
        mfcc: &mut [f32; MFCC_COEFFS],
    ) -> Result<(), crate::DspError> {
        let mut buffer = [0f32; MFCC_FFT];
        for ((b, &s), &w) in buffer.iter_mut().zip(samples).zip(&self.window) {
            *b = s as f32 / 32768.0 * w;
        }
        let mut power = [0f32; MFCC_FFT / 2 + 1];
        crate::fft::power_spectrum(&mut buffer, &mut power)?;
        self.mel.log_mel(&power, 1e-10, log_mel)?;
        self.dct.apply(log_mel, mfcc);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_full_dct_is_orthonormal() {
        let dct = Dct::<16, 16>::new();
        for i in 0..16 {
            for j in 0..16 {
                let dot: f32 = dct
                    .basis(i)
                    .unwrap()
                    .iter()
                    .zip(dct.basis(j).unwrap())
                    .map(|(a, b)| a * b)
                    .sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((dot - want).abs() < 1e-5, "<{i}, {j}> = {dot}");
            }
        }
    }

    #[test]
    fn a_constant_has_only_a_dc_coefficient_and_energy_is_kept() {
        let dct = Dct::<40, 40>::new();
        let mut out = [0f32; 40];
        dct.apply(&[2.0; 40], &mut out);
        assert!((out[0] - 2.0 * libm::sqrtf(40.0)).abs() < 1e-4);
        assert!(out[1..].iter().all(|c| c.abs() < 1e-4));
        // Parseval for an orthonormal transform.
        let x: [f32; 40] = core::array::from_fn(|i| libm::sinf(i as f32 * 0.7) + 0.1 * i as f32);
        dct.apply(&x, &mut out);
        let ex: f32 = x.iter().map(|v| v * v).sum();
        let ec: f32 = out.iter().map(|v| v * v).sum();
        assert!((ex - ec).abs() / ex < 1e-5);
    }

    #[test]
    fn truncated_mfcc_is_the_head_of_the_full_transform() {
        let full = Dct::<40, 40>::new();
        let head = Dct::<40, 13>::new();
        let x: [f32; 40] = core::array::from_fn(|i| libm::cosf(i as f32 * 0.3));
        let (mut a, mut b) = ([0f32; 40], [0f32; 13]);
        full.apply(&x, &mut a);
        head.apply(&x, &mut b);
        assert_eq!(&a[..13], &b[..]);
    }

    /// The float front end against a direct double-precision computation of the same
    /// definition (DFT by summation, the filterbank's weights, natural log, DCT-II by formula).
    #[test]
    fn mfcc_frontend_matches_a_double_precision_reference() {
        const FRAME: usize = 480;
        let frontend = MfccFrontend::<FRAME>::new().unwrap();
        let mut clip = [0i16; 16_000];
        crate::signal::reference_clip(&mut clip);
        let frame: &[i16; FRAME] = clip[3200..3200 + FRAME].try_into().unwrap();
        let (mut log_mel, mut mfcc) = ([0f32; MFCC_MELS], [0f32; MFCC_COEFFS]);
        frontend.process(frame, &mut log_mel, &mut mfcc).unwrap();

        let pi = core::f64::consts::PI;
        let x: [f64; MFCC_FFT] = core::array::from_fn(|i| {
            if i < FRAME {
                let w = 0.5 - 0.5 * libm::cos(2.0 * pi * i as f64 / FRAME as f64);
                frame[i] as f64 / 32768.0 * w
            } else {
                0.0
            }
        });
        let power: [f64; MFCC_FFT / 2 + 1] = core::array::from_fn(|k| {
            let (mut re, mut im) = (0f64, 0f64);
            for (n, &v) in x.iter().enumerate() {
                let a = -2.0 * pi * (k * n % MFCC_FFT) as f64 / MFCC_FFT as f64;
                re += v * libm::cos(a);
                im += v * libm::sin(a);
            }
            re * re + im * im
        });
        let mel = &frontend.mel;
        let want_log_mel: [f64; MFCC_MELS] = core::array::from_fn(|m| {
            let e: f64 = (0..power.len())
                .map(|k| mel.weight(m, k) as f64 * power[k])
                .sum();
            libm::log(e.max(1e-10))
        });
        for (m, (&got, &want)) in log_mel.iter().zip(&want_log_mel).enumerate() {
            assert!(
                (got as f64 - want).abs() < 1e-3,
                "log-mel {m}: {got} vs {want}"
            );
        }
        for (k, &got) in mfcc.iter().enumerate() {
            let scale = if k == 0 {
                libm::sqrt(1.0 / 40.0)
            } else {
                libm::sqrt(2.0 / 40.0)
            };
            let want: f64 = (0..MFCC_MELS)
                .map(|n| want_log_mel[n] * libm::cos(pi * k as f64 * (2 * n + 1) as f64 / 80.0))
                .sum::<f64>()
                * scale;
            assert!(
                (got as f64 - want).abs() < 2e-3,
                "mfcc {k}: {got} vs {want}"
            );
        }
    }
}
