//! Checking and running one operator.
//!
//! [`check_op`] runs once per operator, in `Interpreter::new`: it checks everything the
//! operator's kernel relies on — tensor counts, dtypes, shapes, parameter ranges (every
//! per-channel shift included), memory ranges that must lie in the arena and must not overlap.
//! [`run_op`] runs on every invoke: it decodes the operator again from the artefact, forms the
//! kernel's slices and calls the kernel, without repeating those checks. int8 kernels are
//! called through [`mote_kernels::select`], which picks the Cortex-M DSP kernels where the
//! target has them and the reference kernels elsewhere.
//!
//! Why `run_op` need not check again: every check is a function of the model's bytes and of
//! the arena's length, and of nothing else. The bytes are `&'m [u8]`, a shared borrow of plain
//! bytes that cannot change while the interpreter exists (no interior mutability in `u8`);
//! the interpreter holds the arena's `&mut [u8]` for its whole life, so the length cannot
//! change either. Decoding the same bytes again yields the same operators, tensors, params and
//! shifts, and every check would answer as it did in `new`. What does change between invokes
//! is the arena's contents — inputs, activations — and no check reads them: the kernels accept
//! any values. What `run_op` keeps are the checks that safe Rust needs to form slices at all
//! (`get`, the comparisons before `split_at_mut`, `try_cast_slice`, a checked division): each
//! is a compare and an untaken branch after validation, and it yields an error, not a panic,
//! so a gap in this argument could never become an out-of-bounds access.
//!
//! Both halves of an operator live side by side below (`check_conv` next to `run_conv2d`, …),
//! and both read tensors through the same [`Views`], so what is checked is what runs.

use mote_format::params::{
    AddParams, Conv2dParams, DepthwiseConv2dParams, DequantizeParams, FullyConnectedParams,
    Pool2dParams, QuantizeParams, SoftmaxParams,
};
use mote_format::{DType, Location, Model, OpCode, OpInfo, Place, TensorInfo};
use core::ops::Range;
use mote_kernels as k;

use crate::ops::has;
use crate::plan::Memory;
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
    model: &'x Model<'x>,
    /// The arena cut around the output and the scratch.
    mem: Memory<'x>,
    /// The output's dimensions (as stored) and dtype.
    out_dims: [usize; 4],
    out_dtype: DType,
}

impl<'x> Views<'x> {
    /// Splits `arena` around operator `op`'s output (output 0, whose dimensions and dtype it keeps) and
    /// its scratch (input [`SCRATCH_INPUT`] of the operators that take one), into `slot`.
    /// `None` if a range lies outside the arena or the two overlap. (Built in the caller's
    /// `slot` and used through the reference: returning the views by value costs a copy of
    /// them on every operator.)
    #[inline(never)]
    fn split<'s>(
        slot: &'s mut Option<Self>,
        model: &'x Model<'x>,
        arena: &'x mut [u8],
        op: &OpInfo<'_>,
    ) -> Option<&'s mut Self> {
        let out_tensor = op.outputs.get(0)?;
        let (out_dtype, out_dims) = model.tensor_shape(out_tensor)?;
        let out = match model.tensor_place(out_tensor)? {
            Place::Arena { offset, len } => offset..offset.checked_add(len)?,
            Place::Const(_) => return None,
        };
        let scratch = match takes_scratch(op.opcode)
            .then(|| op.inputs.get(SCRATCH_INPUT))
            .flatten()
        {
            Some(s) => match model.tensor_place(s)? {
                Place::Arena { offset, len } => offset..offset.checked_add(len)?,
                Place::Const(_) => return None,
            },
            None => out.end..out.end,
        };
        *slot = Some(Views {
            model,
            mem: Memory::split(arena, out, scratch)?,
            out_dims,
            out_dtype,
        });
        slot.as_mut()
    }

    /// The bytes of tensor `t`; `None` if they overlap the output or the scratch. The one
    /// way both `check_op` and the operators' `run_*` reach an input's bytes.
    #[inline(never)]
    fn data(&self, t: usize) -> Option<&'x [u8]> {
        self.data_inline(t)
    }

    /// [`Views::data`], inlined into [`Views::inputs`]' loop.
    #[inline(always)]
    fn data_inline(&self, t: usize) -> Option<&'x [u8]> {
        match self.model.tensor_place(t)? {
            Place::Const(bytes) => Some(bytes),
            Place::Arena { offset, len } => self.mem.input(offset, len),
        }
    }

    /// The bytes of inputs `0..N` of `op`, in one pass (an omitted optional input is empty).
    #[inline(always)]
    fn inputs<const N: usize>(&self, op: &OpInfo<'_>) -> Option<[&'x [u8]; N]> {
        let mut bytes: [&'x [u8]; N] = [&[]; N];
        for (i, b) in bytes.iter_mut().enumerate() {
            if let Some(t) = op.inputs.get(i) {
                *b = self.data_inline(t)?;
            }
        }
        Some(bytes)
    }

    /// The bytes of input `i` of `op`.
    #[inline(always)]
    fn input(&self, op: &OpInfo<'_>, i: usize) -> Option<&'x [u8]> {
        self.data(op.inputs.get(i)?)
    }

    /// The description of input `i` of `op`, in a frame of its own, so that a `run_*` keeps
    /// only what it takes from it on its stack while its kernel runs (as the accessors
    /// below).
    #[inline(never)]
    fn info(&self, op: &OpInfo<'_>, i: usize) -> Option<TensorInfo> {
        self.model.tensor(op.inputs.get(i)?)
    }

    /// The dimensions of input `i` of `op`, as stored (entries beyond the rank are 1).
    #[inline(always)]
    fn dims(&self, op: &OpInfo<'_>, i: usize) -> Option<[usize; 4]> {
        Some(self.model.tensor_shape(op.inputs.get(i)?)?.1)
    }

    /// The shape of `op`'s output right-aligned into four dimensions.
    #[inline(never)]
    fn out_dims4(&self, op: &OpInfo<'_>) -> Option<[usize; 4]> {
        Some(self.model.tensor(op.outputs.get(0)?)?.dims4())
    }

    /// The shape of input `i` of `op` right-aligned into four dimensions.
    #[inline(never)]
    fn dims4(&self, op: &OpInfo<'_>, i: usize) -> Option<[usize; 4]> {
        Some(self.info(op, i)?.dims4())
    }

    fn out_i8(&mut self) -> &mut [i8] {
        self.mem.out_i8()
    }

    /// The int8 output and the scratch, for the kernels that take both.
    fn out_i8_and_scratch(&mut self) -> (&mut [i8], &mut [u8]) {
        self.mem.out_i8_and_scratch()
    }

    #[cfg(feature = "float32")]
    fn out_f32(&mut self) -> Option<&mut [f32]> {
        bytemuck::try_cast_slice_mut(self.mem.out).ok()
    }
}

/// Bytes as int32 or float32 values, in place (validation guaranteed the alignment).
#[inline(always)]
fn words<T: bytemuck::Pod>(bytes: &[u8]) -> Option<&[T]> {
    bytemuck::try_cast_slice(bytes).ok()
}

/// The bias from [`Views::inputs`]: `Some(None)` when `op` has none.
#[inline(always)]
fn bias<'b, T: bytemuck::Pod>(op: &OpInfo<'_>, bytes: &'b [u8]) -> Option<Option<&'b [T]>> {
    match op.inputs.get(2) {
        Some(_) => Some(Some(words(bytes)?)),
        None => Some(None),
    }
}

fn takes_scratch(opcode: OpCode) -> bool {
    matches!(
        opcode,
        OpCode::Conv2d | OpCode::DepthwiseConv2d | OpCode::FullyConnected
    )
}

// ---------------------------------------------------------------------------------------------
// Checking (Interpreter::new).

/// Everything about one operator that its checks need.
struct OpCtx<'c, 'm> {
    model: &'c Model<'m>,
    op: OpInfo<'m>,
    index: usize,
}

impl OpCtx<'_, '_> {
    #[cold]
    #[inline(never)]
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
            .ok_or_else(|| self.bad("a required input is missing"))
    }

    fn optional_input(&self, i: usize) -> Option<TensorInfo> {
        self.op.inputs.get(i).and_then(|t| self.model.tensor(t))
    }

    fn params<P: mote_format::Params>(&self) -> Result<P, Error> {
        self.op
            .params::<P>()
            .ok_or_else(|| self.bad("parameters have the wrong length"))
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

    /// Checks the int32 per-channel requantization tensors at inputs `i` and `i + 1`, and
    /// every shift in them (once: they are constants in the immutable model bytes).
    fn requant(&self, i: usize, allowed: &[usize]) -> Result<(), Error> {
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
        self.ensure(shifts_ok, "a shift is out of range (-31..=31)")
    }

    fn bias(&self, dtype: DType, channels: usize) -> Result<(), Error> {
        match self.optional_input(2) {
            None => Ok(()),
            Some(b) => self.ensure(
                b.dtype == dtype && b.elements() == channels,
                "bias dtype or length does not match",
            ),
        }
    }

    /// The scratch buffer, for the operators that take one.
    fn scratch(&self) -> Result<(), Error> {
        match self.optional_input(SCRATCH_INPUT) {
            Some(s) => self.ensure(
                takes_scratch(self.op.opcode) && s.location == Location::Arena && s.dtype == DType::Int8,
                "scratch must be an int8 arena tensor of CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED",
            ),
            None => Ok(()),
        }
    }

    /// Float operators are refused when the float kernels are not compiled in.
    fn float(&self) -> Result<(), Error> {
        if cfg!(feature = "float32") {
            Ok(())
        } else {
            Err(self.bad("float32 support is not compiled in (mote-runtime's `float32` feature)"))
        }
    }

    fn dtype_error(&self) -> Error {
        self.bad("dtype must be int8 or float32")
    }
}

/// Checks operator `o` against `arena` (whose contents it does not touch).
#[inline(never)]
pub(crate) fn check_op<const OPS: u32>(
    model: &Model<'_>,
    arena: &mut [u8],
    o: usize,
) -> Result<(), Error> {
    let op = model
        .op(o)
        .ok_or(Error::Format(mote_format::FormatError::BadOp {
            op: o,
            what: "record",
        }))?;
    let cx = OpCtx {
        model,
        op,
        index: o,
    };
    cx.ensure(has(OPS, op.opcode), "operator not compiled into this build")?;
    cx.ensure(op.outputs.len() == 1, "must have exactly one output")?;
    let out = op
        .outputs
        .get(0)
        .and_then(|t| model.tensor(t))
        .ok_or_else(|| cx.bad("output is missing"))?;

    if op.opcode == OpCode::Reshape {
        let x = cx.input(0)?;
        cx.ensure(
            x.elements() == out.elements() && x.dtype == out.dtype,
            "input and output differ in size or dtype",
        )?;
        // A reshape of an activation is a new view of the same bytes (the planner gives
        // both one buffer), so it never runs; see docs/format.md.
        return cx.ensure(
            x.location != Location::Arena || x.offset == out.offset,
            "output is not placed on its input's bytes",
        );
    }

    cx.scratch()?;
    if let Some(shared) = has(OPS, OpCode::Conv2d).then(|| shared_conv(model, &op)).flatten() {
        check_shared_conv(&cx, arena, &out, shared)?;
    } else {
        check_memory(&cx, arena, out.byte_len)?;
    }
    match op.opcode {
        OpCode::Conv2d | OpCode::DepthwiseConv2d
            if (has(OPS, OpCode::Conv2d) || has(OPS, OpCode::DepthwiseConv2d)) =>
        {
            check_conv(&cx, &out)
        }
        OpCode::FullyConnected if has(OPS, OpCode::FullyConnected) => {
            check_fully_connected(&cx, &out)
        }
        OpCode::AveragePool2d | OpCode::MaxPool2d
            if (has(OPS, OpCode::AveragePool2d) || has(OPS, OpCode::MaxPool2d)) =>
        {
            check_pool(&cx, &out)
        }
        OpCode::Add if has(OPS, OpCode::Add) => check_add(&cx, &out),
        OpCode::Softmax if has(OPS, OpCode::Softmax) => check_softmax(&cx, &out),
        OpCode::Quantize if has(OPS, OpCode::Quantize) => check_quantize(&cx, &out),
        OpCode::Dequantize if has(OPS, OpCode::Dequantize) => check_dequantize(&cx, &out),
        _ => Ok(()),
    }
}

/// The arena ranges of input 0 and the output of a CONV_2D whose input shares memory with
/// its output (the planner's `shared_convolutions`; docs/format.md); `None` for every other
/// operator, including convolutions whose input and output are apart.
#[inline(never)]
fn shared_conv(model: &Model<'_>, op: &OpInfo<'_>) -> Option<(Range<usize>, Range<usize>)> {
    if op.opcode != OpCode::Conv2d {
        return None;
    }
    let range = |t: Option<usize>| match model.tensor_place(t?)? {
        Place::Arena { offset, len } => Some(offset..offset.checked_add(len)?),
        Place::Const(_) => None,
    };
    let (x, y) = (range(op.inputs.get(0))?, range(op.outputs.get(0))?);
    (x.start < y.end && y.start < x.end).then_some((x, y))
}

/// The checks of a convolution whose input shares its output's memory: int8, one batch, the
/// input starting at least `overlap_distance` bytes after the output (so that the output,
/// written pixel by pixel, never overwrites input still to be read), the scratch and every
/// other input clear of both.
#[inline(never)]
fn check_shared_conv(
    cx: &OpCtx<'_, '_>,
    arena: &mut [u8],
    out: &TensorInfo,
    (x, y): (Range<usize>, Range<usize>),
) -> Result<(), Error> {
    let input = cx.input(0)?;
    cx.ensure(
        input.dtype == DType::Int8 && out.dtype == DType::Int8,
        "an input that shares the output's memory must be int8, as the output",
    )?;
    let p = cx
        .op
        .params::<Conv2dParams>()
        .ok_or_else(|| cx.bad("parameters do not decode"))?;
    let distance = k::conv2d::overlap_distance(&p, input.dims4(), out.dims4());
    cx.ensure(
        distance.is_some_and(|d| x.start >= y.start && x.start - y.start >= d),
        "input shares the output's memory but starts too close after it",
    )?;
    let region = y.start.min(x.start)..y.end.max(x.end);
    let scratch = match cx.op.inputs.get(SCRATCH_INPUT) {
        Some(s) => match cx.model.tensor_place(s) {
            Some(Place::Arena { offset, len }) => offset..offset.saturating_add(len),
            _ => return Err(cx.bad("scratch is not in the arena")),
        },
        None => region.end..region.end,
    };
    let mem = Memory::split(arena, region, scratch)
        .ok_or_else(|| cx.bad("output or scratch lies outside the arena, or they overlap"))?;
    for i in 1..SCRATCH_INPUT {
        let Some(t) = cx.op.inputs.get(i) else { continue };
        let clear = match cx.model.tensor_place(t) {
            Some(Place::Const(_)) => true,
            Some(Place::Arena { offset, len }) => mem.input(offset, len).is_some(),
            None => false,
        };
        cx.ensure(clear, "an input overlaps the output or the scratch")?;
    }
    Ok(())
}

/// Runs a CONV_2D whose input (`x`) shares its output's (`y`) memory (checked by
/// [`check_shared_conv`]).
#[inline(never)]
fn run_conv2d_shared(
    model: &Model<'_>,
    arena: &mut [u8],
    op: &OpInfo<'_>,
    (x, y): (Range<usize>, Range<usize>),
) -> Option<()> {
    let region = y.start.min(x.start)..y.end.max(x.end);
    let scratch = match op.inputs.get(SCRATCH_INPUT) {
        Some(s) => match model.tensor_place(s)? {
            Place::Arena { offset, len } => offset..offset.checked_add(len)?,
            Place::Const(_) => return None,
        },
        None => region.end..region.end,
    };
    let p = op.params::<Conv2dParams>()?;
    let x_dims = model.tensor_shape(op.inputs.get(0)?)?.1;
    let f_dims = model.tensor_shape(op.inputs.get(1)?)?.1;
    let out_dims = model.tensor_shape(op.outputs.get(0)?)?.1;
    let mut mem = Memory::split(arena, region.clone(), scratch)?;
    let constant = |i: usize| match model.tensor_place(op.inputs.get(i)?)? {
        Place::Const(bytes) => Some(bytes),
        Place::Arena { offset, len } => mem.input(offset, len),
    };
    let (filter, bias_bytes, mult, shift) = (
        bytemuck::cast_slice(constant(1)?),
        match op.inputs.get(2) {
            Some(_) => constant(2)?,
            None => &[],
        },
        words(constant(3)?)?,
        words(constant(4)?)?,
    );
    let bias = bias(op, bias_bytes)?;
    let (out, scratch) = mem.out_i8_and_scratch();
    k::select::conv2d_int8_overlapping(
        &p,
        out,
        x.start - region.start..x.end - region.start,
        x_dims,
        filter,
        f_dims,
        bias,
        mult,
        shift,
        y.start - region.start..y.end - region.start,
        out_dims,
        scratch,
        false,
    );
    Some(())
}

/// Every operator but RESHAPE reads inputs that must overlap neither its output nor its
/// scratch. (A function of its own, so that its views are off the stack while the
/// operator's own checks run.)
#[inline(never)]
fn check_memory(cx: &OpCtx<'_, '_>, arena: &mut [u8], out_bytes: usize) -> Result<(), Error> {
    let mut slot = None;
    let views = Views::split(&mut slot, cx.model, arena, &cx.op)
        .ok_or_else(|| cx.bad("output or scratch lies outside the arena, or they overlap"))?;
    for (i, t) in cx.op.inputs.iter().enumerate() {
        let Some(t) = t else { continue };
        if i == SCRATCH_INPUT && takes_scratch(cx.op.opcode) {
            continue;
        }
        let bytes = views.data(t);
        cx.ensure(
            bytes.is_some(),
            "an input overlaps the output or the scratch",
        )?;
        // An empty tensor can still have huge dimensions; a kernel windowing over one
        // (`[1, 4e9, 1, 0]`) for a non-empty output would loop for hours. (An empty output
        // runs no kernel: see `run_conv2d`.)
        cx.ensure(
            bytes.is_some_and(|b| !b.is_empty()) || out_bytes == 0,
            "an input is empty but the output is not",
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Running (invoke).

/// Runs operator `op` (number `o`, checked by [`check_op`]). Each operator's `run_*` decodes
/// its output and splits the arena itself, so that a kernel runs one frame below the
/// interpreter's loop.
#[inline]
pub(crate) fn run_op<const OPS: u32>(
    model: &Model<'_>,
    arena: &mut [u8],
    o: usize,
    op: &OpInfo<'_>,
) -> Result<(), Error> {
    let ran = match op.opcode {
        OpCode::Conv2d if has(OPS, OpCode::Conv2d) => run_conv2d(model, arena, op),
        OpCode::DepthwiseConv2d if has(OPS, OpCode::DepthwiseConv2d) => {
            run_depthwise_conv2d(model, arena, op)
        }
        OpCode::FullyConnected if has(OPS, OpCode::FullyConnected) => {
            run_fully_connected(model, arena, op)
        }
        OpCode::AveragePool2d | OpCode::MaxPool2d
            if (has(OPS, OpCode::AveragePool2d) || has(OPS, OpCode::MaxPool2d)) =>
        {
            run_pool::<OPS>(model, arena, op)
        }
        OpCode::Add if has(OPS, OpCode::Add) => run_add(model, arena, op),
        OpCode::Softmax if has(OPS, OpCode::Softmax) => run_softmax(model, arena, op),
        OpCode::Quantize if has(OPS, OpCode::Quantize) => run_quantize(model, arena, op),
        OpCode::Dequantize if has(OPS, OpCode::Dequantize) => run_dequantize(model, arena, op),
        OpCode::Reshape if has(OPS, OpCode::Reshape) => run_reshape(model, arena, op),
        _ => None,
    };
    match ran {
        Some(()) => Ok(()),
        None => Err(not_as_validated(o, op.opcode)),
    }
}

/// What `run_op` reports if an operator could not be run as it was validated: unreachable by
/// the argument in the module's documentation, kept as an error rather than a panic.
#[cold]
#[inline(never)]
fn not_as_validated(op: usize, opcode: OpCode) -> Error {
    Error::InvalidOp {
        op,
        opcode,
        what: "cannot be run as it was validated",
    }
}

// ---------------------------------------------------------------------------------------------
// The operators.

#[inline(never)]
fn check_conv(cx: &OpCtx<'_, '_>, out: &TensorInfo) -> Result<(), Error> {
    let (stride, dilation, pad, depth_multiplier) = if cx.op.opcode == OpCode::DepthwiseConv2d {
        let p: DepthwiseConv2dParams = cx.params()?;
        (
            [p.stride_h, p.stride_w],
            [p.dilation_h, p.dilation_w],
            [p.pad_top, p.pad_left],
            Some(p.depth_multiplier),
        )
    } else {
        let p: Conv2dParams = cx.params()?;
        (
            [p.stride_h, p.stride_w],
            [p.dilation_h, p.dilation_w],
            [p.pad_top, p.pad_left],
            None,
        )
    };
    cx.window(
        &[
            stride[0],
            stride[1],
            dilation[0],
            dilation[1],
            depth_multiplier.unwrap_or(1),
        ],
        1,
        "stride, dilation or depth multiplier out of range",
    )?;
    cx.window(&pad, -MAX_WINDOW, "padding out of range")?;
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
    match depth_multiplier {
        Some(dm) => cx.ensure(
            fo == 1 && fi == oc && c.checked_mul(dm as usize) == Some(oc),
            "filter shape does not match input depth × depth multiplier",
        )?,
        None => cx.ensure(
            fi == c && fo == oc,
            "filter shape does not match input and output depth",
        )?,
    }
    cx.ensure(
        f.dtype == x.dtype && out.dtype == x.dtype,
        "input, filter and output dtypes differ",
    )?;
    match x.dtype {
        DType::Int8 => {
            cx.bias(DType::Int32, oc)?;
            cx.requant(3, &[oc])
        }
        DType::Float32 => {
            cx.float()?;
            cx.bias(DType::Float32, oc)
        }
        _ => Err(cx.dtype_error()),
    }
}

#[inline(never)]
fn run_conv2d(model: &Model<'_>, arena: &mut [u8], op: &OpInfo<'_>) -> Option<()> {
    if let Some(shared) = shared_conv(model, op) {
        return run_conv2d_shared(model, arena, op, shared);
    }
    let mut slot = None;
    let v = Views::split(&mut slot, model, arena, op)?;
    let (out_dims, out_dtype) = (v.out_dims, v.out_dtype);
    if v.mem.out.is_empty() {
        // An output without elements needs no kernel; its other dimensions can still be huge
        // (`[1, 4e9, 0, 1]`), and the kernels' loops over them would never end.
        return Some(());
    }
    // Borrowed where it was returned (moving it out of the `Option` would copy it).
    let params = op.params::<Conv2dParams>();
    let Some(p) = &params else { return None };
    let (x_dims, f_dims) = (v.dims(op, 0)?, v.dims(op, 1)?);
    let [input, filter, bias_bytes, mult, shift] = v.inputs::<5>(op)?;
    match out_dtype {
        DType::Int8 => {
            let (bias, mult, shift) = (bias(op, bias_bytes)?, words(mult)?, words(shift)?);
            let (input, filter) = (bytemuck::cast_slice(input), bytemuck::cast_slice(filter));
            let (output, scratch) = v.out_i8_and_scratch();
            k::select::conv2d_int8(
                p, input, x_dims, filter, f_dims, bias, mult, shift, output, out_dims, scratch,
            );
        }
        #[cfg(feature = "float32")]
        DType::Float32 => {
            let bias = bias(op, bias_bytes)?;
            let input = bytemuck::try_cast_slice(input).ok()?;
            let filter = bytemuck::try_cast_slice(filter).ok()?;
            let output = v.out_f32()?;
            k::conv2d::conv2d_f32(p, input, x_dims, filter, f_dims, bias, output, out_dims);
        }
        _ => return None,
    }
    Some(())
}

#[inline(never)]
fn run_depthwise_conv2d(model: &Model<'_>, arena: &mut [u8], op: &OpInfo<'_>) -> Option<()> {
    let mut slot = None;
    let v = Views::split(&mut slot, model, arena, op)?;
    let (out_dims, out_dtype) = (v.out_dims, v.out_dtype);
    if v.mem.out.is_empty() {
        return Some(()); // as in `run_conv2d`
    }
    let params = op.params::<DepthwiseConv2dParams>();
    let Some(p) = &params else { return None };
    let (x_dims, f_dims) = (v.dims(op, 0)?, v.dims(op, 1)?);
    let [input, filter, bias_bytes, mult, shift] = v.inputs::<5>(op)?;
    match out_dtype {
        DType::Int8 => {
            let (bias, mult, shift) = (bias(op, bias_bytes)?, words(mult)?, words(shift)?);
            let (input, filter) = (bytemuck::cast_slice(input), bytemuck::cast_slice(filter));
            let (output, scratch) = v.out_i8_and_scratch();
            k::select::depthwise_conv2d_int8(
                p, input, x_dims, filter, f_dims, bias, mult, shift, output, out_dims, scratch,
            );
        }
        #[cfg(feature = "float32")]
        DType::Float32 => {
            let bias = bias(op, bias_bytes)?;
            let input = bytemuck::try_cast_slice(input).ok()?;
            let filter = bytemuck::try_cast_slice(filter).ok()?;
            let output = v.out_f32()?;
            k::depthwise_conv2d::depthwise_conv2d_f32(
                p, input, x_dims, filter, f_dims, bias, output, out_dims,
            );
        }
        _ => return None,
    }
    Some(())
}

#[inline(never)]
fn check_fully_connected(cx: &OpCtx<'_, '_>, out: &TensorInfo) -> Result<(), Error> {
    cx.params::<FullyConnectedParams>()?;
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
        batches.checked_mul(units) == Some(out.elements()),
        "output size is not batches × units",
    )?;
    cx.ensure(
        f.dtype == x.dtype && out.dtype == x.dtype,
        "input, filter and output dtypes differ",
    )?;
    match x.dtype {
        DType::Int8 => {
            cx.bias(DType::Int32, units)?;
            cx.requant(3, &[1, units])
        }
        DType::Float32 => {
            cx.float()?;
            cx.bias(DType::Float32, units)
        }
        _ => Err(cx.dtype_error()),
    }
}

#[inline(never)]
fn run_fully_connected(model: &Model<'_>, arena: &mut [u8], op: &OpInfo<'_>) -> Option<()> {
    let mut slot = None;
    let v = Views::split(&mut slot, model, arena, op)?;
    let out_dtype = v.out_dtype;
    if v.mem.out.is_empty() {
        return Some(()); // as in `run_conv2d`
    }
    let params = op.params::<FullyConnectedParams>();
    let Some(p) = &params else { return None };
    let [units, depth, _, _] = v.dims(op, 1)?;
    let [input, filter, bias_bytes, mult, shift] = v.inputs::<5>(op)?;
    // Input and output have one dtype (checked).
    let batches = (input.len() / out_dtype.size()).checked_div(depth)?;
    match out_dtype {
        DType::Int8 => {
            let (bias, mult, shift) = (bias(op, bias_bytes)?, words(mult)?, words(shift)?);
            let (input, filter) = (bytemuck::cast_slice(input), bytemuck::cast_slice(filter));
            let (output, scratch) = v.out_i8_and_scratch();
            k::select::fully_connected_int8(
                p, input, filter, bias, mult, shift, output, batches, depth, units, scratch,
            );
        }
        #[cfg(feature = "float32")]
        DType::Float32 => {
            let bias = bias(op, bias_bytes)?;
            let input = bytemuck::try_cast_slice(input).ok()?;
            let filter = bytemuck::try_cast_slice(filter).ok()?;
            let output = v.out_f32()?;
            k::fully_connected::fully_connected_f32(
                p, input, filter, bias, output, batches, depth, units,
            );
        }
        _ => return None,
    }
    Some(())
}

#[inline(never)]
fn check_pool(cx: &OpCtx<'_, '_>, out: &TensorInfo) -> Result<(), Error> {
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
    match x.dtype {
        DType::Int8 => cx.ensure(
            p.act_min <= p.act_max,
            "activation bounds are crossed (act_min > act_max)",
        ),
        DType::Float32 => cx.float(),
        _ => Err(cx.dtype_error()),
    }
}

#[inline(never)]
fn run_pool<const OPS: u32>(model: &Model<'_>, arena: &mut [u8], op: &OpInfo<'_>) -> Option<()> {
    let mut slot = None;
    let v = Views::split(&mut slot, model, arena, op)?;
    let (out_dims, out_dtype) = (v.out_dims, v.out_dtype);
    if v.mem.out.is_empty() {
        return Some(()); // as in `run_conv2d`
    }
    let params = op.params::<Pool2dParams>();
    let Some(p) = &params else { return None };
    let x_dims = v.dims(op, 0)?;
    let input = v.input(op, 0)?;
    let average = op.opcode == OpCode::AveragePool2d;
    match out_dtype {
        DType::Int8 => {
            let (input, output) = (bytemuck::cast_slice(input), v.out_i8());
            if average {
                if has(OPS, OpCode::AveragePool2d) {
                    k::select::average_pool2d_int8(p, input, x_dims, output, out_dims);
                }
            } else if has(OPS, OpCode::MaxPool2d) {
                k::select::max_pool2d_int8(p, input, x_dims, output, out_dims);
            }
        }
        #[cfg(feature = "float32")]
        DType::Float32 => {
            let (input, output) = (bytemuck::try_cast_slice(input).ok()?, v.out_f32()?);
            if average {
                k::pool2d::average_pool2d_f32(p, input, x_dims, output, out_dims);
            } else {
                k::pool2d::max_pool2d_f32(p, input, x_dims, output, out_dims);
            }
        }
        _ => return None,
    }
    Some(())
}

#[inline(never)]
fn check_add(cx: &OpCtx<'_, '_>, out: &TensorInfo) -> Result<(), Error> {
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
    match x.dtype {
        DType::Int8 => {
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
            )
        }
        DType::Float32 => cx.float(),
        _ => Err(cx.dtype_error()),
    }
}

#[inline(never)]
fn run_add(model: &Model<'_>, arena: &mut [u8], op: &OpInfo<'_>) -> Option<()> {
    let mut slot = None;
    let v = Views::split(&mut slot, model, arena, op)?;
    let out_dtype = v.out_dtype;
    if v.mem.out.is_empty() {
        return Some(()); // as in `run_conv2d`
    }
    let params = op.params::<AddParams>();
    let Some(p) = &params else { return None };
    let (xs, ys, os) = (v.dims4(op, 0)?, v.dims4(op, 1)?, v.out_dims4(op)?);
    let (a, b) = (v.input(op, 0)?, v.input(op, 1)?);
    match out_dtype {
        DType::Int8 => {
            let (a, b) = (bytemuck::cast_slice(a), bytemuck::cast_slice(b));
            k::select::add_int8(p, a, xs, b, ys, v.out_i8(), os);
        }
        #[cfg(feature = "float32")]
        DType::Float32 => {
            let (a, b) = (
                bytemuck::try_cast_slice(a).ok()?,
                bytemuck::try_cast_slice(b).ok()?,
            );
            k::add::add_f32(p, a, xs, b, ys, v.out_f32()?, os);
        }
        _ => return None,
    }
    Some(())
}

#[inline(never)]
fn check_softmax(cx: &OpCtx<'_, '_>, out: &TensorInfo) -> Result<(), Error> {
    let p: SoftmaxParams = cx.params()?;
    let x = cx.input(0)?;
    cx.ensure(
        x.rank >= 1 && x.elements() == out.elements() && out.dtype == x.dtype,
        "output must match the input",
    )?;
    // The last dimension (what `run_softmax` takes).
    cx.ensure(x.dims4()[3] > 0, "last dimension is empty")?;
    match x.dtype {
        DType::Int8 => cx.ensure(
            (0..=31).contains(&p.input_left_shift),
            "input left shift is out of range (0..=31)",
        ),
        DType::Float32 => cx.float(),
        _ => Err(cx.dtype_error()),
    }
}

#[inline(never)]
fn run_softmax(model: &Model<'_>, arena: &mut [u8], op: &OpInfo<'_>) -> Option<()> {
    let mut slot = None;
    let v = Views::split(&mut slot, model, arena, op)?;
    let out_dtype = v.out_dtype;
    if v.mem.out.is_empty() {
        return Some(()); // as in `run_conv2d`
    }
    let params = op.params::<SoftmaxParams>();
    let Some(p) = &params else { return None };
    // The last dimension, as `check_softmax` took it.
    let depth = v.dims4(op, 0)?[3];
    let input = v.input(op, 0)?;
    match out_dtype {
        DType::Int8 => k::softmax::softmax_int8(p, bytemuck::cast_slice(input), v.out_i8(), depth),
        #[cfg(feature = "float32")]
        DType::Float32 => {
            let input = bytemuck::try_cast_slice(input).ok()?;
            k::softmax::softmax_f32(p, input, v.out_f32()?, depth)
        }
        _ => return None,
    }
    Some(())
}

#[inline(never)]
fn check_quantize(cx: &OpCtx<'_, '_>, out: &TensorInfo) -> Result<(), Error> {
    let p: QuantizeParams = cx.params()?;
    let x = cx.input(0)?;
    cx.ensure(
        x.elements() == out.elements() && out.dtype == DType::Int8,
        "output must be int8 of the input's size",
    )?;
    match x.dtype {
        DType::Float32 => cx.float(),
        DType::Int8 => cx.ensure(
            SHIFTS.contains(&p.shift),
            "shift is out of range (-31..=31)",
        ),
        _ => Err(cx.bad("input must be float32 or int8")),
    }
}

#[inline(never)]
fn run_quantize(model: &Model<'_>, arena: &mut [u8], op: &OpInfo<'_>) -> Option<()> {
    let mut slot = None;
    let v = Views::split(&mut slot, model, arena, op)?;
    if v.mem.out.is_empty() {
        return Some(()); // as in `run_conv2d`
    }
    let params = op.params::<QuantizeParams>();
    let Some(p) = &params else { return None };
    let dtype = v.info(op, 0)?.dtype;
    let input = v.input(op, 0)?;
    match dtype {
        #[cfg(feature = "float32")]
        DType::Float32 => {
            let input = bytemuck::try_cast_slice(input).ok()?;
            k::quantize::quantize_f32_to_int8(p, input, v.out_i8())
        }
        DType::Int8 => k::quantize::requantize_int8(p, bytemuck::cast_slice(input), v.out_i8()),
        _ => return None,
    }
    Some(())
}

#[inline(never)]
fn check_dequantize(cx: &OpCtx<'_, '_>, out: &TensorInfo) -> Result<(), Error> {
    cx.params::<DequantizeParams>()?;
    let x = cx.input(0)?;
    cx.ensure(
        x.dtype == DType::Int8 && out.dtype == DType::Float32 && x.elements() == out.elements(),
        "must map int8 to float32 of the same size",
    )?;
    cx.float()
}

#[inline(never)]
fn run_dequantize(model: &Model<'_>, arena: &mut [u8], op: &OpInfo<'_>) -> Option<()> {
    #[cfg(feature = "float32")]
    {
        let mut slot = None;
        let v = Views::split(&mut slot, model, arena, op)?;
        if v.mem.out.is_empty() {
            return Some(()); // as in `run_conv2d`
        }
        let params = op.params::<DequantizeParams>();
        let Some(p) = &params else { return None };
        let input = bytemuck::cast_slice(v.input(op, 0)?);
        k::quantize::dequantize_int8_to_f32(p, input, v.out_f32()?);
        Some(())
    }
    #[cfg(not(feature = "float32"))]
    {
        let _ = (model, arena, op);
        None
    }
}

/// RESHAPE moves no data when the planner gave input and output the same offset, and copies
/// otherwise (e.g. from a constant, or when a graph input is reshaped into a graph output).
/// `check_op` checked sizes and dtypes; the format reader, that both tensors lie in their
/// memory.
#[inline(never)]
fn run_reshape(model: &Model<'_>, arena: &mut [u8], op: &OpInfo<'_>) -> Option<()> {
    let out = model.tensor(op.outputs.get(0)?)?;
    if out.byte_len == 0 {
        return Some(()); // as in `run_conv2d`
    }
    let x = model.tensor(op.inputs.get(0)?)?;
    let out_end = out.offset.checked_add(out.byte_len)?;
    match x.location {
        // The output is the input's bytes (checked).
        Location::Arena => {}
        Location::Const => {
            let src = model.const_data(&x);
            let dst = arena.get_mut(out.offset..out_end)?;
            if src.len() != dst.len() {
                return None;
            }
            dst.copy_from_slice(src);
        }
    }
    Some(())
}
