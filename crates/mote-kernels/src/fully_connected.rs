//! FULLY_CONNECTED: the reference int8 and float32 dense layers.
//!
//! `output[b][o] = act(Σ_d filter[o][d] · input[b][d] + bias[o])`, with the input flattened to
//! `[batches, accum_depth]` and the filter stored `[output_depth, accum_depth]`. The int8
//! version gives the same bytes as TFLM's `reference_integer_ops::FullyConnected` (one
//! multiplier/shift for the tensor) and `FullyConnectedPerChannel` (one per output unit); the
//! float version performs the same floating-point operations in the same order as
//! `reference_ops::FullyConnected`.

use crate::activation_f32;
use crate::fixedpoint::multiply_by_quantized_multiplier;
use mote_format::params::FullyConnectedParams;

/// Int8 fully connected layer. `multiplier` and `shift` hold either one value (per-tensor) or
/// `output_depth` values (per-channel).
///
/// The filter zero point is always applied. TFLM's per-channel variant ignores it because the
/// quantization spec makes per-channel weights symmetric (zero point 0), so both agree on every
/// valid model.
#[allow(clippy::too_many_arguments)]
pub fn fully_connected_int8(
    p: &FullyConnectedParams,
    input: &[i8],
    filter: &[i8],
    bias: Option<&[i32]>,
    multiplier: &[i32],
    shift: &[i32],
    output: &mut [i8],
    batches: usize,
    accum_depth: usize,
    output_depth: usize,
) {
    if output_depth == 0 {
        return;
    }
    // Per-tensor parameters are read at index 0 for every unit: a stride of 0 instead of a
    // branch in the loop.
    let per_channel = multiplier.len() != 1;
    let quant_len = if per_channel { output_depth } else { 1 };
    let multiplier = &multiplier[..quant_len];
    let shift = &shift[..quant_len];
    let quant_step = per_channel as usize;
    let bias = bias.map(|b| &b[..output_depth]);
    let filter = &filter[..output_depth * accum_depth];
    let input_offset = p.input_zero_point.wrapping_neg();
    let filter_offset = p.filter_zero_point.wrapping_neg();

    for b in 0..batches {
        let x = &input[b * accum_depth..][..accum_depth];
        let out = &mut output[b * output_depth..][..output_depth];
        for (o, out_value) in out.iter_mut().enumerate() {
            let w = &filter[o * accum_depth..][..accum_depth];
            let mut acc: i32 = 0;
            for (&xv, &wv) in x.iter().zip(w) {
                let term = (wv as i32)
                    .wrapping_add(filter_offset)
                    .wrapping_mul((xv as i32).wrapping_add(input_offset));
                acc = acc.wrapping_add(term);
            }
            if let Some(bias) = bias {
                acc = acc.wrapping_add(bias[o]);
            }
            let q = o * quant_step;
            let scaled = multiply_by_quantized_multiplier(acc, multiplier[q], shift[q])
                .wrapping_add(p.output_zero_point);
            // max then min, as TFLM: never panics even if act_min > act_max.
            *out_value = scaled.max(p.act_min).min(p.act_max) as i8;
        }
    }
}

/// Float32 fully connected layer; same operations, in the same order, as TFLite's float
/// reference.
#[allow(clippy::too_many_arguments)]
pub fn fully_connected_f32(
    p: &FullyConnectedParams,
    input: &[f32],
    filter: &[f32],
    bias: Option<&[f32]>,
    output: &mut [f32],
    batches: usize,
    accum_depth: usize,
    output_depth: usize,
) {
    if output_depth == 0 {
        return;
    }
    let bias = bias.map(|b| &b[..output_depth]);
    let filter = &filter[..output_depth * accum_depth];
    for b in 0..batches {
        let x = &input[b * accum_depth..][..accum_depth];
        let out = &mut output[b * output_depth..][..output_depth];
        for (o, out_value) in out.iter_mut().enumerate() {
            let w = &filter[o * accum_depth..][..accum_depth];
            // From +0.0, products in depth order, no fused multiply-add.
            let mut total = 0.0f32;
            for (&xv, &wv) in x.iter().zip(w) {
                total += xv * wv;
            }
            // A bias of 0.0 is added even when there is none, as TFLite does.
            let bias_value = bias.map_or(0.0, |b| b[o]);
            *out_value = activation_f32(total + bias_value, p.float_act_min, p.float_act_max);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HALF: i32 = 1 << 30;
    const THREE_QUARTERS: i32 = 3 << 29;

    fn params(in_zp: i32, filter_zp: i32, out_zp: i32) -> FullyConnectedParams {
        FullyConnectedParams {
            input_zero_point: in_zp,
            filter_zero_point: filter_zp,
            output_zero_point: out_zp,
            act_min: -128,
            act_max: 127,
            float_act_min: f32::NEG_INFINITY,
            float_act_max: f32::INFINITY,
        }
    }

    #[test]
    fn int8_per_tensor_two_batches_with_filter_zero_point() {
        // Zero points: input 2, filter 1, output -5. accum 3, 2 units, bias [10, -3].
        // Offset inputs: b0 [3,4,5] → [1,2,3]; b1 [0,2,6] → [-2,0,4].
        // Offset filter: o0 [2,3,1] → [1,2,0]; o1 [0,-1,4] → [-1,-2,3].
        // b0: o0 1+4+0 = 5, +10 = 15;  o1 -1-4+9 = 4, -3 = 1
        // b1: o0 -2+0+0 = -2, +10 = 8; o1 2+0+12 = 14, -3 = 11
        // Requantize × 0.5·2^-1 (double rounding):
        //   15: srdhm = 8 (7.5 up), /2 = 4     1: srdhm = 1 (0.5 up), /2 = 0.5 → 1
        //    8: srdhm = 4, /2 = 2              11: srdhm = 6 (5.5 up), /2 = 3
        // (1 · 0.25 = 0.25 ends up as 1: the two roundings compound.)
        // + output zero point -5.
        let p = params(2, 1, -5);
        let input: [i8; 6] = [3, 4, 5, 0, 2, 6];
        let filter: [i8; 6] = [2, 3, 1, 0, -1, 4];
        let mut out = [0i8; 4];
        fully_connected_int8(
            &p,
            &input,
            &filter,
            Some(&[10, -3]),
            &[HALF],
            &[-1],
            &mut out,
            2,
            3,
            2,
        );
        assert_eq!(out, [-1, -4, -3, -2]);
    }

    #[test]
    fn int8_per_channel_no_bias_relu() {
        // Input zero point -128: [-128,-127,-126,-120] → [0,1,2,8]. Filter zero point 0.
        // o0 [1,1,1,1]   → 11,                 × 0.5·2^1  = 11
        // o1 [0,-1,0,1]  → -1 + 8 = 7,         × 0.75·2^-1: srdhm(7, 0.75) = (21·2^29 + 2^30)
        //                  >> 31 = 23/4 → 5, /2 = 2.5 → 3
        // o2 [5,5,-5,-1] → 5 - 10 - 8 = -13,   × 0.5: srdhm(-13, 0.5) = -6 (-6.5 toward zero)
        // + output zero point -128 → -117, -125, -134 → clamp at -128 (ReLU).
        let p = params(-128, 0, -128);
        let input: [i8; 4] = [-128, -127, -126, -120];
        let filter: [i8; 12] = [1, 1, 1, 1, 0, -1, 0, 1, 5, 5, -5, -1];
        let mut out = [0i8; 3];
        fully_connected_int8(
            &p,
            &input,
            &filter,
            None,
            &[HALF, THREE_QUARTERS, HALF],
            &[1, -1, 0],
            &mut out,
            1,
            4,
            3,
        );
        assert_eq!(out, [-117, -125, -128]);
    }

    #[test]
    fn f32_two_batches_bias_and_clamp() {
        // b0 [1.5, -2], b1 [0.5, 4]; filter o0 [2, 1], o1 [-1, 0.25]; bias [0.5, -1].
        // b0: o0 3 - 2 = 1 → 1.5;   o1 -1.5 - 0.5 = -2 → -3
        // b1: o0 1 + 4 = 5 → 5.5;   o1 -0.5 + 1 = 0.5 → -0.5
        // Clamp [-1, 5] → [1.5, -1, 5, -0.5]. Without bias or clamp: [1, -2, 5, 0.5].
        let mut p = params(0, 0, 0);
        let input = [1.5f32, -2.0, 0.5, 4.0];
        let filter = [2.0f32, 1.0, -1.0, 0.25];
        let mut out = [0f32; 4];
        fully_connected_f32(&p, &input, &filter, None, &mut out, 2, 2, 2);
        assert_eq!(out, [1.0, -2.0, 5.0, 0.5]);
        p.float_act_min = -1.0;
        p.float_act_max = 5.0;
        fully_connected_f32(&p, &input, &filter, Some(&[0.5, -1.0]), &mut out, 2, 2, 2);
        assert_eq!(out, [1.5, -1.0, 5.0, -0.5]);
    }
}
