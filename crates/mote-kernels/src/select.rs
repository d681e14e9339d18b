//! The one place where a build chooses between the reference kernels and the optimized ones,
//! by `cfg`: the Cortex-M DSP kernels ([`crate::dsp`]) where the build script found the DSP
//! extension (`cfg(mote_dsp)`: `thumbv7em-*`, `thumbv8m.main-*` with a DSP CPU,
//! `thumbv8.1m.main-*`), the reference kernels everywhere else (the host, Cortex-M0/M3).
//!
//! Every function has the reference kernel's signature, plus a `scratch` byte slice for the
//! kernels that use one, sized by the matching `*_scratch_bytes` function ([`KERNELS`]'s
//! figures from [`crate::scratch`]). The runtime calls these and nothing else, so switching
//! implementations never touches it. Results are identical whichever is selected: the DSP
//! kernels are bit-exact with the reference (and fall back to it when given too little
//! scratch).

use crate::scratch::{self, Kernels};
use crate::Shape4;
use mote_format::params::{
    AddParams, Conv2dParams, DepthwiseConv2dParams, FullyConnectedParams, Pool2dParams,
};

#[cfg(mote_dsp)]
use crate::dsp as imp;

/// The kernel family this build runs.
#[cfg(mote_dsp)]
pub const KERNELS: Kernels = Kernels::CortexMDsp;
/// The kernel family this build runs.
#[cfg(not(mote_dsp))]
pub const KERNELS: Kernels = Kernels::Reference;

/// Scratch bytes [`conv2d_int8`] uses in this build.
pub fn conv2d_int8_scratch_bytes(
    input_shape: Shape4,
    filter_shape: Shape4,
    output_shape: Shape4,
) -> usize {
    scratch::conv2d_int8(KERNELS, input_shape, filter_shape, output_shape)
}

/// CONV_2D, int8 per-channel: [`crate::conv2d::conv2d_int8`]'s result.
#[allow(clippy::too_many_arguments)]
#[inline]
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
    scratch: &mut [u8],
) {
    #[cfg(mote_dsp)]
    imp::conv2d::conv2d_int8(
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
    #[cfg(not(mote_dsp))]
    {
        let _ = scratch;
        crate::conv2d::conv2d_int8(
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

/// Scratch bytes [`depthwise_conv2d_int8`] uses in this build.
pub fn depthwise_conv2d_int8_scratch_bytes(
    p: &DepthwiseConv2dParams,
    input_shape: Shape4,
    filter_shape: Shape4,
    output_shape: Shape4,
) -> usize {
    scratch::depthwise_conv2d_int8(KERNELS, p, input_shape, filter_shape, output_shape)
}

/// DEPTHWISE_CONV_2D, int8 per-channel:
/// [`crate::depthwise_conv2d::depthwise_conv2d_int8`]'s result.
#[allow(clippy::too_many_arguments)]
#[inline]
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
    #[cfg(mote_dsp)]
    imp::depthwise_conv2d::depthwise_conv2d_int8(
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
    #[cfg(not(mote_dsp))]
    {
        let _ = scratch;
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

/// Scratch bytes [`fully_connected_int8`] uses in this build.
pub fn fully_connected_int8_scratch_bytes(
    batches: usize,
    accum_depth: usize,
    output_depth: usize,
) -> usize {
    scratch::fully_connected_int8(KERNELS, batches, accum_depth, output_depth)
}

/// FULLY_CONNECTED, int8: [`crate::fully_connected::fully_connected_int8`]'s result.
#[allow(clippy::too_many_arguments)]
#[inline]
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
    scratch: &mut [u8],
) {
    #[cfg(mote_dsp)]
    imp::fully_connected::fully_connected_int8(
        p,
        input,
        filter,
        bias,
        multiplier,
        shift,
        output,
        batches,
        accum_depth,
        output_depth,
        scratch,
    );
    #[cfg(not(mote_dsp))]
    {
        let _ = scratch;
        crate::fully_connected::fully_connected_int8(
            p,
            input,
            filter,
            bias,
            multiplier,
            shift,
            output,
            batches,
            accum_depth,
            output_depth,
        );
    }
}

/// AVERAGE_POOL_2D, int8: [`crate::pool2d::average_pool2d_int8`]'s result (no scratch).
#[inline]
pub fn average_pool2d_int8(
    p: &Pool2dParams,
    input: &[i8],
    input_shape: Shape4,
    output: &mut [i8],
    output_shape: Shape4,
) {
    #[cfg(mote_dsp)]
    imp::pool2d::average_pool2d_int8(p, input, input_shape, output, output_shape);
    #[cfg(not(mote_dsp))]
    crate::pool2d::average_pool2d_int8(p, input, input_shape, output, output_shape);
}

/// MAX_POOL_2D, int8: [`crate::pool2d::max_pool2d_int8`]'s result (no scratch).
#[inline]
pub fn max_pool2d_int8(
    p: &Pool2dParams,
    input: &[i8],
    input_shape: Shape4,
    output: &mut [i8],
    output_shape: Shape4,
) {
    #[cfg(mote_dsp)]
    imp::pool2d::max_pool2d_int8(p, input, input_shape, output, output_shape);
    #[cfg(not(mote_dsp))]
    crate::pool2d::max_pool2d_int8(p, input, input_shape, output, output_shape);
}

/// ADD, int8, with broadcasting: [`crate::add::add_int8`]'s result (no scratch).
#[inline]
pub fn add_int8(
    p: &AddParams,
    input1: &[i8],
    shape1: Shape4,
    input2: &[i8],
    shape2: Shape4,
    output: &mut [i8],
    output_shape: Shape4,
) {
    #[cfg(mote_dsp)]
    imp::add::add_int8(p, input1, shape1, input2, shape2, output, output_shape);
    #[cfg(not(mote_dsp))]
    crate::add::add_int8(p, input1, shape1, input2, shape2, output, output_shape);
}

// The fast paths alone, for the compiled runtime: `mote-build` runs the DSP kernel's fast path
// on the host for each operator, and where it applies (its decision depends on parameters,
// shapes, constants and scratch length, never on input values) the generated code calls one
// of these instead of the kernel above, so the reference kernel it would fall back to is not
// linked at all. Each returns `false`, having written nothing, if the fast path refuses after
// all; the caller treats that as a model that is not the one it was built for. Where this
// build runs the reference kernels, they are what runs, and the answer is always `true`.

/// CONV_2D through the DSP fast path only (see above); the reference kernel without DSP.
#[allow(clippy::too_many_arguments)]
#[inline]
pub fn conv2d_int8_fast(
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
    scratch: &mut [u8],
) -> bool {
    #[cfg(mote_dsp)]
    return imp::conv2d::conv2d_int8_fast(
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
    #[cfg(not(mote_dsp))]
    {
        conv2d_int8(
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
        true
    }
}

/// DEPTHWISE_CONV_2D through the DSP fast path only (see above); the reference kernel
/// without DSP.
#[allow(clippy::too_many_arguments)]
#[inline]
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
    #[cfg(mote_dsp)]
    return imp::depthwise_conv2d::depthwise_conv2d_int8_fast(
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
    #[cfg(not(mote_dsp))]
    {
        depthwise_conv2d_int8(
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
        true
    }
}

/// DEPTHWISE_CONV_2D through the DSP fast path for inputs of more than one channel only
/// (`false` for one channel); the reference kernel without DSP.
#[allow(clippy::too_many_arguments)]
#[inline]
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
    #[cfg(mote_dsp)]
    return imp::depthwise_conv2d::depthwise_conv2d_int8_fast_multichannel(
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
    #[cfg(not(mote_dsp))]
    {
        depthwise_conv2d_int8(
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
        true
    }
}

/// FULLY_CONNECTED through the DSP fast path only (see above); the reference kernel without
/// DSP.
#[allow(clippy::too_many_arguments)]
#[inline]
pub fn fully_connected_int8_fast(
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
    scratch: &mut [u8],
) -> bool {
    #[cfg(mote_dsp)]
    return imp::fully_connected::fully_connected_int8_fast(
        p,
        input,
        filter,
        bias,
        multiplier,
        shift,
        output,
        batches,
        accum_depth,
        output_depth,
        scratch,
    );
    #[cfg(not(mote_dsp))]
    {
        fully_connected_int8(
            p,
            input,
            filter,
            bias,
            multiplier,
            shift,
            output,
            batches,
            accum_depth,
            output_depth,
            scratch,
        );
        true
    }
}

/// FULLY_CONNECTED for a layer of a few hundred multiply-accumulates: the compact DSP
/// kernel ([`crate::dsp::fully_connected::fully_connected_int8_small`]) with DSP, the
/// reference kernel without. Same result as [`fully_connected_int8`].
#[allow(clippy::too_many_arguments)]
#[inline]
pub fn fully_connected_int8_small(
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
    #[cfg(mote_dsp)]
    imp::fully_connected::fully_connected_int8_small(
        p,
        input,
        filter,
        bias,
        multiplier,
        shift,
        output,
        batches,
        accum_depth,
        output_depth,
    );
    #[cfg(not(mote_dsp))]
    crate::fully_connected::fully_connected_int8(
        p,
        input,
        filter,
        bias,
        multiplier,
        shift,
        output,
        batches,
        accum_depth,
        output_depth,
    );
}

/// CONV_2D with input and output in one buffer `buf` (`input` and `output` its ranges, the
/// output starting at least [`crate::conv2d::overlap_distance`] bytes below the input):
/// [`conv2d_int8`]'s result, in less memory. `false` (nothing written) if `fast_only` and
/// the DSP fast path does not apply.
#[allow(clippy::too_many_arguments)]
#[inline]
pub fn conv2d_int8_overlapping(
    p: &Conv2dParams,
    buf: &mut [i8],
    input: core::ops::Range<usize>,
    input_shape: Shape4,
    filter: &[i8],
    filter_shape: Shape4,
    bias: Option<&[i32]>,
    multiplier: &[i32],
    shift: &[i32],
    output: core::ops::Range<usize>,
    output_shape: Shape4,
    scratch: &mut [u8],
    fast_only: bool,
) -> bool {
    let mut io = crate::conv2d::ConvIo::Overlapping { buf, input, output };
    #[cfg(mote_dsp)]
    {
        if imp::conv2d::conv2d_int8_fast_io(
            p,
            &mut io,
            input_shape,
            filter,
            filter_shape,
            bias,
            multiplier,
            shift,
            output_shape,
            scratch,
        ) {
            return true;
        }
        if fast_only {
            return false;
        }
    }
    let _ = (scratch, fast_only);
    crate::conv2d::conv2d_int8_io(
        p,
        &mut io,
        input_shape,
        filter,
        filter_shape,
        bias,
        multiplier,
        shift,
        output_shape,
    );
    true
}
