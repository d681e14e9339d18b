//! Host-side quantization arithmetic: turning real-valued scales into the integer
//! multipliers, shifts and bounds that the device kernels use.
//!
//! These reproduce TFLite's `Prepare` computations (in double precision, with the same
//! rounding) so that the precomputed parameters, and therefore every output byte, equal
//! TFLM's.

use mote_ir::Activation;

/// Splits `x` into a mantissa in [0.5, 1) and a power of two, as C's `frexp`.
pub fn frexp(x: f64) -> (f64, i32) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    let (x, bias) = if x.abs() < f64::MIN_POSITIVE {
        (x * 2f64.powi(54), -54)
    } else {
        (x, 0)
    };
    let bits = x.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32 - 1022;
    let mantissa = f64::from_bits((bits & !(0x7ffu64 << 52)) | (1022u64 << 52));
    (mantissa, exponent + bias)
}

/// TFLite's `QuantizeMultiplier`: `real ≈ multiplier * 2^(shift - 31)` with a Q31 multiplier.
pub fn quantize_multiplier(real: f64) -> (i32, i32) {
    if real == 0.0 {
        return (0, 0);
    }
    let (q, mut shift) = frexp(real);
    let mut q_fixed = (q * (1i64 << 31) as f64).round() as i64;
    if q_fixed == 1i64 << 31 {
        q_fixed /= 2;
        shift += 1;
    }
    if shift < -31 {
        shift = 0;
        q_fixed = 0;
    }
    (q_fixed as i32, shift)
}

/// The int8 clamp bounds of a fused activation, as TFLite's
/// `CalculateActivationRangeQuantized` (rounding in single precision, as it does).
pub fn activation_range_int8(activation: Activation, scale: f32, zero_point: i32) -> (i32, i32) {
    let q = |f: f32| zero_point + round_half_away(f / scale);
    let (qmin, qmax) = (i8::MIN as i32, i8::MAX as i32);
    match activation {
        Activation::None => (qmin, qmax),
        Activation::Relu => (qmin.max(q(0.0)), qmax),
        Activation::Relu6 => (qmin.max(q(0.0)), qmax.min(q(6.0))),
        Activation::ReluN1To1 => (qmin.max(q(-1.0)), qmax.min(q(1.0))),
    }
}

/// The float clamp bounds of a fused activation.
pub fn activation_range_f32(activation: Activation) -> (f32, f32) {
    match activation {
        Activation::None => (f32::MIN, f32::MAX),
        Activation::Relu => (0.0, f32::MAX),
        Activation::Relu6 => (0.0, 6.0),
        Activation::ReluN1To1 => (-1.0, 1.0),
    }
}

fn round_half_away(f: f32) -> i32 {
    f.round() as i32
}

/// ADD's parameters for int8, as TFLite's `PrepareGeneralSubOp`/add `Prepare`: both inputs
/// are brought to twice the larger input scale with 20 bits of headroom.
pub struct AddQuant {
    pub left_shift: i32,
    pub input1: (i32, i32),
    pub input2: (i32, i32),
    pub output: (i32, i32),
}

pub fn add_quant(scale1: f32, scale2: f32, scale_out: f32) -> AddQuant {
    let left_shift = 20;
    let twice_max = 2.0 * (scale1 as f64).max(scale2 as f64);
    let real1 = scale1 as f64 / twice_max;
    let real2 = scale2 as f64 / twice_max;
    let real_out = twice_max / ((1i64 << left_shift) as f64 * scale_out as f64);
    AddQuant {
        left_shift,
        input1: quantize_multiplier(real1),
        input2: quantize_multiplier(real2),
        output: quantize_multiplier(real_out),
    }
}

/// SOFTMAX's int8 parameters (TFLite's `PreprocessSoftmaxScaling` and
/// `CalculateInputRadius` with 5 integer bits for the scaled differences).
pub fn softmax_quant(beta: f32, input_scale: f32) -> (i32, i32, i32) {
    const SCALED_DIFF_INTEGER_BITS: i32 = 5;
    let real =
        (beta as f64 * input_scale as f64 * (1i64 << (31 - SCALED_DIFF_INTEGER_BITS)) as f64)
            .min((1i64 << 31) as f64 - 1.0);
    let (multiplier, left_shift) = quantize_multiplier(real);
    let max_input_rescaled = ((1i64 << SCALED_DIFF_INTEGER_BITS) - 1) as f64
        * (1i64 << (31 - SCALED_DIFF_INTEGER_BITS)) as f64
        / (1i64 << left_shift.clamp(0, 62)) as f64;
    let diff_min = -(max_input_rescaled.floor() as i32);
    (multiplier, left_shift, diff_min)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frexp_matches_c() {
        assert_eq!(frexp(1.0), (0.5, 1));
        assert_eq!(frexp(0.75), (0.75, 0));
        assert_eq!(frexp(0.1), (0.8, -3));
        assert_eq!(frexp(-6.0), (-0.75, 3));
        let tiny = f64::MIN_POSITIVE / 8.0;
        let (m, e) = frexp(tiny);
        assert_eq!(m * 2f64.powi(e), tiny);
        assert!((0.5..1.0).contains(&m));
    }

    #[test]
    fn quantize_multiplier_hand_cases() {
        assert_eq!(quantize_multiplier(0.5), (1 << 30, 0));
        assert_eq!(quantize_multiplier(0.25), (1 << 30, -1));
        assert_eq!(quantize_multiplier(3.0), (3 << 29, 2));
        // Rounds up to exactly 2^31: renormalised to 2^30 with shift + 1.
        assert_eq!(quantize_multiplier(1.0 - 1e-12), (1 << 30, 1));
        assert_eq!(quantize_multiplier(0.0), (0, 0));
        assert_eq!(quantize_multiplier(1e-12), (0, 0));
    }

    #[test]
    fn activation_ranges() {
        assert_eq!(activation_range_int8(Activation::None, 0.1, 3), (-128, 127));
        assert_eq!(
            activation_range_int8(Activation::Relu, 0.1, -10),
            (-10, 127)
        );
        assert_eq!(
            activation_range_int8(Activation::Relu6, 0.1, -128),
            (-128, -68)
        );
        assert_eq!(
            activation_range_int8(Activation::ReluN1To1, 0.01, 0),
            (-100, 100)
        );
    }

    #[test]
    fn softmax_params_for_typical_scale() {
        // beta 1, input scale 1/16: real = 2^26 / 16 = 2^22 → mantissa 0.5, exponent 23.
        let (m, shift, diff_min) = softmax_quant(1.0, 1.0 / 16.0);
        assert_eq!((m, shift), (1 << 30, 23));
        // 31 * 2^26 / 2^23 = 248
        assert_eq!(diff_min, -248);
    }
}
