//! ADD, element-wise with TFLite's broadcasting, int8 and float32.
//!
//! Shapes arrive right-aligned to four dimensions; in each dimension an input either matches
//! the output or has extent 1 and is repeated along it. The int8 arithmetic is TFLM's
//! (`reference_integer_ops::AddFunc`) exactly: both inputs are brought to a common, finer scale
//! (shifted left by `left_shift` and multiplied by a multiplier below one), summed in i32, and
//! the sum is rescaled to the output scale. Working at 2^20 times the input resolution keeps
//! the rounding of the two input rescalings far below one output step.
//!
//! # Host-side parameters (what the compiler must compute, as TFLM's `CalculateOpDataAdd`)
//!
//! With `s1`, `s2`, `so` the f32 scales and `z1`, `z2`, `zo` the zero points of input 1,
//! input 2 and the output:
//!
//! ```text
//! input1_zero_point = z1     (the kernel subtracts it; TFLite stores the negation)
//! input2_zero_point = z2
//! output_zero_point = zo
//! left_shift        = 20
//! twice_max_input_scale  = 2.0 * (max(s1, s2) as f64)        // max taken in f32
//! real_input1_multiplier = (s1 as f64) / twice_max_input_scale  // in (0, 0.5]
//! real_input2_multiplier = (s2 as f64) / twice_max_input_scale
//! real_output_multiplier = twice_max_input_scale / ((1 << 20) as f64 * (so as f64))
//! (input1_multiplier, input1_shift) = quantize_multiplier_smaller_than_one_exp(real_input1_multiplier)
//! (input2_multiplier, input2_shift) = quantize_multiplier_smaller_than_one_exp(real_input2_multiplier)
//! (output_multiplier, output_shift) = quantize_multiplier_smaller_than_one_exp(real_output_multiplier)
//! ```
//!
//! `quantize_multiplier_smaller_than_one_exp(r)` requires `0 < r < 1` and is TFLite's
//! `QuantizeMultiplier`, whose shift then comes out `<= 0`:
//!
//! ```text
//! (fraction, exponent) = frexp(r)                 // r = fraction * 2^exponent, fraction in [0.5, 1)
//! q = round(fraction * 2^31) as i64               // f64 round, halves away from zero
//! if q == 2^31 { q = 2^30; exponent += 1 }
//! if exponent < -31 { q = 0; exponent = 0 }       // flush tiny multipliers to zero
//! multiplier = q as i32; shift = exponent
//! ```
//!
//! `act_min`/`act_max` are TFLite's `CalculateActivationRangeQuantized` for the fused
//! activation on the output: NONE → `[-128, 127]`; RELU → `[max(-128, zo), 127]`; RELU6 →
//! `[max(-128, zo), min(127, zo + round(6 / so))]`; RELU_N1_TO_1 → `[max(-128, zo +
//! round(-1 / so)), min(127, zo + round(1 / so))]` (f32 division, `roundf`).
//! `float_act_min`/`float_act_max` are TFLite's `CalculateActivationRange`: NONE →
//! `[-f32::MAX, f32::MAX]` (finite, not infinities: an infinite sum then clamps to ±MAX as in
//! TFLM), RELU → `[0, f32::MAX]`, RELU6 → `[0, 6]`, RELU_N1_TO_1 → `[-1, 1]`.

use crate::fixedpoint::multiply_by_quantized_multiplier_smaller_than_one_exp;
use crate::Shape4;
use mote_format::params::AddParams;

use crate::activation_f32;

/// Row-major strides of `shape` with 0 wherever the extent is 1, so that indexing with the
/// output's coordinates repeats the input along broadcast dimensions.
#[inline(always)]
fn broadcast_strides(shape: Shape4) -> [usize; 4] {
    let mut strides = [0usize; 4];
    let mut stride = 1usize;
    for d in (0..4).rev() {
        strides[d] = if shape[d] == 1 { 0 } else { stride };
        stride *= shape[d];
    }
    strides
}

/// Applies `f` element-wise over the output, reading each input at the output's coordinates
/// (repeated along its extent-1 dimensions). Same-shape inputs take a flat loop.
#[inline(always)]
fn broadcast_binary<T: Copy>(
    input1: &[T],
    shape1: Shape4,
    input2: &[T],
    shape2: Shape4,
    output: &mut [T],
    output_shape: Shape4,
    f: impl Fn(T, T) -> T,
) {
    if shape1 == output_shape && shape2 == output_shape {
        for ((out, &a), &b) in output.iter_mut().zip(input1).zip(input2) {
            *out = f(a, b);
        }
        return;
    }
    let s1 = broadcast_strides(shape1);
    let s2 = broadcast_strides(shape2);
    let [n_b, n_y, n_x, n_c] = output_shape;
    if n_c == 0 {
        return;
    }
    let mut out_rows = output.chunks_exact_mut(n_c);
    for b in 0..n_b {
        for y in 0..n_y {
            for x in 0..n_x {
                let Some(row) = out_rows.next() else { return };
                let base1 = b * s1[0] + y * s1[1] + x * s1[2];
                let base2 = b * s2[0] + y * s2[1] + x * s2[2];
                // Innermost stride is 1 or 0 (a per-channel vector or a repeated scalar).
                for (c, out) in row.iter_mut().enumerate() {
                    *out = f(input1[base1 + c * s1[3]], input2[base2 + c * s2[3]]);
                }
            }
        }
    }
}

/// ADD, int8, with broadcasting.
pub fn add_int8(
    p: &AddParams,
    input1: &[i8],
    shape1: Shape4,
    input2: &[i8],
    shape2: Shape4,
    output: &mut [i8],
    output_shape: Shape4,
) {
    let p = *p;
    broadcast_binary(
        input1,
        shape1,
        input2,
        shape2,
        output,
        output_shape,
        move |a, b| {
            // Centered values fit in 9 bits; shifted by 20 they stay far inside i32.
            let shifted1 = (a as i32)
                .wrapping_sub(p.input1_zero_point)
                .wrapping_shl(p.left_shift as u32);
            let shifted2 = (b as i32)
                .wrapping_sub(p.input2_zero_point)
                .wrapping_shl(p.left_shift as u32);
            let scaled1 = multiply_by_quantized_multiplier_smaller_than_one_exp(
                shifted1,
                p.input1_multiplier,
                p.input1_shift,
            );
            let scaled2 = multiply_by_quantized_multiplier_smaller_than_one_exp(
                shifted2,
                p.input2_multiplier,
                p.input2_shift,
            );
            let sum = scaled1.wrapping_add(scaled2);
            let out = multiply_by_quantized_multiplier_smaller_than_one_exp(
                sum,
                p.output_multiplier,
                p.output_shift,
            )
            .saturating_add(p.output_zero_point);
            out.clamp(p.act_min, p.act_max) as i8
        },
    );
}

/// ADD, float32, with broadcasting; the sum is clamped to `[float_act_min, float_act_max]`.
pub fn add_f32(
    p: &AddParams,
    input1: &[f32],
    shape1: Shape4,
    input2: &[f32],
    shape2: Shape4,
    output: &mut [f32],
    output_shape: Shape4,
) {
    let (lo, hi) = (p.float_act_min, p.float_act_max);
    broadcast_binary(
        input1,
        shape1,
        input2,
        shape2,
        output,
        output_shape,
        move |a, b| activation_f32(a + b, lo, hi),
    );
}

#[cfg(test)]
#[allow(clippy::excessive_precision)] // scales are quoted as the golden manifest prints them
mod tests {
    use super::*;
    use mote_compiler::quant::add_quant;

    /// Parameters as the compiler computes them (no fused activation).
    pub(crate) fn add_params(s1: f32, z1: i32, s2: f32, z2: i32, so: f32, zo: i32) -> AddParams {
        let q = add_quant(s1, s2, so);
        AddParams {
            input1_zero_point: z1,
            input2_zero_point: z2,
            output_zero_point: zo,
            left_shift: q.left_shift,
            input1_multiplier: q.input1.0,
            input1_shift: q.input1.1,
            input2_multiplier: q.input2.0,
            input2_shift: q.input2.1,
            output_multiplier: q.output.0,
            output_shift: q.output.1,
            act_min: -128,
            act_max: 127,
            float_act_min: f32::MIN,
            float_act_max: f32::MAX,
        }
    }

    #[test]
    fn params_for_equal_scales() {
        // Equal scales: each input multiplier is exactly 1/2, the output one 2^-20 * (2s/so).
        let p = add_params(0.5, 0, 0.5, 0, 0.5, 0);
        assert_eq!((p.input1_multiplier, p.input1_shift), (1 << 30, 0));
        assert_eq!((p.input2_multiplier, p.input2_shift), (1 << 30, 0));
        // 2 * 0.5 / (2^20 * 0.5) = 2^-19 = 0.5 * 2^-18
        assert_eq!((p.output_multiplier, p.output_shift), (1 << 30, -18));
    }

    #[test]
    fn same_scale_add_is_exact_integer_add() {
        // With every scale equal and zero points 0, the int8 ADD is q1 + q2, saturated.
        let p = add_params(0.1, 0, 0.1, 0, 0.1, 0);
        let a: [i8; 6] = [1, -1, 50, -50, 100, -100];
        let b: [i8; 6] = [2, -2, 27, -28, 100, -100];
        let mut out = [0i8; 6];
        add_int8(
            &p,
            &a,
            [1, 1, 1, 6],
            &b,
            [1, 1, 1, 6],
            &mut out,
            [1, 1, 1, 6],
        );
        assert_eq!(out, [3, -3, 77, -78, 127, -128]);
    }

    #[test]
    fn zero_points_and_rescaling() {
        // x = 0.5 (q1 - 10), y = 0.25 (q2 + 4), out = 1.0 (q - 3).
        let p = add_params(0.5, 10, 0.25, -4, 1.0, 3);
        let a: [i8; 5] = [10, 12, 13, 11, 127];
        let b: [i8; 5] = [-4, -4, -2, -5, 127];
        let mut out = [0i8; 5];
        add_int8(
            &p,
            &a,
            [1, 1, 1, 5],
            &b,
            [1, 1, 1, 5],
            &mut out,
            [1, 1, 1, 5],
        );
        // reals: 0 + 0 = 0 → 3; 1 + 0 = 1 → 4; 1.5 + 0.5 = 2 → 5; 0.5 - 0.25 = 0.25 → 3;
        // 58.5 + 32.75 = 91.25 → 94
        assert_eq!(out, [3, 4, 5, 3, 94]);
    }

    #[test]
    fn saturation_and_activation_range() {
        let mut p = add_params(1.0, 0, 1.0, 0, 1.0, -20);
        let a: [i8; 4] = [127, -128, 5, -5];
        let b: [i8; 4] = [127, -128, 6, -6];
        let mut out = [0i8; 4];
        add_int8(
            &p,
            &a,
            [4, 1, 1, 1],
            &b,
            [4, 1, 1, 1],
            &mut out,
            [4, 1, 1, 1],
        );
        assert_eq!(out, [127, -128, -9, -31]);
        // A fused RELU with zero point -20 clamps at -20.
        p.act_min = -20;
        add_int8(
            &p,
            &a,
            [4, 1, 1, 1],
            &b,
            [4, 1, 1, 1],
            &mut out,
            [4, 1, 1, 1],
        );
        assert_eq!(out, [127, -20, -9, -20]);
    }

    #[test]
    fn broadcast_channel_vector_and_scalar() {
        let p = add_params(1.0, 0, 1.0, 0, 1.0, 0);
        // [1, 2, 2, 3] + [1, 1, 1, 3]: the per-channel vector repeats at every pixel.
        let a: [i8; 12] = core::array::from_fn(|i| (i as i8) * 10);
        let bias: [i8; 3] = [1, 2, 3];
        let mut out = [0i8; 12];
        add_int8(
            &p,
            &a,
            [1, 2, 2, 3],
            &bias,
            [1, 1, 1, 3],
            &mut out,
            [1, 2, 2, 3],
        );
        assert_eq!(out, [1, 12, 23, 31, 42, 53, 61, 72, 83, 91, 102, 113]);
        // Operands the other way round give the same.
        let mut out2 = [0i8; 12];
        add_int8(
            &p,
            &bias,
            [1, 1, 1, 3],
            &a,
            [1, 2, 2, 3],
            &mut out2,
            [1, 2, 2, 3],
        );
        assert_eq!(out2, out);

        // A scalar [1, 1, 1, 1] added to everything.
        add_int8(
            &p,
            &a,
            [1, 2, 2, 3],
            &[-5],
            [1, 1, 1, 1],
            &mut out,
            [1, 2, 2, 3],
        );
        assert_eq!(
            out,
            core::array::from_fn::<i8, 12, _>(|i| (i as i8) * 10 - 5)
        );

        // Both inputs broadcast: [1, 2, 1, 1] + [1, 1, 3, 1] → [1, 2, 3, 1].
        let mut out3 = [0i8; 6];
        add_int8(
            &p,
            &[10, 20],
            [1, 2, 1, 1],
            &[1, 2, 3],
            [1, 1, 3, 1],
            &mut out3,
            [1, 2, 3, 1],
        );
        assert_eq!(out3, [11, 12, 13, 21, 22, 23]);
    }

    #[test]
    fn float_add_broadcasts_and_clamps() {
        let mut p = add_params(1.0, 0, 1.0, 0, 1.0, 0);
        p.float_act_min = 0.0;
        p.float_act_max = 6.0;
        let a = [1.0f32, -3.0, 2.5, 5.0, f32::NAN, 0.25];
        let mut out = [0f32; 6];
        add_f32(
            &p,
            &a,
            [1, 1, 2, 3],
            &[0.5, 1.0, 2.0],
            [1, 1, 1, 3],
            &mut out,
            [1, 1, 2, 3],
        );
        assert_eq!(out[..4], [1.5, 0.0, 4.5, 5.5]);
        assert!(out[4].is_nan()); // NaN passes through TFLite's clamp
        assert_eq!(out[5], 2.25);
        // With the NONE range (±f32::MAX), infinity clamps to the largest finite float.
        p.float_act_min = f32::MIN;
        p.float_act_max = f32::MAX;
        add_f32(
            &p,
            &[f32::INFINITY],
            [1, 1, 1, 1],
            &[1.0],
            [1, 1, 1, 1],
            &mut out[..1],
            [1, 1, 1, 1],
        );
        assert_eq!(out[0], f32::MAX);
    }

    /// Reads a little-endian `.npy` array of int8 (header parsed loosely: the data follows it).
    fn read_npy_i8(path: &std::path::Path) -> Option<std::vec::Vec<i8>> {
        let bytes = std::fs::read(path).ok()?;
        let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        let header = core::str::from_utf8(&bytes[10..10 + header_len]).ok()?;
        assert!(header.contains("'|i1'"), "not int8: {header}");
        Some(bytes[10 + header_len..].iter().map(|&b| b as i8).collect())
    }

    extern crate std;

    #[test]
    fn matches_tflm_golden_simple_add_model() {
        // TFLM's outputs for tflm_examples/memory_footprint/simple_add_model.tflite (int8 ADD
        // of two [1, 128, 128, 1] tensors, no activation), from ../shared/golden. Skipped when
        // the golden folder is not present.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/golden/simple_add_model");
        if !dir.exists() {
            std::eprintln!("skipping: {} not found", dir.display());
            return;
        }
        // Scales and zero points from the folder's manifest.json.
        let p = add_params(
            0.04072536528110504,
            -2,
            0.04124561324715614,
            -1,
            0.05837741121649742,
            -3,
        );
        let shape = [1, 128, 128, 1];
        for case in 0..4 {
            let a = read_npy_i8(&dir.join(std::format!("case_{case}.in0.npy"))).unwrap();
            let b = read_npy_i8(&dir.join(std::format!("case_{case}.in1.npy"))).unwrap();
            let want = read_npy_i8(&dir.join(std::format!("case_{case}.out0.npy"))).unwrap();
            let mut got = std::vec![0i8; want.len()];
            add_int8(&p, &a, shape, &b, shape, &mut got, shape);
            assert_eq!(got, want, "case {case}");
        }
    }
}
