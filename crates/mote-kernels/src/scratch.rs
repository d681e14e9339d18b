//! How much scratch memory each kernel wants, for either kernel family, as pure arithmetic
//! on shapes and parameters that any build can evaluate.
//!
//! Scratch is working memory that lives only while one operator runs (im2col patches, a
//! depthwise row ring, an expanded input row). The device never plans memory: the compiler
//! asks these functions, for the kernel family of the board it compiles for, reserves one
//! scratch buffer per operator in the arena plan (a tensor whose lifetime is that operator),
//! and the runtime hands the slice to [`crate::select`]'s kernels. Compiling for
//! [`Kernels::CortexMDsp`] and running on a build with the reference kernels is fine (the
//! scratch goes unused), and so is the opposite (the DSP kernels, given too little scratch,
//! run the reference path: same bytes, more instructions).
//!
//! Sizes assume the buffer starts 4-byte aligned (the planner's alignment); a misaligned slice
//! loses up to three bytes at its start.

use crate::Shape4;
use mote_format::params::DepthwiseConv2dParams;

/// A kernel family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kernels {
    /// The portable reference kernels: no scratch.
    Reference,
    /// The Cortex-M DSP-extension kernels (`crate::dsp`; Cortex-M4, M7, M33, M55).
    CortexMDsp,
}

/// Output pixels per block of the DSP convolution's matrix kernel.
pub(crate) const CONV_BLOCK: usize = 4;

/// Groups of four filter taps in a patch of `k` values.
#[inline(always)]
pub(crate) fn groups(k: usize) -> usize {
    k.div_ceil(4)
}

/// The DSP convolution's scratch: patch words for one block, and staging bytes (only when the
/// input's channels are not a multiple of four).
pub(crate) fn conv2d_layout(filter_shape: Shape4) -> (usize, usize) {
    let [_, kh, kw, c] = filter_shape;
    let g = groups(kh.saturating_mul(kw).saturating_mul(c));
    let staging = if c % 4 == 0 { 0 } else { g.saturating_mul(4) };
    (g.saturating_mul(2 * CONV_BLOCK), staging)
}

/// CONV_2D: for the DSP kernels one block of four patches, `32 * ceil(K / 4)` bytes with
/// `K = kh * kw * in_c` (512 bytes for a 1×1 convolution over 64 channels), plus
/// `4 * ceil(K / 4)` bytes of staging when `in_c` is not a multiple of four.
pub fn conv2d_int8(
    kernels: Kernels,
    _input_shape: Shape4,
    filter_shape: Shape4,
    _output_shape: Shape4,
) -> usize {
    match kernels {
        Kernels::Reference => 0,
        Kernels::CortexMDsp => {
            let (words, staging) = conv2d_layout(filter_shape);
            words.saturating_mul(4).saturating_add(staging)
        }
    }
}

/// The DSP depthwise kernel's row ring: rows kept, and 16-bit values per channel row.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ring {
    pub rows: usize,
    pub pitch: usize,
}

/// The ring for a depthwise convolution, or `None` when the DSP kernel's fast path does not
/// apply to these parameters.
pub(crate) fn depthwise_ring(
    p: &DepthwiseConv2dParams,
    input_shape: Shape4,
    filter_shape: Shape4,
    output_shape: Shape4,
) -> Option<Ring> {
    let [_, _, in_w, _] = input_shape;
    let [_, kh, kw, _] = filter_shape;
    let [_, _, out_w, _] = output_shape;
    if kh == 0
        || kw == 0
        || p.dilation_h < 1
        || p.stride_w < 1
        || p.pad_left < 0
        || p.depth_multiplier != 1
        || p.dilation_w != 1
    {
        return None;
    }
    let rows = (kh - 1)
        .checked_mul(p.dilation_h as usize)?
        .checked_add(1)?;
    // One past the last 16-bit value any output reads: its window start plus the column
    // pairs (an odd filter width reads one value more, multiplied by a zero weight).
    let last = out_w
        .checked_sub(1)?
        .checked_mul(p.stride_w as usize)?
        .checked_add(2 * kw.div_ceil(2))?;
    // The transposition writes pairs: an odd last pixel also writes the value after it.
    let pitch = last.max((p.pad_left as usize).checked_add(in_w)?.checked_add(1)?);
    Some(Ring {
        rows,
        pitch: pitch.div_ceil(2) * 2,
    })
}

/// The most scratch the DSP depthwise kernel takes to hold a whole padded input plane (four
/// channels) at once; larger inputs use the row ring.
pub(crate) const DEPTHWISE_PLANE_BUDGET: usize = 4096;

/// The input rows any output of a depthwise convolution reads: `(first, count)`, the first
/// possibly negative (padding above the image).
pub(crate) fn depthwise_plane_rows(
    p: &DepthwiseConv2dParams,
    filter_shape: Shape4,
    output_shape: Shape4,
) -> Option<(i64, usize)> {
    let [_, kh, _, _] = filter_shape;
    let [_, out_h, _, _] = output_shape;
    let first = -(p.pad_top as i64);
    let last = (out_h.checked_sub(1)? as i64) * p.stride_h as i64 - p.pad_top as i64
        + (kh.checked_sub(1)? as i64) * p.dilation_h as i64;
    let count = usize::try_from(last - first + 1).ok()?;
    Some((first, count))
}

/// Scratch bytes for the DSP depthwise kernel: the whole plane when that is small, the ring
/// otherwise (see `crate::dsp::depthwise_conv2d`).
pub(crate) fn depthwise_bytes(
    p: &DepthwiseConv2dParams,
    input_shape: Shape4,
    filter_shape: Shape4,
    output_shape: Shape4,
) -> Option<(usize, usize)> {
    let ring = depthwise_ring(p, input_shape, filter_shape, output_shape)?;
    let per_row = ring.pitch.checked_mul(4 * 2)?;
    let ring_bytes = ring.rows.checked_mul(per_row)?;
    let plane_bytes = depthwise_plane_rows(p, filter_shape, output_shape)
        .and_then(|(_, rows)| rows.checked_mul(per_row))
        .unwrap_or(usize::MAX);
    Some((plane_bytes, ring_bytes))
}

/// DEPTHWISE_CONV_2D: for the DSP kernels the whole zero-padded input plane of four channels
/// as 16-bit values when that takes at most 4 KiB (1 728 bytes for a 3×3 filter over 25×5),
/// otherwise a ring of `(kh - 1) * dilation_h + 1` rows (1 248 bytes for a 3×3 filter over a
/// 48-pixel-wide input); for a one-channel input, the scratch of the equivalent convolution
/// plus the reordered filter. Zero when the fast path would not run anyway.
pub fn depthwise_conv2d_int8(
    kernels: Kernels,
    p: &DepthwiseConv2dParams,
    input_shape: Shape4,
    filter_shape: Shape4,
    output_shape: Shape4,
) -> usize {
    if kernels == Kernels::CortexMDsp && input_shape[3] == 1 {
        return depthwise_as_conv_bytes(filter_shape);
    }
    match (
        kernels,
        depthwise_bytes(p, input_shape, filter_shape, output_shape),
    ) {
        (Kernels::CortexMDsp, Some((plane, ring))) => {
            if plane <= DEPTHWISE_PLANE_BUDGET {
                plane
            } else {
                ring
            }
        }
        _ => 0,
    }
}

/// A depthwise convolution of a one-channel input is an ordinary convolution (each output
/// channel reads the one input channel): the DSP kernel runs it as one, with the filter
/// reordered to `[out_c, kh, kw, 1]` after the convolution's scratch.
pub(crate) fn depthwise_as_conv_bytes(filter_shape: Shape4) -> usize {
    let [_, kh, kw, out_c] = filter_shape;
    let conv = conv2d_layout([out_c, kh, kw, 1]);
    let filter = kh.saturating_mul(kw).saturating_mul(out_c);
    conv.0
        .saturating_mul(4)
        .saturating_add(conv.1.div_ceil(4) * 4)
        .saturating_add(filter)
}

/// Output rows from which the DSP fully connected kernel widens the input row into scratch
/// once instead of on the fly for every pair of rows: the widening costs about seven
/// instructions per four input values and saves two per pair of rows, so it pays from about
/// seven rows.
pub(crate) const FC_EXPAND_MIN_ROWS: usize = 8;

/// Whether the DSP fully connected kernel uses an expanded input row for these shapes (its
/// assembly needs rows of a multiple of four bytes, at least eight).
pub(crate) fn fully_connected_expands(accum_depth: usize, output_depth: usize) -> bool {
    output_depth >= FC_EXPAND_MIN_ROWS && accum_depth % 4 == 0 && accum_depth >= 8
}

/// FULLY_CONNECTED: the DSP kernel needs no scratch. With at least eight output rows it takes
/// one widened input row, two bytes per input value (1 280 bytes for a depth of 640), which
/// saves about a sixth of its instructions; given less it widens the input on the fly.
pub fn fully_connected_int8(
    kernels: Kernels,
    _batches: usize,
    accum_depth: usize,
    output_depth: usize,
) -> usize {
    match kernels {
        Kernels::Reference => 0,
        Kernels::CortexMDsp if fully_connected_expands(accum_depth, output_depth) => {
            accum_depth.saturating_mul(2)
        }
        Kernels::CortexMDsp => 0,
    }
}

/// Instructions per inference the DSP fully connected kernel saves with the scratch of
/// [`fully_connected_int8`] over widening its input on the fly: four per pair of rows and
/// eight input values, less about seven per four values to widen each batch row once (about
/// 19 000 for 640 values into 128 rows). The compiler weighs this against the arena the
/// scratch costs.
pub fn fully_connected_int8_saving(
    kernels: Kernels,
    batches: usize,
    accum_depth: usize,
    output_depth: usize,
) -> u64 {
    if fully_connected_int8(kernels, batches, accum_depth, output_depth) == 0 {
        return 0;
    }
    let saved = (output_depth / 2) as u64 * (accum_depth / 8) as u64 * 4;
    let widening = (accum_depth / 4) as u64 * 7;
    (batches as u64).saturating_mul(saved.saturating_sub(widening))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_kernels_need_nothing() {
        let p = DepthwiseConv2dParams {
            stride_h: 1,
            stride_w: 1,
            dilation_h: 1,
            dilation_w: 1,
            depth_multiplier: 1,
            ..Default::default()
        };
        let s = [1, 8, 8, 16];
        assert_eq!(conv2d_int8(Kernels::Reference, s, [16, 3, 3, 16], s), 0);
        assert_eq!(
            depthwise_conv2d_int8(Kernels::Reference, &p, s, [1, 3, 3, 16], s),
            0
        );
        assert_eq!(fully_connected_int8(Kernels::Reference, 1, 640, 128), 0);
    }

    #[test]
    fn dsp_sizes() {
        // 1×1 over 64 channels: 16 groups × 4 pixels × 2 words × 4 bytes.
        let s = [1, 25, 5, 64];
        assert_eq!(conv2d_int8(Kernels::CortexMDsp, s, [64, 1, 1, 64], s), 512);
        // K = 27 rounds up to 28; 3 channels need 28 bytes of staging.
        let (i, o) = ([1, 9, 9, 3], [1, 9, 9, 8]);
        assert_eq!(
            conv2d_int8(Kernels::CortexMDsp, i, [8, 3, 3, 3], o),
            7 * 32 + 28
        );
        assert_eq!(fully_connected_int8(Kernels::CortexMDsp, 1, 640, 128), 1280);
        // Too few rows to share the widening (micro_speech: 4000 values, 4 rows), or a depth
        // the assembly does not take: nothing.
        assert_eq!(fully_connected_int8(Kernels::CortexMDsp, 1, 4000, 4), 0);
        assert_eq!(fully_connected_int8(Kernels::CortexMDsp, 1, 30, 64), 0);
        // 3×3, pad 1, 48 wide, stride 1: the last window reads up to value 51, so a ring of
        // 3 rows × 4 channels × 52 values × 2 bytes (the plane would be 50 rows).
        let p = DepthwiseConv2dParams {
            stride_h: 1,
            stride_w: 1,
            dilation_h: 1,
            dilation_w: 1,
            pad_top: 1,
            pad_left: 1,
            depth_multiplier: 1,
            ..Default::default()
        };
        let s = [1, 48, 48, 8];
        assert_eq!(
            depthwise_conv2d_int8(Kernels::CortexMDsp, &p, s, [1, 3, 3, 8], s),
            1248
        );
        // 25×5 (kws): the whole plane, 27 rows × 4 × 8 × 2.
        let s = [1, 25, 5, 64];
        assert_eq!(
            depthwise_conv2d_int8(Kernels::CortexMDsp, &p, s, [1, 3, 3, 64], s),
            1728
        );
        // Outside the fast path (depth multiplier 2): nothing.
        let p2 = DepthwiseConv2dParams {
            depth_multiplier: 2,
            ..p
        };
        assert_eq!(
            depthwise_conv2d_int8(Kernels::CortexMDsp, &p2, s, [1, 3, 3, 128], s),
            0
        );
        // One input channel, 8 output channels (person_detect's first layer): a 3×3×1
        // convolution's 3 groups × 32 bytes, 12 bytes of staging, 72 filter bytes.
        let (i, o) = ([1, 96, 96, 1], [1, 48, 48, 8]);
        let p8 = DepthwiseConv2dParams {
            depth_multiplier: 8,
            ..p
        };
        assert_eq!(
            depthwise_conv2d_int8(Kernels::CortexMDsp, &p8, i, [1, 3, 3, 8], o),
            96 + 12 + 72
        );
    }
}
