//! Checking and running one operator.
//!
//! [`run_op`] first checks everything the operator's kernel relies on (tensor counts, dtypes,
//! shapes, parameter ranges, memory ranges that must not overlap) and then, when asked to,
//! runs the kernel. `Interpreter::new` calls it with `execute = false` for every operator;
//! `invoke` calls it with `execute = true`, so the code that validates is the code that runs.

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

/// The arena split around an operator's output, so that inputs can be borrowed immutably
/// while the output is borrowed mutably.
struct Views<'x> {
    model: Model<'x>,
    before: &'x [u8],
    out: &'x mut [u8],
    after: &'x [u8],
    out_start: usize,
    out_end: usize,
}

impl<'x> Views<'x> {
    fn new(model: Model<'x>, arena: &'x mut [u8], out: &TensorInfo) -> Option<Self> {
        let out_end = out.offset.checked_add(out.byte_len)?;
        if out_end > arena.len() {
            return None;
        }
        let (before, rest) = arena.split_at_mut(out.offset);
        let (out_bytes, after) = rest.split_at_mut(out.byte_len);
        Some(Views {
            model,
            before,
            out: out_bytes,
            after,
            out_start: out.offset,
            out_end,
        })
    }

    /// The bytes of an input tensor; `None` if they overlap the output.
    fn data(&self, t: &TensorInfo) -> Option<&'x [u8]> {
        match t.location {
            Location::Const => Some(self.model.const_data(t)),
            Location::Arena => {
                let end = t.offset.checked_add(t.byte_len)?;
                if end <= self.out_start {
                    self.before.get(t.offset..end)
                } else if t.offset >= self.out_end {
                    self.after.get(t.offset - self.out_end..end - self.out_end)
                } else {
                    None
                }
            }
        }
    }
}

fn i8s(b: &[u8]) -> &[i8] {
    bytemuck::cast_slice(b)
}

fn i8s_mut(b: &mut [u8]) -> &mut [i8] {
    bytemuck::cast_slice_mut(b)
}

/// Everything about one operator that its checks and its kernel call need.
struct OpCtx<'m> {
    model: Model<'m>,
    op: OpInfo<'m>,
    index: usize,
}

impl<'m> OpCtx<'m> {
    fn bad(&self, what: &'static str) -> Error {
        Error::InvalidOp {
            op: self.index,
            opcode: self.op.opcode,
            what,
        }
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
        self.op
            .params::<P>()
            .ok_or(self.bad("parameters have the wrong length"))
    }

    fn ensure(&self, ok: bool, what: &'static str) -> Result<(), Error> {
        if ok {
            Ok(())
        } else {
            Err(self.bad(what))
        }
    }

    fn window(&self, values: &[i32], min: i32, what: &'static str) -> Result<(), Error> {
        self.ensure(
            values.iter().all(|&v| (min..=MAX_WINDOW).contains(&v)),
            what,
        )
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
}

/// Reads `t` through `views` as elements of a 4-byte type.
fn words<'x, T: bytemuck::Pod>(views: &Views<'x>, t: &TensorInfo) -> Option<&'x [T]> {
    bytemuck::try_cast_slice(views.data(t)?).ok()
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
        .ok_or(Error::Format(mote_format::FormatError::BadOp {
            op: o,
            what: "record",
        }))?;
    let cx = OpCtx {
        model: *model,
        op,
        index: o,
    };
    cx.ensure(op.outputs.len() == 1, "must have exactly one output")?;
    let out = op
        .outputs
        .get(0)
        .and_then(|t| model.tensor(t))
        .ok_or(cx.bad("output is missing"))?;
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

    // Every other operator reads inputs that must not overlap its output.
    let views = Views::new(*model, arena, &out).ok_or(cx.bad("output lies outside the arena"))?;
    for t in op.inputs.iter().flatten() {
        let t = model.tensor(t).ok_or(cx.bad("input index out of range"))?;
        cx.ensure(
            views.data(&t).is_some(),
            "an input overlaps the output in the arena",
        )?;
        // An empty tensor can still have huge dimensions; a kernel windowing over one
        // (`[1, 4e9, 1, 0]`) for a non-empty output would loop for hours.
        cx.ensure(
            t.byte_len > 0 || out.byte_len == 0,
            "an input is empty but the output is not",
        )?;
    }
    let fail = cx.bad("tensor data is misaligned");
    let exec = |ok: Option<()>| ok.ok_or(fail);

    match op.opcode {
        OpCode::Conv2d | OpCode::DepthwiseConv2d => {
            let depthwise = op.opcode == OpCode::DepthwiseConv2d;
            let (stride, dilation, pad, depth_multiplier) = if depthwise {
                let p: DepthwiseConv2dParams = cx.params()?;
                (
                    [p.stride_h, p.stride_w],
                    [p.dilation_h, p.dilation_w],
                    [p.pad_top, p.pad_left],
                    p.depth_multiplier,
                )
            } else {
                let p: Conv2dParams = cx.params()?;
                (
                    [p.stride_h, p.stride_w],
                    [p.dilation_h, p.dilation_w],
                    [p.pad_top, p.pad_left],
                    1,
                )
            };
            cx.window(
                &[
                    stride[0],
                    stride[1],
                    dilation[0],
                    dilation[1],
                    depth_multiplier,
                ],
                1,
                "stride, dilation or depth multiplier out of range",
            )?;
            cx.window(&[pad[0], pad[1]], -MAX_WINDOW, "padding out of range")?;
            let x = cx.input(0)?;
            let f = cx.input(1)?;
            cx.ensure(
                x.rank == 4 && f.rank == 4 && out.rank == 4,
                "input, filter and output must be 4-D",
            )?;
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
                cx.ensure(
                    fi == c && fo == oc,
                    "filter shape does not match input and output depth",
                )?;
            }
            cx.ensure(
                f.dtype == x.dtype && out.dtype == x.dtype,
                "input, filter and output dtypes differ",
            )?;
            match x.dtype {
                DType::Int8 => {
                    let b = cx.bias(2, DType::Int32, oc)?;
                    let (m, s) = cx.requant(3, &[oc])?;
                    if execute {
                        exec((|| {
                            let bias = match &b {
                                Some(b) => Some(words::<i32>(&views, b)?),
                                None => None,
                            };
                            let (mult, shift) =
                                (words::<i32>(&views, &m)?, words::<i32>(&views, &s)?);
                            let (input, filter) = (i8s(views.data(&x)?), i8s(views.data(&f)?));
                            let output = i8s_mut(views.out);
                            if depthwise {
                                let p: DepthwiseConv2dParams = cx.params().ok()?;
                                k::depthwise_conv2d::depthwise_conv2d_int8(
                                    &p, input, x.dims, filter, f.dims, bias, mult, shift, output,
                                    out.dims,
                                );
                            } else {
                                let p: Conv2dParams = cx.params().ok()?;
                                k::conv2d::conv2d_int8(
                                    &p, input, x.dims, filter, f.dims, bias, mult, shift, output,
                                    out.dims,
                                );
                            }
                            Some(())
                        })())?;
                    }
                }
                DType::Float32 => {
                    let b = cx.bias(2, DType::Float32, oc)?;
                    if execute {
                        exec((|| {
                            let bias = match &b {
                                Some(b) => Some(words::<f32>(&views, b)?),
                                None => None,
                            };
                            let (input, filter) =
                                (words::<f32>(&views, &x)?, words::<f32>(&views, &f)?);
                            let output: &mut [f32] =
                                bytemuck::try_cast_slice_mut(views.out).ok()?;
                            if depthwise {
                                let p: DepthwiseConv2dParams = cx.params().ok()?;
                                k::depthwise_conv2d::depthwise_conv2d_f32(
                                    &p, input, x.dims, filter, f.dims, bias, output, out.dims,
                                );
                            } else {
                                let p: Conv2dParams = cx.params().ok()?;
                                k::conv2d::conv2d_f32(
                                    &p, input, x.dims, filter, f.dims, bias, output, out.dims,
                                );
                            }
                            Some(())
                        })())?;
                    }
                }
                _ => return Err(cx.bad("dtype must be int8 or float32")),
            }
        }
        OpCode::FullyConnected => {
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
            cx.ensure(
                out.elements() == batches * units,
                "output size is not batches × units",
            )?;
            cx.ensure(
                f.dtype == x.dtype && out.dtype == x.dtype,
                "input, filter and output dtypes differ",
            )?;
            match x.dtype {
                DType::Int8 => {
                    let b = cx.bias(2, DType::Int32, units)?;
                    let (m, s) = cx.requant(3, &[1, units])?;
                    if execute {
                        exec((|| {
                            let bias = match &b {
                                Some(b) => Some(words::<i32>(&views, b)?),
                                None => None,
                            };
                            let (mult, shift) =
                                (words::<i32>(&views, &m)?, words::<i32>(&views, &s)?);
                            let (input, filter) = (i8s(views.data(&x)?), i8s(views.data(&f)?));
                            k::fully_connected::fully_connected_int8(
                                &p,
                                input,
                                filter,
                                bias,
                                mult,
                                shift,
                                i8s_mut(views.out),
                                batches,
                                depth,
                                units,
                            );
                            Some(())
                        })())?;
                    }
                }
                DType::Float32 => {
                    let b = cx.bias(2, DType::Float32, units)?;
                    if execute {
                        exec((|| {
                            let bias = match &b {
                                Some(b) => Some(words::<f32>(&views, b)?),
                                None => None,
                            };
                            let (input, filter) =
                                (words::<f32>(&views, &x)?, words::<f32>(&views, &f)?);
                            let output: &mut [f32] =
                                bytemuck::try_cast_slice_mut(views.out).ok()?;
                            k::fully_connected::fully_connected_f32(
                                &p, input, filter, bias, output, batches, depth, units,
                            );
                            Some(())
                        })())?;
                    }
                }
                _ => return Err(cx.bad("dtype must be int8 or float32")),
            }
        }
        OpCode::AveragePool2d | OpCode::MaxPool2d => {
            let p: Pool2dParams = cx.params()?;
            cx.window(
                &[p.stride_h, p.stride_w, p.filter_h, p.filter_w],
                1,
                "stride or filter size out of range",
            )?;
            cx.window(
                &[p.pad_top, p.pad_left],
                -MAX_WINDOW,
                "padding out of range",
            )?;
            let x = cx.input(0)?;
            cx.ensure(x.rank == 4 && out.rank == 4, "input and output must be 4-D")?;
            cx.ensure(
                x.dims[0] == out.dims[0] && x.dims[3] == out.dims[3],
                "batch or depth of input and output differ",
            )?;
            cx.ensure(out.dtype == x.dtype, "input and output dtypes differ")?;
            if x.dtype == DType::Int8 {
                cx.ensure(
                    p.act_min <= p.act_max,
                    "activation bounds are crossed (act_min > act_max)",
                )?;
            }
            let average = op.opcode == OpCode::AveragePool2d;
            match x.dtype {
                DType::Int8 => {
                    if execute {
                        exec((|| {
                            let (input, output) = (i8s(views.data(&x)?), i8s_mut(views.out));
                            if average {
                                k::pool2d::average_pool2d_int8(&p, input, x.dims, output, out.dims);
                            } else {
                                k::pool2d::max_pool2d_int8(&p, input, x.dims, output, out.dims);
                            }
                            Some(())
                        })())?;
                    }
                }
                DType::Float32 => {
                    if execute {
                        exec((|| {
                            let input = words::<f32>(&views, &x)?;
                            let output: &mut [f32] =
                                bytemuck::try_cast_slice_mut(views.out).ok()?;
                            if average {
                                k::pool2d::average_pool2d_f32(&p, input, x.dims, output, out.dims);
                            } else {
                                k::pool2d::max_pool2d_f32(&p, input, x.dims, output, out.dims);
                            }
                            Some(())
                        })())?;
                    }
                }
                _ => return Err(cx.bad("dtype must be int8 or float32")),
            }
        }
        OpCode::Add => {
            let p: AddParams = cx.params()?;
            let x = cx.input(0)?;
            let y = cx.input(1)?;
            let (xs, ys, os) = (x.dims4(), y.dims4(), out.dims4());
            let broadcastable =
                (0..4).all(|d| (xs[d] == os[d] || xs[d] == 1) && (ys[d] == os[d] || ys[d] == 1));
            cx.ensure(
                broadcastable,
                "input shapes do not broadcast to the output shape",
            )?;
            cx.ensure(
                y.dtype == x.dtype && out.dtype == x.dtype,
                "input and output dtypes differ",
            )?;
            if x.dtype == DType::Int8 {
                cx.ensure((0..=31).contains(&p.left_shift), "left shift out of range")?;
                // The input and output rescalings only shift right (multipliers below one).
                cx.ensure(
                    [p.input1_shift, p.input2_shift, p.output_shift]
                        .iter()
                        .all(|s| (-31..=0).contains(s)),
                    "a shift is out of range (-31..=0)",
                )?;
                cx.ensure(
                    p.act_min <= p.act_max,
                    "activation bounds are crossed (act_min > act_max)",
                )?;
            }
            match x.dtype {
                DType::Int8 => {
                    if execute {
                        exec((|| {
                            let (a, b) = (i8s(views.data(&x)?), i8s(views.data(&y)?));
                            k::add::add_int8(&p, a, xs, b, ys, i8s_mut(views.out), os);
                            Some(())
                        })())?;
                    }
                }
                DType::Float32 => {
                    if execute {
                        exec((|| {
                            let (a, b) = (words::<f32>(&views, &x)?, words::<f32>(&views, &y)?);
                            let output: &mut [f32] =
                                bytemuck::try_cast_slice_mut(views.out).ok()?;
                            k::add::add_f32(&p, a, xs, b, ys, output, os);
                            Some(())
                        })())?;
                    }
                }
                _ => return Err(cx.bad("dtype must be int8 or float32")),
            }
        }
        OpCode::Softmax => {
            let p: SoftmaxParams = cx.params()?;
            let x = cx.input(0)?;
            cx.ensure(
                x.rank >= 1 && x.elements() == out.elements() && out.dtype == x.dtype,
                "output must match the input",
            )?;
            let depth = x.dims[x.rank - 1];
            cx.ensure(depth > 0, "last dimension is empty")?;
            if x.dtype == DType::Int8 {
                cx.ensure(
                    (0..=31).contains(&p.input_left_shift),
                    "input left shift is out of range (0..=31)",
                )?;
            }
            match x.dtype {
                DType::Int8 => {
                    if execute {
                        exec((|| {
                            k::softmax::softmax_int8(
                                &p,
                                i8s(views.data(&x)?),
                                i8s_mut(views.out),
                                depth,
                            );
                            Some(())
                        })())?;
                    }
                }
                DType::Float32 => {
                    if execute {
                        exec((|| {
                            let input = words::<f32>(&views, &x)?;
                            let output: &mut [f32] =
                                bytemuck::try_cast_slice_mut(views.out).ok()?;
                            k::softmax::softmax_f32(&p, input, output, depth);
                            Some(())
                        })())?;
                    }
                }
                _ => return Err(cx.bad("dtype must be int8 or float32")),
            }
        }
        OpCode::Quantize => {
            let p: QuantizeParams = cx.params()?;
            let x = cx.input(0)?;
            cx.ensure(
                x.elements() == out.elements() && out.dtype == DType::Int8,
                "output must be int8 of the input's size",
            )?;
            match x.dtype {
                DType::Float32 => {
                    if execute {
                        exec((|| {
                            k::quantize::quantize_f32_to_int8(
                                &p,
                                words::<f32>(&views, &x)?,
                                i8s_mut(views.out),
                            );
                            Some(())
                        })())?;
                    }
                }
                DType::Int8 => {
                    cx.ensure(
                        SHIFTS.contains(&p.shift),
                        "shift is out of range (-31..=31)",
                    )?;
                    if execute {
                        exec((|| {
                            k::quantize::requantize_int8(
                                &p,
                                i8s(views.data(&x)?),
                                i8s_mut(views.out),
                            );
                            Some(())
                        })())?;
                    }
                }
                _ => return Err(cx.bad("input must be float32 or int8")),
            }
        }
        OpCode::Dequantize => {
            let p: DequantizeParams = cx.params()?;
            let x = cx.input(0)?;
            cx.ensure(
                x.dtype == DType::Int8
                    && out.dtype == DType::Float32
                    && x.elements() == out.elements(),
                "must map int8 to float32 of the same size",
            )?;
            if execute {
                exec((|| {
                    let input = i8s(views.data(&x)?);
                    let output: &mut [f32] = bytemuck::try_cast_slice_mut(views.out).ok()?;
                    k::quantize::dequantize_int8_to_f32(&p, input, output);
                    Some(())
                })())?;
            }
        }
        // Handled above, before the output was split off.
        OpCode::Reshape => {}
    }
    Ok(())
}

/// RESHAPE moves no data when the planner gave input and output the same offset, and copies
/// otherwise (e.g. from a constant, or when a graph input is reshaped into a graph output).
fn run_reshape(
    model: &Model<'_>,
    arena: &mut [u8],
    x: &TensorInfo,
    out: &TensorInfo,
) -> Option<()> {
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
