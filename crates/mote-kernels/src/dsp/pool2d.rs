//! AVERAGE_POOL_2D and MAX_POOL_2D, int8, four channels at a time with the DSP extension; the
//! same bytes as [`crate::pool2d`]'s int8 kernels.
//!
//! Max: SSUB8 + SEL ([`max_s8x4`]) per tap and four channels, then the activation clamp as a
//! packed maximum and minimum. Average: SXTAB16 accumulates two channels per instruction in
//! 16-bit lanes (exact while a window has at most 255 inputs), then TFLite's rounded division
//! per channel. Channels beyond the last multiple of four, and larger windows, take the scalar
//! arithmetic of the reference. No scratch.

use super::insn::{hi16, lo16, max_s8x4, min_s8x4, sxtab16, sxtab16_ror8};
use super::word;
use crate::Shape4;
use mote_format::params::Pool2dParams;

/// The input rows (or columns) `[start, end)` under output position `out`'s window, clipped
/// to the input (the reference's rule; empty when the window is all padding).
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

/// A byte in all four lanes.
#[inline(always)]
fn splat(v: i8) -> u32 {
    u32::from_ne_bytes([v as u8; 4])
}

/// Walks the output pixels: `f(pixel_base_of_batch, rows, cols, out_pixel)`.
#[inline(always)]
fn for_each_pixel(
    p: &Pool2dParams,
    input_shape: Shape4,
    output: &mut [i8],
    output_shape: Shape4,
    mut f: impl FnMut(usize, (usize, usize), (usize, usize), &mut [i8]),
) {
    let [_, in_h, in_w, depth] = input_shape;
    let [batches, out_h, out_w, _] = output_shape;
    if depth == 0 {
        return;
    }
    let mut pixels = output.chunks_exact_mut(depth);
    for batch in 0..batches {
        let base = batch * in_h * in_w * depth;
        for oy in 0..out_h {
            let rows = window(oy, p.stride_h, p.pad_top, p.filter_h, in_h);
            for ox in 0..out_w {
                let cols = window(ox, p.stride_w, p.pad_left, p.filter_w, in_w);
                let Some(pixel) = pixels.next() else {
                    return;
                };
                f(base, rows, cols, pixel);
            }
        }
    }
}

/// MAX_POOL_2D, int8, bit-exact with [`crate::pool2d::max_pool2d_int8`].
pub fn max_pool2d_int8(
    p: &Pool2dParams,
    input: &[i8],
    input_shape: Shape4,
    output: &mut [i8],
    output_shape: Shape4,
) {
    if p.act_min > p.act_max || p.act_min > 127 || p.act_max < -128 {
        // Crossed bounds (the runtime rejects them; the reference's clamp panics) or a range
        // outside int8, where the packed clamp would differ from `clamp(..) as i8`.
        return crate::pool2d::max_pool2d_int8(p, input, input_shape, output, output_shape);
    }
    let [_, _, in_w, depth] = input_shape;
    let quads = depth / 4;
    // The clamp as packed bytes: bounds outside int8 clamp nothing.
    let lo = splat(p.act_min.clamp(-128, 127) as i8);
    let hi = splat(p.act_max.clamp(-128, 127) as i8);
    for_each_pixel(
        p,
        input_shape,
        output,
        output_shape,
        |base, (y0, y1), (x0, x1), out| {
            let (vector, rest) = out.split_at_mut(quads * 4);
            for (q, o) in vector.chunks_exact_mut(4).enumerate() {
                let mut m = splat(i8::MIN);
                for y in y0..y1 {
                    let row = base + (y * in_w) * depth + 4 * q;
                    for x in x0..x1 {
                        m = max_s8x4(m, word(&input[row + x * depth..]));
                    }
                }
                let v = min_s8x4(max_s8x4(m, lo), hi).to_le_bytes();
                for (o, v) in o.iter_mut().zip(v) {
                    *o = v as i8;
                }
            }
            for (i, o) in rest.iter_mut().enumerate() {
                let c = quads * 4 + i;
                let mut m = i8::MIN;
                for y in y0..y1 {
                    let row = base + (y * in_w) * depth + c;
                    for x in x0..x1 {
                        m = m.max(input[row + x * depth]);
                    }
                }
                *o = (m as i32).clamp(p.act_min, p.act_max) as i8;
            }
        },
    );
}

/// TFLite's rounded average: `(sum ± count / 2) / count`, truncating; 0 for no inputs.
#[inline(always)]
fn average(sum: i32, count: i32, p: &Pool2dParams) -> i8 {
    let average = if count == 0 {
        0
    } else if sum > 0 {
        (sum + count / 2) / count
    } else {
        (sum - count / 2) / count
    };
    average.clamp(p.act_min, p.act_max) as i8
}

/// AVERAGE_POOL_2D, int8, bit-exact with [`crate::pool2d::average_pool2d_int8`].
pub fn average_pool2d_int8(
    p: &Pool2dParams,
    input: &[i8],
    input_shape: Shape4,
    output: &mut [i8],
    output_shape: Shape4,
) {
    if p.act_min > p.act_max {
        return crate::pool2d::average_pool2d_int8(p, input, input_shape, output, output_shape);
    }
    let [_, _, in_w, depth] = input_shape;
    let quads = depth / 4;
    for_each_pixel(
        p,
        input_shape,
        output,
        output_shape,
        |base, (y0, y1), (x0, x1), out| {
            let count = ((y1 - y0) * (x1 - x0)) as i32;
            // 16-bit lanes hold sums of up to 255 int8 values exactly.
            let packed = count <= 255;
            let vector = if packed { quads * 4 } else { 0 };
            let (head, rest) = out.split_at_mut(vector);
            for (q, o) in head.chunks_exact_mut(4).enumerate() {
                let (mut even, mut odd) = (0u32, 0u32);
                for y in y0..y1 {
                    let row = base + (y * in_w) * depth + 4 * q;
                    for x in x0..x1 {
                        let w = word(&input[row + x * depth..]);
                        even = sxtab16(even, w);
                        odd = sxtab16_ror8(odd, w);
                    }
                }
                o[0] = average(lo16(even), count, p);
                o[1] = average(lo16(odd), count, p);
                o[2] = average(hi16(even), count, p);
                o[3] = average(hi16(odd), count, p);
            }
            for (i, o) in rest.iter_mut().enumerate() {
                let c = vector + i;
                let mut sum = 0i32;
                for y in y0..y1 {
                    let row = base + (y * in_w) * depth + c;
                    for x in x0..x1 {
                        sum += input[row + x * depth] as i32;
                    }
                }
                *o = average(sum, count, p);
            }
        },
    );
}

#[cfg(test)]
mod tests {
    use crate::dsp::self_test::{Pool2dCase, Rng};
    use proptest::prelude::*;
    use std::vec;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn matches_reference(seed in any::<u64>(), max_dim in 1usize..=8) {
            let case = Pool2dCase::random(&mut Rng::new(seed), max_dim);
            let mut ws = vec![0u8; case.workspace_bytes()];
            if let Err(e) = case.check(&mut ws) {
                panic!("{e:?} in {case:?}");
            }
        }
    }
}
