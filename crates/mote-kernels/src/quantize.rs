//! QUANTIZE (float32 → int8, and int8 → int8 requantization) and DEQUANTIZE (int8 → float32).
//!
//! These are the model's boundary ops: they turn sensor floats into the int8 domain and back,
//! and re-express an int8 tensor in another scale. They follow TFLM's reference kernels
//! (`reference_ops::AffineQuantize`, `Requantize`, `Dequantize`) bit for bit:
//!
//! - float → int8: `clamp(round(x / scale) + zero_point, -128, 127)`, where the division is
//!   done in f32 (not a multiplication by `1/scale`, which rounds differently) and `round`
//!   is C's `roundf`: halfway cases go away from zero.
//! - int8 → int8: `clamp(multiply_by_quantized_multiplier(q - input_zero_point, multiplier,
//!   shift) + zero_point, -128, 127)`. The host computes `(multiplier, shift)` from
//!   `input_scale / output_scale` (in f64) with TFLite's `QuantizeMultiplier`.
//! - int8 → float: `scale * (q - zero_point)`.

use crate::fixedpoint::multiply_by_quantized_multiplier;
use mote_format::params::{DequantizeParams, QuantizeParams};

/// Rounds to the nearest integer, halfway cases away from zero (C's `roundf`, TFLite's
/// `TfLiteRound`), without `std`.
///
/// `x + 0.5` then truncating is wrong twice over: for 0.49999997 the addition itself rounds up
/// to 1.0, and for odd values above 2^23 it is off by one. Here the fraction is taken exactly
/// (`|x| - trunc(|x|)` is always representable) and compared with one half.
#[inline]
pub fn round_half_away_from_zero(x: f32) -> f32 {
    let magnitude = f32::from_bits(x.to_bits() & 0x7fff_ffff);
    // From 2^23 up every float is an integer; NaN and infinities pass through too.
    if magnitude >= 8_388_608.0 || magnitude.is_nan() {
        return x;
    }
    let whole = (magnitude as u32) as f32;
    let rounded = if magnitude - whole >= 0.5 {
        whole + 1.0
    } else {
        whole
    };
    // Put the sign back (so -0.3 rounds to -0.0, as roundf does).
    f32::from_bits(rounded.to_bits() | (x.to_bits() & 0x8000_0000))
}

/// QUANTIZE float32 → int8 with the output's `scale` and `zero_point`.
///
/// Values beyond the int32 range (and infinities) saturate before the zero point is added, as
/// Arm's float-to-int conversion does; NaN becomes the zero point. (In TFLM those conversions
/// are undefined behaviour, so no model relies on them.)
pub fn quantize_f32_to_int8(p: &QuantizeParams, input: &[f32], output: &mut [i8]) {
    let scale = p.scale;
    let zero_point = p.zero_point;
    for (out, &x) in output.iter_mut().zip(input) {
        let q = (round_half_away_from_zero(x / scale) as i32).saturating_add(zero_point);
        *out = q.clamp(i8::MIN as i32, i8::MAX as i32) as i8;
    }
}

/// QUANTIZE int8 → int8: re-expresses `input` (quantized with `input_zero_point` and some
/// scale) in the output's scale and `zero_point`, through the fixed-point `multiplier` and
/// `shift` of `input_scale / output_scale`.
pub fn requantize_int8(p: &QuantizeParams, input: &[i8], output: &mut [i8]) {
    for (out, &q) in output.iter_mut().zip(input) {
        let centered = (q as i32).wrapping_sub(p.input_zero_point);
        let scaled = multiply_by_quantized_multiplier(centered, p.multiplier, p.shift)
            .saturating_add(p.zero_point);
        *out = scaled.clamp(i8::MIN as i32, i8::MAX as i32) as i8;
    }
}

/// DEQUANTIZE int8 → float32: `scale * (q - zero_point)`.
///
/// Computed in f32. That is bit-identical to computing in f64 and casting (as some TFLite
/// versions do): `q - zero_point` is an integer of at most 9 bits for int8 zero points, so it
/// converts to f32 exactly, and the exact product of a 24-bit and a 9-bit significand fits in
/// f64's 53 bits — both ways round the same exact product once, to f32. On a Cortex-M4F the
/// f32 multiply is one instruction; f64 would be a software routine.
pub fn dequantize_int8_to_f32(p: &DequantizeParams, input: &[i8], output: &mut [f32]) {
    let scale = p.scale;
    for (out, &q) in output.iter_mut().zip(input) {
        *out = scale * ((q as i32).wrapping_sub(p.zero_point) as f32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// QUANTIZE int8 → int8 parameters, as the compiler computes them.
    fn requantize_params(
        input_scale: f32,
        input_zero_point: i32,
        output_scale: f32,
        output_zero_point: i32,
    ) -> QuantizeParams {
        let (multiplier, shift) =
            mote_compiler::quant::quantize_multiplier(input_scale as f64 / output_scale as f64);
        QuantizeParams {
            scale: output_scale,
            zero_point: output_zero_point,
            input_zero_point,
            multiplier,
            shift,
        }
    }

    #[test]
    fn rounding_edge_cases() {
        let r = round_half_away_from_zero;
        assert_eq!(r(0.5), 1.0);
        assert_eq!(r(-0.5), -1.0);
        assert_eq!(r(1.5), 2.0);
        assert_eq!(r(2.5), 3.0); // not banker's rounding
        assert_eq!(r(-2.5), -3.0);
        // The largest float below one half: x + 0.5 would round to 1.0 in f32.
        let just_below_half = f32::from_bits(0.5f32.to_bits() - 1);
        assert_eq!(r(just_below_half), 0.0);
        assert_eq!(r(-just_below_half), 0.0);
        assert!(r(-just_below_half).is_sign_negative());
        // Above 2^23 every float is an integer; x + 0.5 would step to the next even one.
        assert_eq!(r(8_388_609.0), 8_388_609.0);
        assert_eq!(r(-8_388_609.0), -8_388_609.0);
        assert_eq!(r(8_388_607.5), 8_388_608.0);
        assert_eq!(r(3.4999998), 3.0);
        assert_eq!(r(f32::INFINITY), f32::INFINITY);
        assert!(r(f32::NAN).is_nan());
    }

    #[test]
    fn quantize_hand_cases() {
        let p = QuantizeParams {
            scale: 0.5,
            zero_point: -10,
            ..Default::default()
        };
        let input = [
            0.0,
            0.25,
            -0.25,
            0.75,
            1.0,
            -1.3,
            100.0,
            -100.0,
            f32::INFINITY,
            f32::NAN,
        ];
        let mut out = [0i8; 10];
        quantize_f32_to_int8(&p, &input, &mut out);
        // 0.25/0.5 = 0.5 → 1; -0.5 → -1; 1.5 → 2; 2; -2.6 → -3; 200-10 saturates; NaN → zero point
        assert_eq!(out, [-10, -9, -11, -8, -8, -13, 127, -128, 127, -10]);
    }

    #[test]
    fn quantize_divides_rather_than_multiplies() {
        // 12.15 / 0.1 is 121.49999 in f32 but 12.15 * (1 / 0.1) is 121.5: only the division
        // gives TFLite's 121.
        let p = QuantizeParams {
            scale: 0.1,
            zero_point: 0,
            ..Default::default()
        };
        let mut out = [0i8; 2];
        quantize_f32_to_int8(&p, &[12.15, -12.15], &mut out);
        assert_eq!(out, [121, -121]);
        assert_eq!(round_half_away_from_zero(12.15f32 * (1.0 / 0.1f32)), 122.0);
    }

    #[test]
    fn requantize_hand_cases() {
        // Output scale twice the input scale: values halve. gemmlowp's doubling high multiply
        // rounds ties upwards, so 0.5 → 1 but -0.5 → 0 (and -1.5 → -1).
        let p = requantize_params(0.1, 4, 0.2, -3);
        assert_eq!((p.multiplier, p.shift), (1 << 30, 0));
        let mut out = [0i8; 7];
        requantize_int8(&p, &[4, 5, 3, 7, 1, 127, -128], &mut out);
        // (q - 4) / 2 - 3: 0 → -3; 0.5 → 1 → -2; -0.5 → 0 → -3; 1.5 → 2 → -1; -1.5 → -1 → -4;
        // 61.5 → 62 → 59; -66 → -69
        assert_eq!(out, [-3, -2, -3, -1, -4, 59, -69]);

        // Output scale a quarter of the input scale: values quadruple and saturate.
        let p = requantize_params(1.0, 0, 0.25, 0);
        assert_eq!((p.multiplier, p.shift), (1 << 30, 3));
        requantize_int8(&p, &[1, -1, 31, 32, -32, -33, 0], &mut out);
        assert_eq!(out, [4, -4, 124, 127, -128, -128, 0]);
    }

    #[test]
    fn dequantize_hand_cases() {
        let p = DequantizeParams {
            scale: 0.25,
            zero_point: -128,
        };
        let mut out = [0f32; 4];
        dequantize_int8_to_f32(&p, &[-128, 127, 0, -127], &mut out);
        assert_eq!(out, [0.0, 63.75, 32.0, 0.25]);
    }

    #[test]
    fn dequantize_equals_the_f64_computation() {
        for &scale in &[0.1f32, 0.003_921_568_6, 1.0e-30, 3.0e37, 0.057_377_41] {
            for &zero_point in &[-128, -3, 0, 127] {
                let p = DequantizeParams { scale, zero_point };
                let input: [i8; 256] = core::array::from_fn(|i| (i as i32 - 128) as i8);
                let mut out = [0f32; 256];
                dequantize_int8_to_f32(&p, &input, &mut out);
                for (&q, &y) in input.iter().zip(&out) {
                    let wide = (scale as f64 * (q as i32 - zero_point) as f64) as f32;
                    assert_eq!(
                        y.to_bits(),
                        wide.to_bits(),
                        "scale {scale} zp {zero_point} q {q}"
                    );
                }
            }
        }
    }
}
