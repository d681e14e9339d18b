//! Post-training int8 quantization: turns a float32 [`Graph`] into the graph TFLite's
//! full-integer converter would produce, ready for [`crate::compile`] and for `.tflite` export.
//!
//! The float graph is run on calibration inputs with the reference evaluator
//! ([`mote_ir::eval`]), which observes every activation tensor. A range is chosen per tensor
//! ([`Calibration`]: min/max, a percentile, or the clipping range with the least quantization
//! error), widened to include 0 and turned into an asymmetric per-tensor int8 scale and zero
//! point as TFLite does. Weights are quantized symmetrically per output channel (axis 0 for
//! CONV_2D, axis 3 for DEPTHWISE_CONV_2D; FULLY_CONNECTED per tensor unless asked), biases to
//! int32 with scale `input_scale · weight_scale` and zero point 0. Operators that TFLite's
//! int8 kernels constrain get TFLite's parameters: pooling and RESHAPE outputs share their
//! input's, SOFTMAX's output is 1/256 with zero point −128. The graph's input and output become
//! int8 too (no QUANTIZE/DEQUANTIZE at the edges), like models converted with
//! `inference_input_type = tf.int8`, unless [`QuantizeOptions::float_io`] asks for float32 ones.

use std::collections::HashMap;

use mote_ir::{Activation, DType, Evaluator, Graph, IrError, Op, Quantization, Tensor, TensorId};

/// How a tensor's range is chosen from the values calibration observed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Calibration {
    /// The smallest and largest value seen: nothing clips, outliers cost resolution.
    MinMax,
    /// The `p`-th and `(100 − p)`-th percentiles (`p` in (50, 100], e.g. 99.99): the rare
    /// outliers beyond them clip, everything else gets a finer grid.
    Percentile(f32),
    /// The range, shrunk from min/max towards 0, whose int8 grid reproduces the observed
    /// values with the least mean squared error (clipping error traded against rounding).
    /// Percentiles and errors are computed over a fine histogram of every observed value
    /// (the calibration set is evaluated a second time to fill it), not a subsample.
    Mse,
}

impl std::fmt::Display for Calibration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Calibration::MinMax => f.write_str("minmax"),
            Calibration::Percentile(p) => write!(f, "percentile({p})"),
            Calibration::Mse => f.write_str("mse"),
        }
    }
}

/// What [`quantize`] does beyond the defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QuantizeOptions {
    pub calibration: Calibration,
    /// FULLY_CONNECTED weights per output unit (axis 0) instead of per tensor. TFLite's
    /// converter quantizes them per tensor by default, and older TFLM kernels only take that;
    /// mote's runtime and current TFLM run both alike (tests/tflm_oracle.rs).
    pub fully_connected_per_channel: bool,
    /// Keep float32 graph inputs and outputs: a QUANTIZE after each input and a DEQUANTIZE
    /// before each output, as TFLite's converter does without `inference_input_type` (the
    /// float tensors keep the original names, the int8 ones get `_int8`). Off: int8 I/O.
    pub float_io: bool,
    /// The graph input's (scale, zero point), instead of calibrating it: for inputs that are
    /// already int8 on the device (a front end's bytes), so that the int8 model takes them
    /// as they are. The float model must have been fed `scale · (q − zero_point)`.
    pub input_quantization: Option<(f32, i64)>,
}

impl Default for QuantizeOptions {
    fn default() -> Self {
        QuantizeOptions {
            calibration: Calibration::MinMax,
            fully_connected_per_channel: false,
            float_io: false,
            input_quantization: None,
        }
    }
}

/// The range chosen for one activation tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorRange {
    pub tensor: TensorId,
    pub name: String,
    /// Smallest and largest value observed during calibration.
    pub observed: [f32; 2],
    /// The range the int8 grid covers (includes 0; may clip `observed`).
    pub chosen: [f32; 2],
    pub scale: f32,
    pub zero_point: i64,
    /// Why the range is what it is when calibration did not choose it: "shared with input
    /// `x`" (pooling, RESHAPE) or "fixed by SOFTMAX".
    pub rule: Option<String>,
}

/// What quantizing did, for `mote quantize` and for tests.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizeReport {
    pub calibration: Calibration,
    /// Calibration inputs the float graph was run on.
    pub samples: usize,
    /// Bytes of constants (weights, biases) before and after.
    pub float_weight_bytes: usize,
    pub int8_weight_bytes: usize,
    /// Multiply-accumulates per inference (the same before and after).
    pub macs: u64,
    /// Arena bytes of the compiled float and int8 models (default compile options).
    pub float_arena_bytes: usize,
    pub int8_arena_bytes: usize,
    /// One entry per activation tensor (graph inputs included), in tensor order.
    pub ranges: Vec<TensorRange>,
}

impl std::fmt::Display for QuantizeReport {
    /// A few lines for people: calibration, weights, MACs, arena, then one line per tensor.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "calibration: {} on {} samples",
            self.calibration, self.samples
        )?;
        writeln!(
            f,
            "weights: {} -> {} bytes; MACs: {}; arena: {} -> {} bytes",
            self.float_weight_bytes,
            self.int8_weight_bytes,
            self.macs,
            self.float_arena_bytes,
            self.int8_arena_bytes
        )?;
        for r in &self.ranges {
            write!(
                f,
                "  #{} {}: observed [{}, {}], int8 covers [{}, {}] (scale {}, zero point {})",
                r.tensor,
                r.name,
                r.observed[0],
                r.observed[1],
                r.chosen[0],
                r.chosen[1],
                r.scale,
                r.zero_point
            )?;
            match &r.rule {
                Some(rule) => writeln!(f, ", {rule}")?,
                None => writeln!(f)?,
            }
        }
        Ok(())
    }
}

/// Why a graph could not be quantized, and where.
#[derive(Debug, thiserror::Error)]
pub enum QuantizeError {
    /// The float graph is inconsistent, or evaluating it failed.
    #[error(transparent)]
    Ir(#[from] IrError),
    #[error("operator #{node} ({op}): {message}")]
    Node {
        node: usize,
        op: &'static str,
        message: String,
    },
    #[error("tensor #{tensor} ({name}): {message}")]
    Tensor {
        tensor: TensorId,
        name: String,
        message: String,
    },
    /// The calibration set or the options do not fit the graph.
    #[error("calibration: {0}")]
    Calibration(String),
    /// Compiling the float or the int8 graph (for the report's arena sizes) failed.
    #[error("compiling for the report: {0}")]
    Compile(#[from] crate::CompileError),
}

/// Quantizes `float_graph` (float32 activations and weights, one input) to int8, calibrating
/// activation ranges on `calibration` (each entry one input, row-major in the input's shape).
pub fn quantize(
    float_graph: &Graph,
    calibration: &[Vec<f32>],
    opts: &QuantizeOptions,
) -> Result<(Graph, QuantizeReport), QuantizeError> {
    check_float(float_graph)?;
    if let Calibration::Percentile(p) = opts.calibration {
        if !(p > 50.0 && p <= 100.0) {
            return Err(QuantizeError::Calibration(format!(
                "percentile {p} is outside (50, 100]"
            )));
        }
    }
    if float_graph.inputs.len() != 1 {
        return Err(QuantizeError::Calibration(format!(
            "the graph has {} inputs; calibration samples feed graphs with exactly one",
            float_graph.inputs.len()
        )));
    }
    if calibration.is_empty() {
        return Err(QuantizeError::Calibration("no calibration samples".into()));
    }

    let histograms = opts.calibration != Calibration::MinMax;
    let observations = observe(float_graph, calibration, histograms)?;
    let g = float_graph;

    // Activation parameters, decided in node order so that shared parameters propagate.
    let mut params: Vec<Option<(f32, i64)>> = vec![None; g.tensors.len()];
    let mut ranges: HashMap<TensorId, TensorRange> = HashMap::new();
    let calibrate = |t: TensorId, activation: Activation, ranges: &mut HashMap<_, _>| {
        let obs = &observations[t];
        let observed = [obs.min, obs.max];
        let [lo, hi] = choose_range(obs, opts.calibration);
        let (lo, hi) = clamp_to_activation(lo, hi, activation);
        let (scale, zero_point, chosen) = asymmetric_params(lo, hi);
        ranges.insert(
            t,
            TensorRange {
                tensor: t,
                name: g.tensors[t].name.clone(),
                observed,
                chosen,
                scale,
                zero_point,
                rule: None,
            },
        );
        (scale, zero_point)
    };
    for &t in &g.inputs {
        params[t] = Some(match opts.input_quantization {
            Some((scale, zero_point)) => {
                if !(scale.is_finite() && scale > 0.0) || !(-128..=127).contains(&zero_point) {
                    return Err(QuantizeError::Calibration(format!(
                        "input quantization: scale {scale} must be positive and zero point \
                         {zero_point} in -128..=127"
                    )));
                }
                let obs = &observations[t];
                let q = |v: i64| scale * (v - zero_point) as f32;
                ranges.insert(
                    t,
                    TensorRange {
                        tensor: t,
                        name: g.tensors[t].name.clone(),
                        observed: [obs.min, obs.max],
                        chosen: [q(-128), q(127)],
                        scale,
                        zero_point,
                        rule: Some("given by the caller".into()),
                    },
                );
                (scale, zero_point)
            }
            None => calibrate(t, Activation::None, &mut ranges),
        });
    }
    for node in &g.nodes {
        let out = node.outputs[0];
        let x = node.inputs.first().copied().flatten();
        let shared = |rule: String, ranges: &mut HashMap<TensorId, TensorRange>, p: (f32, i64)| {
            let observed = [observations[out].min, observations[out].max];
            let q = |v: i64| p.0 * (v - p.1) as f32;
            ranges.insert(
                out,
                TensorRange {
                    tensor: out,
                    name: g.tensors[out].name.clone(),
                    observed,
                    chosen: [q(-128), q(127)],
                    scale: p.0,
                    zero_point: p.1,
                    rule: Some(rule),
                },
            );
            p
        };
        let input_params = x.and_then(|x| params[x]);
        params[out] = Some(match (&node.op, x, input_params) {
            (Op::AveragePool2d(_) | Op::MaxPool2d(_) | Op::Reshape, Some(x), Some(p)) => shared(
                format!("shared with input `{}`", g.tensors[x].name),
                &mut ranges,
                p,
            ),
            (Op::Softmax(_), _, _) => {
                shared("fixed by SOFTMAX".into(), &mut ranges, (1.0 / 256.0, -128))
            }
            (op, _, _) => calibrate(out, fused_activation(op), &mut ranges),
        });
    }

    // The int8 graph: same tensors and nodes, new dtypes, quantization and constant data.
    let mut q = float_graph.clone();
    for (t, p) in params.iter().enumerate() {
        if let Some((scale, zero_point)) = *p {
            let tensor = &mut q.tensors[t];
            tensor.dtype = DType::Int8;
            tensor.quant = Some(Quantization::per_tensor(scale, zero_point));
        }
    }
    let mut done = vec![false; g.tensors.len()];
    for (n, node) in g.nodes.iter().enumerate() {
        let node_err = |message: String| QuantizeError::Node {
            node: n,
            op: node.op.name(),
            message,
        };
        let act_params = |i: usize| -> Result<(f32, i64), QuantizeError> {
            node.inputs
                .get(i)
                .copied()
                .flatten()
                .and_then(|t| params[t])
                .ok_or_else(|| node_err(format!("input {i} has no quantization")))
        };
        // Weights: per output channel along this axis, or (None) one scale per tensor.
        let scheme: Option<Option<usize>> = match &node.op {
            Op::Conv2d(_) => Some(Some(0)),
            Op::DepthwiseConv2d(_) => Some(Some(3)),
            Op::FullyConnected(_) => Some(opts.fully_connected_per_channel.then_some(0)),
            _ => None,
        };
        if let Some(axis) = scheme {
            let filter = node
                .inputs
                .get(1)
                .copied()
                .flatten()
                .ok_or_else(|| node_err("filter is missing".into()))?;
            let f = &g.tensors[filter];
            let values = const_floats(f).ok_or_else(|| QuantizeError::Tensor {
                tensor: filter,
                name: f.name.clone(),
                message: format!(
                    "the filter of operator #{n} ({}) must be a float32 constant",
                    node.op.name()
                ),
            })?;
            let (weights, w_quant) = match axis {
                None => symmetric_per_tensor(&values),
                Some(axis) => symmetric_per_channel(&values, &f.shape, axis),
            };
            if done[filter] && q.tensors[filter].quant.as_ref() != Some(&w_quant) {
                return Err(node_err(format!(
                    "filter `{}` is shared with another operator",
                    f.name
                )));
            }
            done[filter] = true;
            let w = &mut q.tensors[filter];
            w.dtype = DType::Int8;
            w.data = Some(weights.iter().map(|&v| v as u8).collect());
            w.quant = Some(w_quant.clone());

            if let Some(bias) = node.inputs.get(2).copied().flatten() {
                let b = &g.tensors[bias];
                let values = const_floats(b).ok_or_else(|| QuantizeError::Tensor {
                    tensor: bias,
                    name: b.name.clone(),
                    message: format!(
                        "the bias of operator #{n} ({}) must be a float32 constant",
                        node.op.name()
                    ),
                })?;
                let (in_scale, _) = act_params(0)?;
                let channels = values.len();
                let scales: Vec<f32> = (0..channels)
                    .map(|c| in_scale * w_quant.scale[if w_quant.scale.len() == 1 { 0 } else { c }])
                    .collect();
                let ints: Vec<i32> = values
                    .iter()
                    .zip(&scales)
                    .map(|(&v, &s)| {
                        (v as f64 / s as f64)
                            .round()
                            .clamp(i32::MIN as f64, i32::MAX as f64) as i32
                    })
                    .collect();
                // Per tensor with per-tensor weights (one scale, one zero point), else one of
                // each per channel.
                let scale = if w_quant.scale.len() == 1 {
                    vec![scales[0]]
                } else {
                    scales
                };
                let quant = Quantization {
                    zero_point: vec![0; scale.len()],
                    scale,
                    axis: 0,
                };
                if done[bias] && q.tensors[bias].quant.as_ref() != Some(&quant) {
                    return Err(node_err(format!(
                        "bias `{}` is shared with another operator whose input scale differs",
                        b.name
                    )));
                }
                done[bias] = true;
                let bt = &mut q.tensors[bias];
                bt.dtype = DType::Int32;
                bt.data = Some(ints.iter().flat_map(|v| v.to_le_bytes()).collect());
                bt.quant = Some(quant);
            }
        }
        // Constant operands of element-wise operators (an ADD's constant term): quantized
        // asymmetrically over their own range, like activations.
        if matches!(node.op, Op::Add(_)) {
            for t in node.inputs.iter().flatten().copied() {
                let tensor = &g.tensors[t];
                if tensor.data.is_none() || done[t] {
                    continue;
                }
                let values = const_floats(tensor).ok_or_else(|| QuantizeError::Tensor {
                    tensor: t,
                    name: tensor.name.clone(),
                    message: format!("an input of operator #{n} (ADD) must be a float32 constant"),
                })?;
                let lo = values.iter().copied().fold(0f32, f32::min);
                let hi = values.iter().copied().fold(0f32, f32::max);
                let (scale, zero_point, _) = asymmetric_params(lo, hi);
                done[t] = true;
                let c = &mut q.tensors[t];
                c.dtype = DType::Int8;
                c.data = Some(
                    values
                        .iter()
                        .map(|&v| quantize_value(v, scale, zero_point) as u8)
                        .collect(),
                );
                c.quant = Some(Quantization::per_tensor(scale, zero_point));
            }
        }
    }
    if opts.float_io {
        add_float_io(&mut q);
    }
    q.check()?;

    let weight_bytes = |graph: &Graph| -> usize {
        graph
            .tensors
            .iter()
            .filter(|t| t.is_const())
            .map(Tensor::byte_len)
            .sum()
    };
    let mut ranges: Vec<TensorRange> = ranges.into_values().collect();
    ranges.sort_by_key(|r| r.tensor);
    let report = QuantizeReport {
        calibration: opts.calibration,
        samples: calibration.len(),
        float_weight_bytes: weight_bytes(float_graph),
        int8_weight_bytes: weight_bytes(&q),
        macs: (0..g.nodes.len()).map(|n| g.macs(n)).sum(),
        float_arena_bytes: crate::compile(float_graph)?.report.arena_bytes,
        int8_arena_bytes: crate::compile(&q)?.report.arena_bytes,
        ranges,
    };
    Ok((q, report))
}

/// Puts a QUANTIZE in front of every graph input and a DEQUANTIZE after every graph output;
/// the new float32 tensors are appended (existing indices stay) and take the I/O's names.
fn add_float_io(q: &mut Graph) {
    let mut inputs = Vec::with_capacity(q.inputs.len());
    let mut quantize_nodes = Vec::new();
    for &t in &q.inputs.clone() {
        let f = float_twin(q, t);
        inputs.push(f);
        quantize_nodes.push(mote_ir::Node {
            op: Op::Quantize,
            inputs: vec![Some(f)],
            outputs: vec![t],
        });
    }
    let mut outputs = Vec::with_capacity(q.outputs.len());
    for &t in &q.outputs.clone() {
        let f = float_twin(q, t);
        outputs.push(f);
        q.nodes.push(mote_ir::Node {
            op: Op::Dequantize,
            inputs: vec![Some(t)],
            outputs: vec![f],
        });
    }
    q.nodes.splice(0..0, quantize_nodes);
    q.inputs = inputs;
    q.outputs = outputs;
}

/// Appends a float32 tensor like int8 tensor `t`, which it names; `t` gets `_int8`.
fn float_twin(q: &mut Graph, t: TensorId) -> TensorId {
    let int8 = &mut q.tensors[t];
    let float = Tensor {
        name: int8.name.clone(),
        dtype: DType::Float32,
        shape: int8.shape.clone(),
        quant: None,
        data: None,
    };
    int8.name.push_str("_int8");
    q.tensors.push(float);
    q.tensors.len() - 1
}

/// Refuses anything but a float32 graph of operators the quantizer knows.
fn check_float(g: &Graph) -> Result<(), QuantizeError> {
    g.check()?;
    for (n, node) in g.nodes.iter().enumerate() {
        if matches!(node.op, Op::Quantize | Op::Dequantize) {
            return Err(QuantizeError::Node {
                node: n,
                op: node.op.name(),
                message: "the graph is already (partly) quantized; quantize takes a float32 graph"
                    .into(),
            });
        }
        for &t in node.inputs.iter().flatten().chain(&node.outputs) {
            let tensor = &g.tensors[t];
            let shape_operand = matches!(node.op, Op::Reshape) && tensor.is_const();
            if tensor.dtype != DType::Float32 && !shape_operand {
                return Err(QuantizeError::Tensor {
                    tensor: t,
                    name: tensor.name.clone(),
                    message: format!(
                        "is {} (operator #{n}, {}); quantize takes a float32 graph",
                        tensor.dtype,
                        node.op.name()
                    ),
                });
            }
        }
    }
    Ok(())
}

/// What calibration saw of one tensor.
#[derive(Debug, Clone)]
struct Observation {
    min: f32,
    max: f32,
    /// Every observed value binned over [min, max], for percentiles and MSE.
    histogram: Option<Histogram>,
}

/// Bins of the MSE and percentile histograms (256 KiB per tensor while calibrating): a bin is
/// 1/64 of min/max's int8 step, so it stays narrower than the step of every range the MSE
/// search could choose in practice (down to 1/64 of min/max). Results on the reference models
/// are the same with 2^15 bins, and the same as computing on every value.
const HISTOGRAM_BINS: usize = 1 << 14;
/// The MSE search tries min/max scaled by 1, 1 − 1/N, … down to 1/N.
const MSE_STEPS: usize = 100;

/// A histogram over [lo, hi] that also keeps each bin's sum (so a bin stands for its mean,
/// not its centre) and counts exact zeros apart (ReLU outputs are mostly zeros, which every
/// grid represents exactly).
#[derive(Debug, Clone)]
struct Histogram {
    lo: f32,
    hi: f32,
    counts: Vec<u64>,
    sums: Vec<f64>,
    zeros: u64,
}

impl Histogram {
    fn new(lo: f32, hi: f32) -> Self {
        Histogram {
            lo,
            hi,
            counts: vec![0; HISTOGRAM_BINS],
            sums: vec![0.0; HISTOGRAM_BINS],
            zeros: 0,
        }
    }

    fn bin(&self, v: f32) -> usize {
        let width = (self.hi - self.lo) as f64;
        if width <= 0.0 {
            return 0;
        }
        let x = ((v - self.lo) as f64 / width * HISTOGRAM_BINS as f64) as usize;
        x.min(HISTOGRAM_BINS - 1)
    }

    fn add(&mut self, v: f32) {
        if v == 0.0 {
            self.zeros += 1;
            return;
        }
        let b = self.bin(v);
        self.counts[b] += 1;
        self.sums[b] += v as f64;
    }

    /// The value below which a fraction `q` of the observations lie (linear within a bin).
    fn percentile(&self, q: f64) -> f32 {
        let total = self.counts.iter().sum::<u64>() + self.zeros;
        let target = q * total.saturating_sub(1) as f64;
        let width = (self.hi - self.lo) as f64 / HISTOGRAM_BINS as f64;
        let zero_bin = (self.lo <= 0.0 && self.hi >= 0.0).then(|| self.bin(0.0));
        let mut seen = 0f64;
        for (b, &c) in self.counts.iter().enumerate() {
            let c = c as f64
                + if Some(b) == zero_bin {
                    self.zeros as f64
                } else {
                    0.0
                };
            if c > 0.0 && seen + c > target {
                let fraction = ((target - seen) / c).clamp(0.0, 1.0);
                let v = self.lo as f64 + (b as f64 + fraction) * width;
                return (v as f32).clamp(self.lo, self.hi);
            }
            seen += c;
        }
        self.hi
    }

    /// Sum of squared errors of quantizing the observations with (scale, zero point), each
    /// bin's values taken at their mean (the spread within a bin adds the same to every
    /// candidate, so it does not move the minimum).
    fn squared_error(&self, scale: f32, zero_point: i64) -> f64 {
        self.counts
            .iter()
            .zip(&self.sums)
            .filter(|(&c, _)| c > 0)
            .map(|(&c, &sum)| {
                let mean = (sum / c as f64) as f32;
                let back = scale * (quantize_value(mean, scale, zero_point) - zero_point) as f32;
                c as f64 * ((back - mean) as f64).powi(2)
            })
            .sum()
    }
}

/// Runs the float graph on every sample and records every activation's range; when
/// `histograms` is set, runs it again to bin every value over that range.
fn observe(
    g: &Graph,
    samples: &[Vec<f32>],
    histograms: bool,
) -> Result<Vec<Observation>, QuantizeError> {
    let evaluator = Evaluator::new(g)?;
    let input = &g.tensors[g.inputs[0]];
    for (s, sample) in samples.iter().enumerate() {
        if sample.len() != input.elements() {
            return Err(QuantizeError::Calibration(format!(
                "sample {s} has {} values; input `{}` of shape {:?} needs {}",
                sample.len(),
                input.name,
                input.shape,
                input.elements()
            )));
        }
        if let Some(i) = sample.iter().position(|v| !v.is_finite()) {
            return Err(QuantizeError::Calibration(format!(
                "sample {s} holds {} at element {i}",
                sample[i]
            )));
        }
    }
    let mut obs: Vec<Observation> = vec![
        Observation {
            min: f32::INFINITY,
            max: f32::NEG_INFINITY,
            histogram: None,
        };
        g.tensors.len()
    ];
    for sample in samples {
        let e = evaluator.run(&[sample])?;
        for (t, o) in obs.iter_mut().enumerate() {
            let Some(values) = e.tensor(t) else { continue };
            for &v in values {
                o.min = o.min.min(v);
                o.max = o.max.max(v);
            }
        }
    }
    for (t, o) in obs.iter().enumerate() {
        let tensor = &g.tensors[t];
        if tensor.is_const() || o.min > o.max {
            continue;
        }
        if !(o.min.is_finite() && o.max.is_finite()) {
            return Err(QuantizeError::Tensor {
                tensor: t,
                name: tensor.name.clone(),
                message: format!(
                    "calibration produced non-finite values (range {} to {})",
                    o.min, o.max
                ),
            });
        }
    }
    if histograms {
        // The second pass: the bins need the range, and keeping every value of every tensor
        // until the range is known would cost far more memory than evaluating again.
        for o in obs.iter_mut().filter(|o| o.min <= o.max) {
            o.histogram = Some(Histogram::new(o.min, o.max));
        }
        for sample in samples {
            let e = evaluator.run(&[sample])?;
            for (t, o) in obs.iter_mut().enumerate() {
                let (Some(values), Some(h)) = (e.tensor(t), o.histogram.as_mut()) else {
                    continue;
                };
                for &v in values {
                    h.add(v);
                }
            }
        }
    }
    Ok(obs)
}

/// The range [lo, hi] the calibration method picks (before widening to include 0).
fn choose_range(o: &Observation, method: Calibration) -> [f32; 2] {
    if o.min > o.max {
        // Nothing observed (a tensor no operator writes): a harmless unit range.
        return [0.0, 1.0];
    }
    let Some(h) = o
        .histogram
        .as_ref()
        .filter(|_| method != Calibration::MinMax)
    else {
        return [o.min, o.max];
    };
    match method {
        Calibration::MinMax => [o.min, o.max],
        Calibration::Percentile(p) => {
            let p = p as f64 / 100.0;
            [h.percentile(1.0 - p), h.percentile(p)]
        }
        Calibration::Mse => {
            let (lo0, hi0) = (o.min.min(0.0), o.max.max(0.0));
            let mut best = (f64::INFINITY, 1.0f32);
            for step in 0..MSE_STEPS {
                let a = 1.0 - step as f32 / MSE_STEPS as f32;
                let (scale, zero_point, _) = asymmetric_params(lo0 * a, hi0 * a);
                let error = h.squared_error(scale, zero_point);
                // Strictly better only: among equals the widest range (first tried) stays.
                if error < best.0 {
                    best = (error, a);
                }
            }
            let a = best.1;
            [o.min.max(lo0 * a), o.max.min(hi0 * a)]
        }
    }
}

/// A fused activation's clamp bounds the range: values outside it never occur.
fn clamp_to_activation(lo: f32, hi: f32, activation: Activation) -> (f32, f32) {
    let (amin, amax) = crate::quant::activation_range_f32(activation);
    (lo.max(amin), hi.min(amax))
}

fn fused_activation(op: &Op) -> Activation {
    match op {
        Op::Conv2d(a) => a.activation,
        Op::DepthwiseConv2d(a) => a.activation,
        Op::FullyConnected(a) => a.activation,
        Op::AveragePool2d(a) | Op::MaxPool2d(a) => a.activation,
        Op::Add(a) => a.activation,
        _ => Activation::None,
    }
}

/// TFLite's asymmetric int8 parameters for the real range [lo, hi]: the range is widened to
/// include 0 (so that 0, the padding value, is exact), the scale spreads it over 255 steps and
/// the zero point is `−128 − lo/scale` rounded and clamped (TFLite's "nudging"). Returns
/// (scale, zero point, the range the grid then covers).
pub fn asymmetric_params(lo: f32, hi: f32) -> (f32, i64, [f32; 2]) {
    let lo = lo.min(0.0) as f64;
    let mut hi = hi.max(0.0) as f64;
    if hi - lo < 1e-9 {
        // All zeros: any grid represents them; a unit one keeps later arithmetic sane.
        hi = lo + 1.0;
    }
    let scale = (hi - lo) / 255.0;
    let zero_from_min = -128.0 - lo / scale;
    let zero_point = zero_from_min.round().clamp(-128.0, 127.0) as i64;
    let scale = scale as f32;
    let covered = [
        scale * (-128 - zero_point) as f32,
        scale * (127 - zero_point) as f32,
    ];
    (scale, zero_point, covered)
}

fn quantize_value(v: f32, scale: f32, zero_point: i64) -> i64 {
    ((v / scale).round() as i64 + zero_point).clamp(-128, 127)
}

/// The values of a float32 constant.
fn const_floats(t: &Tensor) -> Option<Vec<f32>> {
    if t.dtype != DType::Float32 {
        return None;
    }
    Some(
        t.data
            .as_ref()?
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

/// One symmetric scale `max|w| / 127` (values in [−127, 127], as TFLite's narrow range).
fn symmetric_per_tensor(values: &[f32]) -> (Vec<i8>, Quantization) {
    let scale = symmetric_scale(values.iter().copied());
    let q = values.iter().map(|&v| symmetric_value(v, scale)).collect();
    (q, Quantization::per_tensor(scale, 0))
}

/// A symmetric scale per index of `axis`.
fn symmetric_per_channel(values: &[f32], shape: &[usize], axis: usize) -> (Vec<i8>, Quantization) {
    let channels = shape.get(axis).copied().unwrap_or(1).max(1);
    let inner: usize = shape
        .get(axis + 1..)
        .map_or(1, |s| s.iter().product::<usize>())
        .max(1);
    let channel = |i: usize| (i / inner) % channels;
    let mut max = vec![0f32; channels];
    for (i, &v) in values.iter().enumerate() {
        let c = channel(i);
        max[c] = max[c].max(v.abs());
    }
    let scales: Vec<f32> = max
        .iter()
        .map(|&m| symmetric_scale(std::iter::once(m)))
        .collect();
    let q = values
        .iter()
        .enumerate()
        .map(|(i, &v)| symmetric_value(v, scales[channel(i)]))
        .collect();
    (
        q,
        Quantization {
            zero_point: vec![0; channels],
            scale: scales,
            axis,
        },
    )
}

fn symmetric_scale(values: impl Iterator<Item = f32>) -> f32 {
    let max = values.fold(0f32, |m, v| m.max(v.abs()));
    // An all-zero channel: any scale gives zeros; 1 keeps the bias scale and the
    // requantization multiplier finite.
    if max == 0.0 {
        1.0
    } else {
        max / 127.0
    }
}

fn symmetric_value(v: f32, scale: f32) -> i8 {
    (v / scale).round().clamp(-127.0, 127.0) as i8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asymmetric_params_include_zero_and_nudge() {
        // [0, 2.55] → scale 0.01, zero at −128.
        let (s, z, c) = asymmetric_params(0.5, 2.55);
        assert!((s - 0.01).abs() < 1e-7 && z == -128, "{s} {z}");
        assert_eq!(c[0], 0.0);
        // Symmetric-ish range: zero point near the middle.
        let (s, z, _) = asymmetric_params(-1.0, 1.0);
        assert!((s - 2.0 / 255.0).abs() < 1e-7);
        // −128 + 127.5 = −0.5, rounded half away from zero as std::round does.
        assert_eq!(z, -1);
    }

    #[test]
    fn per_channel_scales_follow_each_channel() {
        // Two output channels along axis 0 of a [2, 2] filter.
        let (q, quant) = symmetric_per_channel(&[1.0, -0.5, 0.0, 4.0], &[2, 2], 0);
        assert_eq!(quant.scale, vec![1.0 / 127.0, 4.0 / 127.0]);
        assert_eq!(q, vec![127, -64, 0, 127]);
        // Along the last axis (depthwise, [1, 1, 2, 2]).
        let (q, quant) = symmetric_per_channel(&[1.0, -2.0, 0.5, 1.0], &[1, 1, 2, 2], 3);
        assert_eq!(quant.scale, vec![1.0 / 127.0, 2.0 / 127.0]);
        assert_eq!(q, vec![127, -127, 64, 64]);
    }

    fn observation(values: Vec<f32>) -> Observation {
        let min = values.iter().copied().fold(f32::INFINITY, f32::min);
        let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut h = Histogram::new(min, max);
        values.iter().for_each(|&v| h.add(v));
        Observation {
            min,
            max,
            histogram: Some(h),
        }
    }

    #[test]
    fn percentile_and_mse_clip_a_lone_outlier() {
        // 10,000 values in [0, 1) and one at 100.
        let mut v: Vec<f32> = (0..10_000).map(|i| i as f32 / 10_000.0).collect();
        v.push(100.0);
        let o = observation(v);
        assert_eq!(choose_range(&o, Calibration::MinMax), [0.0, 100.0]);
        let [_, hi] = choose_range(&o, Calibration::Percentile(99.9));
        assert!(hi < 1.0, "percentile hi {hi}");
        let [_, hi] = choose_range(&o, Calibration::Mse);
        assert!(hi < 100.0, "mse hi {hi}");
    }

    #[test]
    fn mse_keeps_the_full_range_of_uniform_values() {
        let o = observation((0..1000).map(|i| i as f32 / 100.0 - 5.0).collect());
        let [lo, hi] = choose_range(&o, Calibration::Mse);
        assert!(lo <= -4.5 && hi >= 4.5, "{lo} {hi}");
    }
}
