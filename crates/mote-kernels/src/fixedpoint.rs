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
pub fn multiply_by_quantized_multiplier_smaller_than_one_exp(x: i32, multiplier: i32, shift: i32) -> i32 {
    rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x, multiplier), -shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srdhm_hand_cases() {
        // 0.5 * 0.5 in Q31 = 0.25
        assert_eq!(saturating_rounding_doubling_high_mul(1 << 30, 1 << 30), 1 << 29);
        assert_eq!(saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN), i32::MAX);
        assert_eq!(saturating_rounding_doubling_high_mul(-(1 << 30), 1 << 30), -(1 << 29));
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
}
