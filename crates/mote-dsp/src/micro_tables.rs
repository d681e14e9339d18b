//! How the micro_speech front end's tables are made: the Q12 Hann window, the mel filter bank
//! in TFLM's layout, the PCAN gain table, the log correction table and the FFT twiddles, each
//! from its formula in `f64` with `libm`.
//!
//! This file is compiled twice: by `build.rs`, which bakes the tables into `static`s (so on
//! the device they sit in flash and cost nothing at start-up), and into the library, where the
//! same functions are public so that tests can regenerate the tables and compare them with the
//! model's constant tensors. It therefore uses nothing but `core` and `libm`.

use core::f64::consts::PI;

/// Audio sample rate the front end is built for.
pub const SAMPLE_RATE_HZ: u32 = 16_000;
/// Samples in one analysis window (30 ms).
pub const WINDOW_SAMPLES: usize = 480;
/// Mel channels, so int8 features per frame.
pub const NUM_CHANNELS: usize = 40;
/// The real FFT's length and the inner complex FFT's (half of it).
pub const FFT_LENGTH: usize = 512;
pub const HALF_FFT: usize = FFT_LENGTH / 2;
/// Bins of the real FFT's output.
pub const NUM_BINS: usize = HALF_FFT + 1;
/// The window is Q12.
pub const WINDOW_SHIFT: u32 = 12;

const LOWER_BAND_HZ: f64 = 125.0;
const UPPER_BAND_HZ: f64 = 7500.0;
const FILTERBANK_BITS: u32 = 12;
/// TFLM pads every channel's weights to a multiple of this many bins.
const CHANNEL_BLOCK: usize = 4;
/// Channel starts are aligned to this many bins (4 bytes of int16).
const INDEX_ALIGNMENT: usize = 2;
/// Room for the filter bank's padded weights (316 for micro_speech's parameters).
pub const MAX_WEIGHTS: usize = 384;

/// Spectral subtraction's smoothing bits and PCAN's input correction: the noise estimate the
/// PCAN gain is looked up with is Q(10 − 3).
pub const SMOOTHING_BITS: u32 = 10;
pub const LOG_INPUT_CORRECTION_BITS: u32 = 3;

const PCAN_STRENGTH: f64 = 0.95;
const PCAN_OFFSET: f64 = 80.0;
const PCAN_GAIN_BITS: u32 = 21;
/// 4 entries per octave of the 32-bit noise estimate, less the unused first ones.
pub const PCAN_LUT_SIZE: usize = 4 * 32 - 3;
/// Entries of the log correction table (128 segments, their end, and one pad).
pub const LOG_LUT_SIZE: usize = 130;

/// Largest number of radix stages: enough for a complex FFT of 2^16 points.
pub const MAX_FFT_STAGES: usize = 16;

/// Q12 Hann window of `WINDOW_SAMPLES` points, as the model's window tensor.
pub fn hann_window_q12() -> [i16; WINDOW_SAMPLES] {
    let mut w = [0i16; WINDOW_SAMPLES];
    let arg = core::f64::consts::PI * 2.0 / WINDOW_SAMPLES as f64;
    for (i, x) in w.iter_mut().enumerate() {
        let weight = 0.5 - 0.5 * libm::cos(arg * (i as f64 + 0.5));
        // numpy's round: half to even.
        *x = libm::rint(weight * (1u32 << WINDOW_SHIFT) as f64) as i16;
    }
    w
}

fn freq_to_mel(hz: f64) -> f64 {
    1127.0 * libm::log1p(hz / 700.0)
}

/// The mel filter bank in TFLM's layout: `NUM_CHANNELS + 1` channels (the first only collects
/// the "unweights" of channel 0), each a run of Q12 weights starting at a frequency bin.
#[derive(Clone, Debug)]
pub struct FilterBankTables {
    /// Q12 weight of each bin for its channel.
    pub weights: [i16; MAX_WEIGHTS],
    /// `4096 − weight` (truncated separately), the bin's share of the next channel.
    pub unweights: [i16; MAX_WEIGHTS],
    /// Used length of `weights` and `unweights`.
    pub num_weights: usize,
    pub channel_frequency_starts: [i16; NUM_CHANNELS + 1],
    pub channel_weight_starts: [i16; NUM_CHANNELS + 1],
    pub channel_widths: [i16; NUM_CHANNELS + 1],
    /// First and one-past-last FFT bin with any weight.
    pub start_index: usize,
    pub end_index: usize,
}

impl FilterBankTables {
    /// The micro_speech filter bank: 40 channels from 125 Hz to 7.5 kHz over 257 bins at 16 kHz.
    pub fn generate() -> Result<Self, &'static str> {
        const CHANNELS_PLUS_1: usize = NUM_CHANNELS + 1;
        let mel_low = freq_to_mel(LOWER_BAND_HZ);
        let mel_span = freq_to_mel(UPPER_BAND_HZ) - mel_low;
        let mel_spacing = mel_span / CHANNELS_PLUS_1 as f64;
        let mut center_mel = [0f64; CHANNELS_PLUS_1];
        for (i, c) in center_mel.iter_mut().enumerate() {
            *c = mel_low + mel_spacing * (i + 1) as f64;
        }
        let hz_per_bin = 0.5 * SAMPLE_RATE_HZ as f64 / (NUM_BINS as f64 - 1.0);
        // DC is always excluded.
        let start_index = (1.5 + LOWER_BAND_HZ / hz_per_bin) as usize;

        let mut t = FilterBankTables {
            weights: [0; MAX_WEIGHTS],
            unweights: [0; MAX_WEIGHTS],
            num_weights: 0,
            channel_frequency_starts: [0; CHANNELS_PLUS_1],
            channel_weight_starts: [0; CHANNELS_PLUS_1],
            channel_widths: [0; CHANNELS_PLUS_1],
            start_index,
            end_index: 0,
        };
        let mut actual_starts = [0usize; CHANNELS_PLUS_1];
        let mut actual_widths = [0usize; CHANNELS_PLUS_1];
        let mut bin_start = start_index;
        let mut weight_start = 0usize;
        let mut needs_zeros = false;
        for chan in 0..CHANNELS_PLUS_1 {
            let mut bin = bin_start;
            while freq_to_mel(bin as f64 * hz_per_bin) <= center_mel[chan] {
                bin += 1;
                if bin >= NUM_BINS {
                    return Err("a channel reaches past the spectrum");
                }
            }
            let width = bin - bin_start;
            actual_starts[chan] = bin_start;
            actual_widths[chan] = width;
            if width == 0 {
                // An empty channel points at a block of zero weights placed first.
                t.channel_frequency_starts[chan] = 0;
                t.channel_weight_starts[chan] = 0;
                t.channel_widths[chan] = CHANNEL_BLOCK as i16;
                if !needs_zeros {
                    needs_zeros = true;
                    for s in t.channel_weight_starts.iter_mut().take(chan) {
                        *s += CHANNEL_BLOCK as i16;
                    }
                    weight_start += CHANNEL_BLOCK;
                }
            } else {
                let aligned_start = bin_start / INDEX_ALIGNMENT * INDEX_ALIGNMENT;
                let aligned_width = bin_start - aligned_start + width;
                let padded_width =
                    (aligned_width - 1) / CHANNEL_BLOCK * CHANNEL_BLOCK + CHANNEL_BLOCK;
                t.channel_frequency_starts[chan] = aligned_start as i16;
                t.channel_weight_starts[chan] = weight_start as i16;
                t.channel_widths[chan] = padded_width as i16;
                weight_start += padded_width;
            }
            bin_start = bin;
        }
        if weight_start > MAX_WEIGHTS {
            return Err("more padded weights than the tables hold");
        }
        t.num_weights = weight_start;
        let scale = (1u32 << FILTERBANK_BITS) as f64;
        for chan in 0..CHANNELS_PLUS_1 {
            let offset = actual_starts[chan] - t.channel_frequency_starts[chan] as usize;
            let first_weight = t.channel_weight_starts[chan] as usize + offset;
            let lower_mel = if chan == 0 {
                mel_low
            } else {
                center_mel[chan - 1]
            };
            for j in 0..actual_widths[chan] {
                let bin = actual_starts[chan] + j;
                let weight = (center_mel[chan] - freq_to_mel(bin as f64 * hz_per_bin))
                    / (center_mel[chan] - lower_mel);
                // Truncated, as the model's tables are (not rounded).
                t.weights[first_weight + j] = (weight * scale) as i16;
                t.unweights[first_weight + j] = ((1.0 - weight) * scale) as i16;
            }
            t.end_index = t.end_index.max(actual_starts[chan] + actual_widths[chan]);
        }
        Ok(t)
    }
}

/// The PCAN gain for a noise estimate `x` (Q`input_bits`): `2^21 · (x + 80)^−0.95`, saturated.
fn pcan_gain(input_bits: u32, x: u32) -> i16 {
    let x = x as f64 / (1u64 << input_bits) as f64;
    let gain = (1u32 << PCAN_GAIN_BITS) as f64 * libm::pow(x + PCAN_OFFSET, -PCAN_STRENGTH);
    if gain > i16::MAX as f64 {
        i16::MAX
    } else {
        (gain + 0.5) as i16
    }
}

/// PCAN's gain table: gains at 0 and 1, then per octave `[2^k, 2^(k+1))` a quadratic through
/// its start, middle and end (value, linear and quadratic coefficients, and one pad entry).
pub fn pcan_gain_lut() -> [i16; PCAN_LUT_SIZE] {
    let input_bits = SMOOTHING_BITS - LOG_INPUT_CORRECTION_BITS;
    let mut lut = [0i16; PCAN_LUT_SIZE];
    lut[0] = pcan_gain(input_bits, 0);
    lut[1] = pcan_gain(input_bits, 1);
    for interval in 2..=32u32 {
        let x0 = 1u32 << (interval - 1);
        let x1 = x0 + (x0 >> 1);
        let x2 = if interval == 32 {
            x0 + (x0 - 1)
        } else {
            2 * x0
        };
        let y0 = pcan_gain(input_bits, x0) as i32;
        let y1 = pcan_gain(input_bits, x1) as i32;
        let y2 = pcan_gain(input_bits, x2) as i32;
        let diff1 = y1 - y0;
        let diff2 = y2 - y0;
        let a1 = 4 * diff1 - diff2;
        let a2 = diff2 - a1;
        let base = 4 * interval as usize - 6;
        lut[base] = y0 as i16;
        lut[base + 1] = a1 as i16;
        lut[base + 2] = a2 as i16;
    }
    lut
}

/// Correction from linear interpolation to log2 over one octave, in 128 segments (Q16):
/// `round((log2(1 + k/128) − k/128) · 65536)`, plus one pad entry.
pub fn log_correction_lut() -> [u16; 130] {
    let mut lut = [0u16; 130];
    for (k, x) in lut.iter_mut().enumerate().take(129) {
        let f = k as f64 / 128.0;
        *x = libm::round((libm::log2(1.0 + f) - f) * 65536.0) as u16;
    }
    lut
}

/// KISS FFT's fixed-point twiddle: `floor(0.5 + 32767·cos(phase))`, `floor(0.5 + 32767·sin(phase))`.
pub fn kiss_twiddle(phase: f64) -> (i16, i16) {
    (
        libm::floor(0.5 + 32767.0 * libm::cos(phase)) as i16,
        libm::floor(0.5 + 32767.0 * libm::sin(phase)) as i16,
    )
}

/// Twiddles of a complex FFT of `out.len()` points: `e^(−2πik/n)`, with KISS FFT's expression
/// order so that the doubles round identically.
pub fn fft_twiddles(out: &mut [(i16, i16)]) {
    let n = out.len() as f64;
    for (i, t) in out.iter_mut().enumerate() {
        *t = kiss_twiddle(-2.0 * PI * i as f64 / n);
    }
}

/// The real FFT's recombination twiddles for an inner complex FFT of `half` points
/// (`half / 2` of them, written to the front of `out`).
pub fn fft_super_twiddles(half: usize, out: &mut [(i16, i16)]) {
    let n = half as f64;
    for (i, t) in out.iter_mut().take(half / 2).enumerate() {
        *t = kiss_twiddle(-PI * ((i + 1) as f64 / n + 0.5));
    }
}

/// KISS FFT's radix plan for a power of two `n`: powers of 4 first, then a 2, as
/// `(radix, remaining length)` per stage; unused stages are `(0, 0)`.
pub fn fft_stages(n: usize) -> [(usize, usize); MAX_FFT_STAGES] {
    let mut stages = [(0, 0); MAX_FFT_STAGES];
    let mut remaining = n;
    let mut i = 0;
    while remaining > 1 && i < MAX_FFT_STAGES {
        let radix = if remaining & 3 == 0 { 4 } else { 2 };
        remaining /= radix;
        stages[i] = (radix, remaining);
        i += 1;
    }
    stages
}
