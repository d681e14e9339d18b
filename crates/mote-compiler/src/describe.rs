//! Describing a `.mote` artefact from its bytes alone: operators with shapes, MACs and weight
//! bytes, the arena and its lower bound. `mote inspect` uses this for `.mote` and `.tflite`
//! files alike (a `.tflite` is compiled first), so there is one report for both.

use std::collections::HashMap;

use mote_format::{AlignedBytes, FormatError, Location, Model, OpCode, TensorInfo, ALIGN};

use crate::planner::{self, Buffer};
use crate::{IoReport, OpReport, Report};

/// Reads `bytes` as a `.mote` artefact and reports on it.
pub fn describe(bytes: &[u8]) -> Result<Report, FormatError> {
    let aligned = AlignedBytes::new(bytes);
    let model = Model::from_bytes(aligned.as_slice())?;
    let tensor = |t: usize| {
        model.tensor(t).ok_or(FormatError::BadTensor {
            tensor: t,
            what: "index",
        })
    };

    let mut ops = Vec::with_capacity(model.op_count());
    for o in 0..model.op_count() {
        let op = model.op(o).ok_or(FormatError::BadOp {
            op: o,
            what: "record",
        })?;
        let inputs: Vec<Option<TensorInfo>> = op
            .inputs
            .iter()
            .map(|t| t.and_then(|t| model.tensor(t)))
            .collect();
        let out = tensor(op.outputs.get(0).ok_or(FormatError::BadOp {
            op: o,
            what: "output",
        })?)?;
        let filter = inputs.get(1).copied().flatten();
        let macs = match (op.opcode, filter) {
            (OpCode::Conv2d, Some(f)) => out.elements() * f.dims[1] * f.dims[2] * f.dims[3],
            (OpCode::DepthwiseConv2d, Some(f)) => out.elements() * f.dims[1] * f.dims[2],
            (OpCode::FullyConnected, Some(f)) => out.elements() * f.dims[1],
            _ => 0,
        } as u64;
        // Requantization tables (inputs 3 and 4) are an implementation detail, not shapes a
        // user recognises; they still count as weight bytes.
        let shown = match op.opcode {
            OpCode::Conv2d | OpCode::DepthwiseConv2d | OpCode::FullyConnected => 3,
            _ => inputs.len(),
        };
        ops.push(OpReport {
            op: op.opcode.name(),
            input_shapes: inputs
                .iter()
                .take(shown)
                .flatten()
                .map(|t| t.shape().to_vec())
                .collect(),
            output_shape: out.shape().to_vec(),
            dtype: inputs
                .first()
                .copied()
                .flatten()
                .map_or("?", |t| t.dtype.name()),
            macs,
            weight_bytes: inputs
                .iter()
                .flatten()
                .filter(|t| t.location == Location::Const)
                .map(|t| t.byte_len)
                .sum(),
        });
    }

    let io = |list: mote_format::IndexList<'_>| -> Result<Vec<IoReport>, FormatError> {
        list.iter()
            .enumerate()
            .map(|(i, t)| {
                let t = t
                    .and_then(|t| model.tensor(t))
                    .ok_or(FormatError::BadGraphIo { index: i })?;
                let quantized = t.scale != 0.0;
                Ok(IoReport {
                    name: String::new(),
                    dtype: t.dtype.name(),
                    shape: t.shape().to_vec(),
                    scale: quantized.then_some(t.scale),
                    zero_point: quantized.then_some(t.zero_point as i64),
                })
            })
            .collect()
    };

    Ok(Report {
        total_macs: ops.iter().map(|o| o.macs).sum(),
        ops,
        inputs: io(model.inputs())?,
        outputs: io(model.outputs())?,
        arena_bytes: model.arena_bytes(),
        lower_bound: lower_bound(&model),
        const_bytes: model.const_bytes(),
        artefact_bytes: bytes.len(),
        scratch: Default::default(),
    })
}

/// The bytes that must be alive at once: tensors' lifetimes from the operator order, with a
/// RESHAPE that works in place joining its input and output into one buffer, and so does a
/// CONV_2D whose input shares its output's memory (one buffer as large as the two's span).
fn lower_bound(model: &Model<'_>) -> usize {
    let last_op = model.op_count().saturating_sub(1);
    // buffer key: arena offset of the RESHAPE chain's root, else the tensor itself.
    let mut alias: HashMap<usize, usize> = HashMap::new();
    // Buffers larger than any of their tensors: a shared convolution's span.
    let mut span_of: HashMap<usize, usize> = HashMap::new();
    for o in 0..model.op_count() {
        let Some(op) = model.op(o) else { continue };
        if op.opcode == OpCode::Conv2d {
            if let (Some(x), Some(y)) = (op.inputs.get(0), op.outputs.get(0)) {
                if let (Some(a), Some(b)) = (model.tensor(x), model.tensor(y)) {
                    let (a_end, b_end) = (a.offset + a.byte_len, b.offset + b.byte_len);
                    if a.shares_arena_bytes(&b) {
                        let root = *alias.get(&x).unwrap_or(&x);
                        alias.insert(y, root);
                        let span = a_end.max(b_end) - a.offset.min(b.offset);
                        let e = span_of.entry(root).or_insert(0);
                        *e = (*e).max(span);
                    }
                }
            }
            continue;
        }
        if op.opcode != OpCode::Reshape {
            continue;
        }
        if let (Some(x), Some(y)) = (op.inputs.get(0), op.outputs.get(0)) {
            let same = matches!((model.tensor(x), model.tensor(y)), (Some(a), Some(b)) if a.location == Location::Arena && a.offset == b.offset);
            if same {
                let root = *alias.get(&x).unwrap_or(&x);
                alias.insert(y, root);
            }
        }
    }
    let mut spans: HashMap<usize, Buffer> = HashMap::new();
    let mut touch = |t: usize, at: usize| {
        let Some(info) = model.tensor(t) else { return };
        if info.location != Location::Arena {
            return;
        }
        let key = *alias.get(&t).unwrap_or(&t);
        let b = spans.entry(key).or_insert(Buffer {
            size: info.byte_len,
            first_use: at,
            last_use: at,
        });
        b.first_use = b.first_use.min(at);
        b.last_use = b.last_use.max(at);
        b.size = b.size.max(info.byte_len);
    };
    for t in model.inputs().iter().flatten() {
        touch(t, 0);
    }
    for o in 0..model.op_count() {
        if let Some(op) = model.op(o) {
            for t in op.inputs.iter().chain(op.outputs.iter()).flatten() {
                touch(t, o);
            }
        }
    }
    for t in model.outputs().iter().flatten() {
        touch(t, last_op);
    }
    for (key, span) in span_of {
        if let Some(b) = spans.get_mut(&key) {
            b.size = b.size.max(span);
        }
    }
    let mut buffers: Vec<Buffer> = spans.into_values().collect();
    buffers.sort_by_key(|b| (b.first_use, b.last_use, b.size));
    planner::lower_bound(&buffers, ALIGN)
}
