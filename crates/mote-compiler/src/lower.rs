//! Lowering a graph to a `.mote` artefact: memory plan, per-operator integer parameters,
//! constant pool.

use std::collections::HashMap;

use mote_format::params::{
    AddParams, Conv2dParams, DepthwiseConv2dParams, DequantizeParams, FullyConnectedParams,
    Pool2dParams, QuantizeParams, SoftmaxParams,
};
use mote_format::{Location, ModelBuilder, OpCode, TensorRecord, ALIGN};
use mote_ir::{Activation, DType, Graph, Op, Tensor, TensorId};

use crate::planner::{self, Buffer};
use mote_kernels::scratch::{self, Kernels};
use crate::quant::{
    activation_range_f32, activation_range_int8, add_quant, quantize_multiplier, softmax_quant,
};
use crate::{CompileError, Compiled};

/// Which kernels the artefact is compiled for, and how much arena their scratch may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompileOptions {
    /// Decides the scratch memory each operator asks for.
    pub kernels: Kernels,
    /// Decides which of those requests the arena plan grants.
    pub scratch: ScratchPolicy,
}

impl Default for CompileOptions {
    /// The Cortex-M DSP kernels (Cortex-M4, M7, M33): their scratch costs a little arena and
    /// is simply unused where the reference kernels run, while an artefact without it would
    /// make a DSP board fall back to the slow kernels. Scratch is granted within
    /// [`ScratchPolicy::DEFAULT`].
    fn default() -> Self {
        CompileOptions {
            kernels: Kernels::CortexMDsp,
            scratch: ScratchPolicy::DEFAULT,
        }
    }
}

/// Which operators get the scratch their kernels ask for (`mote_kernels::scratch`).
///
/// Scratch is working memory for one operator (an im2col block, a depthwise row ring, a
/// widened input row). A kernel given less than it asks for still gives the same bytes, but
/// slower: the DSP fully connected kernel widens its input on the fly (a sixth more
/// instructions in its loop), the DSP convolutions run the reference kernel (several times
/// slower). So scratch trades instructions for arena, and the arena is most of a model's RAM.
///
/// Every policy but [`ScratchPolicy::All`] first plans the activations alone (the baseline
/// arena), then considers the requests by the instructions they save per byte asked
/// (convolutions, whose fallback is the reference kernel, long before fully connected
/// layers), re-plans with each one and keeps it only if the policy accepts the new arena. A
/// request that fits in memory the activations leave free at its operator does not grow the
/// arena and is kept by every policy but [`ScratchPolicy::None`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScratchPolicy {
    /// Every request is granted: the fewest instructions, the largest arena.
    All,
    /// No request is granted: the smallest arena.
    None,
    /// Keep a grant while the arena stays within the baseline plus `extra_permille`
    /// thousandths of it.
    Budget { extra_permille: u32 },
    /// Keep a grant if it adds at most one byte to the arena per `instructions_per_byte`
    /// instructions it saves per inference (estimated, see [`scratch_saving`]).
    Exchange { instructions_per_byte: u32 },
}

impl ScratchPolicy {
    /// The default: scratch may grow the arena by one byte per 256 instructions it saves.
    /// The DSP convolutions' scratch saves thousands of instructions per byte and is kept;
    /// the fully connected kernel's saves under a hundred and is kept only where it costs
    /// no arena.
    pub const DEFAULT: ScratchPolicy = ScratchPolicy::Exchange {
        instructions_per_byte: 256,
    };
}

/// How many instructions per MAC, at the least, a DSP CONV_2D loses without its scratch: it
/// runs the reference kernel instead (measured on the Cortex-M4 on kws, vww, resnet and
/// person_detect: 8 to 15 more per MAC).
const CONV_FALLBACK_INSTRUCTIONS_PER_MAC: u64 = 8;

/// The same for DEPTHWISE_CONV_2D, whose reference kernel is slower still (measured: 20 more
/// per MAC on micro_speech, about 70 on kws).
const DEPTHWISE_FALLBACK_INSTRUCTIONS_PER_MAC: u64 = 20;

/// Instructions per inference that node `n`'s scratch saves its kernel, estimated: for a
/// convolution the reference kernel's extra cost (a lower bound), for a fully connected layer
/// [`scratch::fully_connected_int8_saving`].
pub fn scratch_saving(graph: &Graph, n: usize, kernels: Kernels) -> u64 {
    let node = &graph.nodes[n];
    match &node.op {
        Op::Conv2d(_) => graph.macs(n).saturating_mul(CONV_FALLBACK_INSTRUCTIONS_PER_MAC),
        Op::DepthwiseConv2d(_) => {
            graph.macs(n).saturating_mul(DEPTHWISE_FALLBACK_INSTRUCTIONS_PER_MAC)
        }
        Op::FullyConnected(_) => {
            let shape = |i: usize| {
                node.inputs
                    .get(i)
                    .copied()
                    .flatten()
                    .map_or(&[][..], |t| &graph.tensors[t].shape[..])
            };
            let (x, filter) = (shape(0), shape(1));
            let (units, depth) = (
                filter.first().copied().unwrap_or(0),
                filter.get(1).copied().unwrap_or(0),
            );
            let batches = x.iter().product::<usize>() / depth.max(1);
            scratch::fully_connected_int8_saving(kernels, batches, depth, units)
        }
        _ => 0,
    }
}

/// One operator's scratch request and what the policy decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScratchDecision {
    /// Operator index.
    pub node: usize,
    pub op: &'static str,
    /// Bytes its kernel asked for.
    pub bytes: usize,
    /// Instructions per inference the scratch saves, estimated ([`scratch_saving`]).
    pub saving: u64,
    pub granted: bool,
    /// Bytes the grant added to the arena (or would have added, when refused).
    pub arena_growth: usize,
}

/// How the scratch policy played out for a model.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScratchReport {
    /// The arena planned with no scratch at all.
    pub baseline_arena: usize,
    /// Every operator that asked for scratch, in operator order.
    pub requests: Vec<ScratchDecision>,
}

/// A scratch request of one operator.
#[derive(Debug, Clone, Copy)]
struct ScratchRequest {
    node: usize,
    bytes: usize,
}

/// Decides which `requests` (in operator order, each with its estimated saving) `policy`
/// grants, given the activation buffers. The buffers it plans are the activations followed by
/// the granted scratch in operator order, the order [`Lowering`] builds them in, so the final
/// plan is the last one accepted here.
fn choose_scratch(
    activations: &[Buffer],
    requests: &[(ScratchRequest, u64)],
    policy: ScratchPolicy,
) -> (Vec<(bool, usize)>, usize) {
    let arena = |granted: &[(bool, usize)]| -> usize {
        let mut buffers = activations.to_vec();
        for ((r, _), &(g, _)) in requests.iter().zip(granted) {
            if g {
                buffers.push(Buffer { size: r.bytes, first_use: r.node, last_use: r.node });
            }
        }
        planner::plan(&buffers, ALIGN).arena_bytes
    };
    let mut granted = vec![(false, 0); requests.len()];
    let baseline = arena(&granted);
    let mut current = baseline;
    if policy == ScratchPolicy::None {
        return (granted, baseline);
    }
    // Most instructions saved per byte asked first; ties in operator order.
    let mut order: Vec<usize> = (0..requests.len()).collect();
    order.sort_by(|&i, &j| {
        let (ri, si) = requests[i];
        let (rj, sj) = requests[j];
        (sj as u128 * ri.bytes as u128)
            .cmp(&(si as u128 * rj.bytes as u128))
            .then(i.cmp(&j))
    });
    for i in order {
        granted[i].0 = true;
        let with = arena(&granted);
        let growth = with.saturating_sub(current);
        let saving = requests[i].1;
        let keep = match policy {
            ScratchPolicy::All => true,
            ScratchPolicy::None => false,
            ScratchPolicy::Budget { extra_permille } => {
                with as u128 * 1000 <= baseline as u128 * (1000 + extra_permille as u128)
            }
            ScratchPolicy::Exchange {
                instructions_per_byte,
            } => growth as u128 * instructions_per_byte as u128 <= saving as u128,
        };
        granted[i] = (keep, growth);
        if keep {
            current = with;
        }
    }
    (granted, baseline)
}

/// The kernel family a firmware built for the Rust `target` runs: the Cortex-M DSP kernels
/// for targets with the DSP extension (Cortex-M4/M7: `thumbv7em-*`; Cortex-M33/M55:
/// `thumbv8m.main-*`, `thumbv8.1m.main-*`), the reference kernels elsewhere (Cortex-M0/M0+:
/// `thumbv6m-*`; Cortex-M3: `thumbv7m-*`). The compiler plans each operator's scratch for
/// this family, so `mote bench` and a board's `build.rs` must agree on it: both call this.
pub fn kernels_for_target(target: &str) -> Kernels {
    let dsp = ["thumbv7em-", "thumbv8m.main-", "thumbv8.1m.main-"];
    if dsp.iter().any(|prefix| target.starts_with(prefix)) {
        Kernels::CortexMDsp
    } else {
        Kernels::Reference
    }
}

/// Compiles `graph` into a `.mote` artefact and a report, for the default kernels.
pub fn compile(graph: &Graph) -> Result<Compiled, CompileError> {
    compile_with(graph, &CompileOptions::default())
}

/// Compiles `graph` into a `.mote` artefact and a report.
pub fn compile_with(graph: &Graph, options: &CompileOptions) -> Result<Compiled, CompileError> {
    graph.check()?;
    // The rewrites pay off with the DSP kernels; with the reference kernels (Cortex-M0) the
    // reference convolution is slower than the reference depthwise kernel it would replace
    // (micro_speech on the M0: 13.4 M instructions instead of 9.1 M).
    let rewritten;
    let graph = if options.kernels == Kernels::CortexMDsp {
        rewritten = crate::rewrite::rewrite(graph);
        &rewritten
    } else {
        graph
    };
    // The artefact addresses bytes with 32-bit offsets.
    if let Some((t, tensor)) = graph.tensors.iter().enumerate().find(|(_, t)| t.byte_len() > u32::MAX as usize / 2) {
        return Err(CompileError::Tensor {
            tensor: t,
            name: tensor.name.clone(),
            message: format!("shape {:?} is too large for a microcontroller model", tensor.shape),
        });
    }
    // A first lowering with every request granted finds what each operator asks for; the
    // policy picks the grants; the second lowering builds the artefact with those.
    let mut probe = Lowering::new(graph, options.kernels, None)?;
    for n in 0..graph.nodes.len() {
        probe.lower_node(n)?;
    }
    let requests: Vec<(ScratchRequest, u64)> = probe
        .requests
        .iter()
        .map(|r| (*r, scratch_saving(graph, r.node, options.kernels)))
        .collect();
    let (granted, baseline_arena) =
        choose_scratch(&probe.buffers[..probe.activations], &requests, options.scratch);
    let mut grants = vec![false; graph.nodes.len()];
    for ((r, _), &(g, _)) in requests.iter().zip(&granted) {
        grants[r.node] = g;
    }
    let mut lowering = Lowering::new(graph, options.kernels, Some(grants))?;
    for n in 0..graph.nodes.len() {
        lowering.lower_node(n)?;
    }
    lowering.place_arena();
    let b = &mut lowering.builder;
    b.inputs = graph.inputs.iter().map(|t| lowering.arena_index[t]).collect();
    b.outputs = graph.outputs.iter().map(|t| lowering.arena_index[t]).collect();
    let bytes = b.finish()?;
    let mut report = crate::describe(&bytes)?;
    report.scratch = ScratchReport {
        baseline_arena,
        requests: requests
            .iter()
            .zip(&granted)
            .map(|((r, saving), &(granted, arena_growth))| ScratchDecision {
                node: r.node,
                op: graph.nodes[r.node].op.name(),
                bytes: r.bytes,
                saving: *saving,
                granted,
                arena_growth,
            })
            .collect(),
    };
    for (io, &t) in report
        .inputs
        .iter_mut()
        .zip(&graph.inputs)
        .chain(report.outputs.iter_mut().zip(&graph.outputs))
    {
        io.name = graph.tensors[t].name.clone();
    }
    Ok(Compiled { bytes, report })
}

struct Lowering<'g> {
    graph: &'g Graph,
    kernels: Kernels,
    builder: ModelBuilder,
    /// Every arena buffer to place: activations (RESHAPE outputs sharing their input's), then
    /// the granted per-operator scratch in operator order.
    buffers: Vec<Buffer>,
    /// How many of `buffers` are activations.
    activations: usize,
    /// Which operators may have their scratch (`None`: all).
    grants: Option<Vec<bool>>,
    /// Every operator's scratch request, granted or not, in operator order.
    requests: Vec<ScratchRequest>,
    /// For each arena tensor record in the builder, the buffer it lives in.
    /// (record, buffer, byte offset of the record within the buffer: non-zero for a
    /// convolution's input that shares its output's buffer, see [`shared_convolutions`]).
    record_buffer: Vec<(usize, usize, usize)>,
    /// Format tensor index of each activation.
    arena_index: HashMap<TensorId, usize>,
    /// Format tensor index of each constant already in the pool.
    const_index: HashMap<TensorId, usize>,
}

fn format_dtype(t: &Tensor, id: TensorId) -> Result<mote_format::DType, CompileError> {
    match t.dtype {
        DType::Int8 => Ok(mote_format::DType::Int8),
        DType::Int32 => Ok(mote_format::DType::Int32),
        DType::Float32 => Ok(mote_format::DType::Float32),
        other => Err(CompileError::Tensor {
            tensor: id,
            name: t.name.clone(),
            message: format!("{other} tensors are not supported (int8, int32 and float32 are)"),
        }),
    }
}

fn per_tensor_quant(t: &Tensor) -> (f32, i32) {
    t.quant
        .as_ref()
        .filter(|q| q.is_per_tensor())
        .map_or((0.0, 0), |q| (q.scale[0], q.zero_point[0] as i32))
}

/// Top/left padding as TFLite computes it: half the total, the odd pixel going bottom/right.
fn padding(input: usize, filter: usize, stride: usize, dilation: usize, output: usize) -> i32 {
    let effective = (filter - 1) * dilation + 1;
    let total = ((output.max(1) - 1) * stride + effective) as i64 - input as i64;
    (total.max(0) / 2) as i32
}

/// Lets int8 CONV_2D outputs share memory with their inputs where that makes the arena
/// smaller: the input's buffer is folded into the output's, the input starting
/// [`mote_kernels::conv2d::overlap_distance`] bytes (rounded up to the alignment) into it,
/// so that writing the output in pixel order never overwrites input that is still to be
/// read. Only for an input read by nothing after the convolution and an output first
/// written by it, each buffer shared once; kept only if the planned arena (without scratch)
/// gets smaller. Returns, for each folded input buffer, the buffer it now lives in and its
/// byte offset there; the folded buffer itself is left with size 0.
fn shared_convolutions(
    graph: &Graph,
    buffers: &mut [Buffer],
    buffer_of: &mut impl FnMut(TensorId) -> usize,
) -> HashMap<usize, (usize, usize)> {
    let mut shared = HashMap::new();
    let mut touched = vec![false; buffers.len()];
    for (n, node) in graph.nodes.iter().enumerate() {
        let Op::Conv2d(a) = &node.op else { continue };
        let (Some(Some(x)), Some(&y), Some(Some(f))) =
            (node.inputs.first(), node.outputs.first(), node.inputs.get(1))
        else {
            continue;
        };
        let (xt, yt, ft) = (&graph.tensors[*x], &graph.tensors[y], &graph.tensors[*f]);
        if xt.dtype != DType::Int8
            || yt.dtype != DType::Int8
            || xt.data.is_some()
            || graph.outputs.contains(x)
            || xt.shape.len() != 4
            || yt.shape.len() != 4
            || ft.shape.len() != 4
        {
            continue;
        }
        let (bx, by) = (buffer_of(*x), buffer_of(y));
        if bx == by
            || touched[bx]
            || touched[by]
            || buffers[bx].last_use != n
            || buffers[by].first_use != n
            || buffers[bx].size != xt.byte_len()
        {
            continue;
        }
        let ([_, h, w, _], [_, kh, kw, _], [_, oh, ow, _]) =
            (dims4(&xt.shape), dims4(&ft.shape), dims4(&yt.shape));
        let p = Conv2dParams {
            stride_h: a.stride[0] as i32,
            stride_w: a.stride[1] as i32,
            dilation_h: a.dilation[0] as i32,
            dilation_w: a.dilation[1] as i32,
            pad_top: padding(h, kh, a.stride[0], a.dilation[0], oh),
            pad_left: padding(w, kw, a.stride[1], a.dilation[1], ow),
            input_zero_point: 0,
            output_zero_point: 0,
            act_min: 0,
            act_max: 0,
            float_act_min: 0.0,
            float_act_max: 0.0,
        };
        let Some(d) = mote_kernels::conv2d::overlap_distance(&p, dims4(&xt.shape), dims4(&yt.shape))
        else {
            continue;
        };
        let d = d.div_ceil(ALIGN) * ALIGN;
        if d >= buffers[by].size {
            continue;
        }
        let before = planner::plan(buffers, ALIGN).arena_bytes;
        let saved = (buffers[bx], buffers[by]);
        buffers[by] = Buffer {
            size: buffers[by].size.max(d + buffers[bx].size),
            first_use: buffers[bx].first_use.min(n),
            last_use: buffers[by].last_use,
        };
        buffers[bx].size = 0;
        if planner::plan(buffers, ALIGN).arena_bytes < before {
            touched[bx] = true;
            touched[by] = true;
            shared.insert(bx, (by, d));
        } else {
            (buffers[bx], buffers[by]) = saved;
        }
    }
    shared
}

fn find(group: &mut [usize], mut t: usize) -> usize {
    while group[t] != t {
        group[t] = group[group[t]];
        t = group[t];
    }
    t
}

impl<'g> Lowering<'g> {
    /// Finds the activations and gives RESHAPE outputs their input's buffer; offsets come
    /// later, once every operator's scratch is known ([`Lowering::place_arena`]).
    fn new(graph: &'g Graph, kernels: Kernels, grants: Option<Vec<bool>>) -> Result<Self, CompileError> {
        let n_tensors = graph.tensors.len();
        let is_activation = |t: TensorId| graph.tensors[t].data.is_none();
        let mut used = vec![false; n_tensors];
        for node in &graph.nodes {
            for t in node.inputs.iter().flatten().chain(&node.outputs) {
                used[*t] = true;
            }
        }
        for &t in graph.inputs.iter().chain(&graph.outputs) {
            used[t] = true;
            if !is_activation(t) {
                let tensor = &graph.tensors[t];
                return Err(CompileError::Tensor {
                    tensor: t,
                    name: tensor.name.clone(),
                    message: "a graph input or output is a constant".into(),
                });
            }
        }
        let mut group: Vec<usize> = (0..n_tensors).collect();
        for node in &graph.nodes {
            if let (Op::Reshape, Some(Some(x))) = (&node.op, node.inputs.first()) {
                if is_activation(*x) {
                    let root = find(&mut group, *x);
                    group[node.outputs[0]] = root;
                }
            }
        }
        // Lifetimes per buffer group, in node indices.
        let last_node = graph.nodes.len().saturating_sub(1);
        let mut span: HashMap<usize, (usize, usize, usize)> = HashMap::new(); // root → (first, last, size)
        let mut touch = |group: &mut Vec<usize>, t: TensorId, n: usize| {
            let root = find(group, t);
            let size = graph.tensors[t].byte_len();
            let e = span.entry(root).or_insert((n, n, size));
            e.0 = e.0.min(n);
            e.1 = e.1.max(n);
            e.2 = e.2.max(size);
        };
        for &t in &graph.inputs {
            touch(&mut group, t, 0);
        }
        for (n, node) in graph.nodes.iter().enumerate() {
            for &t in node.inputs.iter().flatten().chain(&node.outputs) {
                if is_activation(t) {
                    touch(&mut group, t, n);
                }
            }
        }
        for &t in &graph.outputs {
            touch(&mut group, t, last_node);
        }
        let mut roots: Vec<usize> = span.keys().copied().collect();
        roots.sort_unstable();
        let buffers: Vec<Buffer> = roots
            .iter()
            .map(|r| {
                let (first_use, last_use, size) = span[r];
                Buffer {
                    size,
                    first_use,
                    last_use,
                }
            })
            .collect();
        let buffer_of_root: HashMap<usize, usize> = roots.iter().enumerate().map(|(b, &r)| (r, b)).collect();
        let mut buffers = buffers;
        let shared = {
            let mut buffer_of = |t: TensorId| buffer_of_root[&find(&mut group, t)];
            shared_convolutions(graph, &mut buffers, &mut buffer_of)
        };

        let mut builder = ModelBuilder::new();
        let mut arena_index = HashMap::new();
        let mut record_buffer = Vec::new();
        for t in 0..n_tensors {
            if !used[t] || !is_activation(t) {
                continue;
            }
            let tensor = &graph.tensors[t];
            let (scale, zero_point) = per_tensor_quant(tensor);
            let record = TensorRecord {
                dtype: format_dtype(tensor, t)?,
                shape: tensor.shape.clone(),
                location: Location::Arena,
                offset: 0, // placed by `place_arena`
                scale,
                zero_point,
            };
            if record.shape.len() > mote_format::MAX_RANK {
                return Err(CompileError::Tensor {
                    tensor: t,
                    name: tensor.name.clone(),
                    message: format!("has {} dimensions; mote supports up to 4", record.shape.len()),
                });
            }
            let index = builder.add_tensor(record);
            let buffer = buffer_of_root[&find(&mut group, t)];
            let (buffer, within) = shared.get(&buffer).copied().unwrap_or((buffer, 0));
            record_buffer.push((index, buffer, within));
            arena_index.insert(t, index);
        }
        Ok(Lowering {
            graph,
            kernels,
            builder,
            activations: buffers.len(),
            buffers,
            grants,
            requests: Vec::new(),
            record_buffer,
            arena_index,
            const_index: HashMap::new(),
        })
    }

    /// Records node `n`'s request for `bytes` of scratch and, if the policy granted it, adds a
    /// scratch buffer that lives only while the node runs and returns its tensor.
    fn scratch(&mut self, n: usize, bytes: usize) -> Option<usize> {
        if bytes == 0 {
            return None;
        }
        self.requests.push(ScratchRequest { node: n, bytes });
        if self.grants.as_ref().is_some_and(|g| !g.get(n).copied().unwrap_or(false)) {
            return None;
        }
        self.buffers.push(Buffer { size: bytes, first_use: n, last_use: n });
        let index = self.builder.add_tensor(TensorRecord {
            dtype: mote_format::DType::Int8,
            shape: vec![bytes],
            location: Location::Arena,
            offset: 0,
            scale: 0.0,
            zero_point: 0,
        });
        self.record_buffer.push((index, self.buffers.len() - 1, 0));
        Some(index)
    }

    /// Plans the arena and gives every arena tensor its offset.
    fn place_arena(&mut self) {
        let plan = planner::plan(&self.buffers, ALIGN);
        for &(record, buffer, within) in &self.record_buffer {
            self.builder.tensors[record].offset = plan.offsets[buffer] + within;
        }
        self.builder.arena_bytes = plan.arena_bytes;
    }

    fn unsupported(&self, n: usize, message: impl Into<String>) -> CompileError {
        CompileError::Unsupported {
            node: n,
            op: self.graph.nodes[n].op.name(),
            message: message.into(),
        }
    }

    /// Format index of tensor `t`: its arena record, or its constant (added on first use).
    fn tensor(&mut self, t: TensorId) -> Result<usize, CompileError> {
        if let Some(&i) = self
            .arena_index
            .get(&t)
            .or_else(|| self.const_index.get(&t))
        {
            return Ok(i);
        }
        let tensor = &self.graph.tensors[t];
        let data = tensor.data.as_deref().unwrap_or(&[]);
        let (scale, zero_point) = per_tensor_quant(tensor);
        let record = TensorRecord {
            dtype: format_dtype(tensor, t)?,
            shape: if tensor.shape.len() <= mote_format::MAX_RANK {
                tensor.shape.clone()
            } else {
                vec![tensor.elements()]
            },
            location: Location::Const,
            offset: self.builder.add_const(data),
            scale,
            zero_point,
        };
        let i = self.builder.add_tensor(record);
        self.const_index.insert(t, i);
        Ok(i)
    }

    /// Adds a constant int32 vector (per-channel multipliers or shifts).
    fn int32_table(&mut self, values: &[i32]) -> usize {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let offset = self.builder.add_const(&bytes);
        self.builder.add_tensor(TensorRecord {
            dtype: mote_format::DType::Int32,
            shape: vec![values.len()],
            location: Location::Const,
            offset,
            scale: 0.0,
            zero_point: 0,
        })
    }

    /// Requires that input `i` of node `n` is a constant, and returns it.
    fn const_input(
        &self,
        n: usize,
        i: usize,
        role: &str,
    ) -> Result<Option<&'g Tensor>, CompileError> {
        match self.graph.nodes[n].inputs.get(i).copied().flatten() {
            None => Ok(None),
            Some(t) if self.graph.tensors[t].is_const() => Ok(Some(&self.graph.tensors[t])),
            Some(t) => Err(self.unsupported(
                n,
                format!("{role} `{}` must be a constant", self.graph.tensors[t].name),
            )),
        }
    }

    /// Per-output-channel requantization tables for int8 CONV/DEPTHWISE/FC: the real
    /// multiplier input_scale × filter_scale[c] / output_scale, in double precision as TFLite.
    fn requant_tables(
        &mut self,
        n: usize,
        filter: &Tensor,
        channels: usize,
        per_channel_allowed: bool,
    ) -> Result<(usize, usize), CompileError> {
        let node = &self.graph.nodes[n];
        let (sx, _) = per_tensor_quant(&self.graph.tensors[node.inputs[0].unwrap_or(0)]);
        let (so, _) = per_tensor_quant(&self.graph.tensors[node.outputs[0]]);
        let fq = filter.quant.as_ref().ok_or_else(|| {
            self.unsupported(n, format!("filter `{}` has no quantization", filter.name))
        })?;
        if fq.scale.len() != 1 && (fq.scale.len() != channels || !per_channel_allowed) {
            return Err(self.unsupported(
                n,
                format!(
                    "filter `{}` has {} scales for {channels} output channels",
                    filter.name,
                    fq.scale.len()
                ),
            ));
        }
        if fq.scale.len() > 1 && fq.zero_point.iter().any(|&z| z != 0) {
            return Err(self.unsupported(
                n,
                format!(
                    "per-channel filter `{}` must be symmetric (zero point 0)",
                    filter.name
                ),
            ));
        }
        if sx <= 0.0 || so <= 0.0 {
            return Err(self.unsupported(n, "int8 input and output need per-tensor quantization"));
        }
        let (mut multipliers, mut shifts) =
            (Vec::with_capacity(channels), Vec::with_capacity(channels));
        let count = if fq.scale.len() == 1 && !per_channel_allowed {
            1
        } else {
            channels
        };
        for c in 0..count {
            let fs = if fq.scale.len() == 1 {
                fq.scale[0]
            } else {
                fq.scale[c]
            };
            let (m, s) = quantize_multiplier(sx as f64 * fs as f64 / so as f64);
            multipliers.push(m);
            shifts.push(s);
        }
        Ok((self.int32_table(&multipliers), self.int32_table(&shifts)))
    }

    fn activation_bounds(&self, n: usize, activation: Activation) -> (i32, i32, f32, f32) {
        let out = &self.graph.tensors[self.graph.nodes[n].outputs[0]];
        let (fmin, fmax) = activation_range_f32(activation);
        if out.dtype == DType::Int8 {
            let (scale, zp) = per_tensor_quant(out);
            let (min, max) = activation_range_int8(activation, scale, zp);
            (min, max, fmin, fmax)
        } else {
            (i8::MIN as i32, i8::MAX as i32, fmin, fmax)
        }
    }

    fn lower_node(&mut self, n: usize) -> Result<(), CompileError> {
        let graph = self.graph;
        let node = &graph.nodes[n];
        let x_id = node.inputs[0].ok_or_else(|| self.unsupported(n, "first input is missing"))?;
        let x = &graph.tensors[x_id];
        let out_id = node.outputs[0];
        let out = &graph.tensors[out_id];
        let int8 = x.dtype == DType::Int8;
        let (x_scale, x_zp) = per_tensor_quant(x);
        let (out_scale, out_zp) = per_tensor_quant(out);
        if int8
            && !matches!(node.op, Op::Reshape)
            && (x_scale <= 0.0 || (out.dtype == DType::Int8 && out_scale <= 0.0))
        {
            return Err(
                self.unsupported(n, "int8 tensors need per-tensor quantization (scale > 0)")
            );
        }
        let xi = self.tensor(x_id)?;
        let oi = self.tensor(out_id)?;

        let (opcode, inputs, params): (OpCode, Vec<Option<usize>>, Vec<u8>) = match &node.op {
            Op::Conv2d(a) => {
                let filter = self
                    .const_input(n, 1, "filter")?
                    .ok_or_else(|| self.unsupported(n, "filter is missing"))?;
                let [_, h, w, _] = dims4(&x.shape);
                let [oc, kh, kw, _] = dims4(&filter.shape);
                let [_, oh, ow, _] = dims4(&out.shape);
                let (act_min, act_max, float_act_min, float_act_max) =
                    self.activation_bounds(n, a.activation);
                let p = Conv2dParams {
                    stride_h: a.stride[0] as i32,
                    stride_w: a.stride[1] as i32,
                    dilation_h: a.dilation[0] as i32,
                    dilation_w: a.dilation[1] as i32,
                    pad_top: padding(h, kh, a.stride[0], a.dilation[0], oh),
                    pad_left: padding(w, kw, a.stride[1], a.dilation[1], ow),
                    input_zero_point: x_zp,
                    output_zero_point: out_zp,
                    act_min,
                    act_max,
                    float_act_min,
                    float_act_max,
                };
                let mut inputs = self.weights_and_bias(n, int8)?;
                if int8 {
                    let (m, s) = self.requant_tables(n, filter, oc, true)?;
                    inputs.extend([Some(m), Some(s)]);
                    let bytes = scratch::conv2d_int8(self.kernels, dims4(&x.shape), dims4(&filter.shape), dims4(&out.shape));
                    inputs.extend(self.scratch(n, bytes).map(Some));
                }
                (OpCode::Conv2d, with_input(xi, inputs), encode(&p))
            }
            Op::DepthwiseConv2d(a) => {
                let filter = self
                    .const_input(n, 1, "filter")?
                    .ok_or_else(|| self.unsupported(n, "filter is missing"))?;
                let [_, h, w, _] = dims4(&x.shape);
                let [_, kh, kw, oc] = dims4(&filter.shape);
                let [_, oh, ow, _] = dims4(&out.shape);
                let (act_min, act_max, float_act_min, float_act_max) =
                    self.activation_bounds(n, a.activation);
                let p = DepthwiseConv2dParams {
                    stride_h: a.stride[0] as i32,
                    stride_w: a.stride[1] as i32,
                    dilation_h: a.dilation[0] as i32,
                    dilation_w: a.dilation[1] as i32,
                    pad_top: padding(h, kh, a.stride[0], a.dilation[0], oh),
                    pad_left: padding(w, kw, a.stride[1], a.dilation[1], ow),
                    depth_multiplier: a.depth_multiplier as i32,
                    input_zero_point: x_zp,
                    output_zero_point: out_zp,
                    act_min,
                    act_max,
                    float_act_min,
                    float_act_max,
                };
                let mut inputs = self.weights_and_bias(n, int8)?;
                if int8 {
                    let (m, s) = self.requant_tables(n, filter, oc, true)?;
                    inputs.extend([Some(m), Some(s)]);
                    let bytes = scratch::depthwise_conv2d_int8(
                        self.kernels,
                        &p,
                        dims4(&x.shape),
                        dims4(&filter.shape),
                        dims4(&out.shape),
                    );
                    inputs.extend(self.scratch(n, bytes).map(Some));
                }
                (OpCode::DepthwiseConv2d, with_input(xi, inputs), encode(&p))
            }
            Op::FullyConnected(a) => {
                let filter = self
                    .const_input(n, 1, "filter")?
                    .ok_or_else(|| self.unsupported(n, "filter is missing"))?;
                let units = filter.shape[0];
                let (act_min, act_max, float_act_min, float_act_max) =
                    self.activation_bounds(n, a.activation);
                let filter_zero_point = filter
                    .quant
                    .as_ref()
                    .and_then(|q| q.zero_point.first().copied())
                    .unwrap_or(0) as i32;
                let p = FullyConnectedParams {
                    input_zero_point: x_zp,
                    filter_zero_point,
                    output_zero_point: out_zp,
                    act_min,
                    act_max,
                    float_act_min,
                    float_act_max,
                };
                let mut inputs = self.weights_and_bias(n, int8)?;
                if int8 {
                    let per_channel = filter.quant.as_ref().is_some_and(|q| q.scale.len() > 1);
                    let (m, s) = self.requant_tables(n, filter, units, per_channel)?;
                    inputs.extend([Some(m), Some(s)]);
                    let depth = filter.shape[1];
                    let bytes = scratch::fully_connected_int8(self.kernels, x.elements() / depth.max(1), depth, units);
                    inputs.extend(self.scratch(n, bytes).map(Some));
                }
                (OpCode::FullyConnected, with_input(xi, inputs), encode(&p))
            }
            Op::AveragePool2d(a) | Op::MaxPool2d(a) => {
                let [_, h, w, _] = dims4(&x.shape);
                let [_, oh, ow, _] = dims4(&out.shape);
                let (act_min, act_max, float_act_min, float_act_max) =
                    self.activation_bounds(n, a.activation);
                if int8 && (x_scale != out_scale || x_zp != out_zp) {
                    return Err(self.unsupported(
                        n,
                        "int8 pooling needs the same quantization on input and output",
                    ));
                }
                let p = Pool2dParams {
                    stride_h: a.stride[0] as i32,
                    stride_w: a.stride[1] as i32,
                    filter_h: a.filter[0] as i32,
                    filter_w: a.filter[1] as i32,
                    pad_top: padding(h, a.filter[0], a.stride[0], 1, oh),
                    pad_left: padding(w, a.filter[1], a.stride[1], 1, ow),
                    act_min,
                    act_max,
                    float_act_min,
                    float_act_max,
                };
                let opcode = if matches!(node.op, Op::AveragePool2d(_)) {
                    OpCode::AveragePool2d
                } else {
                    OpCode::MaxPool2d
                };
                (opcode, vec![Some(xi)], encode(&p))
            }
            Op::Add(a) => {
                let y_id =
                    node.inputs[1].ok_or_else(|| self.unsupported(n, "second input is missing"))?;
                let y = &graph.tensors[y_id];
                let yi = self.tensor(y_id)?;
                let (y_scale, y_zp) = per_tensor_quant(y);
                let (act_min, act_max, float_act_min, float_act_max) =
                    self.activation_bounds(n, a.activation);
                let mut p = AddParams {
                    act_min,
                    act_max,
                    float_act_min,
                    float_act_max,
                    ..Default::default()
                };
                if int8 {
                    if y_scale <= 0.0 {
                        return Err(self.unsupported(n, "int8 inputs need per-tensor quantization"));
                    }
                    let q = add_quant(x_scale, y_scale, out_scale);
                    p.input1_zero_point = x_zp;
                    p.input2_zero_point = y_zp;
                    p.output_zero_point = out_zp;
                    p.left_shift = q.left_shift;
                    (p.input1_multiplier, p.input1_shift) = q.input1;
                    (p.input2_multiplier, p.input2_shift) = q.input2;
                    (p.output_multiplier, p.output_shift) = q.output;
                }
                (OpCode::Add, vec![Some(xi), Some(yi)], encode(&p))
            }
            Op::Reshape => (OpCode::Reshape, vec![Some(xi)], Vec::new()),
            Op::Softmax(a) => {
                let mut p = SoftmaxParams {
                    beta: a.beta,
                    ..Default::default()
                };
                if int8 {
                    if out_scale != 1.0 / 256.0 || out_zp != -128 {
                        return Err(self.unsupported(n, format!("int8 output must have scale 1/256 and zero point -128 (has {out_scale} and {out_zp})")));
                    }
                    (p.input_multiplier, p.input_left_shift, p.diff_min) =
                        softmax_quant(a.beta, x_scale);
                }
                (OpCode::Softmax, vec![Some(xi)], encode(&p))
            }
            Op::Quantize => {
                let mut p = QuantizeParams {
                    scale: out_scale,
                    zero_point: out_zp,
                    ..Default::default()
                };
                if out_scale <= 0.0 {
                    return Err(self.unsupported(n, "the output needs per-tensor quantization"));
                }
                if int8 {
                    p.input_zero_point = x_zp;
                    (p.multiplier, p.shift) =
                        quantize_multiplier(x_scale as f64 / out_scale as f64);
                }
                (OpCode::Quantize, vec![Some(xi)], encode(&p))
            }
            Op::Dequantize => {
                let p = DequantizeParams {
                    scale: x_scale,
                    zero_point: x_zp,
                };
                (OpCode::Dequantize, vec![Some(xi)], encode(&p))
            }
        };
        self.builder.ops.push(mote_format::OpRecord {
            opcode,
            inputs,
            outputs: vec![oi],
            params,
        });
        Ok(())
    }

    /// Filter (input 1) and optional bias (input 2) as constants, checked for dtype.
    fn weights_and_bias(
        &mut self,
        n: usize,
        int8: bool,
    ) -> Result<Vec<Option<usize>>, CompileError> {
        let node = &self.graph.nodes[n];
        let filter_id = node.inputs[1].ok_or_else(|| self.unsupported(n, "filter is missing"))?;
        let filter = self
            .const_input(n, 1, "filter")?
            .ok_or_else(|| self.unsupported(n, "filter is missing"))?;
        let want = if int8 { DType::Int8 } else { DType::Float32 };
        if filter.dtype != want {
            return Err(self.unsupported(
                n,
                format!("filter `{}` is {}; with {} activations mote needs {} weights (hybrid models are not supported)", filter.name, filter.dtype, if int8 { "int8" } else { "float32" }, want),
            ));
        }
        let fi = self.tensor(filter_id)?;
        let bias = match self.const_input(n, 2, "bias")? {
            None => None,
            Some(b) => {
                let want = if int8 { DType::Int32 } else { DType::Float32 };
                if b.dtype != want {
                    return Err(self.unsupported(
                        n,
                        format!("bias `{}` is {}, expected {want}", b.name, b.dtype),
                    ));
                }
                Some(self.tensor(node.inputs[2].unwrap_or(0))?)
            }
        };
        Ok(vec![Some(fi), bias])
    }
}

fn with_input(x: usize, mut rest: Vec<Option<usize>>) -> Vec<Option<usize>> {
    rest.insert(0, Some(x));
    rest
}

fn encode<P: mote_format::Params>(p: &P) -> Vec<u8> {
    let mut bytes = vec![0u8; P::WORDS * 4];
    p.encode_into(&mut bytes);
    bytes
}

fn dims4(shape: &[usize]) -> [usize; 4] {
    let mut out = [1usize; 4];
    let r = shape.len().min(4);
    out[4 - r..].copy_from_slice(&shape[shape.len() - r..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ad01's shape: 640 → 128 → 128 → 640, each FULLY_CONNECTED asking for two bytes per input
    /// value. The first and last operators have no memory to spare; the middle one does.
    fn chain() -> (Vec<Buffer>, Vec<(ScratchRequest, u64)>) {
        let sizes = [640, 128, 128, 640];
        let activations = (0..4)
            .map(|i| Buffer {
                size: sizes[i],
                first_use: i.saturating_sub(1),
                last_use: i.min(2),
            })
            .collect();
        let requests = (0..3)
            .map(|n| {
                let (depth, units) = (sizes[n], sizes[n + 1]);
                let bytes = scratch::fully_connected_int8(Kernels::CortexMDsp, 1, depth, units);
                let saving =
                    scratch::fully_connected_int8_saving(Kernels::CortexMDsp, 1, depth, units);
                (ScratchRequest { node: n, bytes }, saving)
            })
            .collect();
        (activations, requests)
    }

    #[test]
    fn policies_on_a_chain_of_fully_connected_layers() {
        let (activations, requests) = chain();
        let flags = |policy| {
            let (granted, baseline) = choose_scratch(&activations, &requests, policy);
            assert_eq!(baseline, 768);
            granted.iter().map(|g| g.0).collect::<Vec<_>>()
        };
        assert_eq!(flags(ScratchPolicy::All), [true; 3]);
        assert_eq!(flags(ScratchPolicy::None), [false; 3]);
        // Only the middle request fits in free memory; the others would add over 1 KB for
        // about 20 000 instructions each (20 per byte).
        assert_eq!(flags(ScratchPolicy::DEFAULT), [false, true, false]);
        assert_eq!(
            flags(ScratchPolicy::Budget { extra_permille: 0 }),
            [false, true, false]
        );
        assert_eq!(
            flags(ScratchPolicy::Exchange {
                instructions_per_byte: 10
            }),
            [true, true, true]
        );
    }

    #[test]
    fn a_budget_bounds_the_arena() {
        let (activations, requests) = chain();
        for extra_permille in [0, 125, 500, 1000, 2000, 5000] {
            let policy = ScratchPolicy::Budget { extra_permille };
            let (granted, baseline) = choose_scratch(&activations, &requests, policy);
            let mut buffers = activations.clone();
            for ((r, _), (g, _)) in requests.iter().zip(&granted) {
                if *g {
                    buffers.push(Buffer { size: r.bytes, first_use: r.node, last_use: r.node });
                }
            }
            let plan = planner::plan(&buffers, ALIGN);
            planner::verify(&buffers, &plan, ALIGN).unwrap();
            assert!(
                plan.arena_bytes * 1000 <= baseline * (1000 + extra_permille as usize),
                "{extra_permille}‰: arena {} over baseline {baseline}",
                plan.arena_bytes
            );
        }
    }
}
