//! Checking and running one operator.
//!
//! [`run_op`] first checks everything the operator's kernel relies on (tensor counts, dtypes,
//! shapes, parameter ranges, memory ranges that must not overlap) and then, when asked to,
//! runs the kernel. `Interpreter::new` calls it with `execute = false` for every operator;
//! `invoke` calls it with `execute = true`, so the code that validates is the code that runs.
//! int8 kernels are called through [`mote_kernels::select`], which picks the Cortex-M DSP
//! kernels where the target has them and the reference kernels elsewhere.

use core::ops::Range;

use mote_format::params::{
    AddParams, Conv2dParams, DepthwiseConv2dParams, DequantizeParams, FullyConnectedParams,
    Pool2dParams, QuantizeParams, SoftmaxParams,
};
use mote_format::{DType, Location, Model, OpCode, OpInfo, TensorInfo};
use mote_kernels as k;

use crate::Error;

/// Upper bound for strides, dilations, filter sizes and padding: keeps index arithmetic far
/// from overflow on 32-bit targets while allowing any real model.
const MAX_WINDOW: i32 = 1 << 15;

/// Shifts the fixed-point helpers accept: a shift by 32 or more would overflow them.
const SHIFTS: core::ops::RangeInclusive<i32> = -31..=31;

/// Input position of the optional scratch buffer of CONV_2D, DEPTHWISE_CONV_2D and
/// FULLY_CONNECTED (after input, filter, bias, multiplier and shift).
const SCRATCH_INPUT: usize = 5;

/// The arena split around an operator's output and scratch, so that inputs can be borrowed
/// immutably from the rest while those two are borrowed mutably.
struct Views<'x> {
    model: Model<'x>,
    /// The read-only parts of the arena with their starting offsets.
    regions: [(usize, &'x [u8]); 3],
    out: &'x mut [u8],
    scratch: &'x mut [u8],
}

impl<'x> Views<'x> {
    /// `None` if a range lies outside the arena or the two overlap.
    fn new(model: Model<'x>, arena: &'x mut [u8], out: Range<usize>, scratch: Range<usize>) -> Option<Self> {
        let out_is_first = out.start <= scratch.start;
        let (first, second) = if out_is_first { (&out, &scratch) } else { (&scratch, &out) };
        if first.end > second.start || second.end > arena.len() || first.start > first.end {
            return None;
        }
        let (r0, rest) = arena.split_at_mut(first.start);
        let (m1, rest) = rest.split_at_mut(first.end - first.start);
        let (r1, rest) = rest.split_at_mut(second.start - first.end);
        let (m2, r2) = rest.split_at_mut(second.end - second.start);
        let (out_bytes, scratch_bytes) = if out_is_first { (m1, m2) } else { (m2, m1) };
        Some(Views {
            model,
            regions: [(0, r0), (first.end, r1), (second.end, r2)],
            out: out_bytes,
            scratch: scratch_bytes,
        })
    }

    /// The bytes of an input tensor; `None` if they overlap the output or the scratch.
    fn data(&self, t: &TensorInfo) -> Option<&'x [u8]> {
        match t.location {
            Location::Const => Some(self.model.const_data(t)),
            Location::Arena => {
                let end = t.offset.checked_add(t.byte_len)?;
                let &(start, region) = self
                    .regions
                    .iter()
                    .find(|(start, region)| t.offset >= *start && end <= start + region.len())?;
                region.get(t.offset - start..end - start)
            }
        }
    }

    fn i8s(&self, t: &TensorInfo) -> Option<&'x [i8]> {
        Some(bytemuck::cast_slice(self.data(t)?))
    }

    /// An int32 or float32 tensor, in place (validation guaranteed the alignment).
    fn words<T: bytemuck::Pod>(&self, t: &TensorInfo) -> Option<&'x [T]> {
        bytemuck::try_cast_slice(self.data(t)?).ok()
    }

    /// An optional bias: `Some(None)` when there is none, `None` when it cannot be read.
    fn bias<T: bytemuck::Pod>(&self, t: &Option<TensorInfo>) -> Option<Option<&'x [T]>> {
        match t {
            Some(t) => Some(Some(self.words(t)?)),
            None => Some(None),
        }
    }
}

fn out_i8(out: &mut [u8]) -> &mut [i8] {
    bytemuck::cast_slice_mut(out)
}

fn out_f32(out: &mut [u8]) -> Option<&mut [f32]> {
    bytemuck::try_cast_slice_mut(out).ok()
}

/// Everything about one operator that its checks and its kernel call need.
struct OpCtx<'m> {
    model: Model<'m>,
    op: OpInfo<'m>,
    index: usize,
}

impl<'m> OpCtx<'m> {
    fn bad(&self, what: &'static str) -> Error {
        Error::InvalidOp { op: self.index, opcode: self.op.opcode, what }
    }

    fn input(&self, i: usize) -> Result<TensorInfo, Error> {
        self.op
            .inputs
            .get(i)
            .and_then(|t| self.model.tensor(t))
            .ok_or(self.bad("a required input is missing"))
    }

    fn optional_input(&self, i: usize) -> Option<TensorInfo> {
        self.op.inputs.get(i).and_then(|t| self.model.tensor(t))
    }

    fn params<P: mote_format::Params>(&self) -> Result<P, Error> {
        self.op.params::<P>().ok_or(self.bad("parameters have the wrong length"))
    }

    fn ensure(&self, ok: bool, what: &'static str) -> Result<(), Error> {
        if ok {
            Ok(())
        } else {
            Err(self.bad(what))
        }
    }

    fn window(&self, values: &[i32], min: i32, what: &'static str) -> Result<(), Error> {
        self.ensure(values.iter().all(|&v| (min..=MAX_WINDOW).contains(&v)), what)
    }

    /// Checks the int32 per-channel requantization tensors at inputs `i` and `i + 1`.
    fn requant(&self, i: usize, allowed: &[usize]) -> Result<(TensorInfo, TensorInfo), Error> {
        let m = self.input(i)?;
        let s = self.input(i + 1)?;
        self.ensure(
            m.dtype == DType::Int32 && s.dtype == DType::Int32,
            "multiplier and shift must be int32",
        )?;
        self.ensure(
            m.elements() == s.elements() && allowed.contains(&m.elements()),
            "multiplier/shift length does not match the channels",
        )?;
        self.ensure(
            s.location == Location::Const && m.location == Location::Const,
            "multiplier and shift must be constants",
        )?;
        let shift_bytes = self.model.const_data(&s);
        let shifts_ok = shift_bytes.len() == s.byte_len
            && shift_bytes
                .chunks_exact(4)
                .all(|w| SHIFTS.contains(&i32::from_le_bytes([w[0], w[1], w[2], w[3]])));
        self.ensure(shifts_ok, "a shift is out of range (-31..=31)")?;
        Ok((m, s))
    }

    fn bias(&self, i: usize, dtype: DType, channels: usize) -> Result<Option<TensorInfo>, Error> {
        match self.optional_input(i) {
            None => Ok(None),
            Some(b) => {
                self.ensure(
                    b.dtype == dtype && b.elements() == channels,
                    "bias dtype or length does not match",
                )?;
                Ok(Some(b))
            }
        }
    }

    /// The scratch buffer, for the operators that take one.
    fn scratch(&self) -> Result<Option<TensorInfo>, Error> {
        let takes_scratch = matches!(
            self.op.opcode,
            OpCode::Conv2d | OpCode::DepthwiseConv2d | OpCode::FullyConnected
        );
        match self.optional_input(SCRATCH_INPUT) {
            Some(s) => {
                self.ensure(
                    takes_scratch && s.location == Location::Arena && s.dtype == DType::Int8,
                    "scratch must be an int8 arena tensor of CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED",
                )?;
                Ok(Some(s))
            }
            None => Ok(None),
        }
    }

    fn dtype_error(&self) -> Error {
        self.bad("dtype must be int8 or float32")
    }
}

/// Checks operator `o` and, if `execute`, runs it.
pub(crate) fn run_op<'m: 'x, 'x>(
    model: &Model<'m>,
    arena: &'x mut [u8],
    o: usize,
    execute: bool,
) -> Result<(), Error> {
    let op = model
        .op(o)
        .ok_or(Error::Format(mote_format::FormatError::BadOp { op: o, what: "record" }))?;
    let cx = OpCtx { model: *model, op, index: o };
    cx.ensure(op.outputs.len() == 1, "must have exactly one output")?;
    let out = op.outputs.get(0).and_then(|t| model.tensor(t)).ok_or(cx.bad("output is missing"))?;
    // An output without elements needs no kernel; its other dimensions can still be huge
    // (`[1, 4e9, 0, 1]`), and the kernels' loops over them would never end.
    let execute = execute && out.byte_len > 0;

    if op.opcode == OpCode::Reshape {
        let x = cx.input(0)?;
        cx.ensure(
            x.elements() == out.elements() && x.dtype == out.dtype,
            "input and output differ in size or dtype",
        )?;
        if execute {
            run_reshape(model, arena, &x, &out).ok_or(cx.bad("input lies outside the arena"))?;
        }
        return Ok(());
    }

    // Every other operator reads inputs that must overlap neither its output nor its scratch.
    let scratch = cx.scratch()?;
    let scratch_range = scratch.map_or(out.offset + out.byte_len..out.offset + out.byte_len, |s| {
        s.offset..s.offset + s.byte_len
    });
    let views = Views::new(*model, arena, out.offset..out.offset + out.byte_len, scratch_range)
        .ok_or(cx.bad("output or scratch lies outside the arena, or they overlap"))?;
    for (i, t) in op.inputs.iter().enumerate() {
        let Some(t) = t else { continue };
        if i == SCRATCH_INPUT && scratch.is_some() {
            continue;
        }
        let t = model.tensor(t).ok_or(cx.bad("input index out of range"))?;
        cx.ensure(views.data(&t).is_some(), "an input overlaps the output or the scratch")?;
        // An empty tensor can still have huge dimensions; a kernel windowing over one
        // (`[1, 4e9, 1, 0]`) for a non-empty output would loop for hours.
        cx.ensure(t.byte_len > 0 || out.byte_len == 0, "an input is empty but the output is not")?;
    }
    let views = if execute { Some(views) } else { None };

    match op.opcode {
        OpCode::Conv2d | OpCode::DepthwiseConv2d => conv(&cx, &out, views),
        OpCode::FullyConnected => fully_connected(&cx, &out, views),
        OpCode::AveragePool2d | OpCode::MaxPool2d => pool(&cx, &out, views),
        OpCode::Add => add(&cx, &out, views),
        OpCode::Softmax => softmax(&cx, &out, views),
        OpCode::Quantize => quantize(&cx, &out, views),
        OpCode::Dequantize => dequantize(&cx, &out, views),
        // Handled above, before the arena was split.
        OpCode::Reshape => Ok(()),
    }
}

/// The result of running a kernel: `None` when a tensor could not be viewed as its type,
/// which validation rules out.
fn ran(cx: &OpCtx<'_>, result: Option<()>) -> Result<(), Error> {
    result.ok_or(cx.bad("tensor data is misaligned"))
}

fn conv(cx: &OpCtx<'_>, out: &TensorInfo, views: Option<Views<'_>>) -> Result<(), Error> {
    let depthwise = cx.op.opcode == OpCode::DepthwiseConv2d;
    let (conv_params, depthwise_params) = if depthwise {
        (None, Some(cx.params::<DepthwiseConv2dParams>()?))
    } else {
        (Some(cx.params::<Conv2dParams>()?), None)
    };
    let (stride, dilation, pad, depth_multiplier) = match (&conv_params, &depthwise_params) {
        (Some(p), _) => ([p.stride_h, p.stride_w], [p.dilation_h, p.dilation_w], [p.pad_top, p.pad_left], 1),
        (_, Some(p)) => (
            [p.stride_h, p.stride_w],
            [p.dilation_h, p.dilation_w],
            [p.pad_top, p.pad_left],
            p.depth_multiplier,
        ),
        _ => return Err(cx.bad("parameters are missing")),
    };
    cx.window(
        &[stride[0], stride[1], dilation[0], dilation[1], depth_multiplier],
        1,
        "stride, dilation or depth multiplier out of range",
    )?;
    cx.window(&pad, -MAX_WINDOW, "padding out of range")?;
    let x = cx.input(0)?;
    let f = cx.input(1)?;
    cx.ensure(x.rank == 4 && f.rank == 4 && out.rank == 4, "input, filter and output must be 4-D")?;
    let [n, _, _, c] = x.dims;
    let [fo, _, _, fi] = f.dims;
    let [on, _, _, oc] = out.dims;
    cx.ensure(n == on, "batch of input and output differ")?;
    if depthwise {
        cx.ensure(
            fo == 1 && fi == oc && oc == c * depth_multiplier as usize,
            "filter shape does not match input depth × depth multiplier",
        )?;
    } else {
        cx.ensure(fi == c && fo == oc, "filter shape does not match input and output depth")?;
    }
    cx.ensure(f.dtype == x.dtype && out.dtype == x.dtype, "input, filter and output dtypes differ")?;
    match x.dtype {
        DType::Int8 => {
            let b = cx.bias(2, DType::Int32, oc)?;
            let (m, s) = cx.requant(3, &[oc])?;
            let Some(v) = views else { return Ok(()) };
            ran(cx, (|| {
                let (bias, mult, shift) = (v.bias::<i32>(&b)?, v.words::<i32>(&m)?, v.words::<i32>(&s)?);
                let (input, filter) = (v.i8s(&x)?, v.i8s(&f)?);
                let (output, scratch) = (out_i8(v.out), v.scratch);
                match (&conv_params, &depthwise_params) {
                    (Some(p), _) => k::select::conv2d_int8(
                        p, input, x.dims, filter, f.dims, bias, mult, shift, output, out.dims, scratch,
                    ),
                    (_, Some(p)) => k::select::depthwise_conv2d_int8(
                        p, input, x.dims, filter, f.dims, bias, mult, shift, output, out.dims, scratch,
                    ),
                    _ => return None,
                }
                Some(())
            })())
        }
        DType::Float32 => {
            let b = cx.bias(2, DType::Float32, oc)?;
            let Some(v) = views else { return Ok(()) };
            ran(cx, (|| {
                let (bias, input, filter) = (v.bias::<f32>(&b)?, v.words::<f32>(&x)?, v.words::<f32>(&f)?);
                let output = out_f32(v.out)?;
                match (&conv_params, &depthwise_params) {
                    (Some(p), _) => k::conv2d::conv2d_f32(p, input, x.dims, filter, f.dims, bias, output, out.dims),
                    (_, Some(p)) => k::depthwise_conv2d::depthwise_conv2d_f32(
                        p, input, x.dims, filter, f.dims, bias, output, out.dims,
                    ),
                    _ => return None,
                }
                Some(())
            })())
        }
        _ => Err(cx.dtype_error()),
    }
}

fn fully_connected(cx: &OpCtx<'_>, out: &TensorInfo, views: Option<Views<'_>>) -> Result<(), Error> {
    let p: FullyConnectedParams = cx.params()?;
    let x = cx.input(0)?;
    let f = cx.input(1)?;
    cx.ensure(f.rank == 2, "filter must be 2-D")?;
    let [units, depth, _, _] = f.dims;
    cx.ensure(
        depth > 0 && x.elements() % depth == 0,
        "input is not a whole number of rows of the filter depth",
    )?;
    let batches = x.elements() / depth;
    cx.ensure(out.elements() == batches * units, "output size is not batches × units")?;
    cx.ensure(f.dtype == x.dtype && out.dtype == x.dtype, "input, filter and output dtypes differ")?;
    match x.dtype {
        DType::Int8 => {
            let b = cx.bias(2, DType::Int32, units)?;
            let (m, s) = cx.requant(3, &[1, units])?;
            let Some(v) = views else { return Ok(()) };
            ran(cx, (|| {
                let (bias, mult, shift) = (v.bias::<i32>(&b)?, v.words::<i32>(&m)?, v.words::<i32>(&s)?);
                let (input, filter) = (v.i8s(&x)?, v.i8s(&f)?);
                k::select::fully_connected_int8(
                    &p, input, filter, bias, mult, shift, out_i8(v.out), batches, depth, units, v.scratch,
                );
                Some(())
            })())
        }
        DType::Float32 => {
            let b = cx.bias(2, DType::Float32, units)?;
            let Some(v) = views else { return Ok(()) };
            ran(cx, (|| {
                let (bias, input, filter) = (v.bias::<f32>(&b)?, v.words::<f32>(&x)?, v.words::<f32>(&f)?);
                k::fully_connected::fully_connected_f32(&p, input, filter, bias, out_f32(v.out)?, batches, depth, units);
                Some(())
            })())
        }
        _ => Err(cx.dtype_error()),
    }
}

fn pool(cx: &OpCtx<'_>, out: &TensorInfo, views: Option<Views<'_>>) -> Result<(), Error> {
    let p: Pool2dParams = cx.params()?;
    cx.window(&[p.stride_h, p.stride_w, p.filter_h, p.filter_w], 1, "stride or filter size out of range")?;
    cx.window(&[p.pad_top, p.pad_left], -MAX_WINDOW, "padding out of range")?;
    let x = cx.input(0)?;
    cx.ensure(x.rank == 4 && out.rank == 4, "input and output must be 4-D")?;
    cx.ensure(
        x.dims[0] == out.dims[0] && x.dims[3] == out.dims[3],
        "batch or depth of input and output differ",
    )?;
    cx.ensure(out.dtype == x.dtype, "input and output dtypes differ")?;
    let average = cx.op.opcode == OpCode::AveragePool2d;
    match x.dtype {
        DType::Int8 => {
            cx.ensure(p.act_min <= p.act_max, "activation bounds are crossed (act_min > act_max)")?;
            let Some(v) = views else { return Ok(()) };
            ran(cx, (|| {
                let (input, output) = (v.i8s(&x)?, out_i8(v.out));
                if average {
                    k::select::average_pool2d_int8(&p, input, x.dims, output, out.dims);
                } else {
                    k::select::max_pool2d_int8(&p, input, x.dims, output, out.dims);
                }
                Some(())
            })())
        }
        DType::Float32 => {
            let Some(v) = views else { return Ok(()) };
            ran(cx, (|| {
                let (input, output) = (v.words::<f32>(&x)?, out_f32(v.out)?);
                if average {
                    k::pool2d::average_pool2d_f32(&p, input, x.dims, output, out.dims);
                } else {
                    k::pool2d::max_pool2d_f32(&p, input, x.dims, output, out.dims);
                }
                Some(())
            })())
        }
        _ => Err(cx.dtype_error()),
    }
}

fn add(cx: &OpCtx<'_>, out: &TensorInfo, views: Option<Views<'_>>) -> Result<(), Error> {
    let p: AddParams = cx.params()?;
    let x = cx.input(0)?;
    let y = cx.input(1)?;
    let (xs, ys, os) = (x.dims4(), y.dims4(), out.dims4());
    let broadcastable = (0..4).all(|d| (xs[d] == os[d] || xs[d] == 1) && (ys[d] == os[d] || ys[d] == 1));
    cx.ensure(broadcastable, "input shapes do not broadcast to the output shape")?;
    cx.ensure(y.dtype == x.dtype && out.dtype == x.dtype, "input and output dtypes differ")?;
    match x.dtype {
        DType::Int8 => {
            cx.ensure((0..=31).contains(&p.left_shift), "left shift out of range")?;
            // The input and output rescalings only shift right (multipliers below one).
            cx.ensure(
                [p.input1_shift, p.input2_shift, p.output_shift].iter().all(|s| (-31..=0).contains(s)),
                "a shift is out of range (-31..=0)",
            )?;
            cx.ensure(p.act_min <= p.act_max, "activation bounds are crossed (act_min > act_max)")?;
            let Some(v) = views else { return Ok(()) };
            ran(cx, (|| {
                let (a, b) = (v.i8s(&x)?, v.i8s(&y)?);
                k::select::add_int8(&p, a, xs, b, ys, out_i8(v.out), os);
                Some(())
            })())
        }
        DType::Float32 => {
            let Some(v) = views else { return Ok(()) };
            ran(cx, (|| {
                let (a, b) = (v.words::<f32>(&x)?, v.words::<f32>(&y)?);
                k::add::add_f32(&p, a, xs, b, ys, out_f32(v.out)?, os);
                Some(())
            })())
        }
        _ => Err(cx.dtype_error()),
    }
}

fn softmax(cx: &OpCtx<'_>, out: &TensorInfo, views: Option<Views<'_>>) -> Result<(), Error> {
    let p: SoftmaxParams = cx.params()?;
    let x = cx.input(0)?;
    cx.ensure(
        x.rank >= 1 && x.elements() == out.elements() && out.dtype == x.dtype,
        "output must match the input",
    )?;
    let depth = x.dims[x.rank - 1];
    cx.ensure(depth > 0, "last dimension is empty")?;
    match x.dtype {
        DType::Int8 => {
            cx.ensure((0..=31).contains(&p.input_left_shift), "input left shift is out of range (0..=31)")?;
            let Some(v) = views else { return Ok(()) };
            ran(cx, (|| {
                k::softmax::softmax_int8(&p, v.i8s(&x)?, out_i8(v.out), depth);
                Some(())
            })())
        }
        DType::Float32 => {
            let Some(v) = views else { return Ok(()) };
            ran(cx, (|| {
                k::softmax::softmax_f32(&p, v.words::<f32>(&x)?, out_f32(v.out)?, depth);
                Some(())
            })())
        }
        _ => Err(cx.dtype_error()),
    }
}

fn quantize(cx: &OpCtx<'_>, out: &TensorInfo, views: Option<Views<'_>>) -> Result<(), Error> {
    let p: QuantizeParams = cx.params()?;
    let x = cx.input(0)?;
    cx.ensure(
        x.elements() == out.elements() && out.dtype == DType::Int8,
        "output must be int8 of the input's size",
    )?;
    match x.dtype {
        DType::Float32 => {
            let Some(v) = views else { return Ok(()) };
            ran(cx, (|| {
                k::quantize::quantize_f32_to_int8(&p, v.words::<f32>(&x)?, out_i8(v.out));
                Some(())
            })())
        }
        DType::Int8 => {
            cx.ensure(SHIFTS.contains(&p.shift), "shift is out of range (-31..=31)")?;
            let Some(v) = views else { return Ok(()) };
            ran(cx, (|| {
                k::quantize::requantize_int8(&p, v.i8s(&x)?, out_i8(v.out));
                Some(())
            })())
        }
        _ => Err(cx.bad("input must be float32 or int8")),
    }
}

fn dequantize(cx: &OpCtx<'_>, out: &TensorInfo, views: Option<Views<'_>>) -> Result<(), Error> {
    let p: DequantizeParams = cx.params()?;
    let x = cx.input(0)?;
    cx.ensure(
        x.dtype == DType::Int8 && out.dtype == DType::Float32 && x.elements() == out.elements(),
        "must map int8 to float32 of the same size",
    )?;
    let Some(v) = views else { return Ok(()) };
    ran(cx, (|| {
        k::quantize::dequantize_int8_to_f32(&p, v.i8s(&x)?, out_f32(v.out)?);
        Some(())
    })())
}

/// RESHAPE moves no data when the planner gave input and output the same offset, and copies
/// otherwise (e.g. from a constant, or when a graph input is reshaped into a graph output).
fn run_reshape(model: &Model<'_>, arena: &mut [u8], x: &TensorInfo, out: &TensorInfo) -> Option<()> {
    let out_end = out.offset.checked_add(out.byte_len)?;
    match x.location {
        Location::Arena => {
            if x.offset != out.offset {
                let end = x.offset.checked_add(x.byte_len)?;
                if end > arena.len() || out_end > arena.len() {
                    return None;
                }
                arena.copy_within(x.offset..end, out.offset);
            }
        }
        Location::Const => {
            let src = model.const_data(x);
            let dst = arena.get_mut(out.offset..out_end)?;
            if src.len() != dst.len() {
                return None;
            }
            dst.copy_from_slice(src);
        }
    }
    Some(())
}
