//! Operators of a compiled model described as data, for the kinds a model uses many times.
//!
//! A generated block that calls a kernel inline spends a few hundred bytes of code on one
//! operator: the parameters built on the stack, the shapes, the slices, the arena cuts. A
//! model with thirty convolutions pays that thirty times. For a kernel that several of its
//! operators call, `mote-build` instead writes each operator's arguments as one record in
//! flash (a `static`, next to the weights) and the operator's block becomes one call to the
//! runner below, which reads the record, cuts the arena and calls the kernel. The runner is
//! code once per kernel; each further operator costs a call and its record.
//!
//! The records hold what the inline block would have held as constants — offsets the
//! planner chose, shapes, parameters, references to the constants — all checked on the host
//! against the validated artefact, so a runner's errors are as unreachable as the inline
//! block's ([`not_as_planned`]). The generated module wraps each runner it uses in one
//! function of its own (not inlined: being shared is its point) that first rebuilds the
//! record with what all its operators share as constants, so that the kernel is compiled
//! for those as it would be for an inline block.

use core::ops::Range;

use mote_format::params::{AddParams, Conv2dParams, DepthwiseConv2dParams};
use mote_kernels::{conv2d, depthwise_conv2d, select, Shape4};

use super::{i8s, not_as_planned, Memory};
use crate::{Error, OpCode};

/// The arguments of one CONV_2D or DEPTHWISE_CONV_2D (`P` its parameters).
pub struct FilterStep<P: 'static> {
    /// The operator's index in the artefact (for the error it cannot report).
    pub op: usize,
    pub params: P,
    /// The input's bytes in the arena.
    pub input: Range<usize>,
    pub input_shape: Shape4,
    /// The filter's int8 bytes, in flash.
    pub filter: &'static [u8],
    pub filter_shape: Shape4,
    pub bias: Option<&'static [i32]>,
    pub multiplier: &'static [i32],
    pub shift: &'static [i32],
    /// The output's bytes in the arena.
    pub output: Range<usize>,
    pub output_shape: Shape4,
    /// The scratch's bytes in the arena (empty, at the output's end, when there is none).
    pub scratch: Range<usize>,
}

/// The arguments of one ADD (both inputs in the arena).
pub struct AddStep {
    pub op: usize,
    pub params: AddParams,
    pub input1: Range<usize>,
    pub shape1: Shape4,
    pub input2: Range<usize>,
    pub shape2: Shape4,
    pub output: Range<usize>,
    pub output_shape: Shape4,
}

/// The arena cut around `output` and `scratch`, and the int8 bytes at `input`.
#[inline(always)]
fn cut<'a>(
    arena: &'a mut [u8],
    input: &Range<usize>,
    output: &Range<usize>,
    scratch: &Range<usize>,
    bad: impl Fn() -> Error,
) -> Result<(&'a [i8], Memory<'a>), Error> {
    let m = Memory::split(arena, output.clone(), scratch.clone()).ok_or_else(&bad)?;
    let x = m.input(input.start, input.len()).ok_or_else(&bad)?;
    Ok((i8s(x), m))
}

/// The kernel signature every filter runner calls: parameters, input and its shape, filter
/// and its shape, bias, multipliers, shifts, output and its shape, scratch; `false` if the
/// kernel refused (a fast path that does not apply after all).
type FilterKernel<P> = fn(
    &P,
    &[i8],
    Shape4,
    &[i8],
    Shape4,
    Option<&[i32]>,
    &[i32],
    &[i32],
    &mut [i8],
    Shape4,
    &mut [u8],
) -> bool;

/// Cuts the arena for record `s` and runs `kernel` on it.
#[inline(always)]
fn run_filter<P>(
    s: &FilterStep<P>,
    arena: &mut [u8],
    opcode: OpCode,
    kernel: FilterKernel<P>,
) -> Result<(), Error> {
    let bad = || not_as_planned(s.op, opcode);
    let (x, mut m) = cut(arena, &s.input, &s.output, &s.scratch, bad)?;
    let (out, scratch) = m.out_i8_and_scratch();
    let done = kernel(
        &s.params, x, s.input_shape, i8s(s.filter), s.filter_shape, s.bias, s.multiplier,
        s.shift, out, s.output_shape, scratch,
    );
    if done {
        Ok(())
    } else {
        Err(bad())
    }
}

/// CONV_2D through the reference kernel (the host found that the DSP fast path does not
/// apply, so the DSP kernel would fall back to it).
#[inline(always)]
pub fn conv2d_reference(s: &FilterStep<Conv2dParams>, arena: &mut [u8]) -> Result<(), Error> {
    run_filter(s, arena, OpCode::Conv2d, |p, x, xs, f, fs, b, m, sh, out, os, _| {
        conv2d::conv2d_int8(p, x, xs, f, fs, b, m, sh, out, os);
        true
    })
}

/// CONV_2D through the DSP fast path alone (the host found that it applies).
#[inline(always)]
pub fn conv2d_fast(s: &FilterStep<Conv2dParams>, arena: &mut [u8]) -> Result<(), Error> {
    run_filter(s, arena, OpCode::Conv2d, select::conv2d_int8_fast)
}

/// DEPTHWISE_CONV_2D through the reference kernel (the DSP fast path does not apply).
#[inline(always)]
pub fn depthwise_conv2d_reference(
    s: &FilterStep<DepthwiseConv2dParams>,
    arena: &mut [u8],
) -> Result<(), Error> {
    run_filter(s, arena, OpCode::DepthwiseConv2d, |p, x, xs, f, fs, b, m, sh, out, os, _| {
        depthwise_conv2d::depthwise_conv2d_int8(p, x, xs, f, fs, b, m, sh, out, os);
        true
    })
}

/// DEPTHWISE_CONV_2D through the DSP fast path alone.
#[inline(always)]
pub fn depthwise_conv2d_fast(
    s: &FilterStep<DepthwiseConv2dParams>,
    arena: &mut [u8],
) -> Result<(), Error> {
    run_filter(s, arena, OpCode::DepthwiseConv2d, select::depthwise_conv2d_int8_fast)
}

/// DEPTHWISE_CONV_2D of an input with more than one channel through the DSP fast path
/// alone, without the one-channel path linked.
#[inline(always)]
pub fn depthwise_conv2d_multichannel_fast(
    s: &FilterStep<DepthwiseConv2dParams>,
    arena: &mut [u8],
) -> Result<(), Error> {
    run_filter(
        s,
        arena,
        OpCode::DepthwiseConv2d,
        select::depthwise_conv2d_int8_fast_multichannel,
    )
}

/// ADD, both inputs read from the arena.
#[inline(always)]
pub fn add(s: &AddStep, arena: &mut [u8]) -> Result<(), Error> {
    let bad = || not_as_planned(s.op, OpCode::Add);
    let empty = s.output.end..s.output.end;
    let (a, mut m) = cut(arena, &s.input1, &s.output, &empty, bad)?;
    let b = i8s(m.input(s.input2.start, s.input2.len()).ok_or_else(bad)?);
    select::add_int8(
        &s.params, a, s.shape1, b, s.shape2, m.out_i8(), s.output_shape,
    );
    Ok(())
}
