//! Fixed-point arithmetic shared by every int8 kernel, defined once.
//!
//! These follow TFLite's reference arithmetic (gemmlowp's rounding rules, "double rounding"
//! requantization) so that mote's integer results equal TFLM's bit for bit. A multiplier is a
//! Q31 value in [0.5, 1) and a shift is a power-of-two exponent (positive = left).

/// `(a * b * 2) >> 32`, rounded to nearest, saturating the one overflowing case
/// (`i32::MIN * i32::MIN`).
#[inline(always)]
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    let ab = a as i64 * b as i64;
    let nudge: i64 = if ab >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    ((ab + nudge) / (1i64 << 31)) as i32
}

/// `x / 2^exponent`, rounded to nearest with ties away from zero. `exponent` in 0..=31.
#[inline(always)]
pub fn rounding_divide_by_pot(x: i32, exponent: i32) -> i32 {
    debug_assert!((0..=31).contains(&exponent));
    let mask: i32 = ((1i64 << exponent) - 1) as i32;
    let remainder = x & mask;
    let threshold = (mask >> 1) + ((x < 0) as i32);
    (x >> exponent) + ((remainder > threshold) as i32)
}

/// `x * multiplier * 2^shift` with TFLite's rounding (the requantization step).
#[inline(always)]
pub fn multiply_by_quantized_multiplier(x: i32, multiplier: i32, shift: i32) -> i32 {
    let left_shift = if shift > 0 { shift } else { 0 };
    let right_shift = if shift > 0 { 0 } else { -shift };
    rounding_divide_by_pot(
        saturating_rounding_doubling_high_mul(x.wrapping_mul(1i32 << left_shift), multiplier),
        right_shift,
    )
}

/// As [`multiply_by_quantized_multiplier`] for a multiplier known to be below one
/// (`shift <= 0`), as TFLite's ADD uses it.
#[inline(always)]
pub fn multiply_by_quantized_multiplier_smaller_than_one_exp(
    x: i32,
    multiplier: i32,
    shift: i32,
) -> i32 {
    rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x, multiplier), -shift)
}

// ---------------------------------------------------------------------------------------------
// gemmlowp fixed-point pieces used by the int8 SOFTMAX (and by any later LOGISTIC/TANH).
//
// A fixed-point value here is a raw `i32` read as Qm.(31-m): `m` integer bits, a sign bit and
// `31 - m` fractional bits. The functions below take and return raw words; the Q format is in
// their names and docs. Each step reproduces gemmlowp's scalar code path (the one TFLM runs),
// including where it saturates, where it rounds and where it does a plain, wrapping add, so
// the results match TFLM bit for bit.

/// `x * 2^exponent` for a raw fixed-point word: a left shift that saturates to
/// `i32::MIN`/`i32::MAX` for `exponent > 0`, a round-to-nearest right shift for
/// `exponent < 0` (gemmlowp's `SaturatingRoundingMultiplyByPOT`). `exponent` in -31..=31.
#[inline(always)]
pub fn saturating_rounding_multiply_by_pot(x: i32, exponent: i32) -> i32 {
    if exponent > 0 {
        // Values whose shifted magnitude would not fit saturate; the threshold is
        // gemmlowp's, so that exactly the same inputs saturate.
        let threshold: i32 = ((1i64 << (31 - exponent)) - 1) as i32;
        if x > threshold {
            i32::MAX
        } else if x < -threshold {
            i32::MIN
        } else {
            x.wrapping_shl(exponent as u32)
        }
    } else if exponent < 0 {
        rounding_divide_by_pot(x, -exponent)
    } else {
        x
    }
}

/// Changes a raw word from Q`src_integer_bits` to Q`dst_integer_bits` (gemmlowp's
/// `Rescale`): more integer bits is a rounding right shift, fewer is a saturating left shift.
#[inline(always)]
pub fn rescale(x: i32, src_integer_bits: i32, dst_integer_bits: i32) -> i32 {
    saturating_rounding_multiply_by_pot(x, src_integer_bits - dst_integer_bits)
}

/// `(a + b) / 2` rounded to nearest, ties away from zero, without overflow (gemmlowp's
/// `RoundingHalfSum`, the NEON `VRHADD`).
#[inline(always)]
pub fn rounding_half_sum(a: i32, b: i32) -> i32 {
    let sum = a as i64 + b as i64;
    let sign: i64 = if sum >= 0 { 1 } else { -1 };
    ((sum + sign) / 2) as i32
}

/// As [`multiply_by_quantized_multiplier`] for a multiplier known to be at least one
/// (`shift >= 0`), as TFLite's SOFTMAX uses it: the left shift is applied first and is not
/// rounded, and there is no right shift. The caller keeps `x << shift` within `i32` (SOFTMAX
/// does, through `diff_min`); if it did not, the product wraps as it would in TFLM.
#[inline(always)]
pub fn multiply_by_quantized_multiplier_greater_than_one(
    x: i32,
    multiplier: i32,
    shift: i32,
) -> i32 {
    saturating_rounding_doubling_high_mul(
        x.wrapping_mul(1i32.wrapping_shl(shift as u32)),
        multiplier,
    )
}

/// `exp(a)` for `a` in `[-1/4, 0)`, both in Q0.31 (gemmlowp's
/// `exp_on_interval_between_negative_one_quarter_and_0_excl`).
///
/// A fourth-order Taylor expansion around `-1/8`: with `x = a + 1/8`,
/// `exp(a) = exp(-1/8) * (1 + x + x²/2 + x³/6 + x⁴/24)`.
pub fn exp_on_interval_between_negative_one_quarter_and_0_excl(a: i32) -> i32 {
    // exp(-1/8) and 1/3 in Q0.31, the constants gemmlowp uses.
    const EXP_MINUS_ONE_EIGHTH: i32 = 1_895_147_668;
    const ONE_THIRD: i32 = 715_827_883;
    let x = a.wrapping_add(1 << 28); // + 1/8
    let x2 = saturating_rounding_doubling_high_mul(x, x);
    let x3 = saturating_rounding_doubling_high_mul(x2, x);
    let x4 = saturating_rounding_doubling_high_mul(x2, x2);
    let x4_over_4 = saturating_rounding_multiply_by_pot(x4, -2);
    // ((x⁴/4 + x³) / 3 + x²) / 2 = x⁴/24 + x³/6 + x²/2
    let poly = saturating_rounding_multiply_by_pot(
        saturating_rounding_doubling_high_mul(x4_over_4.wrapping_add(x3), ONE_THIRD)
            .wrapping_add(x2),
        -1,
    );
    EXP_MINUS_ONE_EIGHTH.wrapping_add(saturating_rounding_doubling_high_mul(
        EXP_MINUS_ONE_EIGHTH,
        x.wrapping_add(poly),
    ))
}

/// `exp(a)` for `a <= 0` given in Q`INTEGER_BITS`.(31-`INTEGER_BITS`); the result is in Q0.31
/// (gemmlowp's `exp_on_negative_values`). `exp(0)` is `i32::MAX`, gemmlowp's "one".
///
/// The input is split as `a = r - n/4` with `r` in `[-1/4, 0)`: `exp(r)` comes from the
/// polynomial above, and each set bit of the quarter-count `n` multiplies in a constant
/// `exp(-2^k)` (a barrel shifter over k = -2..=4). Inputs below -32 (possible only with more
/// than five integer bits) give zero.
pub fn exp_on_negative_values<const INTEGER_BITS: i32>(a: i32) -> i32 {
    let fractional_bits = 31 - INTEGER_BITS;
    let one_quarter: i32 = 1 << (fractional_bits - 2);
    let mask = one_quarter - 1;
    let a_mod_quarter_minus_one_quarter = (a & mask).wrapping_sub(one_quarter);
    let mut result = exp_on_interval_between_negative_one_quarter_and_0_excl(rescale(
        a_mod_quarter_minus_one_quarter,
        INTEGER_BITS,
        0,
    ));
    let remainder = a_mod_quarter_minus_one_quarter.wrapping_sub(a);

    // exp(-2^k) in Q0.31 for k = -2..=4, gemmlowp's constants.
    const BARREL: [(i32, i32); 7] = [
        (-2, 1_672_461_947),
        (-1, 1_302_514_674),
        (0, 790_015_084),
        (1, 290_630_308),
        (2, 39_332_535),
        (3, 720_401),
        (4, 242),
    ];
    for &(exponent, multiplier) in BARREL.iter() {
        // Only the powers of two that the format can hold take part.
        if INTEGER_BITS > exponent {
            let bit = 1i32.wrapping_shl((fractional_bits + exponent) as u32);
            if remainder & bit != 0 {
                result = saturating_rounding_doubling_high_mul(result, multiplier);
            }
        }
    }

    if INTEGER_BITS > 5 {
        // -32 in the input format: below it exp() is zero at this precision.
        let clamp = -(1i32 << (36 - INTEGER_BITS));
        if a < clamp {
            result = 0;
        }
    }
    if a == 0 {
        result = i32::MAX;
    }
    result
}

/// `1 / (1 + a)` for `a` in `[0, 1)`, both in Q0.31 (gemmlowp's
/// `one_over_one_plus_x_for_x_in_0_1`).
///
/// Three Newton–Raphson steps on the half denominator `d = (1 + a) / 2` in `[1/2, 1)`, starting
/// from the classic linear estimate `48/17 - 32/17 * d`; the iterate is in Q2.29.
pub fn one_over_one_plus_x_for_x_in_0_1(a: i32) -> i32 {
    // 48/17 and -32/17 in Q2.29, gemmlowp's constants.
    const C_48_OVER_17: i32 = 1_515_870_810;
    const C_NEG_32_OVER_17: i32 = -1_010_580_540;
    const ONE_Q2_29: i32 = 1 << 29;
    let half_denominator = rounding_half_sum(a, i32::MAX);
    let mut x = C_48_OVER_17.wrapping_add(saturating_rounding_doubling_high_mul(
        half_denominator,
        C_NEG_32_OVER_17,
    ));
    for _ in 0..3 {
        let half_denominator_times_x = saturating_rounding_doubling_high_mul(half_denominator, x);
        let one_minus = ONE_Q2_29.wrapping_sub(half_denominator_times_x);
        // Q2.29 * Q2.29 is Q4.27; back to Q2.29.
        x = x.wrapping_add(rescale(
            saturating_rounding_doubling_high_mul(x, one_minus),
            4,
            2,
        ));
    }
    // x ≈ 1/d = 2/(1+a) in Q2.29; halving it exactly is reading it as Q1.30, then to Q0.31.
    rescale(x, 1, 0)
}

/// The reciprocal of a positive Q`x_integer_bits` value, as TFLite's `GetReciprocal`:
/// returns `(scale, num_bits_over_unit)` with `scale` in Q0.31 such that
/// `1/x ≈ scale * 2^-num_bits_over_unit`.
///
/// `x` is normalised to `1 + f` with `f` in `[0, 1)` by shifting out its leading zeros, and
/// `1/(1+f)` comes from [`one_over_one_plus_x_for_x_in_0_1`].
pub fn get_reciprocal(x: i32, x_integer_bits: i32) -> (i32, i32) {
    let headroom_plus_one = (x as u32).leading_zeros();
    let num_bits_over_unit = x_integer_bits - headroom_plus_one as i32;
    // Shifting by 32 (x == 0) is undefined in TFLM; here it gives 0 rather than panicking.
    let normalised = (x as u32).checked_shl(headroom_plus_one).unwrap_or(0);
    let shifted_minus_one = normalised.wrapping_sub(1u32 << 31) as i32;
    (
        one_over_one_plus_x_for_x_in_0_1(shifted_minus_one),
        num_bits_over_unit,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srdhm_hand_cases() {
        // 0.5 * 0.5 in Q31 = 0.25
        assert_eq!(
            saturating_rounding_doubling_high_mul(1 << 30, 1 << 30),
            1 << 29
        );
        assert_eq!(
            saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN),
            i32::MAX
        );
        assert_eq!(
            saturating_rounding_doubling_high_mul(-(1 << 30), 1 << 30),
            -(1 << 29)
        );
        // 3 * 0.5 = 1.5 rounds up to 2; gemmlowp rounds -1.5 to -1 (its nudge is 1 - 2^30).
        assert_eq!(saturating_rounding_doubling_high_mul(3, 1 << 30), 2);
        assert_eq!(saturating_rounding_doubling_high_mul(-3, 1 << 30), -1);
    }

    #[test]
    fn rounding_divide_hand_cases() {
        assert_eq!(rounding_divide_by_pot(5, 1), 3); // 2.5 → 3
        assert_eq!(rounding_divide_by_pot(-5, 1), -3); // -2.5 → -3
        assert_eq!(rounding_divide_by_pot(4, 1), 2);
        assert_eq!(rounding_divide_by_pot(7, 2), 2); // 1.75 → 2
        assert_eq!(rounding_divide_by_pot(-7, 2), -2);
        assert_eq!(rounding_divide_by_pot(123, 0), 123);
    }

    #[test]
    fn requantize_hand_cases() {
        // multiplier 0.5 (Q31 1<<30), shift -1 → x * 0.25
        assert_eq!(multiply_by_quantized_multiplier(100, 1 << 30, -1), 25);
        assert_eq!(multiply_by_quantized_multiplier(102, 1 << 30, -1), 26); // 25.5 → 26
                                                                            // shift +2 with 0.5 → x * 2
        assert_eq!(multiply_by_quantized_multiplier(-7, 1 << 30, 2), -14);
    }

    /// Q0.31 raw word of a real value (for expectations only).
    fn q0_31(x: f64) -> f64 {
        x * 2147483648.0
    }

    #[test]
    fn saturating_multiply_by_pot_hand_cases() {
        assert_eq!(saturating_rounding_multiply_by_pot(3, 2), 12);
        assert_eq!(saturating_rounding_multiply_by_pot(-3, 2), -12);
        // threshold for exponent 2 is 2^29 - 1
        assert_eq!(
            saturating_rounding_multiply_by_pot((1 << 29) - 1, 2),
            i32::MAX - 3
        );
        assert_eq!(saturating_rounding_multiply_by_pot(1 << 29, 2), i32::MAX);
        assert_eq!(saturating_rounding_multiply_by_pot(-(1 << 29), 2), i32::MIN);
        assert_eq!(
            saturating_rounding_multiply_by_pot(-(1 << 29) + 1, 2),
            i32::MIN + 4
        );
        assert_eq!(saturating_rounding_multiply_by_pot(6, -2), 2); // 1.5 → 2
        assert_eq!(saturating_rounding_multiply_by_pot(-6, -2), -2); // -1.5 → -2
        assert_eq!(saturating_rounding_multiply_by_pot(77, 0), 77);
        // Q0.31 one (i32::MAX) to Q12.19 is 2^19 after rounding.
        assert_eq!(rescale(i32::MAX, 0, 12), 1 << 19);
    }

    #[test]
    fn rounding_half_sum_hand_cases() {
        assert_eq!(rounding_half_sum(1, 2), 2); // 1.5 → 2
        assert_eq!(rounding_half_sum(-1, -2), -2); // -1.5 → -2
        assert_eq!(rounding_half_sum(i32::MAX, i32::MAX), i32::MAX);
        assert_eq!(rounding_half_sum(0, i32::MAX), 1 << 30); // 2^30 - 0.5 → 2^30
        assert_eq!(rounding_half_sum(4, -4), 0);
    }

    #[test]
    fn greater_than_one_hand_cases() {
        // 0.5 (Q31 1<<30) * 2^3 = x * 4
        assert_eq!(
            multiply_by_quantized_multiplier_greater_than_one(-5, 1 << 30, 3),
            -20
        );
        assert_eq!(
            multiply_by_quantized_multiplier_greater_than_one(0, 1 << 30, 31),
            0
        );
    }

    #[test]
    fn exp_interval_matches_exp() {
        // exp(-1/8): x = 0, so the result is the constant itself.
        assert_eq!(
            exp_on_interval_between_negative_one_quarter_and_0_excl(-(1 << 28)),
            1_895_147_668
        );
        for k in 1..=64 {
            let a = -(k as f64) / 256.0; // in [-1/4, 0)
            let got =
                exp_on_interval_between_negative_one_quarter_and_0_excl((a * 2147483648.0) as i32)
                    as f64;
            let want = q0_31(libm_exp(a));
            // The truncated series' own error is below (1/8)^5/120 ≈ 2.6e-7, ~560 raw units.
            assert!((got - want).abs() < 600.0, "a={a} got={got} want={want}");
        }
    }

    #[test]
    fn exp_on_negative_values_hand_cases() {
        // exp(0) is gemmlowp's one.
        assert_eq!(exp_on_negative_values::<5>(0), i32::MAX);
        // exp(-1/4): the remainder is zero, polynomial at -1/4 only.
        let quarter = exp_on_negative_values::<5>(-(1 << 24));
        assert!(
            (quarter as f64 - q0_31(libm_exp(-0.25))).abs() < 600.0,
            "{quarter}"
        );
        // Integers and fractions over the whole Q5.26 range agree with exp() closely.
        for i in 1..=31 * 16 {
            let a = -(i as f64) / 16.0;
            let raw = (a * 67108864.0) as i32; // Q5.26
            let got = exp_on_negative_values::<5>(raw) as f64;
            let want = q0_31(libm_exp(a));
            assert!((got - want).abs() < 600.0, "a={a} got={got} want={want}");
        }
        // The most negative Q5.26 value, -32: exp(-32) is about 27 raw units in Q0.31.
        let min = exp_on_negative_values::<5>(i32::MIN);
        assert!((0..=40).contains(&min), "{min}");
    }

    #[test]
    fn one_over_one_plus_x_hand_cases() {
        // 1/(1+0) = 1: saturates to gemmlowp's one.
        let one = one_over_one_plus_x_for_x_in_0_1(0);
        assert!(one >= i32::MAX - 2, "{one}");
        // 1/(1+0.5) = 2/3
        let two_thirds = one_over_one_plus_x_for_x_in_0_1(1 << 30) as f64;
        assert!((two_thirds - q0_31(2.0 / 3.0)).abs() < 4.0, "{two_thirds}");
        for k in 0..100 {
            let a = k as f64 / 100.0;
            let got = one_over_one_plus_x_for_x_in_0_1((a * 2147483648.0) as i32) as f64;
            assert!(
                (got - q0_31(1.0 / (1.0 + a))).abs() < 8.0,
                "a={a} got={got}"
            );
        }
    }

    #[test]
    fn get_reciprocal_hand_cases() {
        // 4.0 in Q12.19 → 1/4 = 1.0 (Q0.31 ~MAX) * 2^-2
        let (scale, bits) = get_reciprocal(4 << 19, 12);
        assert_eq!(bits, 2);
        assert!(scale >= i32::MAX - 2);
        // 3.0 in Q12.19 → 1/3 = (2/3) * 2^-1
        let (scale, bits) = get_reciprocal(3 << 19, 12);
        assert_eq!(bits, 1);
        assert!((scale as f64 - q0_31(2.0 / 3.0)).abs() < 4.0);
    }

    /// exp() for test expectations without std's float math in the crate: a Taylor series in
    /// f64 after halving the argument until it is small, accurate far beyond the Q0.31 grid.
    fn libm_exp(x: f64) -> f64 {
        let mut n = 0;
        let mut r = x;
        while r.abs() > 1.0 / 64.0 {
            r /= 2.0;
            n += 1;
        }
        let mut term = 1.0;
        let mut sum = 1.0;
        for k in 1..20 {
            term *= r / k as f64;
            sum += term;
        }
        for _ in 0..n {
            sum *= sum;
        }
        sum
    }
}
