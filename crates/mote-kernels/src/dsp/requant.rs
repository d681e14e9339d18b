//! The output stage of the DSP kernels: an int32 accumulator to an int8 output, bit-exact
//! with the reference's `multiply_by_quantized_multiplier` + zero point + activation clamp,
//! in three instructions plus the clamp.
//!
//! The reference rounds twice: `y = srdhm(acc, m)` (round half up at bit 31), then
//! `z = rounding_divide_by_pot(y, e)` (round half away from zero). With `acc2 = 2 * acc`:
//!
//! - `SMMLAR(acc2, m, c)` is `c + floor((acc * m + 2^30) / 2^31)`, which is `c + y` whenever
//!   `acc * m` is not `i32::MIN * i32::MIN` (gemmlowp's one saturating case).
//! - For `e >= 1`, `z = floor((y + 2^(e-1) - [y < 0]) / 2^e)`, and with `m >= 0` the sign test
//!   may use `acc` instead of `y`: they differ only when `y == 0`, where both give 0.
//! - The zero point folds into the same shift: `z + zp = floor((y + 2^(e-1) + zp*2^e - [acc <
//!   0]) / 2^e)`.
//!
//! So `z + zp = SMMLAR(acc2, m, addend + (acc2 >> 31)) >> e` with `addend = 2^(e-1) + zp*2^e`;
//! for `e == 0` (a left shift `s >= 0`) it is `SMMLAR(acc2 << s, m, zp)`. These hold when
//! nothing overflows: [`Scale::new`] checks that from a bound on `|acc|` once per operator and
//! refuses otherwise (the caller then runs the reference kernel), so every input gets the
//! reference's bytes.

use super::insn::{smmlar, ssat8};
use crate::fixedpoint::multiply_by_quantized_multiplier;

/// The activation clamp of the reference, `value.max(min).min(max) as i8`, or a single SSAT
/// when the range is all of int8.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Activation {
    min: i32,
    max: i32,
    saturate_only: bool,
}

impl Activation {
    pub(crate) fn new(min: i32, max: i32) -> Self {
        Self {
            min,
            max,
            saturate_only: min == -128 && max == 127,
        }
    }

    pub(crate) fn min(self) -> i32 {
        self.min
    }

    pub(crate) fn max(self) -> i32 {
        self.max
    }

    pub(crate) fn saturate_only(self) -> bool {
        self.saturate_only
    }

    #[inline(always)]
    pub(crate) fn apply(self, value: i32) -> i8 {
        if self.saturate_only {
            ssat8(value) as i8
        } else {
            value.max(self.min).min(self.max) as i8
        }
    }
}

/// One output channel's requantization constants (see the module docs).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scale {
    multiplier: i32,
    addend: i32,
    right_shift: u32,
    left_shift: u32,
}

impl Scale {
    /// The constants for `multiplier`/`shift` and the output zero point, if the fast form is
    /// exact for every accumulator with `|acc| <= acc_bound`; `None` otherwise.
    #[inline]
    pub(crate) fn new(
        multiplier: i32,
        shift: i32,
        zero_point: i32,
        acc_bound: u64,
    ) -> Option<Self> {
        if multiplier < 0 || !(-31..=31).contains(&shift) || acc_bound >= 1 << 30 {
            return None;
        }
        let bound = acc_bound as i64;
        const LIMIT: i64 = 1 << 31;
        if shift < 0 {
            let e = (-shift) as u32;
            let addend = (1i64 << (e - 1)) + ((zero_point as i64) << e);
            // |y| <= |acc| + 1, and the sign correction subtracts at most 1.
            if addend.abs() + bound + 2 >= LIMIT {
                return None;
            }
        } else {
            let s = shift as u32;
            // 2 * acc * 2^s must fit in i32, and zp + y must not overflow.
            let shifted = bound << s;
            if shifted >= 1 << 30 || (zero_point as i64).abs() + shifted + 2 >= LIMIT {
                return None;
            }
        }
        Some(Self::derive(multiplier, shift, zero_point))
    }

    /// The constants for parameters that [`Scale::new`] accepted, cheaply (a few instructions:
    /// kernels call this per channel and block instead of keeping a table in RAM).
    #[inline(always)]
    pub(crate) fn derive(multiplier: i32, shift: i32, zero_point: i32) -> Self {
        if shift < 0 {
            let e = shift.unsigned_abs();
            Self {
                multiplier,
                // 2^(e-1) + zp * 2^e
                addend: zero_point.wrapping_mul(2).wrapping_add(1) << (e - 1),
                right_shift: e,
                left_shift: 0,
            }
        } else {
            Self {
                multiplier,
                addend: zero_point,
                right_shift: 0,
                left_shift: shift as u32,
            }
        }
    }

    pub(crate) fn multiplier(self) -> i32 {
        self.multiplier
    }

    pub(crate) fn addend(self) -> i32 {
        self.addend
    }

    /// The right shift `e` (0 for a left shift).
    pub(crate) fn right_shift(self) -> u32 {
        self.right_shift
    }

    /// [`Scale::apply`] on a block of accumulators, with the shift direction tested once.
    #[inline(always)]
    pub(crate) fn apply_all<const N: usize>(self, acc2: [i32; N]) -> [i32; N] {
        let mut out = [0; N];
        if self.right_shift != 0 {
            for (o, a) in out.iter_mut().zip(acc2) {
                *o = smmlar(a, self.multiplier, self.addend.wrapping_add(a >> 31))
                    >> self.right_shift;
            }
        } else {
            for (o, a) in out.iter_mut().zip(acc2) {
                *o = smmlar(a << self.left_shift, self.multiplier, self.addend);
            }
        }
        out
    }

    /// `requantize(acc) + zero_point` from `acc2 = 2 * acc` (before the activation clamp).
    #[cfg(test)]
    #[inline(always)]
    pub(crate) fn apply(self, acc2: i32) -> i32 {
        if self.right_shift != 0 {
            smmlar(acc2, self.multiplier, self.addend.wrapping_add(acc2 >> 31)) >> self.right_shift
        } else {
            smmlar(acc2 << self.left_shift, self.multiplier, self.addend)
        }
    }
}
/// Most channels a [`Channels`] table describes channel by channel; an operator with more
/// channels must have every channel on the fast path (else it runs the reference kernel).
pub(crate) const MAX_TABLE_CHANNELS: usize = 1024;

/// Which output channels the fast requantization handles exactly, worked out once per
/// operator. Real models have the odd channel outside it (TFLite gives a channel whose filter
/// is all zeros a bias near 2^30, for example); those channels take [`exact`] instead, so one
/// such channel does not send the whole operator to the reference kernel.
pub(crate) struct Channels {
    bits: [u32; MAX_TABLE_CHANNELS / 32],
    /// Every channel is on the fast path.
    pub all: bool,
}

/// The channels off the fast path that are constant: every accumulator their inputs can
/// produce gives the same output. TFLite leaves such channels in trained networks (a filter
/// pruned to nothing, a tiny multiplier with a right shift of 25 or more: three quarters of
/// the channels of vww_96_int8's last convolutions), and the convolution writes them without
/// a multiply-accumulate. The reference's requantization is monotonic in the accumulator (for
/// a non-negative multiplier and no left shift: both roundings are round-to-nearest), so a
/// channel is constant exactly when its two extreme accumulators agree.
pub(crate) struct ConstantChannels {
    bits: [u32; MAX_TABLE_CHANNELS / 32],
}

impl ConstantChannels {
    /// No channel constant, to be filled by [`ConstantChannels::find`].
    pub(crate) const fn empty() -> Self {
        Self {
            bits: [0; MAX_TABLE_CHANNELS / 32],
        }
    }

    /// Marks the constant channels among the first `count` that `fast` leaves off the fast
    /// path, for per-channel parameters and products summing to at most `product_bound` in
    /// magnitude (in the caller's frame, as [`Channels::fill`]).
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn find(
        &mut self,
        fast: &Channels,
        multiplier: &[i32],
        shift: &[i32],
        bias: Option<&[i32]>,
        zero_point: i32,
        activation: Activation,
        product_bound: u64,
        count: usize,
    ) {
        if fast.all {
            return;
        }
        for c in 0..count.min(MAX_TABLE_CHANNELS) {
            let (Some(&m), Some(&s)) = (multiplier.get(c), shift.get(c)) else {
                return;
            };
            let b = bias.and_then(|b| b.get(c)).copied().unwrap_or(0);
            if !fast.fast(c) && is_constant(m, s, b, zero_point, activation, product_bound) {
                self.bits[c / 32] |= 1 << (c % 32);
            }
        }
    }

    /// Whether channel `c` is constant: its output is then [`exact`] of a zero sum.
    #[inline(always)]
    pub(crate) fn contains(&self, c: usize) -> bool {
        self.bits
            .get(c / 32)
            .is_some_and(|w| w & (1 << (c % 32)) != 0)
    }
}

impl Channels {
    /// A table with no channel on the fast path, to be filled by [`Channels::fill`].
    pub(crate) const fn empty() -> Self {
        Self {
            bits: [0; MAX_TABLE_CHANNELS / 32],
            all: false,
        }
    }

    /// Fills the table for `count` channels whose products (before the bias) sum to at most
    /// `product_bound` in magnitude; per-tensor parameters have length one. `false` when that
    /// bound is beyond even the exact path's (the sum of products doubled must fit in i32),
    /// or there are too many channels for the table and some are not on the fast path.
    ///
    /// It fills a table in the caller's frame rather than returning one: returned by value,
    /// the 132-byte table was built in this function's frame and copied out with `memcpy`,
    /// and both copies were on the stack under every convolution.
    #[inline(never)]
    pub(crate) fn fill(
        &mut self,
        multiplier: &[i32],
        shift: &[i32],
        bias: Option<&[i32]>,
        zero_point: i32,
        product_bound: u64,
        count: usize,
    ) -> bool {
        if product_bound >= 1 << 30 {
            return false;
        }
        let per_channel = multiplier.len() != 1;
        self.bits = [0; MAX_TABLE_CHANNELS / 32];
        self.all = true;
        if !per_channel {
            // One check with the largest bias covers every channel.
            let b = bias.map_or(0, |b| {
                b[..count]
                    .iter()
                    .map(|v| v.unsigned_abs())
                    .max()
                    .unwrap_or(0)
            });
            if Scale::new(
                multiplier[0],
                shift[0],
                zero_point,
                product_bound + b as u64,
            )
            .is_some()
            {
                return true;
            }
        }
        for c in 0..count {
            let q = if per_channel { c } else { 0 };
            let b = bias.map_or(0, |b| b[c]).unsigned_abs() as u64;
            let fast = Scale::new(multiplier[q], shift[q], zero_point, product_bound + b).is_some();
            if fast {
                if let Some(word) = self.bits.get_mut(c / 32) {
                    *word |= 1 << (c % 32);
                }
            } else {
                self.all = false;
            }
        }
        self.all || count <= MAX_TABLE_CHANNELS
    }

    /// Whether channel `c` is on the fast path.
    #[inline(always)]
    pub(crate) fn fast(&self, c: usize) -> bool {
        self.all
            || self
                .bits
                .get(c / 32)
                .is_some_and(|w| w & (1 << (c % 32)) != 0)
    }
}

/// Whether a channel's output (the reference's requantization, zero point and activation
/// clamp) is one value for every accumulator `bias + sum` with `|sum| <= product_bound` (see
/// [`ConstantChannels`]): `false` where that is not certain (a negative multiplier, a left
/// shift, an accumulator range that wraps).
fn is_constant(
    multiplier: i32,
    shift: i32,
    bias: i32,
    zero_point: i32,
    activation: Activation,
    product_bound: u64,
) -> bool {
    if multiplier < 0 || shift > 0 || product_bound >= 1 << 30 {
        return false;
    }
    let (lo, hi) = (
        bias as i64 - product_bound as i64,
        bias as i64 + product_bound as i64,
    );
    if lo < i32::MIN as i64 || hi > i32::MAX as i64 {
        return false;
    }
    // `exact` takes twice the sum of products; |2 * product_bound| < 2^31.
    let sum2 = product_bound as i32 * 2;
    let at = |sum2: i32| exact(sum2, bias, multiplier, shift, zero_point, activation);
    at(-sum2) == at(sum2)
}

/// The reference's requantization for a channel off the fast path, from `sum2`: twice the sum
/// of products *without* the bias (exact: the kernels check `|sum| < 2^30`), so that the
/// accumulator `sum + bias` wraps exactly as the reference's does.
#[inline(never)]
pub(crate) fn exact(
    sum2: i32,
    bias: i32,
    multiplier: i32,
    shift: i32,
    zero_point: i32,
    activation: Activation,
) -> i8 {
    exact_inline(sum2, bias, multiplier, shift, zero_point, activation)
}

/// [`exact`], inlined into the caller: for the convolution's per-channel path, which some
/// models take for many channels (vww_96_int8 made about 80,000 calls of [`exact`] per
/// inference, some 500,000 instructions of call overhead).
#[inline(always)]
pub(crate) fn exact_inline(
    sum2: i32,
    bias: i32,
    multiplier: i32,
    shift: i32,
    zero_point: i32,
    activation: Activation,
) -> i8 {
    let acc = (sum2 >> 1).wrapping_add(bias);
    let v = multiply_by_quantized_multiplier(acc, multiplier, shift).wrapping_add(zero_point);
    v.max(activation.min).min(activation.max) as i8
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reference(acc: i32, m: i32, s: i32, zp: i32) -> i32 {
        multiply_by_quantized_multiplier(acc, m, s).wrapping_add(zp)
    }

    #[test]
    fn hand_cases() {
        // 0.5 * 2^-1: 100 → 25, 102 → 25.5 → 26, -102 → -25.5 → -26 (away from zero).
        let s = Scale::new(1 << 30, -1, 0, 1000).unwrap();
        assert_eq!(s.apply(200), 25);
        assert_eq!(s.apply(204), 26);
        assert_eq!(s.apply(-204), -26);
        // srdhm(-3, 0.5) = -1 (half up), then no shift, + zp 7.
        let s = Scale::new(1 << 30, 0, 7, 10).unwrap();
        assert_eq!(s.apply(-6), 6);
        // Left shift 2: -7 * 4 * 0.5 = -14, + zp -3.
        let s = Scale::new(1 << 30, 2, -3, 10).unwrap();
        assert_eq!(s.apply(-14), -17);
        // A zero multiplier gives the zero point.
        let s = Scale::new(0, -5, 9, 1000).unwrap();
        assert_eq!(s.apply(-2000), 9);
        assert_eq!(s.apply(2000), 9);
    }

    proptest! {
        /// A channel found constant has one output over its whole accumulator range
        /// (checked at every accumulator).
        #[test]
        fn constant_channels_are_constant(
            m in 0i32..=i32::MAX,
            shift in -31i32..=0,
            bias in -(1i32 << 30)..(1i32 << 30),
            zp in -128i32..=127,
            relu in any::<bool>(),
            bound in 0u64..3000,
        ) {
            let act = Activation::new(if relu { zp.max(-128) } else { -128 }, 127);
            if is_constant(m, shift, bias, zp, act, bound) {
                let want = exact(0, bias, m, shift, zp, act);
                for sum in -(bound as i32)..=bound as i32 {
                    prop_assert_eq!(exact(2 * sum, bias, m, shift, zp, act), want);
                }
            }
        }
    }

    #[test]
    fn dead_channels_are_constant_and_live_ones_are_not() {
        let int8 = Activation::new(-128, 127);
        // vww_96_int8's pattern: a multiplier near 2^30 and a right shift of 27.
        assert!(is_constant(1 << 30, -27, 1000, -128, int8, 4_000_000));
        // A live channel: shift -7 over the same range.
        assert!(!is_constant(1 << 30, -7, 1000, -128, int8, 4_000_000));
        // A zero multiplier is constant whatever the range.
        assert!(is_constant(0, -3, 0, 5, int8, 1 << 29));
        // A channel that the activation clamps to its minimum for every input.
        assert!(is_constant(1 << 30, -1, -1_000_000, 0, Activation::new(0, 127), 1000));
        // Not decided for a left shift or a range that wraps.
        assert!(!is_constant(0, 1, 0, 0, int8, 10));
        assert!(!is_constant(1 << 30, -27, i32::MAX - 5, 0, int8, 10));
    }

    #[test]
    fn refuses_what_it_cannot_do_exactly() {
        assert!(Scale::new(-1, -3, 0, 10).is_none());
        assert!(Scale::new(1 << 30, 32, 0, 10).is_none());
        assert!(Scale::new(1 << 30, -32, 0, 10).is_none());
        assert!(Scale::new(1 << 30, -3, 0, 1 << 30).is_none());
        // A large shift with a zero point: zp * 2^31 cannot be folded.
        assert!(Scale::new(1 << 30, -31, 1, 10).is_none());
        assert!(Scale::new(1 << 30, -31, 0, 10).is_some());
        assert!(Scale::new(1 << 30, 20, 0, 1 << 10).is_none());
        assert!(Scale::new(1 << 30, 20, 0, 1 << 8).is_some());
        // Typical model values are accepted.
        assert!(Scale::new(1_500_000_000, -9, -128, 64 * 9 * 128 * 255 + 100_000).is_some());
    }

    #[test]
    fn activation_matches_reference_clamp() {
        for (lo, hi) in [
            (-128, 127),
            (-128, 50),
            (-20, 127),
            (0, 6),
            (10, -10),
            (-1000, 1000),
        ] {
            let a = Activation::new(lo, hi);
            for v in [
                -100_000, -300, -129, -128, -1, 0, 6, 50, 127, 128, 300, 100_000,
            ] {
                assert_eq!(a.apply(v), v.max(lo).min(hi) as i8, "{lo} {hi} {v}");
            }
        }
    }

    #[test]
    fn every_shift_at_the_bounds() {
        let multipliers = [0, 1, 1 << 30, 1_518_500_250, i32::MAX];
        for shift in -31..=31 {
            for &m in &multipliers {
                for zp in [-128, -1, 0, 5, 127] {
                    for bound in [0u64, 1, 255, 1 << 20, (1 << 30) - 1] {
                        let Some(s) = Scale::new(m, shift, zp, bound) else {
                            continue;
                        };
                        let b = bound as i32;
                        let accs = [-b, -b + 1, -1, 0, 1, b - 1, b, b / 3, -b / 7];
                        for acc in accs
                            .into_iter()
                            .filter(|a| a.unsigned_abs() <= bound as u32)
                        {
                            assert_eq!(
                                s.apply(2 * acc),
                                reference(acc, m, shift, zp),
                                "acc {acc} m {m} shift {shift} zp {zp}"
                            );
                        }
                    }
                }
            }
        }
    }

    proptest! {
        #[test]
        fn matches_reference(
            m in prop_oneof![0..=i32::MAX, (1i32 << 30)..=i32::MAX],
            shift in -31i32..=31,
            zp in prop_oneof![-128i32..=127, -70_000i32..=70_000],
            bound_log in 0u32..31,
            acc_frac in -1.0f64..=1.0,
        ) {
            let bound = (1u64 << bound_log) - 1;
            if let Some(s) = Scale::new(m, shift, zp, bound) {
                let acc = (acc_frac * bound as f64) as i32;
                prop_assert_eq!(s.apply(2 * acc), reference(acc, m, shift, zp));
            }
        }
    }
}
