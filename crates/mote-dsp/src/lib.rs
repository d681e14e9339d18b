//! Feature extraction for mote, the same code on the host (training) and on the device
//! (inference), so that features match exactly.
//!
//! `no_std` and allocation-free: callers provide buffers, sizes are const generics or
//! checked slice lengths. Transcendental functions come from the `libm` crate, so float
//! features are bit-identical on the host and on a Cortex-M4F. The `std` feature adds
//! Vec-returning conveniences for the host.
//!
//! - [`window`]: Hann and Hamming windows, framing with a hop;
//! - [`fft`]: real FFT (`microfft`) and power/magnitude spectra;
//! - [`mel`]: mel filterbank and log-mel energies;
//! - [`mfcc`]: DCT-II of log-mel energies;
//! - [`normalize`]: per-feature mean/std statistics (computed on the host, applied on the device);
//! - [`vibration`]: RMS, peak, crest factor, kurtosis and band energies;
//! - [`micro_frontend`]: TFLM's micro_speech front end, byte-exact ([`micro_tables`]: its tables);
//! - [`signal`]: deterministic test signals (chirp plus LCG noise) for host/device comparisons;
//! - [`check`]: every front end on that signal, what the firmware test compares with the host.
#![no_std]

#[cfg(feature = "std")]
extern crate std;

pub mod check;
pub mod fft;
mod fixed_fft;
pub mod mel;
pub mod mfcc;
pub mod micro_frontend;
pub mod micro_tables;
pub mod normalize;
pub mod signal;
pub mod vibration;
pub mod window;

pub use micro_frontend::{micro_features_1s, MicroFrontend};

/// What went wrong in a feature computation, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DspError {
    /// A buffer does not have the length the computation needs.
    #[error("{what}: expected length {expected}, got {got}")]
    Length {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    /// A parameter is outside what the computation supports.
    #[error("invalid parameter {what}: {why}")]
    Parameter {
        what: &'static str,
        why: &'static str,
    },
    /// The filter bank's layout does not fit its tables or the spectrum.
    #[error("filter bank layout: {0}")]
    FilterBankLayout(&'static str),
}
