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
//!    (see `fixed_fft.rs`);
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
//! its formula by [`crate::micro_tables`] with the `libm` crate; `build.rs` runs that code and
//! bakes the results into `static`s (flash on the device), and the tests compare them with
//! the model's constant tensors.
//!
//! The constants of steps 7–10 (smoothing coefficients, shifts, PCAN's SNR shift, the log's
//! scale, 256/666) are the operators' options in the model's flexbuffers and its scalar
//! tensors; the golden and whole-clip tests would catch any that differed.
//! The spectral-subtraction noise estimate starts at zero and is updated by every frame, as
//! one TFLM interpreter does across `invoke`s; [`MicroFrontend::reset`] starts over, as
//! TFLM's `Reset` (or a fresh interpreter) does.

use crate::fixed_fft::ComplexI16;
use crate::DspError;

pub use crate::micro_tables::{
    hann_window_q12, pcan_gain_lut, FilterBankTables, NUM_CHANNELS, PCAN_LUT_SIZE, SAMPLE_RATE_HZ,
    WINDOW_SAMPLES,
};
use crate::micro_tables::{
    FFT_LENGTH, HALF_FFT, LOG_INPUT_CORRECTION_BITS, NUM_BINS, SMOOTHING_BITS, WINDOW_SHIFT,
};

/// Samples between the starts of two frames (20 ms).
pub const HOP_SAMPLES: usize = 320;
/// Frames in one second of audio: `1 + (16000 − 480) / 320`.
pub const FRAMES_PER_SECOND: usize = 49;
/// Samples in one second of audio.
pub const SAMPLES_PER_SECOND: usize = SAMPLE_RATE_HZ as usize;

const SPECTRAL_SUBTRACTION_BITS: u32 = 14;
/// Q14 smoothing coefficients: 0.025 (even channels) and 0.06 (odd channels), truncated.
const SMOOTHING: u32 = 409;
const ONE_MINUS_SMOOTHING: u32 = 15975;
const ALTERNATE_SMOOTHING: u32 = 983;
const ALTERNATE_ONE_MINUS_SMOOTHING: u32 = 15401;
/// 0.05 in Q14: the part of the signal that spectral subtraction always leaves.
const MIN_SIGNAL_REMAINING: u32 = 819;

const PCAN_SNR_SHIFT: u32 = 6;
const PCAN_SNR_BITS: u32 = 12;
const PCAN_OUTPUT_BITS: u32 = 6;

const LOG_OUTPUT_SCALE: u32 = 64;
const LOG_SEGMENTS_LOG2: u32 = 7;
const LOG_SCALE_LOG2: u32 = 16;
/// `round(65536 / log2(e))`: converts a Q16 log2 into a Q16 natural log.
const LOG_COEFF: u64 = 45426;

/// The options of the model's operators and its scalar constants, as this front end uses
/// them: public so that a test can compare each with the model's flexbuffers and tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelOptions {
    /// `SignalWindow`'s `shift`.
    pub window_shift: i64,
    /// `SignalRfft`'s `fft_length`.
    pub fft_length: i64,
    /// `SignalEnergy`'s `start_index` and `end_index` (the filter bank's bins).
    pub energy_start: i64,
    pub energy_end: i64,
    /// `num_channels` of the filter bank and spectral subtraction.
    pub num_channels: i64,
    /// `SignalFilterBankSpectralSubtraction`'s options.
    pub smoothing_bits: i64,
    pub spectral_subtraction_bits: i64,
    pub smoothing: i64,
    pub one_minus_smoothing: i64,
    pub alternate_smoothing: i64,
    pub alternate_one_minus_smoothing: i64,
    pub min_signal_remaining: i64,
    /// Whether the noise estimate itself is clamped to the signal: the model says no, and
    /// only that is implemented.
    pub clamping: bool,
    /// `SignalPCAN`'s `snr_shift`.
    pub snr_shift: i64,
    /// `SignalFilterBankLog`'s options.
    pub input_correction_bits: i64,
    pub output_scale: i64,
    /// The int8 mapping's MUL, ADD and DIV constants.
    pub output_multiplier: i64,
    pub output_rounding: i64,
    pub output_divisor: i64,
}

/// What this front end implements.
pub const MODEL_OPTIONS: ModelOptions = ModelOptions {
    window_shift: WINDOW_SHIFT as i64,
    fft_length: crate::micro_tables::FFT_LENGTH as i64,
    energy_start: baked::FILTER_BANK.start_index as i64,
    energy_end: baked::FILTER_BANK.end_index as i64,
    num_channels: NUM_CHANNELS as i64,
    smoothing_bits: SMOOTHING_BITS as i64,
    spectral_subtraction_bits: SPECTRAL_SUBTRACTION_BITS as i64,
    smoothing: SMOOTHING as i64,
    one_minus_smoothing: ONE_MINUS_SMOOTHING as i64,
    alternate_smoothing: ALTERNATE_SMOOTHING as i64,
    alternate_one_minus_smoothing: ALTERNATE_ONE_MINUS_SMOOTHING as i64,
    min_signal_remaining: MIN_SIGNAL_REMAINING as i64,
    clamping: false,
    snr_shift: PCAN_SNR_SHIFT as i64,
    input_correction_bits: LOG_INPUT_CORRECTION_BITS as i64,
    output_scale: LOG_OUTPUT_SCALE as i64,
    output_multiplier: OUTPUT_MULTIPLIER as i64,
    output_rounding: (OUTPUT_DIVISOR / 2) as i64,
    output_divisor: OUTPUT_DIVISOR as i64,
};

/// The tables, generated by build.rs from `micro_tables.rs`: `static`s, so in flash.
mod baked {
    use crate::fixed_fft::{ComplexI16, FixedRfft};
    use crate::micro_tables::FilterBankTables;
    include!(concat!(env!("OUT_DIR"), "/micro_tables_baked.rs"));
}

impl FilterBankTables {
    /// The micro_speech filter bank: 40 channels from 125 Hz to 7.5 kHz over 257 bins at 16 kHz.
    pub fn micro_speech() -> Result<Self, DspError> {
        Self::generate().map_err(DspError::FilterBankLayout)
    }
}

/// The int16 log-energy → int8 mapping of the model's last operators.
const OUTPUT_MULTIPLIER: i32 = 256;
const OUTPUT_DIVISOR: i32 = 666;

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

/// The front end's state: the noise estimate and work buffers (about 3.3 KB of RAM; the
/// tables are `static`s in flash). Cheap to create; feed it frames in order.
pub struct MicroFrontend {
    /// Spectral subtraction's per-channel noise estimate: the state carried between frames.
    noise_estimate: [u32; NUM_CHANNELS],
    // Work buffers, kept here so that processing a frame needs little stack.
    frame: [i16; FFT_LENGTH],
    fft_scratch: [ComplexI16; HALF_FFT],
    spectrum: [ComplexI16; NUM_BINS],
}

impl MicroFrontend {
    /// A front end with a zero noise estimate.
    ///
    /// Infallible today (the tables were checked when the crate was built); the `Result`
    /// keeps room for configurable front ends.
    pub fn new() -> Result<Self, DspError> {
        Ok(MicroFrontend {
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
    pub fn filter_bank(&self) -> &'static FilterBankTables {
        &baked::FILTER_BANK
    }

    /// The window the front end uses.
    pub fn window(&self) -> &'static [i16; WINDOW_SAMPLES] {
        &baked::WINDOW
    }

    /// The PCAN gain table the front end uses.
    pub fn pcan_lut(&self) -> &'static [i16; PCAN_LUT_SIZE] {
        &baked::PCAN_LUT
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
            .zip(baked::WINDOW.iter())
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
        baked::FFT.forward(&self.frame, &mut self.fft_scratch, &mut self.spectrum);

        // 4. Energy of the bins the filter bank can use; the rest are zero in the model.
        let mut energy = [0u32; NUM_BINS];
        let fb = &baked::FILTER_BANK;
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
            let width = fb.channel_widths[i] as usize;
            let energies = &energy[freq_start..freq_start + width];
            let weights = &fb.weights[weight_start..weight_start + width];
            let unweights = &fb.unweights[weight_start..weight_start + width];
            for ((&e, &w), &u) in energies.iter().zip(weights).zip(unweights) {
                // Weights are in [0, 4096] (a test checks), so widening them as unsigned is
                // TFLM's int16 → uint64 conversion, and a 32 × 32 → 64 multiply suffices.
                weighted = weighted.wrapping_add(w as u16 as u64 * e as u64);
                unweighted = unweighted.wrapping_add(u as u16 as u64 * e as u64);
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
            return baked::PCAN_LUT[x as usize];
        }
        let interval = most_significant_bit32(x) as i32;
        let lut = &baked::PCAN_LUT[(4 * interval - 6) as usize..];
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
        let c0 = baked::LOG_LUT[base_seg] as i32;
        let c1 = baked::LOG_LUT[base_seg + 1] as i32;
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

/// The features of a whole clip of any length from a fresh front end, one row per frame.
#[cfg(feature = "std")]
pub fn micro_features(audio: &[i16]) -> Result<std::vec::Vec<[i8; NUM_CHANNELS]>, DspError> {
    let mut frontend = MicroFrontend::new()?;
    let mut out = std::vec![[0i8; NUM_CHANNELS]; num_frames(audio.len())];
    frontend.process_clip(audio, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baked_tables_are_the_generated_ones() {
        use crate::fixed_fft::FixedRfft;
        use crate::micro_tables::log_correction_lut;
        let fft = FixedRfft::<HALF_FFT>::new().unwrap();
        assert_eq!(fft.twiddles, baked::FFT.twiddles);
        assert_eq!(fft.super_twiddles, baked::FFT.super_twiddles);
        assert_eq!(fft.stages, baked::FFT.stages);
        assert_eq!(baked::WINDOW, hann_window_q12());
        assert_eq!(baked::PCAN_LUT, pcan_gain_lut());
        assert_eq!(baked::LOG_LUT, log_correction_lut());
        let fb = FilterBankTables::micro_speech().unwrap();
        assert_eq!(fb.weights, baked::FILTER_BANK.weights);
        assert_eq!(fb.unweights, baked::FILTER_BANK.unweights);
        assert_eq!(fb.channel_widths, baked::FILTER_BANK.channel_widths);
        // The filter bank's unsigned widening relies on this.
        assert!(fb
            .weights
            .iter()
            .chain(&fb.unweights)
            .all(|&w| (0..=4096).contains(&w)));
    }

    /// The twiddles are `floor(0.5 + 32767·cos)` of doubles: a platform whose `cos` differed
    /// in the last bit could only round differently if a product sat on a .5 boundary. None
    /// is within 1e-6 of one, so libm's twiddles are the ones any correct `cos` gives.
    #[test]
    fn no_twiddle_sits_on_a_rounding_boundary() {
        let n = HALF_FFT as f64;
        let phases = (0..HALF_FFT)
            .map(|i| -2.0 * core::f64::consts::PI * i as f64 / n)
            .chain((0..HALF_FFT / 2).map(|i| -core::f64::consts::PI * ((i + 1) as f64 / n + 0.5)));
        for phase in phases {
            for v in [libm::cos(phase), libm::sin(phase)] {
                let x = 0.5 + 32767.0 * v;
                let distance = (x - libm::round(x)).abs();
                assert!(distance > 1e-6, "phase {phase}: {x}");
            }
        }
    }

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

    #[cfg(feature = "std")]
    #[test]
    fn whole_clip_features_are_the_one_second_features_when_the_clip_is_one_second() {
        let mut clip = [0i16; SAMPLES_PER_SECOND];
        crate::signal::reference_clip(&mut clip);
        let all = micro_features(&clip).unwrap();
        assert_eq!(all.as_slice(), micro_features_1s(&clip).unwrap().as_slice());
        // 1.5 s gives 74 frames, the first 49 the same as the first second's.
        let longer: std::vec::Vec<i16> = clip.iter().chain(&clip[..8000]).copied().collect();
        let more = micro_features(&longer).unwrap();
        assert_eq!(more.len(), 74);
        assert_eq!(&more[..49], all.as_slice());
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
