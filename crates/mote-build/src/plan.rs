//! The ahead-of-time compiled form of a model: `mote_plan.rs`, straight-line Rust that runs
//! the model's operators with no interpreter on the device (see `mote_runtime::plan`).
//!
//! It is generated from the same validated `.mote` artefact that the interpreter would run,
//! after the host's interpreter accepted it (`Interpreter::new` runs every check) and ran it
//! on the test inputs: each operator becomes one block that cuts the arena at the planner's
//! constant offsets with `mote_runtime::plan::Memory` and calls the same kernel the
//! interpreter's `run_*` calls (`mote_kernels::select`), with the same arguments — the
//! parameters as Rust constants, the dimensions as literals, the weights as fields of one
//! `static` in flash (int8 tensors through `include_bytes!`, int32 tensors as literals, so
//! every field has its type and alignment without a cast). What the interpreter decodes and
//! checks on the device, this module decided on the host.
//!
//! A kernel that two or more operators call is not called inline from each block: those
//! operators become records in one `MOTE_STEPS` static and each block one call of a runner
//! written here for that kernel, which folds in as constants what all its records share
//! (see `mote_runtime::plan::steps`); person_detection's code went from 28.2 KB to 24.3 KB.
//!
//! int8 models only: an artefact with float32 tensors is refused with a message (the
//! interpreter runs those).

use std::fmt::Write;
use std::path::Path;

use mote_format::params::{
    AddParams, Conv2dParams, DepthwiseConv2dParams, FullyConnectedParams, Pool2dParams,
    QuantizeParams, SoftmaxParams,
};
use mote_format::{DType, Location, Model, OpCode, OpInfo, TensorInfo};

use crate::{write_if_changed, BuildError, Kernels};

/// The name of the module file written next to `mote_model.rs`.
pub const PLAN_FILE: &str = "mote_plan.rs";

/// Input position of the optional scratch of CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED
/// (as in the interpreter).
const SCRATCH_INPUT: usize = 5;

/// Writes [`PLAN_FILE`] (and one `plan_const_<t>.bin` per int8 constant) into `out_dir` for
/// the validated artefact `model`.
pub(crate) fn write(
    model: &Model<'_>,
    name: &str,
    out_dir: &Path,
    kernels: Kernels,
) -> Result<(), BuildError> {
    let text = module(model, name, out_dir, kernels)?;
    write_if_changed(&out_dir.join(PLAN_FILE), text.as_bytes())
}

fn refuse(name: &str, message: String) -> BuildError {
    BuildError::Plan {
        model: name.to_string(),
        message,
    }
}

/// A range literal for the arena bytes of tensor `t`.
fn arena_range(t: &TensorInfo) -> String {
    format!("{}..{}", t.offset, t.offset + t.byte_len)
}

/// The generated module's text.
fn module(
    model: &Model<'_>,
    name: &str,
    out_dir: &Path,
    kernels: Kernels,
) -> Result<String, BuildError> {
    if (0..model.tensor_count())
        .filter_map(|t| model.tensor(t))
        .any(|t| t.dtype == DType::Float32)
    {
        return Err(refuse(
            name,
            "has float32 tensors; the compiled runtime runs int8 models (run it with the \
             interpreter, without --runtime compiled)"
                .into(),
        ));
    }
    let tensor = |t: usize| -> Result<TensorInfo, BuildError> {
        model
            .tensor(t)
            .ok_or_else(|| refuse(name, format!("tensor {t} is missing")))
    };

    // The constants every operator reads, once each, in tensor order.
    let mut constants = std::collections::BTreeSet::new();
    for o in 0..model.op_count() {
        let op = model
            .op(o)
            .ok_or_else(|| refuse(name, format!("operator {o} is missing")))?;
        for t in op.inputs.iter().flatten() {
            if tensor(t)?.location == Location::Const {
                constants.insert(t);
            }
        }
    }
    let mut fields = String::new();
    let mut values = String::new();
    for &t in &constants {
        let info = tensor(t)?;
        let bytes = model.const_data(&info);
        match info.dtype {
            DType::Int8 => {
                let file = out_dir.join(format!("plan_const_{t}.bin"));
                write_if_changed(&file, bytes)?;
                let _ = writeln!(fields, "    pub c{t}: [u8; {}],", bytes.len());
                let _ = writeln!(
                    values,
                    "    c{t}: *include_bytes!({:?}),",
                    file.display().to_string()
                );
            }
            DType::Int32 => {
                let words: Vec<String> = bytes
                    .chunks_exact(4)
                    .map(|w| i32::from_le_bytes([w[0], w[1], w[2], w[3]]).to_string())
                    .collect();
                let _ = writeln!(fields, "    pub c{t}: [i32; {}],", words.len());
                let _ = writeln!(values, "    c{t}: [{}],", words.join(", "));
            }
            DType::Float32 => unreachable!("refused above"),
        }
    }

    let mut out = String::new();
    let _ = writeln!(
        out,
        "// @generated by mote-build: `{name}` compiled ahead of time. Do not edit.\n\
         // One block per operator, in the artefact's order; see mote_runtime::plan.\n"
    );
    let _ = writeln!(
        out,
        "/// The arena the operators are placed in (the artefact's).\n\
         pub const ARENA_BYTES: usize = {};\n",
        model.arena_bytes()
    );
    let ranges = |list: &mut String, what: &str, ids: Vec<usize>| -> Result<(), BuildError> {
        let items = ids
            .iter()
            .map(|&t| tensor(t).map(|i| arena_range(&i)))
            .collect::<Result<Vec<_>, _>>()?;
        let _ = writeln!(
            list,
            "/// The graph {what}' bytes in the arena.\n\
             pub static {}_RANGES: [core::ops::Range<usize>; {}] = [{}];",
            what.to_uppercase(),
            items.len(),
            items.join(", ")
        );
        Ok(())
    };
    ranges(
        &mut out,
        "inputs",
        model.inputs().iter().flatten().collect(),
    )?;
    ranges(
        &mut out,
        "outputs",
        model.outputs().iter().flatten().collect(),
    )?;
    let _ = writeln!(
        out,
        "\n/// Every constant the operators read (weights, biases, per-channel multipliers and\n\
         /// shifts), in flash.\n\
         #[repr(C, align(16))]\n\
         pub struct Constants {{\n{fields}}}\n\n\
         #[no_mangle]\n\
         pub static MOTE_MODEL: Constants = Constants {{\n{values}}};\n"
    );

    // Each operator's kernel decisions, made once: whether the DSP fast path applies, and
    // which shared runner (if any) could run it from a record.
    let total = total_macs(model);
    // The DSP kernels' fast paths and the compact fully-connected kernel only where the
    // firmware was planned for them (`Kernels::Reference`: the smallest code, any core).
    let dsp = kernels == Kernels::CortexMDsp;
    let mut decisions = Vec::with_capacity(model.op_count());
    for o in 0..model.op_count() {
        let op = model
            .op(o)
            .ok_or_else(|| refuse(name, format!("operator {o} is missing")))?;
        let output = tensor(op.outputs.get(0).unwrap_or(usize::MAX))?;
        let fast = output.byte_len > 0
            && matches!(
                op.opcode,
                OpCode::Conv2d | OpCode::DepthwiseConv2d | OpCode::FullyConnected
            )
            && dsp
            && fast_path_applies(model, &op, &output);
        // Planned for the reference kernels, every FULLY_CONNECTED and pooling runs its
        // reference kernel (as a small one does).
        let small = !dsp || work(model, &op) * SMALL_OP_SHARE < total;
        let runner = step_runner(model, &op, &output, fast);
        decisions.push(Decision { fast, small, runner });
    }
    // A runner pays for itself from its second operator: below that, an inline block.
    let uses = |runner: &str| decisions.iter().filter(|d| d.runner == Some(runner)).count();
    let unshared: Vec<usize> = (0..decisions.len())
        .filter(|&o| decisions[o].runner.is_some_and(|r| uses(r) < SHARED_RUNNER_MIN_USES))
        .collect();
    for o in unshared {
        decisions[o].runner = None;
    }
    if decisions.iter().any(|d| d.runner.is_some()) {
        let mut records = Vec::new();
        for (o, d) in decisions.iter().enumerate() {
            let Some(runner) = d.runner else { continue };
            let op = model
                .op(o)
                .ok_or_else(|| refuse(name, format!("operator {o} is missing")))?;
            records.push((o, runner, record(model, name, o, &op)?));
        }
        let mut fields = String::new();
        let mut values = String::new();
        for (o, _, r) in &records {
            let _ = writeln!(fields, "    pub s{o}: mote_runtime::plan::steps::{},", r.ty);
            let _ = writeln!(values, "        s{o}: {},", r.literal());
        }
        let _ = writeln!(
            out,
            "/// The records of the operators that a shared runner (`mote_runtime::plan::steps`)\n\
             /// runs: offsets, shapes, parameters and references to the constants, in flash.\n\
             #[allow(clippy::all)]\n\
             pub struct Steps {{\n{fields}}}\n\n\
             #[no_mangle]\n\
             pub static MOTE_STEPS: Steps = {{\n    \
             use mote_runtime::plan::params::*;\n    \
             use mote_runtime::plan::steps::*;\n    \
             Steps {{\n{values}    }}\n}};\n"
        );
        let mut runners: Vec<&str> = records.iter().map(|(_, r, _)| *r).collect();
        runners.sort();
        runners.dedup();
        for runner in runners {
            let mine: Vec<&Record> =
                records.iter().filter(|(_, r, _)| *r == runner).map(|(_, _, rec)| rec).collect();
            out.push_str(&specialised_runner(runner, &mine));
            out.push('\n');
        }
    }

    let _ = writeln!(
        out,
        "/// Runs every operator in order.\n\
         #[allow(unused_variables, unused_imports, clippy::all)]\n\
         pub fn invoke(arena: &mut [u8; ARENA_BYTES]) -> Result<(), mote_runtime::Error> {{\n    \
         use mote_runtime::plan::params::*;\n    \
         use mote_runtime::plan::{{conv2d, depthwise_conv2d, fully_connected, i8s, not_as_planned, pool2d, quantize, select, softmax, steps, Memory}};\n    \
         use mote_runtime::OpCode;\n    \
         let c = &MOTE_MODEL;"
    );
    for (o, d) in decisions.iter().enumerate() {
        let op = model
            .op(o)
            .ok_or_else(|| refuse(name, format!("operator {o} is missing")))?;
        match d.runner {
            Some(runner) => {
                let _ = writeln!(
                    out,
                    "    // operator {o}: {}\n    {runner}(&MOTE_STEPS.s{o}, &mut arena[..])?;",
                    op.opcode.name()
                );
            }
            None => operator(&mut out, model, name, o, &op, d)?,
        }
    }
    out.push_str("    Ok(())\n}\n");
    Ok(out)
}

/// An operator that is called through a shared runner once this many operators use it:
/// a record and a call cost less flash than an inline block from the second use on. Below
/// it the operator's block calls its kernel inline, with its arguments as constants the
/// compiler can fold into the kernel when that is the kernel's only call (which matters on
/// the Cortex-M0, whose reference kernels gain most from constant shapes).
const SHARED_RUNNER_MIN_USES: usize = 2;

/// What was decided for one operator before any code is written.
struct Decision {
    /// The DSP fast path applies (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED).
    fast: bool,
    /// A FULLY_CONNECTED or pooling that runs the reference kernel alone: small enough (see
    /// [`SMALL_OP_SHARE`]), or planned for the reference kernels.
    small: bool,
    /// The `mote_runtime::plan::steps` runner that runs it from a record (only where enough
    /// operators use that runner; `None`: an inline block).
    runner: Option<&'static str>,
}

/// The runner of `mote_runtime::plan::steps` that can run `op` from a record: a CONV_2D,
/// DEPTHWISE_CONV_2D or ADD whose inputs are read from the arena, whose filter, bias,
/// multipliers and shifts are constants, and (a convolution) whose output does not share
/// bytes with its input. `None` for everything else, which an inline block runs. Not
/// FULLY_CONNECTED: its inline block is small, and a shared runner cost hello_world's three
/// layers 38% more instructions and 3 KB more flash, ad01's ten 2 KB.
fn step_runner(
    model: &Model<'_>,
    op: &OpInfo<'_>,
    output: &TensorInfo,
    fast: bool,
) -> Option<&'static str> {
    if output.byte_len == 0 {
        return None;
    }
    let location = |i: usize| op.inputs.get(i).and_then(|t| model.tensor(t)).map(|t| t.location);
    let input_in_arena = location(0) == Some(Location::Arena);
    let constants = |list: &[usize]| list.iter().all(|&i| location(i) == Some(Location::Const));
    let filter_consts = constants(&[1, 3, 4]) && (op.inputs.get(2).is_none() || constants(&[2]));
    match op.opcode {
        OpCode::Conv2d | OpCode::DepthwiseConv2d if !(input_in_arena && filter_consts) => None,
        OpCode::Conv2d => {
            let x = op.inputs.get(0).and_then(|t| model.tensor(t))?;
            if x.shares_arena_bytes(output) || (!fast && conv_as_dense(model, op).is_some()) {
                None
            } else if fast {
                Some("conv2d_fast")
            } else {
                Some("conv2d_reference")
            }
        }
        OpCode::DepthwiseConv2d if fast => {
            let channels = op.inputs.get(0).and_then(|t| model.tensor_shape(t))?.1[3];
            Some(if channels > 1 {
                "depthwise_conv2d_multichannel_fast"
            } else {
                "depthwise_conv2d_fast"
            })
        }
        OpCode::DepthwiseConv2d => Some("depthwise_conv2d_reference"),
        OpCode::Add if input_in_arena && location(1) == Some(Location::Arena) => Some("add"),
        _ => None,
    }
}

/// One field of an operator's record, as written into the generated module.
enum Field {
    /// A value written as is (`op`, ranges, references to the constants).
    Value(&'static str, String),
    /// The parameters: their type and each field's name and literal.
    Params(&'static str, Vec<(&'static str, String)>),
    /// A shape, each of its four dimensions foldable.
    Shape(&'static str, [usize; 4]),
}

/// An operator's record: its type in `mote_runtime::plan::steps` and its fields.
struct Record {
    ty: &'static str,
    fields: Vec<Field>,
}

impl Record {
    /// The record type's name without its parameters (`FilterStep`), for struct literals.
    fn name(&self) -> &'static str {
        self.ty.split('<').next().unwrap_or(self.ty)
    }

    /// The record as a Rust expression.
    fn literal(&self) -> String {
        let fields: Vec<String> = self
            .fields
            .iter()
            .map(|f| match f {
                Field::Value(name, v) => format!("{name}: {v}"),
                Field::Params(ty, list) => {
                    let list: Vec<String> = list.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                    format!("params: {ty} {{ {} }}", list.join(", "))
                }
                Field::Shape(name, d) => format!("{name}: {d:?}"),
            })
            .collect();
        format!("{} {{ {} }}", self.name(), fields.join(", "))
    }
}

/// A runner specialised for the records it runs (`records`, all of one type): the record it
/// is given, rebuilt with every parameter, dimension and count that all of them share as a
/// constant, then the library's runner inlined. A convolution kernel called from one place
/// with those constants is compiled for them (dilation 1, one batch, the model's activation
/// range…); reading them from a record instead cost vww 3% of its instructions.
fn specialised_runner(runner: &str, records: &[&Record]) -> String {
    let Some(first) = records.first() else {
        return String::new();
    };
    let shared = |i: usize, pick: &dyn Fn(&Field) -> Option<String>| -> Option<String> {
        let v = pick(&first.fields[i])?;
        records
            .iter()
            .all(|r| r.fields.get(i).and_then(pick).as_deref() == Some(v.as_str()))
            .then_some(v)
    };
    let mut fields = Vec::new();
    for (i, f) in first.fields.iter().enumerate() {
        fields.push(match f {
            Field::Value(name, _) => format!("{name}: s.{name}.clone()"),
            Field::Params(ty, list) => {
                let list: Vec<String> = list
                    .iter()
                    .enumerate()
                    .map(|(j, (k, _))| {
                        let v = shared(i, &|f| match f {
                            Field::Params(_, l) => l.get(j).map(|(_, v)| v.clone()),
                            _ => None,
                        });
                        format!("{k}: {}", v.unwrap_or_else(|| format!("s.params.{k}")))
                    })
                    .collect();
                format!("params: {ty} {{ {} }}", list.join(", "))
            }
            Field::Shape(name, _) => {
                let dims: Vec<String> = (0..4)
                    .map(|j| {
                        shared(i, &|f| match f {
                            Field::Shape(_, d) => Some(d[j].to_string()),
                            _ => None,
                        })
                        .unwrap_or_else(|| format!("s.{name}[{j}]"))
                    })
                    .collect();
                format!("{name}: [{}]", dims.join(", "))
            }
        });
    }
    let ty = first.name();
    format!(
        "/// `steps::{runner}` for this model's {n} operators that use it.\n\
         #[inline(never)]\n\
         #[allow(clippy::all)]\n\
         fn {runner}(s: &mote_runtime::plan::steps::{full}, arena: &mut [u8]) -> Result<(), mote_runtime::Error> {{\n    \
         use mote_runtime::plan::params::*;\n    \
         use mote_runtime::plan::steps::*;\n    \
         let s = &{ty} {{ {} }};\n    \
         mote_runtime::plan::steps::{runner}(s, arena)\n}}\n",
        fields.join(", "),
        n = records.len(),
        full = first.ty,
    )
}

/// The record of operator `o`, for the runner [`step_runner`] chose.
fn record(
    model: &Model<'_>,
    name: &str,
    o: usize,
    op: &OpInfo<'_>,
) -> Result<Record, BuildError> {
    let missing = || refuse(name, format!("operator {o}: a tensor is missing"));
    let tensor = |i: usize| op.inputs.get(i).and_then(|t| model.tensor(t)).ok_or_else(missing);
    let dims = |t: Option<usize>| {
        t.and_then(|t| model.tensor_shape(t))
            .and_then(|(_, d)| <[usize; 4]>::try_from(d).ok())
            .ok_or_else(missing)
    };
    let constant = |i: usize| format!("&MOTE_MODEL.c{}", op.inputs.get(i).unwrap_or(0));
    let bias = match op.inputs.get(2) {
        Some(_) => format!("Some({})", constant(2)),
        None => "None".into(),
    };
    let output = op.outputs.get(0).and_then(|t| model.tensor(t)).ok_or_else(missing)?;
    let scratch = match op.inputs.get(SCRATCH_INPUT) {
        Some(_) => arena_range(&tensor(SCRATCH_INPUT)?),
        None => format!("{0}..{0}", output.offset + output.byte_len),
    };
    let params = |what: &str| refuse(name, format!("operator {o}: its {what} parameters do not decode"));
    let value = |name: &'static str, v: String| Field::Value(name, v);
    Ok(match op.opcode {
        OpCode::Conv2d | OpCode::DepthwiseConv2d => {
            let (ty, pty, p) = if op.opcode == OpCode::Conv2d {
                let p: Conv2dParams = op.params().ok_or_else(|| params("CONV_2D"))?;
                ("FilterStep<mote_runtime::plan::params::Conv2dParams>", "Conv2dParams", p.rust_fields())
            } else {
                let p: DepthwiseConv2dParams = op.params().ok_or_else(|| params("DEPTHWISE"))?;
                ("FilterStep<mote_runtime::plan::params::DepthwiseConv2dParams>", "DepthwiseConv2dParams", p.rust_fields())
            };
            Record {
                ty,
                fields: vec![
                    value("op", o.to_string()),
                    Field::Params(pty, p),
                    value("input", arena_range(&tensor(0)?)),
                    Field::Shape("input_shape", dims(op.inputs.get(0))?),
                    value("filter", constant(1)),
                    Field::Shape("filter_shape", dims(op.inputs.get(1))?),
                    value("bias", bias),
                    value("multiplier", constant(3)),
                    value("shift", constant(4)),
                    value("output", arena_range(&output)),
                    Field::Shape("output_shape", dims(op.outputs.get(0))?),
                    value("scratch", scratch),
                ],
            }
        }
        OpCode::Add => {
            let p: AddParams = op.params().ok_or_else(|| params("ADD"))?;
            let (a, b) = (tensor(0)?, tensor(1)?);
            Record {
                ty: "AddStep",
                fields: vec![
                    value("op", o.to_string()),
                    Field::Params("AddParams", p.rust_fields()),
                    value("input1", arena_range(&a)),
                    Field::Shape("shape1", a.dims4()),
                    value("input2", arena_range(&b)),
                    Field::Shape("shape2", b.dims4()),
                    value("output", arena_range(&output)),
                    Field::Shape("output_shape", output.dims4()),
                ],
            }
        }
        other => {
            return Err(refuse(
                name,
                format!("operator {o}: no record for {}", other.name()),
            ))
        }
    })
}

/// A CONV_2D that is a FULLY_CONNECTED over its pixels — a 1×1 filter, no padding, each
/// output pixel its input pixel (stride 1, or a single pixel) — as that layer's batches (the
/// pixels), depth (input channels) and units (output channels). `None` for other operators.
fn conv_as_dense(model: &Model<'_>, op: &OpInfo<'_>) -> Option<(usize, usize, usize)> {
    if op.opcode != OpCode::Conv2d {
        return None;
    }
    let p: Conv2dParams = op.params()?;
    let shape = |t: Option<usize>| -> Option<[usize; 4]> {
        model.tensor_shape(t?)?.1.try_into().ok()
    };
    let [batches, in_h, in_w, in_c] = shape(op.inputs.get(0))?;
    let [out_c, kh, kw, f_in_c] = shape(op.inputs.get(1))?;
    let [out_b, out_h, out_w, o_c] = shape(op.outputs.get(0))?;
    let one_pixel = in_h == 1 && in_w == 1;
    let stride_one = p.stride_h == 1 && p.stride_w == 1;
    (kh == 1
        && kw == 1
        && f_in_c == in_c
        && o_c == out_c
        && out_b == batches
        && (out_h, out_w) == (in_h, in_w)
        && p.pad_top == 0
        && p.pad_left == 0
        && (one_pixel || stride_one))
        .then_some((batches * in_h * in_w, in_c, out_c))
}

/// A FULLY_CONNECTED's batches, depth and units (the filter is `[units, depth]`).
fn fc_dims(model: &Model<'_>, op: &OpInfo<'_>) -> Option<(usize, usize, usize)> {
    let f = op.inputs.get(1).and_then(|t| model.tensor_shape(t))?.1;
    let (units, depth) = (f[0], f[1]);
    let x = op.inputs.get(0).and_then(|t| model.tensor(t))?;
    Some((x.byte_len.checked_div(depth).unwrap_or(0), depth, units))
}

/// The multiply-accumulates (or, for pooling, additions and comparisons) per inference of a
/// FULLY_CONNECTED or a pooling; 0 for other operators.
fn work(model: &Model<'_>, op: &OpInfo<'_>) -> usize {
    match op.opcode {
        OpCode::FullyConnected => fc_dims(model, op).map_or(0, |(b, d, u)| b * d * u),
        OpCode::AveragePool2d | OpCode::MaxPool2d => {
            let outputs = op
                .outputs
                .get(0)
                .and_then(|t| model.tensor(t))
                .map_or(0, |t| t.byte_len);
            op.params::<Pool2dParams>().map_or(0, |p| {
                outputs * p.filter_h.max(0) as usize * p.filter_w.max(0) as usize
            })
        }
        _ => 0,
    }
}

/// A FULLY_CONNECTED layer or a pooling with less than 1/`SMALL_OP_SHARE` of the model's
/// multiply-accumulates runs the reference kernel: the DSP kernel is one to three KB of
/// flash, and on an operator that small it saves a few thousand instructions of millions.
const SMALL_OP_SHARE: usize = 100;

/// A FULLY_CONNECTED layer with fewer multiply-accumulates than this (and more than
/// 1/[`SMALL_OP_SHARE`] of its model's) runs the compact DSP kernel
/// (`fully_connected_int8_small`): hello_world's three layers (16, 256 and 16) took 2,824
/// instructions and 2.7 KB of kernel code through the pair assembly, whose setup per call and
/// whose Rust path for rows it does not take (rows shorter than eight, an odd last row)
/// dominate at that size; through the compact kernel, 2,154 instructions and 1.1 KB.
const TINY_FC_MACS: usize = 1024;

/// Multiply-accumulates per inference of the operators that have filters.
fn total_macs(model: &Model<'_>) -> usize {
    (0..model.op_count())
        .filter_map(|o| model.op(o))
        .map(|op| {
            let dims = |t: Option<usize>| {
                t.and_then(|t| model.tensor_shape(t))
                    .map(|(_, d)| d.to_vec())
                    .unwrap_or_default()
            };
            let out: usize = dims(op.outputs.get(0)).iter().product();
            let f = dims(op.inputs.get(1));
            match (op.opcode, &f[..]) {
                (OpCode::Conv2d, [_, kh, kw, c]) => out * kh * kw * c,
                (OpCode::DepthwiseConv2d, [_, kh, kw, _]) => out * kh * kw,
                (OpCode::FullyConnected, [_, depth]) => out * depth,
                _ => 0,
            }
        })
        .sum()
}

/// Whether the Cortex-M DSP kernel's fast path covers operator `op` (CONV_2D,
/// DEPTHWISE_CONV_2D or FULLY_CONNECTED) with its planned scratch: found by running that fast
/// path once, here on the host (where the DSP instructions are emulated), on a zero input.
/// Its decision depends only on parameters, shapes, constants and the scratch length, so it
/// is the decision the device will make; where it is `true` the generated code calls the fast
/// path alone and the reference kernel is not linked. Anything unexpected answers `false`
/// (the kernel with its fallback, always correct).
fn fast_path_applies(model: &Model<'_>, op: &OpInfo<'_>, output: &TensorInfo) -> bool {
    use mote_kernels::dsp;
    let info = |i: usize| op.inputs.get(i).and_then(|t| model.tensor(t));
    let dims = |i: usize| {
        op.inputs
            .get(i)
            .and_then(|t| model.tensor_shape(t))
            .map(|(_, d)| d)
    };
    let i8_const = |i: usize| -> Option<Vec<i8>> {
        let t = info(i).filter(|t| t.location == Location::Const)?;
        Some(model.const_data(&t).iter().map(|&b| b as i8).collect())
    };
    let i32_const = |i: usize| -> Option<Vec<i32>> {
        let t = info(i).filter(|t| t.location == Location::Const)?;
        Some(
            model
                .const_data(&t)
                .chunks_exact(4)
                .map(|w| i32::from_le_bytes([w[0], w[1], w[2], w[3]]))
                .collect(),
        )
    };
    let (Some(x), Some(filter), Some(multiplier), Some(shift)) =
        (info(0), i8_const(1), i32_const(3), i32_const(4))
    else {
        return false;
    };
    let bias = match op.inputs.get(2) {
        Some(_) => match i32_const(2) {
            Some(b) => Some(b),
            None => return false,
        },
        None => None,
    };
    let input = vec![0i8; x.byte_len];
    let mut out = vec![0i8; output.byte_len];
    let scratch_len = info(SCRATCH_INPUT).map_or(0, |t| t.byte_len);
    // Word-aligned, as the planner aligns scratch in the arena.
    let mut words = vec![0u32; scratch_len.div_ceil(4)];
    let scratch: &mut [u8] = &mut bytemuck::cast_slice_mut::<u32, u8>(&mut words)[..scratch_len];
    let (Some(x_dims), Some(f_dims), Some(out_dims)) = (
        dims(0),
        dims(1),
        op.outputs
            .get(0)
            .and_then(|t| model.tensor_shape(t))
            .map(|(_, d)| d),
    ) else {
        return false;
    };
    // The stored dimensions are four, unused ones 1 (a FULLY_CONNECTED filter is
    // `[units, depth, 1, 1]`).
    let bias = bias.as_deref();
    match op.opcode {
        OpCode::Conv2d => {
            let Some(p) = op.params::<Conv2dParams>() else {
                return false;
            };
            dsp::conv2d::conv2d_int8_fast(
                &p, &input, x_dims, &filter, f_dims, bias, &multiplier, &shift, &mut out,
                out_dims, scratch,
            )
        }
        OpCode::DepthwiseConv2d => {
            let Some(p) = op.params::<DepthwiseConv2dParams>() else {
                return false;
            };
            dsp::depthwise_conv2d::depthwise_conv2d_int8_fast(
                &p, &input, x_dims, &filter, f_dims, bias, &multiplier, &shift, &mut out,
                out_dims, scratch,
            )
        }
        OpCode::FullyConnected => {
            let Some(p) = op.params::<FullyConnectedParams>() else {
                return false;
            };
            let (units, depth) = (f_dims[0], f_dims[1]);
            let batches = x.byte_len.checked_div(depth).unwrap_or(0);
            dsp::fully_connected::fully_connected_int8_fast(
                &p,
                &input,
                &filter,
                bias,
                &multiplier,
                &shift,
                &mut out,
                batches,
                depth,
                units,
                scratch,
            )
        }
        _ => false,
    }
}

/// One operator's block.
fn operator(
    out: &mut String,
    model: &Model<'_>,
    name: &str,
    o: usize,
    op: &OpInfo<'_>,
    decision: &Decision,
) -> Result<(), BuildError> {
    let tensor = |i: Option<usize>| -> Result<TensorInfo, BuildError> {
        i.and_then(|t| model.tensor(t))
            .ok_or_else(|| refuse(name, format!("operator {o}: a tensor is missing")))
    };
    let input_id = |i: usize| op.inputs.get(i);
    let output = tensor(op.outputs.get(0))?;
    let opcode = format!("OpCode::{:?}", op.opcode);
    let bad = format!("not_as_planned({o}, {opcode})");
    let stored_dims = |t: usize| model.tensor_shape(t).map(|(_, d)| d);
    // An input's bytes: a field of the constants, or a cut of the arena.
    let bytes = |i: usize| -> Result<String, BuildError> {
        let id = input_id(i);
        let t = tensor(id)?;
        Ok(match t.location {
            Location::Const => format!("&c.c{}[..]", id.unwrap_or(0)),
            Location::Arena => format!(
                "m.input({}, {}).ok_or_else(|| {bad})?",
                t.offset, t.byte_len
            ),
        })
    };
    let params = |what: &str| {
        refuse(
            name,
            format!("operator {o}: its {what} parameters do not decode"),
        )
    };
    let _ = writeln!(out, "    // operator {o}: {}", op.opcode.name());
    if output.byte_len == 0 {
        // As the interpreter: an output without elements needs no kernel.
        let _ = writeln!(out, "    // (empty output: nothing to compute)");
        return Ok(());
    }
    if op.opcode == OpCode::Reshape {
        let x = tensor(input_id(0))?;
        match x.location {
            // The output is the input's bytes (the interpreter checks the same).
            Location::Arena if x.offset == output.offset => {
                let _ = writeln!(out, "    // (a view of its input's bytes: nothing to do)");
            }
            Location::Arena => {
                return Err(refuse(
                    name,
                    format!("operator {o}: RESHAPE output is not on its input's bytes"),
                ))
            }
            Location::Const => {
                let _ = writeln!(
                    out,
                    "    arena.get_mut({}).ok_or_else(|| {bad})?.copy_from_slice(&c.c{});",
                    arena_range(&output),
                    input_id(0).unwrap_or(0)
                );
            }
        }
        return Ok(());
    }

    let scratch = match op.opcode {
        OpCode::Conv2d | OpCode::DepthwiseConv2d | OpCode::FullyConnected => {
            match input_id(SCRATCH_INPUT) {
                Some(s) => arena_range(&tensor(Some(s))?),
                None => format!("{0}..{0}", output.offset + output.byte_len),
            }
        }
        _ => format!("{0}..{0}", output.offset + output.byte_len),
    };
    // A convolution whose input shares its output's memory (the planner's choice; the
    // host's interpreter checked the distance): one mutable region holding both.
    let shared = match (op.opcode, input_id(0).and_then(|t| model.tensor(t))) {
        (OpCode::Conv2d, Some(x)) if x.shares_arena_bytes(&output) => Some(x),
        _ => None,
    };
    let region = match &shared {
        Some(x) => {
            let start = x.offset.min(output.offset);
            start..(x.offset + x.byte_len).max(output.offset + output.byte_len)
        }
        None => output.offset..output.offset + output.byte_len,
    };
    // No scratch: an empty one at the end of what the operator writes.
    let scratch = match (&shared, input_id(SCRATCH_INPUT)) {
        (Some(_), None) => format!("{0}..{0}", region.end),
        _ => scratch,
    };
    let _ = writeln!(out, "    {{");
    let _ = writeln!(
        out,
        "        let mut m = Memory::split(&mut arena[..], {}..{}, {scratch}).ok_or_else(|| {bad})?;",
        region.start, region.end
    );
    let bias = |i: usize| -> Result<String, BuildError> {
        Ok(match input_id(i) {
            Some(_) => format!("Some({})", bytes(i)?),
            None => "None".into(),
        })
    };
    let dims = |i: usize| -> Result<String, BuildError> {
        let id = input_id(i)
            .ok_or_else(|| refuse(name, format!("operator {o}: input {i} is missing")))?;
        stored_dims(id)
            .map(|d| format!("{d:?}"))
            .ok_or_else(|| refuse(name, format!("operator {o}: input {i} is missing")))
    };
    let out_dims = stored_dims(op.outputs.get(0).unwrap_or(0))
        .map(|d| format!("{d:?}"))
        .ok_or_else(|| refuse(name, format!("operator {o}: no output")))?;
    let call = match op.opcode {
        OpCode::Conv2d if shared.is_none() && !decision.fast && conv_as_dense(model, op).is_some() => {
            // A 1×1 convolution that maps each pixel to itself is a FULLY_CONNECTED over the
            // pixels (the filter `[out_c, 1, 1, in_c]` is `[units, depth]`, the same per-channel
            // requantization): the fully-connected reference kernel is a sixth of the
            // convolution's flash (person_detection's 256 → 2 classifier, one pixel, too few
            // for the DSP fast path).
            let p: Conv2dParams = op.params().ok_or_else(|| params("CONV_2D"))?;
            let (batches, depth, units) = conv_as_dense(model, op)
                .ok_or_else(|| refuse(name, format!("operator {o}: no filter")))?;
            let dense = FullyConnectedParams {
                input_zero_point: p.input_zero_point,
                filter_zero_point: 0,
                output_zero_point: p.output_zero_point,
                act_min: p.act_min,
                act_max: p.act_max,
                float_act_min: p.float_act_min,
                float_act_max: p.float_act_max,
            };
            format!(
                "let x = i8s({});\n        \
                 fully_connected::fully_connected_int8(&{}, x, i8s({}), {}, {}, {}, m.out_i8(), {batches}, {depth}, {units});",
                bytes(0)?,
                dense.rust_literal(),
                bytes(1)?,
                bias(2)?,
                bytes(3)?,
                bytes(4)?,
            )
        }
        OpCode::Conv2d | OpCode::DepthwiseConv2d => {
            let (kernel, p) = if op.opcode == OpCode::Conv2d {
                let p: Conv2dParams = op.params().ok_or_else(|| params("CONV_2D"))?;
                ("conv2d_int8", p.rust_literal())
            } else {
                let p: DepthwiseConv2dParams = op.params().ok_or_else(|| params("DEPTHWISE"))?;
                ("depthwise_conv2d_int8", p.rust_literal())
            };
            let fast = decision.fast;
            if let Some(x) = &shared {
                let within = |t: &TensorInfo| {
                    format!("{}..{}", t.offset - region.start, t.offset + t.byte_len - region.start)
                };
                return finish(
                    out,
                    format!(
                        "let (buf, scratch) = m.out_i8_and_scratch();\n        \
                         if !select::conv2d_int8_overlapping(&{p}, buf, {}, {}, i8s({}), {}, {}, {}, {}, {}, {out_dims}, scratch, {fast}) {{\n            \
                         return Err({bad});\n        }}",
                        within(x),
                        dims(0)?,
                        bytes(1)?,
                        dims(1)?,
                        bias(2)?,
                        bytes(3)?,
                        bytes(4)?,
                        within(&output),
                    ),
                );
            }
            // Where the fast path does not apply, the DSP kernel would only fall back to the
            // reference: call the reference directly (it takes no scratch).
            let (path, guard, scratch) = if fast {
                (
                    format!("select::{kernel}_fast"),
                    format!(" {{\n            return Err({bad});\n        }}"),
                    ", scratch",
                )
            } else {
                let module = kernel.trim_end_matches("_int8");
                (format!("{module}::{kernel}"), String::new(), "")
            };
            let not = if fast { "if !" } else { "" };
            format!(
                "let x = i8s({});\n        let (out, scratch) = m.out_i8_and_scratch();\n        \
                 {not}{path}(&{p}, x, {}, i8s({}), {}, {}, {}, {}, out, {out_dims}{scratch}){guard};",
                bytes(0)?,
                dims(0)?,
                bytes(1)?,
                dims(1)?,
                bias(2)?,
                bytes(3)?,
                bytes(4)?,
            )
        }
        OpCode::FullyConnected => {
            let p: FullyConnectedParams = op.params().ok_or_else(|| params("FULLY_CONNECTED"))?;
            let (batches, depth, units) = fc_dims(model, op)
                .ok_or_else(|| refuse(name, format!("operator {o}: no filter")))?;
            let fast = decision.fast;
            let tiny = batches * depth * units < TINY_FC_MACS;
            let (kernel, not, guard, scratch) = if tiny && !decision.small {
                // A layer of a model made of small layers (hello_world): the compact kernel,
                // faster there than the pair assembly and two kilobytes smaller.
                ("select::fully_connected_int8_small", "", String::new(), "")
            } else if fast && !decision.small {
                (
                    "select::fully_connected_int8_fast",
                    "if !",
                    format!(" {{\n            return Err({bad});\n        }}"),
                    ", scratch",
                )
            } else {
                // A layer this small costs more flash in the fast kernel than it saves
                // instructions (vww's 256 → 2 classifier), or the fast path does not apply
                // and the DSP kernel would fall back to this: the reference kernel alone.
                (
                    "fully_connected::fully_connected_int8",
                    "",
                    String::new(),
                    "",
                )
            };
            format!(
                "let x = i8s({});\n        let (out, scratch) = m.out_i8_and_scratch();\n        \
                 {not}{kernel}(&{}, x, i8s({}), {}, {}, {}, out, {batches}, {depth}, {units}{scratch}){guard};",
                bytes(0)?,
                p.rust_literal(),
                bytes(1)?,
                bias(2)?,
                bytes(3)?,
                bytes(4)?,
            )
        }
        OpCode::AveragePool2d | OpCode::MaxPool2d => {
            let p: Pool2dParams = op.params().ok_or_else(|| params("pooling"))?;
            let kernel = if op.opcode == OpCode::AveragePool2d {
                "average_pool2d_int8"
            } else {
                "max_pool2d_int8"
            };
            // As for a small FULLY_CONNECTED: the DSP pooling kernel is over a kilobyte of
            // flash, worth it only where pooling is a real share of the work.
            let module = if decision.small { "pool2d" } else { "select" };
            format!(
                "let x = i8s({});\n        {module}::{kernel}(&{}, x, {}, m.out_i8(), {out_dims});",
                bytes(0)?,
                p.rust_literal(),
                dims(0)?,
            )
        }
        OpCode::Add => {
            let p: AddParams = op.params().ok_or_else(|| params("ADD"))?;
            let (a, b) = (tensor(input_id(0))?, tensor(input_id(1))?);
            format!(
                "let (a, b) = (i8s({}), i8s({}));\n        \
                 select::add_int8(&{}, a, {:?}, b, {:?}, m.out_i8(), {:?});",
                bytes(0)?,
                bytes(1)?,
                p.rust_literal(),
                a.dims4(),
                b.dims4(),
                output.dims4(),
            )
        }
        OpCode::Softmax => {
            let p: SoftmaxParams = op.params().ok_or_else(|| params("SOFTMAX"))?;
            let depth = tensor(input_id(0))?.dims4()[3];
            format!(
                "let x = i8s({});\n        \
                 softmax::softmax_int8(&{}, x, m.out_i8(), {depth});",
                bytes(0)?,
                p.rust_literal(),
            )
        }
        OpCode::Quantize => {
            let p: QuantizeParams = op.params().ok_or_else(|| params("QUANTIZE"))?;
            format!(
                "let x = i8s({});\n        \
                 quantize::requantize_int8(&{}, x, m.out_i8());",
                bytes(0)?,
                p.rust_literal(),
            )
        }
        other => {
            return Err(refuse(
                name,
                format!(
                    "operator {o}: {} is not supported by the compiled runtime",
                    other.name()
                ),
            ))
        }
    };
    finish(out, call)
}

/// Closes an operator's block around its kernel call.
fn finish(out: &mut String, call: String) -> Result<(), BuildError> {
    let _ = writeln!(out, "        {call}\n    }}");
    Ok(())
}
