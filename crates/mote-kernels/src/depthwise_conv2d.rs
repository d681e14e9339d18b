//! DEPTHWISE_CONV_2D: the reference int8 (per-channel) and float32 depthwise convolutions.
//!
//! Each input channel `ic` is convolved on its own with `depth_multiplier` filters, giving the
//! output channels `ic * depth_multiplier + m`. The filter is `[1, kh, kw, out_c]`. The int8
//! version gives the same bytes as TFLM's `reference_integer_ops::DepthwiseConvPerChannel`, the
//! float version performs the same floating-point operations in the same order as
//! `reference_ops::DepthwiseConv`. Out-of-image taps are skipped, as in TFLM.

use crate::activation_f32;
use crate::conv2d::{tap_range, window_origin};
use crate::fixedpoint::multiply_by_quantized_multiplier;
use crate::Shape4;
use mote_format::params::DepthwiseConv2dParams;

/// Int8 depthwise convolution with per-output-channel requantization (`multiplier`/`shift`
/// have one entry per output channel), bit-exact with TFLM.
#[allow(clippy::too_many_arguments)]
pub fn depthwise_conv2d_int8(
    p: &DepthwiseConv2dParams,
    input: &[i8],
    input_shape: Shape4,
    filter: &[i8],
    filter_shape: Shape4,
    bias: Option<&[i32]>,
    multiplier: &[i32],
    shift: &[i32],
    output: &mut [i8],
    output_shape: Shape4,
) {
    let [batches, in_h, in_w, in_c] = input_shape;
    let [_, kh, kw, out_c] = filter_shape;
    let [_, out_h, out_w, _] = output_shape;
    // The runtime checked out_c == in_c * depth_multiplier; with a bad value the slicing below
    // would panic rather than read out of bounds.
    let depth_mult = p.depth_multiplier.max(0) as usize;
    if out_c == 0 || depth_mult == 0 {
        return;
    }
    let in_image = in_h * in_w * in_c;
    let multiplier = &multiplier[..out_c];
    let shift = &shift[..out_c];
    let bias = bias.map(|b| &b[..out_c]);
    let filter = &filter[..kh * kw * out_c];
    let input_offset = p.input_zero_point.wrapping_neg();
    let (dil_h, dil_w) = (p.dilation_h as i64, p.dilation_w as i64);

    for b in 0..batches {
        let image = &input[b * in_image..][..in_image];
        for oy in 0..out_h {
            let y0 = window_origin(oy, p.stride_h, p.pad_top);
            let rows = tap_range(y0, dil_h, in_h, kh);
            for ox in 0..out_w {
                let x0 = window_origin(ox, p.stride_w, p.pad_left);
                let cols = tap_range(x0, dil_w, in_w, kw);
                let pixel = (b * out_h + oy) * out_w + ox;
                let out = &mut output[pixel * out_c..][..out_c];
                // Output channels are contiguous in groups of `depth_mult` per input channel.
                for (ic, out_group) in out.chunks_exact_mut(depth_mult).enumerate() {
                    for (m, out_value) in out_group.iter_mut().enumerate() {
                        let oc = ic * depth_mult + m;
                        // Integer sums are order-independent, so this equals TFLM's for any
                        // wrap-around too.
                        let mut acc: i32 = 0;
                        for fy in rows.clone() {
                            let iy = (y0 + dil_h * fy as i64) as usize;
                            for fx in cols.clone() {
                                let ix = (x0 + dil_w * fx as i64) as usize;
                                let xv = image[(iy * in_w + ix) * in_c + ic] as i32;
                                let wv = filter[(fy * kw + fx) * out_c + oc] as i32;
                                acc = acc
                                    .wrapping_add(wv.wrapping_mul(xv.wrapping_add(input_offset)));
                            }
                        }
                        if let Some(bias) = bias {
                            acc = acc.wrapping_add(bias[oc]);
                        }
                        let scaled =
                            multiply_by_quantized_multiplier(acc, multiplier[oc], shift[oc])
                                .wrapping_add(p.output_zero_point);
                        *out_value = scaled.max(p.act_min).min(p.act_max) as i8;
                    }
                }
            }
        }
    }
}

/// Float32 depthwise convolution; same operations, in the same order, as TFLite's float
/// reference.
#[allow(clippy::too_many_arguments)]
pub fn depthwise_conv2d_f32(
    p: &DepthwiseConv2dParams,
    input: &[f32],
    input_shape: Shape4,
    filter: &[f32],
    filter_shape: Shape4,
    bias: Option<&[f32]>,
    output: &mut [f32],
    output_shape: Shape4,
) {
    let [batches, in_h, in_w, in_c] = input_shape;
    let [_, kh, kw, out_c] = filter_shape;
    let [_, out_h, out_w, _] = output_shape;
    let depth_mult = p.depth_multiplier.max(0) as usize;
    if out_c == 0 || depth_mult == 0 {
        return;
    }
    let in_image = in_h * in_w * in_c;
    let bias = bias.map(|b| &b[..out_c]);
    let filter = &filter[..kh * kw * out_c];
    let (dil_h, dil_w) = (p.dilation_h as i64, p.dilation_w as i64);

    for b in 0..batches {
        let image = &input[b * in_image..][..in_image];
        for oy in 0..out_h {
            let y0 = window_origin(oy, p.stride_h, p.pad_top);
            let rows = tap_range(y0, dil_h, in_h, kh);
            for ox in 0..out_w {
                let x0 = window_origin(ox, p.stride_w, p.pad_left);
                let cols = tap_range(x0, dil_w, in_w, kw);
                let pixel = (b * out_h + oy) * out_w + ox;
                let out = &mut output[pixel * out_c..][..out_c];
                for (ic, out_group) in out.chunks_exact_mut(depth_mult).enumerate() {
                    for (m, out_value) in out_group.iter_mut().enumerate() {
                        let oc = ic * depth_mult + m;
                        // From +0.0, products in (fy, fx) order, no fused multiply-add.
                        let mut total = 0.0f32;
                        for fy in rows.clone() {
                            let iy = (y0 + dil_h * fy as i64) as usize;
                            for fx in cols.clone() {
                                let ix = (x0 + dil_w * fx as i64) as usize;
                                total += image[(iy * in_w + ix) * in_c + ic]
                                    * filter[(fy * kw + fx) * out_c + oc];
                            }
                        }
                        // A bias of 0.0 is added even when there is none, as TFLite does.
                        let bias_value = bias.map_or(0.0, |b| b[oc]);
                        *out_value =
                            activation_f32(total + bias_value, p.float_act_min, p.float_act_max);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HALF: i32 = 1 << 30;
    const THREE_QUARTERS: i32 = 3 << 29;

    fn params(
        stride: i32,
        dilation: i32,
        pad: i32,
        depth_multiplier: i32,
        in_zp: i32,
        out_zp: i32,
    ) -> DepthwiseConv2dParams {
        DepthwiseConv2dParams {
            stride_h: stride,
            stride_w: stride,
            dilation_h: dilation,
            dilation_w: dilation,
            pad_top: pad,
            pad_left: pad,
            depth_multiplier,
            input_zero_point: in_zp,
            output_zero_point: out_zp,
            act_min: -128,
            act_max: 127,
            float_act_min: f32::NEG_INFINITY,
            float_act_max: f32::INFINITY,
        }
    }

    // A 2x2x2 input and a 2x2 filter with depth multiplier 2 (4 output channels), shared by the
    // int8 and float tests. Filter taps (fy, fx) → weights for oc 0..4:
    const DM2_FILTER: [i8; 16] = [
        1, 2, 3, 4, // (0,0)
        1, -1, 0, 2, // (0,1)
        0, 1, 1, 0, // (1,0)
        2, 0, -1, 1, // (1,1)
    ];

    #[test]
    fn int8_depth_multiplier_2_per_channel() {
        // Input pixels (q) [1,2] [3,4] [5,6] [7,8], zero point 1 → values [0,1] [2,3] [4,5] [6,7].
        // oc0 (ic0): 0·1 + 2·1 + 4·0 + 6·2    = 14, + bias 1 = 15
        // oc1 (ic0): 0·2 + 2·(-1) + 4·1 + 6·0 =  2, + bias 2 =  4
        // oc2 (ic1): 1·3 + 3·0 + 5·1 + 7·(-1) =  1, + bias 3 =  4
        // oc3 (ic1): 1·4 + 3·2 + 5·0 + 7·1    = 17, + bias 4 = 21
        // Requantization per channel:
        //   oc0 0.5·2^1 = ×1   → 15
        //   oc1 0.5·2^0        → 2
        //   oc2 0.5·2^-1       → srdhm(4, 0.5) = 2, /2 = 1
        //   oc3 0.75·2^0       → 15.75: srdhm = (63·2^29 + 2^30) >> 31 = 65/4 → 16
        // + output zero point 2.
        let p = params(1, 1, 0, 2, 1, 2);
        let input: [i8; 8] = [1, 2, 3, 4, 5, 6, 7, 8];
        let mut out = [0i8; 4];
        depthwise_conv2d_int8(
            &p,
            &input,
            [1, 2, 2, 2],
            &DM2_FILTER,
            [1, 2, 2, 4],
            Some(&[1, 2, 3, 4]),
            &[HALF, HALF, HALF, THREE_QUARTERS],
            &[1, 0, -1, 0],
            &mut out,
            [1, 1, 1, 4],
        );
        assert_eq!(out, [17, 4, 3, 18]);
    }

    #[test]
    fn int8_dilation_padding_stride_two_batches() {
        // 3x3 input, filter [1 2; 3 4] dilated by 2, pad 1, stride 2 → 2x2 output. Window
        // origins are -1 and 1; taps sit at origin and origin + 2, so each output sees only
        // the centre pixel v11, through one filter tap:
        // (0,0): w11·v11, (0,1): w10·v11, (1,0): w01·v11, (1,1): w00·v11.
        // batch 0 (centre 5): 20, 15, 10, 5; batch 1 (centre -3, others 100, never read):
        // -12, -9, -6, -3. Requantization ×1, zero points 0, clamp [-10, 127].
        let mut p = params(2, 2, 1, 1, 0, 0);
        p.act_min = -10;
        let mut input = [0i8; 18];
        for (i, v) in input.iter_mut().enumerate() {
            *v = if i < 9 { i as i8 + 1 } else { 100 };
        }
        input[9 + 4] = -3;
        let mut out = [0i8; 8];
        depthwise_conv2d_int8(
            &p,
            &input,
            [2, 3, 3, 1],
            &[1, 2, 3, 4],
            [1, 2, 2, 1],
            None,
            &[HALF],
            &[1],
            &mut out,
            [2, 2, 2, 1],
        );
        assert_eq!(out, [20, 15, 10, 5, -10, -9, -6, -3]);
    }

    #[test]
    fn f32_depth_multiplier_2_with_relu6() {
        // The int8 case's offset values in float: pixels [0,1] [2,3] [4,5] [6,7].
        // Sums 14, 2, 1, 17; bias [1, -10, 3, 4] → 15, -8, 4, 21; clamp [0, 6] → 6, 0, 4, 6.
        let mut p = params(1, 1, 0, 2, 0, 0);
        p.float_act_min = 0.0;
        p.float_act_max = 6.0;
        let input: [f32; 8] = [0., 1., 2., 3., 4., 5., 6., 7.];
        let filter = DM2_FILTER.map(|w| w as f32);
        let mut out = [0f32; 4];
        depthwise_conv2d_f32(
            &p,
            &input,
            [1, 2, 2, 2],
            &filter,
            [1, 2, 2, 4],
            Some(&[1., -10., 3., 4.]),
            &mut out,
            [1, 1, 1, 4],
        );
        assert_eq!(out, [6.0, 0.0, 4.0, 6.0]);
    }

    #[test]
    fn f32_dilation_padding_stride() {
        // As the int8 case with a centre value of 2.5: 10, 7.5, 5, 2.5.
        let p = params(2, 2, 1, 1, 0, 0);
        let mut input = [9.0f32; 9];
        input[4] = 2.5;
        let mut out = [0f32; 4];
        depthwise_conv2d_f32(
            &p,
            &input,
            [1, 3, 3, 1],
            &[1., 2., 3., 4.],
            [1, 2, 2, 1],
            None,
            &mut out,
            [1, 2, 2, 1],
        );
        assert_eq!(out, [10.0, 7.5, 5.0, 2.5]);
    }
}
