//! DEPTHWISE_CONV_2D, int8 with per-channel requantization, for cores with the DSP extension;
//! the same bytes as [`crate::depthwise_conv2d::depthwise_conv2d_int8`].
//!
//! A depthwise filter mixes neither channels nor pixels' channels, so SMLAD's two lanes must
//! hold two taps of the same channel. The kernel therefore works on channel planes: for each
//! group of four channels it transposes the input into 16-bit rows, one per channel,
//! offset-corrected (`x + input_offset`) and zero-padded on every side: two LDR, four SXTAB16,
//! four PKH and four stores per two pixels of four channels, each input row once per group.
//! Small inputs (the plane within 4 KiB) are transposed whole, and each channel's outputs are
//! then one call of the row kernel; larger ones go through a ring of the filter's height in
//! rows, one output row at a time.
//!
//! An output is, per filter row, one unaligned LDR and one SMLAD per pair of filter columns:
//! the filter is prepared once per channel as 16-bit pairs, doubled so that the sum is the
//! `2 * acc` that [`super::requant`] expects. For 3×3 filters with strides 1 or 2 this is
//! [`dw3x3_rows`] (assembly on the device: six LDR, six SMLAD and five instructions of
//! requantization, clamp and store per output).
//!
//! Covered: depth multiplier 1, horizontal dilation 1, no negative left padding, channels a
//! multiple of four, filters up to [`MAX_PAIRS`] column pairs; anything else runs the
//! reference kernel.

use super::conv2d::{conv2d_int8_fast, conv2d_int8_scratch_bytes};
use super::insn::{dw3x3_rows, pkhbt_lsl16, pkhtb_asr16, smlad, sxtab16, sxtab16_ror8, Dw3x3Rows};
use super::requant::{exact, Activation, Channels, Scale};
use super::{scratch_words, word};
use crate::conv2d::window_origin;
use crate::scratch::{
    depthwise_bytes, depthwise_plane_rows, depthwise_ring as ring, Kernels, Ring,
};
use crate::Shape4;
use mote_format::params::{Conv2dParams, DepthwiseConv2dParams};

/// Most filter column pairs (`kh * ceil(kw / 2)`) the fast path takes (a 7×7 filter is 28).
pub const MAX_PAIRS: usize = 32;

/// Scratch bytes [`depthwise_conv2d_int8`] uses (see
/// [`crate::scratch::depthwise_conv2d_int8`]).
pub fn depthwise_conv2d_int8_scratch_bytes(
    p: &DepthwiseConv2dParams,
    input_shape: Shape4,
    filter_shape: Shape4,
    output_shape: Shape4,
) -> usize {
    crate::scratch::depthwise_conv2d_int8(
        Kernels::CortexMDsp,
        p,
        input_shape,
        filter_shape,
        output_shape,
    )
}

/// Int8 depthwise convolution, bit-exact with
/// [`crate::depthwise_conv2d::depthwise_conv2d_int8`], which it calls for what the fast path
/// does not cover. Inlined into its caller, for the reason given at
/// [`super::fully_connected::fully_connected_int8`].
#[allow(clippy::too_many_arguments)]
#[inline(always)]
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
    scratch: &mut [u8],
) {
    let done = depthwise_conv2d_int8_fast(
        p,
        input,
        input_shape,
        filter,
        filter_shape,
        bias,
        multiplier,
        shift,
        output,
        output_shape,
        scratch,
    );
    if !done {
        crate::depthwise_conv2d::depthwise_conv2d_int8(
            p,
            input,
            input_shape,
            filter,
            filter_shape,
            bias,
            multiplier,
            shift,
            output,
            output_shape,
        );
    }
}

/// One channel group's rows in the ring: `rows` slots of four channel rows of `pitch`
/// 16-bit values, as bytes (pairs are read with unaligned word loads).
struct Planes<'a> {
    bytes: &'a mut [u8],
    ring: Ring,
}

impl Planes<'_> {
    /// Byte range of channel `j`'s row in slot `slot`.
    #[inline(always)]
    fn row(&self, slot: usize, j: usize) -> core::ops::Range<usize> {
        let start = (slot * 4 + j) * self.ring.pitch * 2;
        start..start + self.ring.pitch * 2
    }

    /// Transposes one input row into slot `slot`: `pixels` starts at the group's first
    /// channel of pixel 0, pixel `x` at `x * in_c`, `in_w` pixels. Stores `x + input_offset`
    /// per value; `None` is a row outside the image (zeros). The padding columns are left
    /// alone: the buffer is zeroed once per call and nothing else writes them.
    #[inline(always)]
    fn load(
        &mut self,
        slot: usize,
        pixels: Option<&[i8]>,
        in_w: usize,
        in_c: usize,
        pad_left: usize,
        offset: u32,
    ) {
        let pitch = 2 * self.ring.pitch;
        let Some(rows) = self.bytes.get_mut(slot * 4 * pitch..(slot + 1) * 4 * pitch) else {
            return;
        };
        // The written span: the image's values, in whole pairs (an odd width writes one
        // padding value more; the pitch leaves room for it).
        let span = 2 * pad_left..2 * pad_left + 4 * in_w.div_ceil(2);
        let mut channels = rows
            .chunks_exact_mut(pitch)
            .map(|r| r.get_mut(span.clone()).unwrap_or(&mut []));
        let (Some(d0), Some(d1), Some(d2), Some(d3)) = (
            channels.next(),
            channels.next(),
            channels.next(),
            channels.next(),
        ) else {
            return;
        };
        let Some(pixels) = pixels else {
            for d in [d0, d1, d2, d3] {
                d.fill(0);
            }
            return;
        };
        // Index loops: a four-way zip of chunk iterators costs more than the work here.
        let pairs = d0.len().min(d1.len()).min(d2.len()).min(d3.len()) / 4;
        let put = |d: &mut [u8], i: usize, v: u32| {
            if let Some(d) = d.get_mut(4 * i..4 * i + 4) {
                d.copy_from_slice(&v.to_le_bytes());
            }
        };
        for i in 0..pairs {
            let at = 2 * i * in_c;
            let Some(a) = pixels.get(at..at + 4) else {
                break;
            };
            let a = word(a);
            let (ea, oa) = (sxtab16(offset, a), sxtab16_ror8(offset, a));
            // The second pixel of the pair, or zeros past an odd width.
            let (eb, ob) = match pixels.get(at + in_c..at + in_c + 4) {
                Some(b) => {
                    let b = word(b);
                    (sxtab16(offset, b), sxtab16_ror8(offset, b))
                }
                None => (0, 0),
            };
            put(d0, i, pkhbt_lsl16(ea, eb));
            put(d2, i, pkhtb_asr16(eb, ea));
            put(d1, i, pkhbt_lsl16(oa, ob));
            put(d3, i, pkhtb_asr16(ob, oa));
        }
    }
}

/// A one-channel input's depthwise convolution as the ordinary convolution it is: the
/// filter reordered to `[out_c, kh, kw, 1]` in scratch, then [`conv2d_int8_fast`]. Not
/// inlined, for the same reason as [`channel_planes`].
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn as_conv(
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
    scratch: &mut [u8],
) -> bool {
    let [_, kh, kw, out_c] = filter_shape;
    let taps = kh * kw;
    if p.depth_multiplier < 1 || out_c != p.depth_multiplier as usize {
        return false;
    }
    let conv_filter_shape = [out_c, kh, kw, 1];
    let conv_scratch = conv2d_int8_scratch_bytes(input_shape, conv_filter_shape, output_shape);
    let words = scratch_words(scratch);
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(words);
    if bytes.len() < conv_scratch + taps * out_c {
        return false;
    }
    let (conv_bytes, rest) = bytes.split_at_mut(conv_scratch);
    let reordered: &mut [i8] = bytemuck::cast_slice_mut(&mut rest[..taps * out_c]);
    let filter = &filter[..taps * out_c];
    for (oc, row) in reordered.chunks_exact_mut(taps).enumerate() {
        for (t, v) in row.iter_mut().enumerate() {
            *v = filter[t * out_c + oc];
        }
    }
    let conv = Conv2dParams {
        stride_h: p.stride_h,
        stride_w: p.stride_w,
        dilation_h: p.dilation_h,
        dilation_w: p.dilation_w,
        pad_top: p.pad_top,
        pad_left: p.pad_left,
        input_zero_point: p.input_zero_point,
        output_zero_point: p.output_zero_point,
        act_min: p.act_min,
        act_max: p.act_max,
        float_act_min: p.float_act_min,
        float_act_max: p.float_act_max,
    };
    conv2d_int8_fast(
        &conv,
        input,
        input_shape,
        reordered,
        conv_filter_shape,
        bias,
        multiplier,
        shift,
        output,
        output_shape,
        conv_bytes,
    )
}

/// The ring slot of input row `iy` (which may be negative: rows above the image).
#[inline(always)]
fn slot_of(iy: i64, rows: usize) -> usize {
    // Rows are far inside i32 (the runtime bounds every dimension), so no 64-bit division.
    (iy as i32).rem_euclid(rows as i32) as usize
}

/// What one channel's output row needs besides its input rows and filter.
struct Row {
    scale: Scale,
    activation: Activation,
    init: i32,
    stride: usize,
    /// For a channel off the fast path: `(bias, multiplier, shift, zero_point)` for
    /// [`exact`] (then `init` is 0 and `scale` unused).
    exact: Option<(i32, i32, i32, i32)>,
}

impl Row {
    /// The output for a finished multiply-accumulate.
    #[inline(always)]
    fn output(&self, acc: i32) -> i8 {
        match self.exact {
            None => self.activation.apply(self.scale.apply_all([acc])[0]),
            Some((b, m, s, zp)) => exact(acc, b, m, s, zp, self.activation),
        }
    }
}

/// One channel's outputs for a filter that is not 3×3 or a requantization with a left shift:
/// the same arithmetic with the instruction wrappers. Input row `fy` of output row `r` is
/// slot `slot(r, fy)`.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn rows_general(
    planes: &Planes<'_>,
    slot: impl Fn(usize, usize) -> usize,
    j: usize,
    w: &[u32],
    pairs_per_row: usize,
    row: &Row,
    out: &mut [i8],
    step: usize,
    (rows_out, cols): (usize, usize),
) {
    let init = row.init;
    let mut outs = out.iter_mut().step_by(step);
    for r in 0..rows_out {
        for (ox, o) in (&mut outs).take(cols).enumerate() {
            let x = ox * row.stride;
            let mut acc = init;
            for (fy, wr) in w.chunks_exact(pairs_per_row).enumerate() {
                let input = &planes.bytes[planes.row(slot(r, fy), j)];
                for (q, &wq) in wr.iter().enumerate() {
                    acc = smlad(pair(input, x + 2 * q), wq, acc);
                }
            }
            *o = row.output(acc);
        }
    }
}

/// A group's four filters as doubled 16-bit pairs, row by row (`kh * ceil(kw / 2)` each).
#[inline(never)]
fn group_weights(
    weights: &mut [[u32; MAX_PAIRS]; 4],
    filter: &[i8],
    g: usize,
    kh: usize,
    kw: usize,
    out_c: usize,
) {
    let pairs_per_row = kw.div_ceil(2);
    for (j, w) in weights.iter_mut().enumerate() {
        let c = 4 * g + j;
        let tap = |fy: usize, fx: usize| {
            if fx < kw {
                2 * filter[(fy * kw + fx) * out_c + c] as i32
            } else {
                0
            }
        };
        for fy in 0..kh {
            for q in 0..pairs_per_row {
                w[fy * pairs_per_row + q] = super::insn::pack16(tap(fy, 2 * q), tap(fy, 2 * q + 1));
            }
        }
    }
}

/// The row kernel's arguments: input rows starting at byte offsets `starts` in the planes,
/// running to the end of the scratch (later output rows read further down).
#[inline(always)]
fn dw3x3_args<'a>(
    planes: &'a Planes<'_>,
    starts: [usize; 3],
    w: &[u32; MAX_PAIRS],
    row: &Row,
    (rows_out, cols): (usize, usize),
    row_step: usize,
) -> Dw3x3Rows<'a> {
    let bytes = &*planes.bytes;
    Dw3x3Rows {
        rows: starts.map(|s| bytes.get(s..).unwrap_or(&[])),
        rows_out,
        cols,
        row_step: if rows_out > 1 {
            row_step
        } else {
            2 * row.stride * cols
        },
        w: [w[0], w[1], w[2], w[3], w[4], w[5]],
        init: row.init,
        multiplier: row.scale.multiplier(),
        addend: row.scale.addend(),
        shift: row.scale.right_shift(),
        act_min: row.activation.min(),
        act_max: row.activation.max(),
        saturate_only: row.activation.saturate_only(),
        stride: row.stride,
    }
}

/// One value pair of a plane row: values `i` and `i + 1` (one unaligned LDR on the device).
#[inline(always)]
fn pair(row: &[u8], i: usize) -> u32 {
    let b = &row[2 * i..2 * i + 4];
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// The fast path alone: `false` (having written nothing) when it does not apply. Whether
/// it applies depends only on the parameters, shapes, constants and scratch length, never on
/// the input values, so a build can find out once on the host (`mote-build` does).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn depthwise_conv2d_int8_fast(
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
    scratch: &mut [u8],
) -> bool {
    let in_c = input_shape[3];
    let out_c = filter_shape[3];
    if out_c == 0 {
        return true;
    }
    if in_c == 1 {
        return as_conv(
            p,
            input,
            input_shape,
            filter,
            filter_shape,
            bias,
            multiplier,
            shift,
            output,
            output_shape,
            scratch,
        );
    }
    channel_planes(
        p,
        input,
        input_shape,
        filter,
        filter_shape,
        bias,
        multiplier,
        shift,
        output,
        output_shape,
        scratch,
    )
}

/// [`depthwise_conv2d_int8_fast`] for an input of more than one channel: the channel-plane
/// path alone (`false` for a one-channel input), for a caller that knows the input's
/// channels and should not link the one-channel path (a shared caller of the kernel links
/// both otherwise, and the one-channel path's call of the convolution kernel then keeps the
/// compiler from specialising that kernel for the convolutions: 60 000 instructions on vww).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn depthwise_conv2d_int8_fast_multichannel(
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
    scratch: &mut [u8],
) -> bool {
    input_shape[3] > 1
        && channel_planes(
            p,
            input,
            input_shape,
            filter,
            filter_shape,
            bias,
            multiplier,
            shift,
            output,
            output_shape,
            scratch,
        )
}

/// The channel-plane path (see the module's description): `false` (having written nothing)
/// when it does not apply. Not inlined, so that its filter pairs (512 bytes) are on the stack
/// only while it runs, not under [`as_conv`] as well.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn channel_planes(
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
    scratch: &mut [u8],
) -> bool {
    let [batches, in_h, in_w, in_c] = input_shape;
    let [_, kh, kw, out_c] = filter_shape;
    let [_, out_h, out_w, _] = output_shape;
    let pairs_per_row = kw.div_ceil(2);
    if p.depth_multiplier != 1
        || p.dilation_w != 1
        || out_c != in_c
        || in_c % 4 != 0
        || kh * pairs_per_row > MAX_PAIRS
        || !(-128..=127).contains(&p.input_zero_point)
        || in_w == 0
    {
        return false;
    }
    let (Some(ring), Some((plane_bytes, ring_bytes)), Some((first_row, plane_rows))) = (
        ring(p, input_shape, filter_shape, output_shape),
        depthwise_bytes(p, input_shape, filter_shape, output_shape),
        depthwise_plane_rows(p, filter_shape, output_shape),
    ) else {
        return false;
    };
    let words = scratch_words(scratch);
    let (whole, need) = if words.len() * 4 >= plane_bytes {
        (true, plane_bytes)
    } else if words.len() * 4 >= ring_bytes {
        (false, ring_bytes)
    } else {
        return false;
    };
    let bytes: &mut [u8] = bytemuck::cast_slice_mut(words);
    let bytes = &mut bytes[..need];
    bytes.fill(0);
    let mut planes = Planes {
        bytes,
        ring: Ring {
            rows: if whole { plane_rows } else { ring.rows },
            pitch: ring.pitch,
        },
    };
    let multiplier = &multiplier[..out_c];
    let shift = &shift[..out_c];
    let bias = bias.map(|b| &b[..out_c]);
    let filter = &filter[..kh * kw * out_c];
    let zp = p.output_zero_point;
    let product_bound = (kh * kw) as u64 * 128 * 255;
    let mut channels = Channels::empty();
    if !channels.fill(multiplier, shift, bias, zp, product_bound, out_c) {
        return false;
    }
    let act = Activation::new(p.act_min, p.act_max);
    let offset = {
        let off = -p.input_zero_point;
        super::insn::pack16(off, off)
    };
    let pad_left = p.pad_left as usize;
    let (stride_h, stride_w) = (p.stride_h, p.stride_w as usize);
    let dil_h = p.dilation_h as usize;
    let image = in_h * in_w * in_c;
    let row_bytes = in_w * in_c;
    let slot_bytes = 4 * ring.pitch * 2;
    let fast_3x3 = kh == 3 && kw == 3 && (stride_w == 1 || stride_w == 2);

    for b in 0..batches {
        let image = &input[b * image..][..image];
        let out_image = &mut output[b * out_h * out_w * out_c..][..out_h * out_w * out_c];
        let pixels = |iy: i64, g: usize| {
            (0..in_h as i64)
                .contains(&iy)
                .then(|| &image[iy as usize * row_bytes + 4 * g..][..(in_w - 1) * in_c + 4])
        };
        let mut weights = [[0u32; MAX_PAIRS]; 4];
        for g in 0..out_c / 4 {
            group_weights(&mut weights, filter, g, kh, kw, out_c);
            let channel_row = |j: usize| {
                let c = 4 * g + j;
                let b = bias.map_or(0, |b| b[c]);
                let fast = channels.fast(c);
                Row {
                    scale: Scale::derive(multiplier[c], shift[c], zp),
                    activation: act,
                    init: if fast { b.wrapping_mul(2) } else { 0 },
                    stride: stride_w,
                    exact: (!fast).then_some((b, multiplier[c], shift[c], zp)),
                }
            };
            if whole {
                // Every row the outputs read, slot = row - first_row; then each channel in one
                // pass.
                for slot in 0..plane_rows {
                    let iy = first_row + slot as i64;
                    planes.load(slot, pixels(iy, g), in_w, in_c, pad_left, offset);
                }
                let row_step = stride_h as usize * slot_bytes;
                for (j, w) in weights.iter().enumerate() {
                    let row = channel_row(j);
                    let out = &mut out_image[4 * g + j..];
                    if fast_3x3 && row.exact.is_none() && row.scale.right_shift() != 0 {
                        let start = |fy: usize| planes.row(fy * dil_h, j).start;
                        let args = dw3x3_args(
                            &planes,
                            [start(0), start(1), start(2)],
                            w,
                            &row,
                            (out_h, out_w),
                            row_step,
                        );
                        dw3x3_rows(&args, out, out_c);
                    } else {
                        let slot = |r: usize, fy: usize| r * stride_h as usize + fy * dil_h;
                        let w = &w[..kh * pairs_per_row];
                        rows_general(
                            &planes,
                            slot,
                            j,
                            w,
                            pairs_per_row,
                            &row,
                            out,
                            out_c,
                            (out_h, out_w),
                        );
                    }
                }
            } else {
                // The ring holds input rows up to (not including) this one.
                let mut held_to = i64::MIN;
                let rows = ring.rows;
                for oy in 0..out_h {
                    let y0 = window_origin(oy, stride_h, p.pad_top);
                    let y_end = y0 + rows as i64;
                    let from = if held_to > y0 { held_to } else { y0 };
                    for iy in from..y_end {
                        planes.load(
                            slot_of(iy, rows),
                            pixels(iy, g),
                            in_w,
                            in_c,
                            pad_left,
                            offset,
                        );
                    }
                    held_to = y_end;
                    let slot0 = slot_of(y0, rows);
                    let slot = |_: usize, fy: usize| (slot0 + fy * dil_h) % rows;
                    let out_row = &mut out_image[oy * out_w * out_c..][..out_w * out_c];
                    for (j, w) in weights.iter().enumerate() {
                        let row = channel_row(j);
                        let out = &mut out_row[4 * g + j..];
                        if fast_3x3 && row.exact.is_none() && row.scale.right_shift() != 0 {
                            let start = |fy: usize| planes.row(slot(0, fy), j).start;
                            let args = dw3x3_args(
                                &planes,
                                [start(0), start(1), start(2)],
                                w,
                                &row,
                                (1, out_w),
                                0,
                            );
                            dw3x3_rows(&args, out, out_c);
                        } else {
                            let w = &w[..kh * pairs_per_row];
                            rows_general(
                                &planes,
                                slot,
                                j,
                                w,
                                pairs_per_row,
                                &row,
                                out,
                                out_c,
                                (1, out_w),
                            );
                        }
                    }
                }
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use crate::dsp::self_test::{DepthwiseConv2dCase, Path, Rng};
    use proptest::prelude::*;
    use std::vec;

    fn run(seed: u64, max_dim: usize) -> Path {
        let case = DepthwiseConv2dCase::random(&mut Rng::new(seed), max_dim);
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
        // About half of the cases are built to fall back (see the generator).
        let fast = (0..200).filter(|&s| run(s, 4) == Path::Fast).count();
        assert!(fast > 55, "only {fast} of 200 cases took the fast path");
    }
}
