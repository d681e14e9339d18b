//! ADD, int8, for cores with the DSP extension; the same bytes as [`crate::add::add_int8`].
//!
//! The reference rescales each input and the sum with TFLite's double-rounding multiply
//! (`srdhm` then a rounding right shift), three times per element. Here each is the three
//! instructions of [`super::requant`] (ADD of the sign correction, SMMLAR, ASR), after a check
//! once per call that no value can overflow them. Covered: inputs of the output's shape (no
//! broadcasting), int8 input zero points, a left shift of at most 22 (TFLite uses 20); anything
//! else runs the reference kernel.

use super::requant::{Activation, Scale};
use crate::Shape4;
use mote_format::params::AddParams;

/// ADD, int8, bit-exact with [`crate::add::add_int8`].
pub fn add_int8(
    p: &AddParams,
    input1: &[i8],
    shape1: Shape4,
    input2: &[i8],
    shape2: Shape4,
    output: &mut [i8],
    output_shape: Shape4,
) {
    if !add_int8_fast(p, input1, shape1, input2, shape2, output, output_shape) {
        crate::add::add_int8(p, input1, shape1, input2, shape2, output, output_shape);
    }
}

pub(crate) fn add_int8_fast(
    p: &AddParams,
    input1: &[i8],
    shape1: Shape4,
    input2: &[i8],
    shape2: Shape4,
    output: &mut [i8],
    output_shape: Shape4,
) -> bool {
    let int8 = -128..=127;
    if shape1 != output_shape
        || shape2 != output_shape
        || !int8.contains(&p.input1_zero_point)
        || !int8.contains(&p.input2_zero_point)
        || !(0..=22).contains(&p.left_shift)
        || p.act_min > p.act_max
    {
        return false;
    }
    // |x - zp| <= 255 before the left shift; each rescaled input is at most that times 2^ls
    // (plus one for rounding), the sum twice that.
    let input_bound = 255u64 << p.left_shift;
    let (Some(s1), Some(s2), Some(so)) = (
        Scale::new(p.input1_multiplier, p.input1_shift, 0, input_bound),
        Scale::new(p.input2_multiplier, p.input2_shift, 0, input_bound),
        Scale::new(
            p.output_multiplier,
            p.output_shift,
            p.output_zero_point,
            2 * input_bound + 2,
        ),
    ) else {
        return false;
    };
    let act = Activation::new(p.act_min, p.act_max);
    // `2 * ((x - zp) << ls)`, the doubled value the scales take.
    let shift = p.left_shift as u32 + 1;
    let (zp1, zp2) = (p.input1_zero_point, p.input2_zero_point);
    for ((o, &a), &b) in output.iter_mut().zip(input1).zip(input2) {
        let x1 = s1.apply_all([(a as i32 - zp1) << shift])[0];
        let x2 = s2.apply_all([(b as i32 - zp2) << shift])[0];
        *o = act.apply(so.apply_all([(x1 + x2) << 1])[0]);
    }
    true
}

#[cfg(test)]
mod tests {
    use crate::dsp::self_test::{AddCase, Path, Rng};
    use proptest::prelude::*;
    use std::vec;

    fn run(seed: u64, max_dim: usize) -> Path {
        let case = AddCase::random(&mut Rng::new(seed), max_dim);
        let mut ws = vec![0u8; case.workspace_bytes()];
        match case.check(&mut ws) {
            Ok(path) => path,
            Err(e) => panic!("{e:?} in {case:?}"),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn matches_reference(seed in any::<u64>(), max_dim in 1usize..=6) {
            run(seed, max_dim);
        }
    }

    #[test]
    fn most_random_cases_take_the_fast_path() {
        let fast = (0..200).filter(|&s| run(s, 4) == Path::Fast).count();
        assert!(fast > 100, "only {fast} of 200 cases took the fast path");
    }
}
