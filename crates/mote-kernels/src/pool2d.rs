//! AVERAGE_POOL_2D and MAX_POOL_2D over NHWC tensors, int8 and float32.
//!
//! Each output element looks at a `filter_h × filter_w` window of its channel, placed at
//! `(out_y * stride_h - pad_top, out_x * stride_w - pad_left)`. The window is clipped to the
//! input: padding contributes nothing, not even to the divisor of the average (TFLite's rule,
//! unlike frameworks that count padded zeros). The results match TFLM's reference kernels
//! (`reference_integer_ops::AveragePool`/`MaxPool` and their float versions) bit for bit:
//!
//! - int8 average: the window sum in i32 divided by the count of covered inputs, rounded to
//!   nearest with halves away from zero (`(sum ± count/2) / count`, truncating), then clamped
//!   to `[act_min, act_max]`. Input and output share scale and zero point, so no rescaling.
//! - float average: the f32 sum in row-major window order divided by the f32 count.
//! - max: the largest covered input, clamped; an all-padding window gives the lowest value of
//!   the type before clamping.

use crate::{activation_f32, Shape4};
use mote_format::params::Pool2dParams;

/// The input rows (or columns) `[start, end)` that the window of output position `out` covers
/// after clipping to `[0, in_size)`; empty when the window lies entirely in the padding.
///
/// Computed in i64 so that no stride, padding or filter value can overflow, and clipped so
/// that every index it yields is inside the input.
#[inline(always)]
fn window(out: usize, stride: i32, pad: i32, filter: i32, in_size: usize) -> (usize, usize) {
    let origin = out as i64 * stride as i64 - pad as i64;
    let start = origin.max(0);
    let end = (origin + filter as i64).min(in_size as i64);
    if end <= start {
        (0, 0)
    } else {
        (start as usize, end as usize)
    }
}

/// Walks the output in NHWC order and calls `pool(input_base, rows, cols, channel)` for each
/// element, where `input_base` is the offset of the batch in `input` and `rows`/`cols` are the
/// clipped window; `pool` returns the output value. Shared by the four kernels so that the
/// window arithmetic exists once.
#[inline(always)]
fn for_each_output<T: Copy>(
    p: &Pool2dParams,
    input_shape: Shape4,
    output: &mut [T],
    output_shape: Shape4,
    mut pool: impl FnMut(usize, (usize, usize), (usize, usize), usize) -> T,
) {
    let [_, in_h, in_w, depth] = input_shape;
    let [batches, out_h, out_w, _] = output_shape;
    if depth == 0 {
        return;
    }
    let mut out_pixels = output.chunks_exact_mut(depth);
    for batch in 0..batches {
        let input_base = batch * in_h * in_w * depth;
        for out_y in 0..out_h {
            let rows = window(out_y, p.stride_h, p.pad_top, p.filter_h, in_h);
            for out_x in 0..out_w {
                let cols = window(out_x, p.stride_w, p.pad_left, p.filter_w, in_w);
                let Some(pixel) = out_pixels.next() else {
                    return;
                };
                for (channel, out) in pixel.iter_mut().enumerate() {
                    *out = pool(input_base, rows, cols, channel);
                }
            }
        }
    }
}

/// AVERAGE_POOL_2D, int8 (input and output share their quantization).
///
/// A window with no input under it (only possible with padding at least as large as the
/// filter, which the compiler rejects; TFLM fails the invoke) produces 0 before clamping.
pub fn average_pool2d_int8(
    p: &Pool2dParams,
    input: &[i8],
    input_shape: Shape4,
    output: &mut [i8],
    output_shape: Shape4,
) {
    let [_, _, in_w, depth] = input_shape;
    for_each_output(
        p,
        input_shape,
        output,
        output_shape,
        |base, (y0, y1), (x0, x1), c| {
            let mut sum: i32 = 0;
            for y in y0..y1 {
                let row = base + (y * in_w) * depth + c;
                for x in x0..x1 {
                    sum += input[row + x * depth] as i32;
                }
            }
            let count = ((y1 - y0) * (x1 - x0)) as i32;
            let average = if count == 0 {
                0
            } else if sum > 0 {
                (sum + count / 2) / count
            } else {
                (sum - count / 2) / count
            };
            average.clamp(p.act_min, p.act_max) as i8
        },
    );
}

/// AVERAGE_POOL_2D, float32. The sum runs over the window row by row, as TFLM's does, so that
/// rounding happens in the same order.
pub fn average_pool2d_f32(
    p: &Pool2dParams,
    input: &[f32],
    input_shape: Shape4,
    output: &mut [f32],
    output_shape: Shape4,
) {
    let [_, _, in_w, depth] = input_shape;
    for_each_output(
        p,
        input_shape,
        output,
        output_shape,
        |base, (y0, y1), (x0, x1), c| {
            let mut sum = 0.0f32;
            for y in y0..y1 {
                let row = base + (y * in_w) * depth + c;
                for x in x0..x1 {
                    sum += input[row + x * depth];
                }
            }
            let count = ((y1 - y0) * (x1 - x0)) as f32;
            let average = if count == 0.0 { 0.0 } else { sum / count };
            activation_f32(average, p.float_act_min, p.float_act_max)
        },
    );
}

/// MAX_POOL_2D, int8.
pub fn max_pool2d_int8(
    p: &Pool2dParams,
    input: &[i8],
    input_shape: Shape4,
    output: &mut [i8],
    output_shape: Shape4,
) {
    let [_, _, in_w, depth] = input_shape;
    for_each_output(
        p,
        input_shape,
        output,
        output_shape,
        |base, (y0, y1), (x0, x1), c| {
            let mut max = i8::MIN;
            for y in y0..y1 {
                let row = base + (y * in_w) * depth + c;
                for x in x0..x1 {
                    max = max.max(input[row + x * depth]);
                }
            }
            (max as i32).clamp(p.act_min, p.act_max) as i8
        },
    );
}

/// MAX_POOL_2D, float32. Starts from the lowest finite float, and a NaN input never replaces
/// the running maximum (C++'s `std::max(max, v)`), as in TFLM.
pub fn max_pool2d_f32(
    p: &Pool2dParams,
    input: &[f32],
    input_shape: Shape4,
    output: &mut [f32],
    output_shape: Shape4,
) {
    let [_, _, in_w, depth] = input_shape;
    for_each_output(
        p,
        input_shape,
        output,
        output_shape,
        |base, (y0, y1), (x0, x1), c| {
            let mut max = f32::MIN;
            for y in y0..y1 {
                let row = base + (y * in_w) * depth + c;
                for x in x0..x1 {
                    let v = input[row + x * depth];
                    if max < v {
                        max = v;
                    }
                }
            }
            activation_f32(max, p.float_act_min, p.float_act_max)
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(filter: (i32, i32), stride: (i32, i32), pad: (i32, i32)) -> Pool2dParams {
        Pool2dParams {
            stride_h: stride.0,
            stride_w: stride.1,
            filter_h: filter.0,
            filter_w: filter.1,
            pad_top: pad.0,
            pad_left: pad.1,
            act_min: -128,
            act_max: 127,
            float_act_min: f32::MIN,
            float_act_max: f32::MAX,
        }
    }

    #[test]
    fn average_int8_rounds_halves_away_from_zero() {
        // One 2×2 window per case, one channel: sums 6, 5, -6, -5, 7 over 4 inputs.
        let p = params((2, 2), (2, 2), (0, 0));
        #[rustfmt::skip]
        let input: [i8; 20] = [
            1, 1,  2, 1,  -1, -1,  -2, -1,  2, 2,
            2, 2,  1, 1,  -2, -2,  -1, -1,  2, 1,
        ];
        let mut out = [0i8; 5];
        average_pool2d_int8(&p, &input, [1, 2, 10, 1], &mut out, [1, 1, 5, 1]);
        // 6/4 = 1.5 → 2; 5/4 = 1.25 → 1; -6/4 = -1.5 → -2; -5/4 → -1; 7/4 = 1.75 → 2
        assert_eq!(out, [2, 1, -2, -1, 2]);
    }

    #[test]
    fn average_excludes_padding_from_the_count() {
        // 3×3 input, 3×3 filter, stride 1, one pixel of padding: SAME padding.
        let p = params((3, 3), (1, 1), (1, 1));
        let input: [i8; 9] = [1, 2, 3, 4, 5, 6, 7, 8, 9];
        let mut out = [0i8; 9];
        average_pool2d_int8(&p, &input, [1, 3, 3, 1], &mut out, [1, 3, 3, 1]);
        // Corner (0,0) covers 1,2,4,5: 12/4 = 3 (counting padding would give 12/9 → 1).
        // Edge (0,1) covers 1..6: 21/6 = 3.5 → 4. Centre: 45/9 = 5.
        // (0,2): 2,3,5,6 = 16/4 = 4. (1,0): 1,2,4,5,7,8 = 27/6 = 4.5 → 5. (1,2): 2,3,5,6,8,9 = 33/6 = 5.5 → 6
        // (2,0): 4,5,7,8 = 24/4 = 6. (2,1): 4..9 = 39/6 = 6.5 → 7. (2,2): 5,6,8,9 = 28/4 = 7.
        assert_eq!(out, [3, 4, 4, 5, 5, 6, 6, 7, 7]);

        let input_f: [f32; 9] = core::array::from_fn(|i| input[i] as f32);
        let mut out_f = [0f32; 9];
        average_pool2d_f32(&p, &input_f, [1, 3, 3, 1], &mut out_f, [1, 3, 3, 1]);
        assert_eq!(out_f, [3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 6.5, 7.0]);
    }

    #[test]
    fn average_channels_batches_and_activation() {
        // 2 batches, 2×2 input, 2 channels, global pool; act range [-5, 5].
        let mut p = params((2, 2), (1, 1), (0, 0));
        p.act_min = -5;
        p.act_max = 5;
        #[rustfmt::skip]
        let input: [i8; 16] = [
            10, -1,  10, -2,  10, -3,  10, -4,   // batch 0: channel 0 avg 10, channel 1 avg -2.5
            -100, 3, -100, 3, -100, 3, -100, 2, // batch 1: channel 0 avg -100, channel 1 avg 2.75
        ];
        let mut out = [0i8; 4];
        average_pool2d_int8(&p, &input, [2, 2, 2, 2], &mut out, [2, 1, 1, 2]);
        assert_eq!(out, [5, -3, -5, 3]);
    }

    #[test]
    fn max_pool_int8_and_f32() {
        // 4×4 input, 2×2 filter, stride 2, act range clamps at 10 and -50 below.
        let mut p = params((2, 2), (2, 2), (0, 0));
        p.act_min = -50;
        p.act_max = 10;
        p.float_act_min = -50.0;
        p.float_act_max = 10.0;
        #[rustfmt::skip]
        let input: [i8; 16] = [
            1, 5,    -7, -8,
            3, 2,    -9, -6,
            100, 0,  -128, -128,
            0, 0,    -128, -100,
        ];
        let mut out = [0i8; 4];
        max_pool2d_int8(&p, &input, [1, 4, 4, 1], &mut out, [1, 2, 2, 1]);
        assert_eq!(out, [5, -6, 10, -50]);

        let input_f: [f32; 16] = core::array::from_fn(|i| input[i] as f32);
        let mut out_f = [0f32; 4];
        max_pool2d_f32(&p, &input_f, [1, 4, 4, 1], &mut out_f, [1, 2, 2, 1]);
        assert_eq!(out_f, [5.0, -6.0, 10.0, -50.0]);
    }

    #[test]
    fn max_pool_with_padding_ignores_padded_cells() {
        // All inputs negative: padding must not act as zeros.
        let p = params((3, 3), (2, 2), (1, 1));
        let input: [i8; 9] = [-9, -8, -7, -6, -5, -4, -3, -2, -1];
        let mut out = [0i8; 4];
        max_pool2d_int8(&p, &input, [1, 3, 3, 1], &mut out, [1, 2, 2, 1]);
        assert_eq!(out, [-5, -4, -2, -1]);
    }

    #[test]
    fn max_pool_f32_skips_nan_like_std_max() {
        let p = params((1, 3), (1, 3), (0, 0));
        let input = [f32::NAN, 1.0, -2.0, 3.0, f32::NAN, -1.0];
        let mut out = [0f32; 2];
        max_pool2d_f32(&p, &input, [1, 1, 6, 1], &mut out, [1, 1, 2, 1]);
        assert_eq!(out, [1.0, 3.0]);
    }

    #[test]
    fn window_clipping_never_leaves_the_input() {
        // Huge padding and strides: windows entirely outside give empty ranges.
        assert_eq!(window(0, 1, 5, 3, 4), (0, 0));
        assert_eq!(window(3, i32::MAX, i32::MIN, i32::MAX, 4), (0, 0));
        assert_eq!(window(1, 2, 1, 3, 4), (1, 4));
        assert_eq!(window(2, 2, 1, 3, 4), (3, 4));
    }
}
