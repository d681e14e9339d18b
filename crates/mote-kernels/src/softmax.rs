//! SOFTMAX over the last dimension, int8 and float32.
//!
//! The int8 kernel is TFLM's int8-in/int8-out reference (`reference_ops::Softmax` with
//! gemmlowp fixed point), bit for bit. For each row:
//!
//! 1. `diff = q - max(row)` (≤ 0, in input steps). Differences below `diff_min` would give
//!    `exp` values too small to matter and are skipped; their outputs are -128.
//! 2. `diff` is scaled by `beta * input_scale` into Q5.26 (five integer bits: the range down
//!    to -32) by [`multiply_by_quantized_multiplier_greater_than_one`], and
//!    [`exp_on_negative_values`] gives `exp` in Q0.31.
//! 3. The exps are summed in Q12.19 (room for 4096 ones) and the sum's reciprocal is taken in
//!    fixed point ([`get_reciprocal`]): a Q0.31 scale and a power of two.
//! 4. Each output is `exp * scale`, shifted to 8 fractional bits with rounding, minus 128:
//!    the output is quantized with scale 1/256 and zero point -128, which TFLM requires.
//!
//! The float kernel is `exp((x - max) * beta) / sum`, summed in f32 in order, like TFLM's; its
//! `exp` is [`exp_f32`], a no_std single-precision exponential accurate to about one ulp.
//!
//! # Host-side parameters (what the compiler must compute, as TFLM's `SoftmaxPrepare`)
//!
//! With `beta` (f32, from the model's options) and `input_scale` (f32), and
//! `kScaledDiffIntegerBits = 5`:
//!
//! ```text
//! real = (beta as f64) * (input_scale as f64) * 2^(31 - 5)        // f64; 2^26 scaling is exact
//! real = min(real, 2^31 - 1.0)
//! (input_multiplier, input_left_shift) = quantize_multiplier(real)  // must have real > 1, so shift >= 0
//! diff_min = -floor((2^5 - 1) * 2^(31 - 5) / 2^input_left_shift)    // f64, then to i32
//!          = -floor(31 * 2^26 / 2^input_left_shift)
//! beta     = beta                                                  // used by the float kernel only
//! ```
//!
//! `quantize_multiplier(r)` is TFLite's `QuantizeMultiplier`: `(fraction, exponent) =
//! frexp(r)`; `q = round(fraction * 2^31)` (f64, halves away from zero); if `q == 2^31` then
//! `q = 2^30, exponent += 1`; if `exponent < -31` then `q = 0, exponent = 0`; the result is
//! `(q as i32, exponent)`. `diff_min` is TFLite's `-CalculateInputRadius(5, input_left_shift,
//! 31)`: it keeps `diff << input_left_shift` inside i32 for every difference that is used.
//! The int8 output tensor must have scale 1/256 and zero point -128 (TFLM checks this).

use crate::fixedpoint::{
    exp_on_negative_values, get_reciprocal, multiply_by_quantized_multiplier_greater_than_one,
    rescale, rounding_divide_by_pot, saturating_rounding_doubling_high_mul,
};
use mote_format::params::SoftmaxParams;

/// Integer bits of the scaled differences fed to `exp` (Q5.26: down to -32).
const SCALED_DIFF_INTEGER_BITS: i32 = 5;
/// Integer bits of the sum of exps (Q12.19: up to 4096 terms of at most one).
const ACCUMULATION_INTEGER_BITS: i32 = 12;

/// SOFTMAX, int8 in, int8 out (scale 1/256, zero point -128), over rows of `depth` elements.
pub fn softmax_int8(p: &SoftmaxParams, input: &[i8], output: &mut [i8], depth: usize) {
    if depth == 0 {
        return;
    }
    // exp(scaled difference) in Q0.31, or None when the difference is below diff_min.
    let exp_of = |diff: i32| -> Option<i32> {
        if diff < p.diff_min {
            return None;
        }
        let scaled = multiply_by_quantized_multiplier_greater_than_one(
            diff,
            p.input_multiplier,
            p.input_left_shift,
        );
        Some(exp_on_negative_values::<SCALED_DIFF_INTEGER_BITS>(scaled))
    };

    for (row, out_row) in input
        .chunks_exact(depth)
        .zip(output.chunks_exact_mut(depth))
    {
        let max = row.iter().copied().max().unwrap_or(i8::MIN) as i32;

        // Sum in Q12.19. A plain (wrapping) add as in TFLM: it cannot overflow below 4096
        // elements per row, the accumulator's design limit.
        let mut sum_of_exps: i32 = 0;
        for &q in row {
            if let Some(e) = exp_of(q as i32 - max) {
                sum_of_exps = sum_of_exps.wrapping_add(rescale(e, 0, ACCUMULATION_INTEGER_BITS));
            }
        }

        // The row maximum contributes exp(0) = 1, so the sum is at least one and positive.
        let (reciprocal, num_bits_over_unit) =
            get_reciprocal(sum_of_exps, ACCUMULATION_INTEGER_BITS);
        // Shift that leaves 8 fractional bits. TFLM aborts outside 0..=31 (only reachable
        // with rows of ~2048+ near-equal values, where every output rounds to 0 anyway); the
        // clamp keeps the shift defined instead.
        let exponent = (num_bits_over_unit + 31 - 8).clamp(0, 31);

        // exp is recomputed rather than stored: there is no scratch memory for a row of i32s.
        for (out, &q) in out_row.iter_mut().zip(row) {
            *out = match exp_of(q as i32 - max) {
                Some(e) => {
                    let probability = rounding_divide_by_pot(
                        saturating_rounding_doubling_high_mul(reciprocal, e),
                        exponent,
                    );
                    (probability - 128).clamp(-128, 127) as i8
                }
                None => -128,
            };
        }
    }
}

/// SOFTMAX, float32, over rows of `depth` elements: `exp((x - max) * beta) / Σ`.
///
/// Subtracting the row maximum keeps every exp argument ≤ 0, so nothing overflows. Agrees with
/// TFLM's (which uses the C library's `expf`) to within a few ulp, far inside 1e-5 relative.
pub fn softmax_f32(p: &SoftmaxParams, input: &[f32], output: &mut [f32], depth: usize) {
    if depth == 0 {
        return;
    }
    let beta = p.beta;
    for (row, out_row) in input
        .chunks_exact(depth)
        .zip(output.chunks_exact_mut(depth))
    {
        // C++ std::max order: a NaN never replaces the running maximum.
        let mut max = f32::MIN;
        for &x in row {
            if max < x {
                max = x;
            }
        }
        let mut sum = 0.0f32;
        for (out, &x) in out_row.iter_mut().zip(row) {
            let e = exp_f32((x - max) * beta);
            *out = e;
            sum += e;
        }
        for out in out_row.iter_mut() {
            *out /= sum;
        }
    }
}

/// `e^x` in single precision without `std` (core has no `expf`).
///
/// Cody–Waite range reduction `x = k·ln2 + r` with `|r| ≤ ln2/2` (ln2 split in two, the high part
/// short enough that `k·ln2_hi` is exact), then `e^r = 1 + (r + r²·P(r))` with `P` the Taylor series to r⁷
/// (truncation error below 4e-9 relative, 0.06 ulp), then `· 2^k` by building the power of
/// two from its bits — in two steps where the result is subnormal, so that it rounds only
/// once. Measured against glibc's correctly rounded `expf` over [-104, 88.7]: at most 1 ulp
/// apart (see the tests). Overflows to +∞ above ln(f32::MAX), underflows to +0 below -103.98;
/// `exp(-∞) = 0`, `exp(NaN) = NaN`.
pub fn exp_f32(x: f32) -> f32 {
    const LOG2_E: f32 = core::f32::consts::LOG2_E;
    // ln2 = LN2_HI + LN2_LO; LN2_HI has 15 significant bits, so k·LN2_HI is exact for |k| < 512.
    // (Written out to all digits on purpose: LN2_HI is exactly this dyadic fraction.)
    #[allow(clippy::excessive_precision)]
    const LN2_HI: f32 = 0.693_145_751_953_125;
    #[allow(clippy::excessive_precision)]
    const LN2_LO: f32 = 1.428_606_765_330_187e-6;

    if x.is_nan() {
        return x;
    }
    if x > 89.0 {
        return f32::INFINITY;
    }
    if x < -104.0 {
        return 0.0;
    }
    // k = x / ln2 rounded to nearest (ties need not be exact: |r| just stays below ~0.35).
    let t = x * LOG2_E;
    let k = (if t < 0.0 { t - 0.5 } else { t + 0.5 }) as i32;
    let kf = k as f32;
    let r = (x - kf * LN2_HI) - kf * LN2_LO;

    // e^r - 1 - r = r²·(1/2 + r/6 + r²/24 + ... + r⁵/5040), Horner from the small end.
    let poly = 1.0 / 2.0
        + r * (1.0 / 6.0
            + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))));
    let e_r = 1.0 + (r + r * r * poly);

    // k is in [-150, 128] here; 2^k itself is a normal float only for k in [-126, 127].
    if k > 127 {
        e_r * pow2(127) * pow2(k - 127)
    } else if k < -126 {
        // The first product is exact (a normal float); the second rounds once into subnormals.
        e_r * pow2(k + 64) * pow2(-64)
    } else {
        e_r * pow2(k)
    }
}

/// 2^k as an f32 for k in [-126, 127], from its exponent bits.
#[inline(always)]
fn pow2(k: i32) -> f32 {
    f32::from_bits(((k + 127) as u32) << 23)
}

#[cfg(test)]
#[allow(clippy::excessive_precision)] // goldens are quoted as TFLM's tests print them
mod tests {
    use super::*;
    extern crate std;

    /// Parameters as the compiler computes them.
    pub(crate) fn softmax_params(beta: f32, input_scale: f32) -> SoftmaxParams {
        let (input_multiplier, input_left_shift, diff_min) =
            mote_compiler::quant::softmax_quant(beta, input_scale);
        SoftmaxParams {
            input_multiplier,
            input_left_shift,
            diff_min,
            beta,
        }
    }

    #[test]
    fn params_hand_cases() {
        // beta 1, scale 0.1: 0.1f32 * 2^26 = 6710886.5 → 0.79999... * 2^23
        let p = softmax_params(1.0, 0.1);
        assert_eq!(p.input_left_shift, 23);
        assert_eq!(p.input_multiplier, 1_717_986_944); // round(0.1f32 as f64 * 2^34)
        assert_eq!(p.diff_min, -248); // floor(31 * 2^26 / 2^23)
                                      // scale 1: 2^26 → 0.5 * 2^27, radius floor(31 / 2) = 15
        let p = softmax_params(1.0, 1.0);
        assert_eq!(
            (p.input_multiplier, p.input_left_shift, p.diff_min),
            (1 << 30, 27, -15)
        );
    }

    #[test]
    fn uniform_rows_give_equal_shares() {
        // Every row of n equal values: each output is round(256 / n) - 128.
        let p = softmax_params(1.0, 0.1);
        for (n, want) in [
            (1usize, 127i8),
            (2, 0),
            (3, -43),
            (4, -64),
            (8, -96),
            (256, -127),
        ] {
            let input = std::vec![7i8; n];
            let mut out = std::vec![0i8; n];
            softmax_int8(&p, &input, &mut out, n);
            assert!(out.iter().all(|&o| o == want), "n={n}: {out:?}");
        }
    }

    #[test]
    fn matches_tflm_1d_test() {
        // TFLM's softmax_test "1D quantized int8": inputs 1..5 at scale 0.1 (q = 10..50), beta 1.
        // Float goldens 0.011656, 0.031685, 0.086129, 0.234122, 0.636409 → ×256 - 128 within
        // one step; the exact values are what the fixed-point pipeline yields (checked against
        // an independent port of gemmlowp's scalar code).
        let p = softmax_params(1.0, 0.1);
        let input: [i8; 10] = [10, 20, 30, 40, 50, -10, -20, -30, -40, -50];
        let mut out = [0i8; 10];
        softmax_int8(&p, &input, &mut out, 5);
        assert_eq!(out, [-125, -120, -106, -68, 35, 35, -68, -106, -120, -125]);
        let golden = [
            0.011656231f32,
            0.031684921,
            0.086128544,
            0.234121657,
            0.636408647,
        ];
        for (o, g) in out.iter().zip(golden.iter()) {
            assert!(((*o as f32 + 128.0) - g * 256.0).abs() <= 1.0);
        }
    }

    #[test]
    fn wide_input_range_and_diff_min() {
        // scale 1: diff_min = -15, so differences of -16 and below are dropped to -128.
        let p = softmax_params(1.0, 1.0);
        let mut out = [0i8; 7];
        softmax_int8(&p, &[0, -1, -5, -16, -17, -20, -127], &mut out, 7);
        // exp(0) : exp(-1) : exp(-5) = 0.7275 : 0.2676 : 0.0049 (+ tiny) → 186.2, 68.5, 1.25
        assert_eq!(out, [58, -59, -127, -128, -128, -128, -128]);

        // scale 1/25.6 with extreme inputs: the full int8 difference range is in use.
        let p = softmax_params(1.0, 0.0390625);
        assert_eq!(p.diff_min, -496);
        softmax_int8(&p, &[-128, 0, 127, 100, -5], &mut out[..5], 5);
        assert_eq!(out[..5], [-128, -127, 60, -62, -127]);
    }

    /// Units in the last place between two positive finite floats.
    fn ulps(a: f32, b: f32) -> u32 {
        (a.to_bits() as i64 - b.to_bits() as i64).unsigned_abs() as u32
    }

    #[test]
    fn exp_f32_is_within_one_ulp_of_libm() {
        let mut worst = 0;
        // Dense sweep over the whole finite range, and every float in [-1, 1] at a stride.
        let mut x = -103.9f32;
        while x < 88.7 {
            let want = std::primitive::f32::exp(x);
            let got = exp_f32(x);
            let d = ulps(got, want);
            worst = worst.max(d);
            assert!(d <= 1, "x={x}: got {got:e}, libm {want:e}");
            x += 0.000_731;
        }
        for bits in (0..=1.0f32.to_bits()).step_by(997) {
            for x in [f32::from_bits(bits), -f32::from_bits(bits)] {
                assert!(ulps(exp_f32(x), x.exp()) <= 1, "x={x}");
            }
        }
        std::eprintln!("exp_f32 worst error: {worst} ulp");
        // Special values and the ends of the range.
        assert_eq!(exp_f32(0.0), 1.0);
        assert_eq!(exp_f32(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_f32(f32::INFINITY), f32::INFINITY);
        assert!(exp_f32(f32::NAN).is_nan());
        assert_eq!(exp_f32(89.0), f32::INFINITY);
        assert_eq!(exp_f32(88.72283), 88.72283f32.exp());
        assert_eq!(exp_f32(-200.0), 0.0);
        for x in [-87.0f32, -90.0, -100.0, -103.0, -103.9] {
            assert!(ulps(exp_f32(x), x.exp()) <= 1, "subnormal range x={x}");
        }
    }

    #[test]
    fn float_matches_tflm_goldens() {
        // TFLM's softmax_test float cases (tolerance 1e-5 there): a 2×5 input, beta 1.
        let p = SoftmaxParams {
            beta: 1.0,
            ..Default::default()
        };
        let input = [1.0f32, 2.0, 3.0, 4.0, 5.0, -1.0, -2.0, -3.0, -4.0, -5.0];
        let golden = [
            0.011656231f32,
            0.031684921,
            0.086128544,
            0.234121657,
            0.636408647,
            0.636408647,
            0.234121657,
            0.086128544,
            0.031684921,
            0.011656231,
        ];
        let mut out = [0f32; 10];
        softmax_f32(&p, &input, &mut out, 5);
        for (o, g) in out.iter().zip(golden.iter()) {
            assert!((o - g).abs() <= 1e-5 * g.abs().max(1e-3), "{o} vs {g}");
        }
        // And against the same computation with std's expf, to float rounding.
        let mut reference = [0f32; 10];
        for (row, out_row) in input.chunks(5).zip(reference.chunks_mut(5)) {
            let max = row.iter().cloned().fold(f32::MIN, f32::max);
            let sum: f32 = row.iter().map(|x| (x - max).exp()).fold(0.0, |s, e| s + e);
            for (o, x) in out_row.iter_mut().zip(row) {
                *o = (x - max).exp() / sum;
            }
        }
        for (o, r) in out.iter().zip(reference.iter()) {
            assert!(ulps(*o, *r) <= 4, "{o} vs {r}");
        }
    }

    #[test]
    fn float_beta_scales_the_logits() {
        // beta 0 makes every row uniform; a uniform row gives exactly 1/n.
        let p = SoftmaxParams {
            beta: 0.0,
            ..Default::default()
        };
        let mut out = [0f32; 4];
        softmax_f32(&p, &[1.0, -7.0, 30.0, 2.0], &mut out, 4);
        assert_eq!(out, [0.25; 4]);
        // beta 2 on [0, ln 2 / 2] is softmax of [0, ln 2]: 1/3, 2/3.
        let p = SoftmaxParams {
            beta: 2.0,
            ..Default::default()
        };
        let mut out = [0f32; 2];
        softmax_f32(&p, &[0.0, core::f32::consts::LN_2 / 2.0], &mut out, 2);
        assert!(
            (out[0] - 1.0 / 3.0).abs() < 1e-7 && (out[1] - 2.0 / 3.0).abs() < 1e-7,
            "{out:?}"
        );
    }
}
