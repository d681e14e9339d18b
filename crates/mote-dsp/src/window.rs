//! Analysis windows and framing: cut a signal into overlapping frames and taper each one
//! before an FFT.
//!
//! Windows are the *periodic* forms used for spectral analysis (`w[i] = a − (1 − a)·cos(2πi/N)`,
//! Hann `a = 0.5`, Hamming `a = 0.54`), computed in `f32` with `libm` so the host and the device
//! get the same bits.

use crate::DspError;

/// Which taper to apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowKind {
    /// `0.5 − 0.5·cos(2πi/N)`: zero at the first sample, good sidelobe fall-off.
    Hann,
    /// `0.54 − 0.46·cos(2πi/N)`: lower first sidelobe, never zero.
    Hamming,
    /// All ones.
    Rectangular,
}

/// Fills `out` with the periodic window of length `out.len()`.
pub fn fill_window(kind: WindowKind, out: &mut [f32]) {
    let n = out.len() as f32;
    let a = match kind {
        WindowKind::Hann => 0.5,
        WindowKind::Hamming => 0.54,
        WindowKind::Rectangular => {
            out.fill(1.0);
            return;
        }
    };
    for (i, w) in out.iter_mut().enumerate() {
        *w = a - (1.0 - a) * libm::cosf(2.0 * core::f32::consts::PI * i as f32 / n);
    }
}

/// A window of `N` points.
pub fn window<const N: usize>(kind: WindowKind) -> [f32; N] {
    let mut w = [0f32; N];
    fill_window(kind, &mut w);
    w
}

/// Multiplies `frame` by `window` element by element.
pub fn apply_window(frame: &mut [f32], window: &[f32]) -> Result<(), DspError> {
    if frame.len() != window.len() {
        return Err(DspError::Length {
            what: "window",
            expected: frame.len(),
            got: window.len(),
        });
    }
    for (x, w) in frame.iter_mut().zip(window) {
        *x *= w;
    }
    Ok(())
}

/// Frames of `frame_len` samples starting every `hop` samples that fit in `signal_len`.
pub fn num_frames(signal_len: usize, frame_len: usize, hop: usize) -> usize {
    if hop == 0 || frame_len == 0 || signal_len < frame_len {
        0
    } else {
        1 + (signal_len - frame_len) / hop
    }
}

/// Frame `index` of `signal` (frames of `frame_len` every `hop`), if it fits.
pub fn frame<T>(signal: &[T], index: usize, frame_len: usize, hop: usize) -> Option<&[T]> {
    let start = index.checked_mul(hop)?;
    signal.get(start..start.checked_add(frame_len)?)
}

/// Iterates over the whole frames of `signal`.
pub fn frames<T>(signal: &[T], frame_len: usize, hop: usize) -> impl Iterator<Item = &[T]> {
    (0..num_frames(signal.len(), frame_len, hop))
        .filter_map(move |i| frame(signal, i, frame_len, hop))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hann_is_zero_at_the_start_one_at_the_middle_and_symmetric() {
        let w: [f32; 16] = window(WindowKind::Hann);
        assert_eq!(w[0], 0.0);
        assert!((w[8] - 1.0).abs() < 1e-6);
        for i in 1..8 {
            assert!((w[i] - w[16 - i]).abs() < 1e-6, "{i}");
        }
        // Periodic Hann windows overlap-add to a constant at 50 % hop.
        for i in 0..8 {
            assert!((w[i] + w[i + 8] - 1.0).abs() < 1e-6);
        }
    }

    #[test]
    fn hamming_ends_at_0_08() {
        let w: [f32; 32] = window(WindowKind::Hamming);
        assert!((w[0] - 0.08).abs() < 1e-6);
        assert!((w[16] - 1.0).abs() < 1e-6);
    }

    #[test]
    fn framing_counts_and_slices() {
        let signal: [u16; 10] = core::array::from_fn(|i| i as u16);
        assert_eq!(num_frames(10, 4, 3), 3);
        assert_eq!(num_frames(3, 4, 3), 0);
        assert_eq!(num_frames(10, 4, 0), 0);
        let all: [&[u16]; 3] = [&[0, 1, 2, 3], &[3, 4, 5, 6], &[6, 7, 8, 9]];
        assert!(frames(&signal, 4, 3).eq(all.iter().copied()));
        assert_eq!(frame(&signal, 3, 4, 3), None);
    }

    #[test]
    fn mismatched_window_is_an_error() {
        let mut frame = [1f32; 4];
        assert!(apply_window(&mut frame, &[1.0; 3]).is_err());
    }
}
