//! Real FFT and spectra of float frames.
//!
//! The transform is `microfft`'s: `no_std`, in place, no allocation, sizes fixed at compile
//! time (16 to 1024 points here), and the same code on the host and the Cortex-M4F — so
//! spectra match bit for bit. (The micro_speech front end has its own fixed-point FFT, which
//! must reproduce KISS FFT's rounding; see [`crate::micro_frontend`].)

use crate::DspError;
pub use microfft::Complex32;

/// FFT sizes available (`microfft` is built with sizes up to 1024).
pub const SIZES: [usize; 7] = [16, 32, 64, 128, 256, 512, 1024];

/// Forward real FFT of `buffer` in place; returns its `N/2` complex bins, where bin 0 holds
/// the DC value in `re` and the Nyquist value in `im` (microfft's packing).
pub fn rfft(buffer: &mut [f32]) -> Result<&mut [Complex32], DspError> {
    macro_rules! by_size {
        ($($n:literal => $f:ident),*) => {
            match buffer.len() {
                $($n => match <&mut [f32; $n]>::try_from(buffer) {
                    Ok(b) => Ok(microfft::real::$f(b).as_mut_slice()),
                    Err(_) => Err(unsupported()),
                },)*
                _ => Err(unsupported()),
            }
        };
    }
    by_size!(16 => rfft_16, 32 => rfft_32, 64 => rfft_64, 128 => rfft_128, 256 => rfft_256,
             512 => rfft_512, 1024 => rfft_1024)
}

fn unsupported() -> DspError {
    DspError::Parameter {
        what: "FFT length",
        why: "must be a power of two from 16 to 1024",
    }
}

/// The power spectrum `|X[k]|²`, `k = 0..=N/2`, of `frame` (consumed as FFT scratch);
/// `out` must have `N/2 + 1` elements.
pub fn power_spectrum(frame: &mut [f32], out: &mut [f32]) -> Result<(), DspError> {
    let n = frame.len();
    if out.len() != n / 2 + 1 {
        return Err(DspError::Length {
            what: "power spectrum",
            expected: n / 2 + 1,
            got: out.len(),
        });
    }
    let bins = rfft(frame)?;
    let dc = bins[0].re;
    let nyquist = bins[0].im;
    out[0] = dc * dc;
    for (o, c) in out[1..n / 2].iter_mut().zip(&bins[1..]) {
        *o = c.re * c.re + c.im * c.im;
    }
    out[n / 2] = nyquist * nyquist;
    Ok(())
}

/// The magnitude spectrum `|X[k]|`, `k = 0..=N/2`; as [`power_spectrum`].
pub fn magnitude_spectrum(frame: &mut [f32], out: &mut [f32]) -> Result<(), DspError> {
    power_spectrum(frame, out)?;
    for x in out.iter_mut() {
        *x = libm::sqrtf(*x);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::f32::consts::PI;

    #[test]
    fn a_sinusoid_puts_its_energy_in_its_bin() {
        const N: usize = 256;
        let (k0, amplitude) = (19usize, 3.0f32);
        let mut frame: [f32; N] = core::array::from_fn(|i| {
            amplitude * libm::sinf(2.0 * PI * k0 as f32 * i as f32 / N as f32)
        });
        let mut power = [0f32; N / 2 + 1];
        power_spectrum(&mut frame, &mut power).unwrap();
        // |X[k0]| = A·N/2 for a sine on a bin.
        let expected = (amplitude * N as f32 / 2.0).powi(2);
        assert!(
            (power[k0] - expected).abs() / expected < 1e-4,
            "{}",
            power[k0]
        );
        let leak: f32 = power
            .iter()
            .enumerate()
            .filter(|(k, _)| *k != k0)
            .map(|(_, p)| p)
            .sum();
        assert!(leak < expected * 1e-8, "leakage {leak}");
    }

    #[test]
    fn parseval_holds() {
        const N: usize = 512;
        let mut seed = 12345u32;
        let signal: [f32; N] = core::array::from_fn(|_| {
            seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        });
        let time_energy: f64 = signal.iter().map(|&x| (x as f64) * (x as f64)).sum();
        let mut frame = signal;
        let mut power = [0f32; N / 2 + 1];
        power_spectrum(&mut frame, &mut power).unwrap();
        // Σ|x|² = (1/N)·Σ over all N bins; bins 1..N/2 appear twice in a real signal's spectrum.
        let freq_energy: f64 = power
            .iter()
            .enumerate()
            .map(|(k, &p)| {
                if k == 0 || k == N / 2 {
                    p as f64
                } else {
                    2.0 * p as f64
                }
            })
            .sum::<f64>()
            / N as f64;
        assert!(
            (time_energy - freq_energy).abs() / time_energy < 1e-5,
            "{time_energy} vs {freq_energy}"
        );
    }

    #[test]
    fn unsupported_sizes_and_lengths_are_errors() {
        let mut frame = [0f32; 100];
        assert!(rfft(&mut frame).is_err());
        let mut frame = [0f32; 64];
        assert!(power_spectrum(&mut frame, &mut [0f32; 32]).is_err());
    }
}
