//! CONV_2D: the reference int8 (per-channel) and float32 convolutions.
//!
//! These are the numeric specification for mote's convolution. The int8 version gives the same
//! bytes as TFLM's `reference_integer_ops::ConvPerChannel`, the float version performs the same
//! floating-point operations in the same order as `reference_ops::Conv`. Layouts are NHWC for
//! activations and `[out_c, kh, kw, in_c]` for the filter. A filter whose `in_c` divides the
//! input's depth gives a grouped convolution, as in TFLite.
//!
//! Padding was resolved by the compiler into `pad_top`/`pad_left`; a filter tap that falls
//! outside the image is skipped, exactly as TFLM does (for int8 this equals feeding the input
//! zero point, whose offset-corrected value is zero).
//!
//! The helper [`tap_range`] is shared with the other convolution-like
//! kernels of this crate.

use crate::activation_f32;
use crate::fixedpoint::multiply_by_quantized_multiplier;
use crate::Shape4;
use core::ops::Range;
use mote_format::params::Conv2dParams;

/// The filter taps `k` in `0..taps` whose input coordinate `origin + dilation * k` lies in
/// `0..extent`.
///
/// Those taps are contiguous, so computing the range once per output row/column replaces
/// TFLM's per-tap "is the point inside the image" test without changing which taps are used.
/// Every `k` in the result maps to an in-bounds coordinate, so callers may convert it to
/// `usize` directly. `dilation` is validated (>= 1) by the runtime; smaller values are treated
/// as 1 rather than dividing by zero.
#[inline]
pub(crate) fn tap_range(origin: i64, dilation: i64, extent: usize, taps: usize) -> Range<usize> {
    debug_assert!(dilation >= 1);
    let d = dilation.max(1);
    let taps_i = taps as i64;
    // First k with origin + d*k >= 0.
    let start = if origin >= 0 {
        0
    } else {
        div_nonneg(-origin + d - 1, d)
    };
    // One past the last k with origin + d*k <= extent - 1.
    let last = extent as i64 - 1 - origin;
    let end = if last < 0 { 0 } else { div_nonneg(last, d) + 1 };
    let start = start.min(taps_i);
    let end = end.clamp(start, taps_i);
    start as usize..end as usize
}

/// `n / d` for `n >= 0` and `d >= 1`, without a 64-bit division: on Cortex-M that is a
/// library routine of about 1 KB of flash. Both operands fit in 32 bits for every shape the
/// runtime accepts, and then it is one 32-bit division (an instruction from Cortex-M3 on);
/// anything larger goes through shift-and-subtract, so the result is exact for every input.
#[inline]
pub(crate) fn div_nonneg(n: i64, d: i64) -> i64 {
    let (n, d) = (n as u64, d as u64);
    if n <= u32::MAX as u64 && d <= u32::MAX as u64 {
        return (n as u32 / d as u32) as i64;
    }
    div_wide(n, d) as i64
}

/// [`div_nonneg`] beyond 32 bits, bit by bit (`d >= 1`, both below 2^63): a path that no
/// shape the runtime accepts takes, kept small — cold, out of line, one step per call so that
/// the compiler does not unroll the 64 steps into a kilobyte.
#[cold]
#[inline(never)]
fn div_wide(n: u64, d: u64) -> u64 {
    let mut qr = (0u64, 0u64);
    for bit in (0..64).rev() {
        div_step(&mut qr, n, d, bit);
    }
    qr.0
}

/// One step of [`div_wide`]: brings down bit `bit` of `n` into the remainder.
#[inline(never)]
fn div_step((quotient, remainder): &mut (u64, u64), n: u64, d: u64, bit: u32) {
    // `remainder < d <= i64::MAX`, so the shift cannot overflow.
    *remainder = (*remainder << 1) | ((n >> bit) & 1);
    if *remainder >= d {
        *remainder -= d;
        *quotient |= 1 << bit;
    }
}

/// Where an output coordinate's window starts in the input: `out * stride - pad`, in `i64`
/// so that no parameter value can overflow it.
#[inline(always)]
pub(crate) fn window_origin(out: usize, stride: i32, pad: i32) -> i64 {
    out as i64 * stride as i64 - pad as i64
}

/// Input channels per filter and output channels per group, for (possibly grouped)
/// convolution. Zero-sized shapes are tolerated: they only produce empty loops.
#[inline]
fn grouping(in_c: usize, filter_in_c: usize, out_c: usize) -> usize {
    let groups = in_c.checked_div(filter_in_c).unwrap_or(1).max(1);
    (out_c / groups).max(1)
}

/// Where a convolution reads its input and writes its output: two separate slices, or one
/// buffer holding both, the output starting at least [`overlap_distance`] bytes below the
/// input (then writing the output pixels in order never touches input bytes that a later
/// pixel still reads, so the two can share memory).
pub enum ConvIo<'a> {
    Separate {
        input: &'a [i8],
        output: &'a mut [i8],
    },
    Overlapping {
        buf: &'a mut [i8],
        input: Range<usize>,
        output: Range<usize>,
    },
}

impl ConvIo<'_> {
    /// The input bytes (empty if the ranges lie outside the buffer).
    #[inline(always)]
    pub fn input(&self) -> &[i8] {
        match self {
            ConvIo::Separate { input, .. } => input,
            ConvIo::Overlapping { buf, input, .. } => buf.get(input.clone()).unwrap_or(&[]),
        }
    }

    /// The output bytes (empty if the ranges lie outside the buffer).
    #[inline(always)]
    pub fn output(&mut self) -> &mut [i8] {
        match self {
            ConvIo::Separate { output, .. } => output,
            ConvIo::Overlapping { buf, output, .. } => {
                buf.get_mut(output.clone()).unwrap_or(&mut [])
            }
        }
    }
}

/// The least distance in bytes from the start of a CONV_2D's output to the start of its
/// input for the two to share memory: writing output pixel `q` (in `(row, column)` order)
/// ends at `(q + 1) * out_c`, and no pixel from `q` on reads input rows above
/// `max(0, row(q) * stride_h - pad_top)`. `None` for more than one batch (not supported).
/// Every int8 convolution kernel of this crate writes pixels in that order and reads a
/// pixel's window no later than it writes that pixel.
pub fn overlap_distance(
    p: &Conv2dParams,
    input_shape: Shape4,
    output_shape: Shape4,
) -> Option<usize> {
    let [batches, _, in_w, in_c] = input_shape;
    let [out_batches, out_h, out_w, out_c] = output_shape;
    if batches != 1 || out_batches != 1 {
        return None;
    }
    let row_bytes = in_w.checked_mul(in_c)?;
    let mut distance = 0usize;
    for oy in 0..out_h {
        let first_row = window_origin(oy, p.stride_h, p.pad_top).max(0) as usize;
        let written = (oy + 1).checked_mul(out_w)?.checked_mul(out_c)?;
        let unread = first_row.checked_mul(row_bytes)?;
        distance = distance.max(written.saturating_sub(unread));
    }
    Some(distance)
}

/// Int8 convolution with per-output-channel requantization (`multiplier`/`shift` have one
/// entry per output channel), bit-exact with TFLM.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_int8(
    p: &Conv2dParams,
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
    conv2d_int8_io(
        p,
        &mut ConvIo::Separate { input, output },
        input_shape,
        filter,
        filter_shape,
        bias,
        multiplier,
        shift,
        output_shape,
    );
}

/// [`conv2d_int8`] reading and writing through `io` (which may be one buffer holding input
/// and output, see [`ConvIo`]).
#[allow(clippy::too_many_arguments)]
pub fn conv2d_int8_io(
    p: &Conv2dParams,
    io: &mut ConvIo<'_>,
    input_shape: Shape4,
    filter: &[i8],
    filter_shape: Shape4,
    bias: Option<&[i32]>,
    multiplier: &[i32],
    shift: &[i32],
    output_shape: Shape4,
) {
    let [batches, in_h, in_w, in_c] = input_shape;
    let [out_c, kh, kw, f_in_c] = filter_shape;
    let [_, out_h, out_w, _] = output_shape;
    if out_c == 0 {
        return;
    }
    let per_group = grouping(in_c, f_in_c, out_c);
    let filter_len = kh * kw * f_in_c;
    let in_image = in_h * in_w * in_c;
    // Cut every per-channel array to `out_c` once, so the channel loop needs no more checks.
    let multiplier = &multiplier[..out_c];
    let shift = &shift[..out_c];
    let bias = bias.map(|b| &b[..out_c]);
    let filter = &filter[..out_c * filter_len];
    // TFLite adds the negated zero point to each input value (its `input_offset`).
    let input_offset = p.input_zero_point.wrapping_neg();
    let (dil_h, dil_w) = (p.dilation_h as i64, p.dilation_w as i64);

    for b in 0..batches {
        for oy in 0..out_h {
            let y0 = window_origin(oy, p.stride_h, p.pad_top);
            let rows = tap_range(y0, dil_h, in_h, kh);
            for ox in 0..out_w {
                let x0 = window_origin(ox, p.stride_w, p.pad_left);
                let cols = tap_range(x0, dil_w, in_w, kw);
                let pixel = (b * out_h + oy) * out_w + ox;
                for oc in 0..out_c {
                    let group_base = (oc / per_group) * f_in_c;
                    let taps = &filter[oc * filter_len..][..filter_len];
                    // The input is borrowed for this one channel's sum only: with a shared
                    // buffer, the output byte is written after it.
                    let image = &io.input()[b * in_image..][..in_image];
                    // Wrapping adds: TFLM's int32 accumulator cannot overflow for valid
                    // models, and two's-complement wrapping keeps hostile ones from panicking.
                    let mut acc: i32 = 0;
                    for fy in rows.clone() {
                        let iy = (y0 + dil_h * fy as i64) as usize;
                        for fx in cols.clone() {
                            let ix = (x0 + dil_w * fx as i64) as usize;
                            let x = &image[(iy * in_w + ix) * in_c + group_base..][..f_in_c];
                            let w = &taps[(fy * kw + fx) * f_in_c..][..f_in_c];
                            for (&xv, &wv) in x.iter().zip(w) {
                                let term = (wv as i32)
                                    .wrapping_mul((xv as i32).wrapping_add(input_offset));
                                acc = acc.wrapping_add(term);
                            }
                        }
                    }
                    if let Some(bias) = bias {
                        acc = acc.wrapping_add(bias[oc]);
                    }
                    let scaled = multiply_by_quantized_multiplier(acc, multiplier[oc], shift[oc])
                        .wrapping_add(p.output_zero_point);
                    // max then min, as TFLM: never panics even if act_min > act_max.
                    io.output()[pixel * out_c + oc] = scaled.max(p.act_min).min(p.act_max) as i8;
                }
            }
        }
    }
}

/// Float32 convolution; same operations, in the same order, as TFLite's float reference.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_f32(
    p: &Conv2dParams,
    input: &[f32],
    input_shape: Shape4,
    filter: &[f32],
    filter_shape: Shape4,
    bias: Option<&[f32]>,
    output: &mut [f32],
    output_shape: Shape4,
) {
    let [batches, in_h, in_w, in_c] = input_shape;
    let [out_c, kh, kw, f_in_c] = filter_shape;
    let [_, out_h, out_w, _] = output_shape;
    if out_c == 0 {
        return;
    }
    let per_group = grouping(in_c, f_in_c, out_c);
    let filter_len = kh * kw * f_in_c;
    let in_image = in_h * in_w * in_c;
    let bias = bias.map(|b| &b[..out_c]);
    let filter = &filter[..out_c * filter_len];
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
                for (oc, out_value) in out.iter_mut().enumerate() {
                    let group_base = (oc / per_group) * f_in_c;
                    let taps = &filter[oc * filter_len..][..filter_len];
                    // Start from +0.0 and add products in (fy, fx, channel) order, separately
                    // multiplied and added, so rounding matches the C++ loop.
                    let mut total = 0.0f32;
                    for fy in rows.clone() {
                        let iy = (y0 + dil_h * fy as i64) as usize;
                        for fx in cols.clone() {
                            let ix = (x0 + dil_w * fx as i64) as usize;
                            let x = &image[(iy * in_w + ix) * in_c + group_base..][..f_in_c];
                            let w = &taps[(fy * kw + fx) * f_in_c..][..f_in_c];
                            for (&xv, &wv) in x.iter().zip(w) {
                                total += xv * wv;
                            }
                        }
                    }
                    // TFLite always adds a bias value (0.0 when absent); that turns a -0.0
                    // total into +0.0, so do the same.
                    let bias_value = bias.map_or(0.0, |b| b[oc]);
                    *out_value =
                        activation_f32(total + bias_value, p.float_act_min, p.float_act_max);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Q31 0.5 and 0.75.
    const HALF: i32 = 1 << 30;
    const THREE_QUARTERS: i32 = 3 << 29;

    fn params(stride: i32, dilation: i32, pad: i32, in_zp: i32, out_zp: i32) -> Conv2dParams {
        Conv2dParams {
            stride_h: stride,
            stride_w: stride,
            dilation_h: dilation,
            dilation_w: dilation,
            pad_top: pad,
            pad_left: pad,
            input_zero_point: in_zp,
            output_zero_point: out_zp,
            act_min: -128,
            act_max: 127,
            float_act_min: f32::NEG_INFINITY,
            float_act_max: f32::INFINITY,
        }
    }

    #[test]
    fn div_nonneg_equals_division() {
        let values = [
            0i64,
            1,
            2,
            3,
            7,
            1 << 15,
            u32::MAX as i64 - 1,
            u32::MAX as i64,
            u32::MAX as i64 + 1,
            1 << 40,
            (1 << 40) + 12345,
            i64::MAX - 1,
            i64::MAX,
        ];
        for &n in &values {
            for &d in values.iter().filter(|&&d| d >= 1) {
                assert_eq!(div_nonneg(n, d), n / d, "{n} / {d}");
            }
        }
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..10_000 {
            // xorshift: operands of every magnitude.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = (x >> (x % 64)) as i64 & i64::MAX;
            let d = ((x.rotate_left(17) >> (x % 61)) as i64 & i64::MAX).max(1);
            assert_eq!(div_nonneg(n, d), n / d, "{n} / {d}");
        }
    }

    #[test]
    fn tap_range_cases() {
        // 3 taps, dilation 1, origin -1 over extent 3: tap 0 is at -1 (out), taps 1, 2 in.
        assert_eq!(tap_range(-1, 1, 3, 3), 1..3);
        // origin 2: coordinates 2, 3, 4 → only tap 0.
        assert_eq!(tap_range(2, 1, 3, 3), 0..1);
        // dilation 2, origin -1: coordinates -1, 1, 3 → only tap 1.
        assert_eq!(tap_range(-1, 2, 3, 3), 1..2);
        // dilation 2, origin -2: coordinates -2, 0, 2 → taps 1, 2.
        assert_eq!(tap_range(-2, 2, 3, 3), 1..3);
        // Entirely outside, on either side: empty and never inverted.
        assert_eq!(tap_range(-10, 1, 3, 3).len(), 0);
        assert_eq!(tap_range(5, 1, 3, 3).len(), 0);
        assert_eq!(tap_range(0, 1, 0, 3).len(), 0);
    }

    #[test]
    fn tap_range_equals_per_tap_inside_test_exhaustively() {
        // The kernels replace TFLM's per-tap "inside the image" test with this range; check
        // the two select the same taps over every small case.
        for origin in -12i64..12 {
            for dilation in 1i64..5 {
                for extent in 0usize..8 {
                    for taps in 0usize..6 {
                        let r = tap_range(origin, dilation, extent, taps);
                        for k in 0..taps {
                            let c = origin + dilation * k as i64;
                            let inside = c >= 0 && c < extent as i64;
                            assert_eq!(
                                r.contains(&k),
                                inside,
                                "origin {origin} d {dilation} extent {extent} k {k}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn activation_f32_matches_std_min_max() {
        assert_eq!(activation_f32(-1.0, 0.0, 6.0), 0.0);
        assert_eq!(activation_f32(7.0, 0.0, 6.0), 6.0);
        assert_eq!(activation_f32(3.5, 0.0, 6.0), 3.5);
        // std::max(-0.0, 0.0) keeps its first argument: -0.0 stays -0.0.
        assert!(activation_f32(-0.0, 0.0, 6.0).is_sign_negative());
        assert!(activation_f32(f32::NAN, 0.0, 6.0).is_nan());
    }

    #[test]
    fn int8_valid_2x2_on_3x3() {
        // Input 1x3x3x1 = 1..9 with zero point -1, so offset values are 2..10:
        //   2 3 4 / 5 6 7 / 8 9 10. Filter 2x2 = [1 2; 3 4], bias 10.
        // (0,0): 2*1 + 3*2 + 5*3 + 6*4  = 47, +10 = 57
        // (0,1): 3*1 + 4*2 + 6*3 + 7*4  = 57, +10 = 67
        // (1,0): 5*1 + 6*2 + 8*3 + 9*4  = 77, +10 = 87
        // (1,1): 6*1 + 7*2 + 9*3 + 10*4 = 87, +10 = 97
        // × 0.5 (ties away from zero): 29, 34, 44, 49; + output zero point 3.
        let p = params(1, 1, 0, -1, 3);
        let input: [i8; 9] = [1, 2, 3, 4, 5, 6, 7, 8, 9];
        let filter: [i8; 4] = [1, 2, 3, 4];
        let mut out = [0i8; 4];
        conv2d_int8(
            &p,
            &input,
            [1, 3, 3, 1],
            &filter,
            [1, 2, 2, 1],
            Some(&[10]),
            &[HALF],
            &[0],
            &mut out,
            [1, 2, 2, 1],
        );
        assert_eq!(out, [32, 37, 47, 52]);
    }

    #[test]
    fn int8_padding_and_stride_2_skip_outside_taps() {
        // Input q = 6..14 with zero point 5, i.e. values 1..9. 3x3 filter of ones, pad 1,
        // stride 2 → 2x2 output; window origins are -1 and 1 in each direction.
        // (0,0): rows 0-1, cols 0-1: 1+2+4+5 = 12
        // (0,1): rows 0-1, cols 1-2: 2+3+5+6 = 16
        // (1,0): rows 1-2, cols 0-1: 4+5+7+8 = 24
        // (1,1): rows 1-2, cols 1-2: 5+6+8+9 = 28
        // Requantization × (0.5 · 2^1) = 1; output zero point -128.
        // (Were padding read as raw 0 instead of skipped, each missing tap would add -5.)
        let p = params(2, 1, 1, 5, -128);
        let input: [i8; 9] = [6, 7, 8, 9, 10, 11, 12, 13, 14];
        let filter = [1i8; 9];
        let mut out = [0i8; 4];
        conv2d_int8(
            &p,
            &input,
            [1, 3, 3, 1],
            &filter,
            [1, 3, 3, 1],
            None,
            &[HALF],
            &[1],
            &mut out,
            [1, 2, 2, 1],
        );
        assert_eq!(out, [-116, -112, -104, -100]);
    }

    #[test]
    fn int8_dilation_2_with_padding() {
        // Input v(r,c) = 3r + c + 1 (1..9), zero point 0. Filter [1 2; 3 4] dilated by 2
        // (spans 3x3), pad 1, stride 1 → 3x3 output. Window origin (oy-1, ox-1); taps at
        // rows oy-1, oy+1 and cols ox-1, ox+1, only those inside 0..3 count:
        // (0,0): w11·v11 = 4·5 = 20
        // (0,1): w10·v10 + w11·v12 = 3·4 + 4·6 = 36
        // (0,2): w10·v11 = 3·5 = 15
        // (1,0): w01·v01 + w11·v21 = 2·2 + 4·8 = 36
        // (1,1): w00·v00 + w01·v02 + w10·v20 + w11·v22 = 1 + 6 + 21 + 36 = 64
        // (1,2): w00·v01 + w10·v21 = 2 + 24 = 26
        // (2,0): w01·v11 = 2·5 = 10
        // (2,1): w00·v10 + w01·v12 = 4 + 12 = 16
        // (2,2): w00·v11 = 5
        // Requantization × 1, output zero point 0.
        let p = params(1, 2, 1, 0, 0);
        let input: [i8; 9] = [1, 2, 3, 4, 5, 6, 7, 8, 9];
        let filter: [i8; 4] = [1, 2, 3, 4];
        let mut out = [0i8; 9];
        conv2d_int8(
            &p,
            &input,
            [1, 3, 3, 1],
            &filter,
            [1, 2, 2, 1],
            None,
            &[HALF],
            &[1],
            &mut out,
            [1, 3, 3, 1],
        );
        assert_eq!(out, [20, 36, 15, 36, 64, 26, 10, 16, 5]);
    }

    #[test]
    fn int8_per_channel_shifts_batches_and_clamp() {
        // 1x1 conv, 2 batches of one 2-channel pixel, 3 output channels, zero points 0 / -10.
        // Filters: oc0 [1, 1], oc1 [2, -1], oc2 [-3, 1]; bias [0, 4, -20].
        // Requantization: oc0 0.5·2^0, oc1 0.5·2^-2, oc2 0.5·2^2. Clamp to [-12, 18].
        // batch 0, x = [10, 20]:
        //   oc0: 30 → 15 → +(-10) = 5
        //   oc1: 20 - 20 + 4 = 4 → srdhm(4, 0.5) = 2, /4 = 0.5 → 1 → -9
        //   oc2: -30 + 20 - 20 = -30 → ·4 = -120 → ·0.5 = -60 → -70 → clamp -12
        // batch 1, x = [-10, 5]:
        //   oc0: -5 → srdhm gives -2 (gemmlowp rounds -2.5 toward zero) → -12
        //   oc1: -20 - 5 + 4 = -21 → srdhm = -10 (-10.5 toward zero), /4 = -2.5 → -3 → -13
        //        → clamp -12
        //   oc2: 30 + 5 - 20 = 15 → ·4 = 60 → ·0.5 = 30 → 20 → clamp 18
        let mut p = params(1, 1, 0, 0, -10);
        p.act_min = -12;
        p.act_max = 18;
        let input: [i8; 4] = [10, 20, -10, 5];
        let filter: [i8; 6] = [1, 1, 2, -1, -3, 1];
        let mut out = [0i8; 6];
        conv2d_int8(
            &p,
            &input,
            [2, 1, 1, 2],
            &filter,
            [3, 1, 1, 2],
            Some(&[0, 4, -20]),
            &[HALF, HALF, HALF],
            &[0, -2, 2],
            &mut out,
            [2, 1, 1, 3],
        );
        assert_eq!(out, [5, -9, -12, -12, -12, 18]);
    }

    #[test]
    fn int8_grouped_and_non_half_multiplier() {
        // Input one pixel of 4 channels [1, 2, 3, 4]; filter in_c = 2 → 2 groups, one output
        // channel each: oc0 reads channels 0-1, oc1 reads channels 2-3.
        // oc0: [5, 6]·[1, 2] = 17 → × 0.75 = 12.75: srdhm(17, 0.75) = (51·2^29 + 2^30) >> 31
        //      = 53/4 = 13 → 13
        // oc1: [-1, 1]·[3, 4] = 1 → × 0.5 = 0.5 → 1
        let p = params(1, 1, 0, 0, 0);
        let input: [i8; 4] = [1, 2, 3, 4];
        let filter: [i8; 4] = [5, 6, -1, 1];
        let mut out = [0i8; 2];
        conv2d_int8(
            &p,
            &input,
            [1, 1, 1, 4],
            &filter,
            [2, 1, 1, 2],
            None,
            &[THREE_QUARTERS, HALF],
            &[0, 0],
            &mut out,
            [1, 1, 1, 2],
        );
        assert_eq!(out, [13, 1]);
    }

    #[test]
    fn f32_valid_with_bias_and_clamp() {
        // Input 1..9 (3x3), filter [1 2; 3 4], bias -50, clamp [0, 20].
        // (0,0): 1 + 4 + 12 + 20 = 37 → -13 → 0
        // (0,1): 2 + 6 + 15 + 24 = 47 → -3  → 0
        // (1,0): 4 + 10 + 21 + 32 = 67 → 17
        // (1,1): 5 + 12 + 24 + 36 = 77 → 27 → 20
        let mut p = params(1, 1, 0, 0, 0);
        p.float_act_min = 0.0;
        p.float_act_max = 20.0;
        let input: [f32; 9] = [1., 2., 3., 4., 5., 6., 7., 8., 9.];
        let filter: [f32; 4] = [1., 2., 3., 4.];
        let mut out = [0f32; 4];
        conv2d_f32(
            &p,
            &input,
            [1, 3, 3, 1],
            &filter,
            [1, 2, 2, 1],
            Some(&[-50.0]),
            &mut out,
            [1, 2, 2, 1],
        );
        assert_eq!(out, [0.0, 0.0, 17.0, 20.0]);
    }

    #[test]
    fn f32_padding_stride_dilation_two_channels() {
        // 3x3 ones filter over 1..9 with pad 1, stride 2: 12, 16, 24, 28 (as the int8 case).
        let p = params(2, 1, 1, 0, 0);
        let input: [f32; 9] = [1., 2., 3., 4., 5., 6., 7., 8., 9.];
        let mut out = [0f32; 4];
        conv2d_f32(
            &p,
            &input,
            [1, 3, 3, 1],
            &[1.0; 9],
            [1, 3, 3, 1],
            None,
            &mut out,
            [1, 2, 2, 1],
        );
        assert_eq!(out, [12.0, 16.0, 24.0, 28.0]);

        // Dilation 2, no padding, 2 input channels (second channel = -0.5 × first), filter
        // taps [1, 2] per position: one output = Σ over the 4 corners of v·1 + (-0.5v)·2 = 0
        // plus bias 1.5 → 1.5.
        let p = params(1, 2, 0, 0, 0);
        let mut input = [0f32; 18];
        for i in 0..9 {
            input[2 * i] = (i + 1) as f32;
            input[2 * i + 1] = -0.5 * (i + 1) as f32;
        }
        let filter = [1.0f32, 2.0, 1.0, 2.0, 1.0, 2.0, 1.0, 2.0];
        let mut out = [0f32; 1];
        conv2d_f32(
            &p,
            &input,
            [1, 3, 3, 2],
            &filter,
            [1, 2, 2, 2],
            Some(&[1.5]),
            &mut out,
            [1, 1, 1, 1],
        );
        assert_eq!(out, [1.5]);
    }
}
