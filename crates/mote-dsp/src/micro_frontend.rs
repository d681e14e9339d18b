//! TFLM's micro_speech audio front end, bit for bit: 16 kHz int16 audio, a 30 ms window every
//! 20 ms, 40 int8 features per frame.
//!
//! It computes what `audio_preprocessor_int8.tflite` (TFLM's micro_speech example) computes
//! with its Signal* custom operators, in the same fixed-point arithmetic:
//!
//! 1. **window**: each sample times a Hann window in Q12 (`round(4096·(½ − ½·cos(2π(i+½)/480)))`),
//!    shifted right by 12 and saturated to int16;
//! 2. **FFT auto-scale**: the frame is shifted left by as many bits as its peak allows
//!    (`15 − bits(max |x|)`), remembered to undo after the square root;
//! 3. **real FFT**: 512 points (480 samples, zero-padded), KISS FFT's 16-bit fixed point
//!    (see [`crate::fixed_fft`]);
//! 4. **energy**: `re² + im²` of bins 5..241 (125 Hz to 7.5 kHz), the others zero;
//! 5. **filter bank**: 40 triangular mel channels (125 Hz to 7.5 kHz), Q12 weights and
//!    "unweights" accumulated in 64 bits, with TFLM's aligned channel layout;
//! 6. **square root** of each channel (rounded integer square root), shifted right by the
//!    auto-scale bits;
//! 7. **spectral subtraction**: a per-channel noise estimate smoothed over frames (Q14
//!    coefficients 0.025 on even channels, 0.06 on odd ones), subtracted with a floor of 5 %
//!    of the signal — this is the state carried between frames;
//! 8. **PCAN** (per-channel amplitude normalisation): a gain looked up from the noise estimate
//!    (`2^21·(x/128 + 80)^−0.95`, a 125-entry piecewise-quadratic table), then the "shrink"
//!    curve;
//! 9. **log**: `64·ln(x·8)` by TFLM's fixed-point log2 with a 128-segment correction table;
//! 10. **to int8**: `(v·256 + 333) / 666 − 128`, clamped to [−128, 127].
//!
//! Every table (window, filter bank, PCAN gain, log correction, FFT twiddles) is generated from
//! its formula by [`MicroFrontend::new`] with the `libm` crate, so the host and the device
//! compute the same values; the tests compare them with the model's constant tensors.
//! The spectral-subtraction noise estimate starts at zero and is updated by every frame, as
//! one TFLM interpreter does across `invoke`s; [`MicroFrontend::reset`] starts over, as
//! TFLM's `Reset` (or a fresh interpreter) does.

use crate::fixed_fft::{ComplexI16, FixedRfft};
use crate::DspError;

/// Audio sample rate the front end is built for.
pub const SAMPLE_RATE_HZ: u32 = 16_000;
/// Samples in one analysis window (30 ms).
pub const WINDOW_SAMPLES: usize = 480;
/// Samples between the starts of two frames (20 ms).
pub const HOP_SAMPLES: usize = 320;
/// Mel channels, so int8 features per frame.
pub const NUM_CHANNELS: usize = 40;
/// Frames in one second of audio: `1 + (16000 − 480) / 320`.
pub const FRAMES_PER_SECOND: usize = 49;
/// Samples in one second of audio.
pub const SAMPLES_PER_SECOND: usize = SAMPLE_RATE_HZ as usize;

const FFT_LENGTH: usize = 512;
const HALF_FFT: usize = FFT_LENGTH / 2;
const NUM_BINS: usize = HALF_FFT + 1;
const WINDOW_SHIFT: u32 = 12;

const LOWER_BAND_HZ: f64 = 125.0;
const UPPER_BAND_HZ: f64 = 7500.0;
const FILTERBANK_BITS: u32 = 12;
/// TFLM pads every channel's weights to a multiple of this many bins.
const CHANNEL_BLOCK: usize = 4;
/// Channel starts are aligned to this many bins (4 bytes of int16).
const INDEX_ALIGNMENT: usize = 2;
/// Room for the filter bank's padded weights (316 for micro_speech's parameters).
const MAX_WEIGHTS: usize = 384;

const SMOOTHING_BITS: u32 = 10;
const SPECTRAL_SUBTRACTION_BITS: u32 = 14;
/// Q14 smoothing coefficients: 0.025 (even channels) and 0.06 (odd channels), truncated.
const SMOOTHING: u32 = 409;
const ONE_MINUS_SMOOTHING: u32 = 15975;
const ALTERNATE_SMOOTHING: u32 = 983;
const ALTERNATE_ONE_MINUS_SMOOTHING: u32 = 15401;
/// 0.05 in Q14: the part of the signal that spectral subtraction always leaves.
const MIN_SIGNAL_REMAINING: u32 = 819;

const PCAN_STRENGTH: f64 = 0.95;
const PCAN_OFFSET: f64 = 80.0;
const PCAN_GAIN_BITS: u32 = 21;
const PCAN_SNR_SHIFT: u32 = 6;
const PCAN_SNR_BITS: u32 = 12;
const PCAN_OUTPUT_BITS: u32 = 6;
/// 4 entries per octave of the 32-bit noise estimate, less the unused first ones.
pub const PCAN_LUT_SIZE: usize = 4 * 32 - 3;

const LOG_INPUT_CORRECTION_BITS: u32 = 3;
const LOG_OUTPUT_SCALE: u32 = 64;
const LOG_SEGMENTS_LOG2: u32 = 7;
const LOG_SCALE_LOG2: u32 = 16;
/// `round(65536 / log2(e))`: converts a Q16 log2 into a Q16 natural log.
const LOG_COEFF: u64 = 45426;

/// The int16 log-energy → int8 mapping of the model's last operators.
const OUTPUT_MULTIPLIER: i32 = 256;
const OUTPUT_DIVISOR: i32 = 666;

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
    pub fn micro_speech() -> Result<Self, DspError> {
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
                    return Err(DspError::FilterBankLayout(
                        "a channel reaches past the spectrum",
                    ));
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
            return Err(DspError::FilterBankLayout(
                "more padded weights than the tables hold",
            ));
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
fn log_correction_lut() -> [u16; 130] {
    let mut lut = [0u16; 130];
    for (k, x) in lut.iter_mut().enumerate().take(129) {
        let f = k as f64 / 128.0;
        *x = libm::round((libm::log2(1.0 + f) - f) * 65536.0) as u16;
    }
    lut
}

/// Bits needed to hold `x` (32 for 0, as TFLM's `__builtin_clz` path returns).
#[inline]
fn most_significant_bit32(x: u32) -> u32 {
    if x == 0 {
        32
    } else {
        32 - x.leading_zeros()
    }
}

/// Rounded integer square root of a 32-bit value.
fn sqrt32(mut num: u32) -> u16 {
    if num == 0 {
        return 0;
    }
    let mut res: u32 = 0;
    let max_bit_number = (32 - most_significant_bit32(num)) | 1;
    let mut bit: u32 = 1 << (31 - max_bit_number);
    let mut iterations = (31 - max_bit_number) / 2 + 1;
    while iterations > 0 {
        iterations -= 1;
        if num >= res + bit {
            num -= res + bit;
            res = (res >> 1) + bit;
        } else {
            res >>= 1;
        }
        bit >>= 2;
    }
    if num > res && res != 0xFFFF {
        res += 1;
    }
    res as u16
}

/// Rounded integer square root of a 64-bit value (32-bit path when the high word is clear,
/// as TFLM does, off by one near 2^32 — kept for exactness).
fn sqrt64(mut num: u64) -> u32 {
    if num >> 32 == 0 {
        return sqrt32(num as u32) as u32;
    }
    let mut res: u64 = 0;
    let max_bit_number = (64 - (64 - num.leading_zeros())) | 1;
    let mut bit: u64 = 1 << (63 - max_bit_number);
    let mut iterations = (63 - max_bit_number) / 2 + 1;
    while iterations > 0 {
        iterations -= 1;
        if num >= res + bit {
            num -= res + bit;
            res = (res >> 1) + bit;
        } else {
            res >>= 1;
        }
        bit >>= 2;
    }
    if num > res && res != 0xFFFF_FFFF {
        res += 1;
    }
    res as u32
}

/// The front end's state and tables. About 5 KB; build it once (tables take a few
/// million instructions of soft double-precision maths on a Cortex-M4) and feed it frames.
pub struct MicroFrontend {
    window: [i16; WINDOW_SAMPLES],
    fft: FixedRfft<HALF_FFT>,
    filter_bank: FilterBankTables,
    pcan_lut: [i16; PCAN_LUT_SIZE],
    log_lut: [u16; 130],
    /// Spectral subtraction's per-channel noise estimate: the state carried between frames.
    noise_estimate: [u32; NUM_CHANNELS],
    // Work buffers, kept here so that processing a frame needs little stack.
    frame: [i16; FFT_LENGTH],
    fft_scratch: [ComplexI16; HALF_FFT],
    spectrum: [ComplexI16; NUM_BINS],
}

impl MicroFrontend {
    /// Generates the tables and starts with a zero noise estimate.
    pub fn new() -> Result<Self, DspError> {
        Ok(MicroFrontend {
            window: hann_window_q12(),
            fft: FixedRfft::new().ok_or(DspError::FilterBankLayout("FFT length"))?,
            filter_bank: FilterBankTables::micro_speech()?,
            pcan_lut: pcan_gain_lut(),
            log_lut: log_correction_lut(),
            noise_estimate: [0; NUM_CHANNELS],
            frame: [0; FFT_LENGTH],
            fft_scratch: [ComplexI16::default(); HALF_FFT],
            spectrum: [ComplexI16::default(); NUM_BINS],
        })
    }

    /// Forgets the noise estimate, as a fresh TFLM interpreter (or its `Reset`) does.
    pub fn reset(&mut self) {
        self.noise_estimate = [0; NUM_CHANNELS];
    }

    /// The current noise estimate (for inspection and tests).
    pub fn noise_estimate(&self) -> &[u32; NUM_CHANNELS] {
        &self.noise_estimate
    }

    /// The filter bank the front end uses.
    pub fn filter_bank(&self) -> &FilterBankTables {
        &self.filter_bank
    }

    /// The window the front end uses.
    pub fn window(&self) -> &[i16; WINDOW_SAMPLES] {
        &self.window
    }

    /// The PCAN gain table the front end uses.
    pub fn pcan_lut(&self) -> &[i16; PCAN_LUT_SIZE] {
        &self.pcan_lut
    }

    /// One 30 ms frame → 40 int8 features, updating the noise estimate.
    pub fn process_frame(&mut self, samples: &[i16; WINDOW_SAMPLES]) -> [i8; NUM_CHANNELS] {
        let mut out = [0i8; NUM_CHANNELS];
        let log = self.log_energies(samples);
        for (o, &v) in out.iter_mut().zip(log.iter()) {
            let scaled = (v as i32 * OUTPUT_MULTIPLIER + OUTPUT_DIVISOR / 2) / OUTPUT_DIVISOR - 128;
            *o = scaled.clamp(-128, 127) as i8;
        }
        out
    }

    /// Like [`Self::process_frame`] for a slice, which must hold exactly 480 samples.
    pub fn process_slice(&mut self, samples: &[i16]) -> Result<[i8; NUM_CHANNELS], DspError> {
        let frame: &[i16; WINDOW_SAMPLES] = samples.try_into().map_err(|_| DspError::Length {
            what: "micro front end frame",
            expected: WINDOW_SAMPLES,
            got: samples.len(),
        })?;
        Ok(self.process_frame(frame))
    }

    /// Every frame of `audio` (frames start every 320 samples while 480 remain) into `out`,
    /// continuing from the current noise estimate; returns the number of frames written.
    ///
    /// Fails if `out` has room for fewer frames than `audio` holds.
    pub fn process_clip(
        &mut self,
        audio: &[i16],
        out: &mut [[i8; NUM_CHANNELS]],
    ) -> Result<usize, DspError> {
        let frames = num_frames(audio.len());
        if out.len() < frames {
            return Err(DspError::Length {
                what: "output frames",
                expected: frames,
                got: out.len(),
            });
        }
        for (f, o) in out.iter_mut().take(frames).enumerate() {
            let start = f * HOP_SAMPLES;
            *o = self.process_slice(&audio[start..start + WINDOW_SAMPLES])?;
        }
        Ok(frames)
    }

    /// Steps 1–9: the int16 log energies (`64·ln`) of the 40 channels.
    pub fn log_energies(&mut self, samples: &[i16; WINDOW_SAMPLES]) -> [i16; NUM_CHANNELS] {
        // 1. Window, saturating to int16; the FFT's zero padding follows.
        for ((f, &x), &w) in self
            .frame
            .iter_mut()
            .zip(samples.iter())
            .zip(self.window.iter())
        {
            let raw = (x as i32 * w as i32) >> WINDOW_SHIFT;
            *f = raw.clamp(i16::MIN as i32, i16::MAX as i32) as i16;
        }
        self.frame[WINDOW_SAMPLES..].fill(0);

        // 2. Auto-scale: as many left shifts as the peak allows. The peak is taken the way
        //    TFLM does, so that −32768 (whose negation does not fit) reads as −32768 and
        //    disables scaling.
        let mut max: i16 = 0;
        for &v in &self.frame[..WINDOW_SAMPLES] {
            if v > max {
                max = v;
            } else if -(v as i32) > max as i32 {
                max = (-(v as i32)) as i16;
            }
        }
        let scale_bits = (16 - most_significant_bit32(max as i32 as u32) as i32 - 1).max(0) as u32;
        for f in self.frame[..WINDOW_SAMPLES].iter_mut() {
            *f = (*f as i32).wrapping_mul(1 << scale_bits) as i16;
        }

        // 3. Real FFT.
        self.fft
            .forward(&self.frame, &mut self.fft_scratch, &mut self.spectrum);

        // 4. Energy of the bins the filter bank can use; the rest are zero in the model.
        let mut energy = [0u32; NUM_BINS];
        let fb = &self.filter_bank;
        for (e, c) in energy[fb.start_index..fb.end_index]
            .iter_mut()
            .zip(&self.spectrum[fb.start_index..fb.end_index])
        {
            let (re, im) = (c.re as i32, c.im as i32);
            *e = (re * re).wrapping_add(im * im) as u32;
        }

        // 5. Filter bank: channel i collects weight × energy, and passes unweight × energy
        //    on to channel i + 1; channel 0 of the 41 only seeds channel 1.
        let mut channels = [0u64; NUM_CHANNELS + 1];
        let mut weighted: u64 = 0;
        let mut unweighted: u64 = 0;
        for (i, ch) in channels.iter_mut().enumerate() {
            let freq_start = fb.channel_frequency_starts[i] as usize;
            let weight_start = fb.channel_weight_starts[i] as usize;
            for j in 0..fb.channel_widths[i] as usize {
                let e = energy[freq_start + j] as u64;
                weighted = weighted
                    .wrapping_add((fb.weights[weight_start + j] as i64 as u64).wrapping_mul(e));
                unweighted = unweighted
                    .wrapping_add((fb.unweights[weight_start + j] as i64 as u64).wrapping_mul(e));
            }
            *ch = weighted;
            weighted = unweighted;
            unweighted = 0;
        }

        // 6. Square root, undoing the auto-scale.
        let mut amplitude = [0u32; NUM_CHANNELS];
        for (a, &c) in amplitude.iter_mut().zip(&channels[1..]) {
            *a = sqrt64(c) >> scale_bits;
        }

        // 7. Spectral subtraction against the smoothed noise estimate.
        for (i, a) in amplitude.iter_mut().enumerate() {
            let (smoothing, one_minus) = if i % 2 == 0 {
                (SMOOTHING, ONE_MINUS_SMOOTHING)
            } else {
                (ALTERNATE_SMOOTHING, ALTERNATE_ONE_MINUS_SMOOTHING)
            };
            let signal = *a;
            let signal_scaled_up = signal << SMOOTHING_BITS;
            let estimate = ((signal_scaled_up as u64 * smoothing as u64
                + self.noise_estimate[i] as u64 * one_minus as u64)
                >> SPECTRAL_SUBTRACTION_BITS) as u32;
            self.noise_estimate[i] = estimate;
            // The model does not clamp the estimate itself, only what is subtracted.
            let subtracted_estimate = estimate.min(signal_scaled_up);
            let floor =
                ((signal as u64 * MIN_SIGNAL_REMAINING as u64) >> SPECTRAL_SUBTRACTION_BITS) as u32;
            let subtracted = (signal_scaled_up - subtracted_estimate) >> SMOOTHING_BITS;
            *a = subtracted.max(floor);
        }

        // 8. PCAN: gain from the (updated) noise estimate, then the shrink curve.
        for (a, &noise) in amplitude.iter_mut().zip(self.noise_estimate.iter()) {
            let gain = self.wide_dynamic_gain(noise) as i32 as u32;
            let snr = ((*a as u64 * gain as u64) >> PCAN_SNR_SHIFT) as u32;
            *a = pcan_shrink(snr);
        }

        // 9. Log.
        let mut log = [0i16; NUM_CHANNELS];
        for (l, &a) in log.iter_mut().zip(amplitude.iter()) {
            let scaled = a << LOG_INPUT_CORRECTION_BITS;
            *l = if scaled > 1 {
                self.log32(scaled, LOG_OUTPUT_SCALE).min(i16::MAX as u32) as i16
            } else {
                0
            };
        }
        log
    }

    /// PCAN's gain for a noise estimate: table lookup with quadratic interpolation per octave.
    fn wide_dynamic_gain(&self, x: u32) -> i16 {
        if x <= 2 {
            return self.pcan_lut[x as usize];
        }
        let interval = most_significant_bit32(x) as i32;
        let lut = &self.pcan_lut[(4 * interval - 6) as usize..];
        let frac = (if interval < 11 {
            x << (11 - interval)
        } else {
            x >> (interval - 11)
        } & 0x3FF) as i32;
        let mut result = (lut[2] as i32 * frac) >> 5;
        result = result.wrapping_add(((lut[1] as i32 as u32) << 5) as i32);
        result = result.wrapping_mul(frac);
        result = result.wrapping_add(1 << 14) >> 15;
        result = result.wrapping_add(lut[0] as i32);
        result as i16
    }

    /// `out_scale · ln(x)` in fixed point (x > 1).
    fn log32(&self, x: u32, out_scale: u32) -> u32 {
        let integer = most_significant_bit32(x) - 1;
        let fraction = self.log2_fraction(x, integer);
        let log2 = (integer << LOG_SCALE_LOG2).wrapping_add(fraction);
        let round = 1u32 << (LOG_SCALE_LOG2 - 1);
        let loge = ((LOG_COEFF * log2 as u64 + round as u64) >> LOG_SCALE_LOG2) as u32;
        out_scale.wrapping_mul(loge).wrapping_add(round) >> LOG_SCALE_LOG2
    }

    /// The Q16 fractional part of log2(x), given its integer part.
    fn log2_fraction(&self, x: u32, log2x: u32) -> u32 {
        let mut frac = (x as i64 - (1i64 << log2x)) as i32;
        if log2x < LOG_SCALE_LOG2 {
            frac <<= LOG_SCALE_LOG2 - log2x;
        } else {
            frac >>= log2x - LOG_SCALE_LOG2;
        }
        let base_seg = (frac as u32 >> (LOG_SCALE_LOG2 - LOG_SEGMENTS_LOG2)) as usize;
        let seg_unit = (1u32 << LOG_SCALE_LOG2) >> LOG_SEGMENTS_LOG2;
        let c0 = self.log_lut[base_seg] as i32;
        let c1 = self.log_lut[base_seg + 1] as i32;
        let seg_base = (seg_unit as usize * base_seg) as i32;
        let rel_pos = ((c1 - c0).wrapping_mul(frac - seg_base)) >> LOG_SCALE_LOG2;
        (frac + c0 + rel_pos) as u32
    }
}

/// PCAN's "shrink": `x²/4` below 2 and `x − 1` above, from Q12 in to Q6 out.
fn pcan_shrink(x: u32) -> u32 {
    if x < (2 << PCAN_SNR_BITS) {
        (x * x) >> (2 + 2 * PCAN_SNR_BITS - PCAN_OUTPUT_BITS)
    } else {
        (x >> (PCAN_SNR_BITS - PCAN_OUTPUT_BITS)) - (1 << PCAN_OUTPUT_BITS)
    }
}

/// Frames in a clip of `samples` samples: one per 320 samples while 480 remain.
pub fn num_frames(samples: usize) -> usize {
    if samples < WINDOW_SAMPLES {
        0
    } else {
        1 + (samples - WINDOW_SAMPLES) / HOP_SAMPLES
    }
}

/// The 49×40 features of one second of audio from a fresh front end, as the micro_speech
/// model takes them. Shorter audio leaves the missing frames zero; longer audio is cut at
/// one second.
pub fn micro_features_1s(
    audio: &[i16],
) -> Result<[[i8; NUM_CHANNELS]; FRAMES_PER_SECOND], DspError> {
    let mut frontend = MicroFrontend::new()?;
    let mut out = [[0i8; NUM_CHANNELS]; FRAMES_PER_SECOND];
    let audio = &audio[..audio.len().min(SAMPLES_PER_SECOND)];
    frontend.process_clip(audio, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_square_roots_round_to_nearest() {
        // The result saturates at 65535 (u32::MAX's root is 65535.99…).
        assert_eq!(sqrt32(u32::MAX), 0xFFFF);
        for n in [0u32, 1, 2, 3, 4, 15, 16, 17, 99, 100, 1 << 20, 0xFFFE_0001] {
            let exact = libm::sqrt(n as f64);
            assert!(
                (sqrt32(n) as f64 - exact).abs() <= 0.5 + 1e-9,
                "sqrt32({n}) = {}",
                sqrt32(n)
            );
        }
        for n in [1u64 << 33, (1 << 40) + 12345, u64::MAX >> 2] {
            let exact = libm::sqrt(n as f64);
            assert!(
                (sqrt64(n) as f64 - exact).abs() <= 1.0,
                "sqrt64({n}) = {}",
                sqrt64(n)
            );
        }
    }

    #[test]
    fn fixed_point_log_tracks_the_natural_log() {
        let f = MicroFrontend::new().unwrap();
        for x in [2u32, 3, 10, 1000, 65_536, 1 << 24, u32::MAX] {
            let got = f.log32(x, 64) as f64;
            let want = 64.0 * libm::log(x as f64);
            assert!(
                (got - want).abs() <= 1.0,
                "64 ln({x}): got {got}, want {want}"
            );
        }
    }

    #[test]
    fn filter_bank_covers_125_hz_to_7500_hz() {
        let fb = FilterBankTables::micro_speech().unwrap();
        assert_eq!((fb.start_index, fb.end_index), (5, 241));
        assert_eq!(fb.num_weights, 316);
        // Where a bin has a weight, weight and unweight add up to 4096 less truncation.
        for (w, u) in fb.weights[..fb.num_weights]
            .iter()
            .zip(&fb.unweights[..fb.num_weights])
        {
            if *w != 0 || *u != 0 {
                assert!(
                    (4094..=4096).contains(&(*w as i32 + *u as i32)),
                    "{w} + {u}"
                );
            }
        }
    }

    #[test]
    fn silence_gives_the_lowest_feature_everywhere() {
        let mut f = MicroFrontend::new().unwrap();
        let out = f.process_frame(&[0; WINDOW_SAMPLES]);
        assert_eq!(out, [-128; NUM_CHANNELS]);
        assert_eq!(f.noise_estimate(), &[0; NUM_CHANNELS]);
    }

    #[test]
    fn the_noise_estimate_carries_between_frames_and_reset_clears_it() {
        let mut f = MicroFrontend::new().unwrap();
        let tone: [i16; WINDOW_SAMPLES] =
            core::array::from_fn(|i| (8000.0 * libm::sin(i as f64 * 0.3)) as i16);
        let first = f.process_frame(&tone);
        assert!(f.noise_estimate().iter().any(|&n| n > 0));
        let second = f.process_frame(&tone);
        // A steady tone is partly subtracted as noise the second time.
        assert_ne!(first, second);
        f.reset();
        assert_eq!(f.process_frame(&tone), first);
    }

    #[test]
    fn frame_counting_and_length_errors() {
        assert_eq!(num_frames(16_000), 49);
        assert_eq!(num_frames(479), 0);
        assert_eq!(num_frames(480), 1);
        let mut f = MicroFrontend::new().unwrap();
        assert!(matches!(
            f.process_slice(&[0; 100]),
            Err(DspError::Length {
                expected: 480,
                got: 100,
                ..
            })
        ));
        let mut out = [[0i8; NUM_CHANNELS]; 2];
        assert!(f.process_clip(&[0; 16_000], &mut out).is_err());
    }
}
