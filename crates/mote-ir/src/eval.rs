//! The float reference evaluator: runs a [`Graph`] op by op in `f32` with plain loops, and
//! keeps every intermediate tensor. It is the oracle for quantization (calibration observes
//! the activations it produces, and quantized models are judged against its outputs) and a
//! check on the runtime's float kernels, so it favours obviousness over speed.
//!
//! Every tensor is evaluated as real numbers. Float32 constants are read as they are; int8 or
//! int32 constants with quantization are dequantized (`scale · (q − zero_point)`, per channel
//! where they have several scales), so a quantized graph can be evaluated too, as the real
//! values its integers stand for. A QUANTIZE node rounds to its output's grid and back
//! (fake quantization); DEQUANTIZE passes values through. Windows, padding, strides and
//! dilation follow TFLite's reference kernels, and sums are accumulated in the same order
//! (filter row, column, channel; bias added last), so on float graphs the results agree
//! with TFLite's and mote's float kernels to within a few ulp per operator.

use crate::{Activation, DType, Graph, IrError, Op, Quantization, TensorId};

/// The values of every non-constant tensor after one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    values: Vec<Option<Vec<f32>>>,
    outputs: Vec<TensorId>,
}

impl Evaluation {
    /// The values of tensor `t` (row-major, in its shape), or `None` for constants and
    /// tensors no operator wrote.
    pub fn tensor(&self, t: TensorId) -> Option<&[f32]> {
        self.values.get(t)?.as_deref()
    }

    /// The graph's outputs, in order.
    pub fn outputs(&self) -> Vec<&[f32]> {
        self.outputs
            .iter()
            .map(|&t| self.values[t].as_deref().unwrap_or(&[]))
            .collect()
    }

    /// Consumes the evaluation, returning the graph's outputs in order.
    pub fn into_outputs(mut self) -> Vec<Vec<f32>> {
        self.outputs
            .iter()
            .map(|&t| self.values[t].take().unwrap_or_default())
            .collect()
    }
}

/// A graph ready to evaluate: checked, with its constants decoded to `f32` once, so that many
/// inputs (a calibration set) can be run without decoding the weights again.
#[derive(Debug, Clone)]
pub struct Evaluator<'g> {
    graph: &'g Graph,
    constants: Vec<Option<Vec<f32>>>,
}

/// Runs `graph` once on `inputs` (one slice per graph input, row-major) and returns its
/// outputs.
pub fn evaluate(graph: &Graph, inputs: &[&[f32]]) -> Result<Vec<Vec<f32>>, IrError> {
    Ok(Evaluator::new(graph)?.run(inputs)?.into_outputs())
}

impl<'g> Evaluator<'g> {
    /// Checks `graph` ([`Graph::check`]) and decodes its constants.
    pub fn new(graph: &'g Graph) -> Result<Self, IrError> {
        graph.check()?;
        let constants = graph
            .tensors
            .iter()
            .enumerate()
            .map(|(t, tensor)| match &tensor.data {
                None => Ok(None),
                Some(bytes) => decode(bytes, tensor.dtype, tensor.quant.as_ref(), &tensor.shape)
                    .map(Some)
                    .map_err(|message| IrError::Tensor {
                        tensor: t,
                        name: tensor.name.clone(),
                        message,
                    }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Evaluator { graph, constants })
    }

    pub fn graph(&self) -> &'g Graph {
        self.graph
    }

    /// Runs the graph on `inputs` (one slice per graph input) and keeps every intermediate.
    pub fn run(&self, inputs: &[&[f32]]) -> Result<Evaluation, IrError> {
        let graph = self.graph;
        if inputs.len() != graph.inputs.len() {
            return Err(IrError::Graph(format!(
                "the graph has {} inputs but {} were given",
                graph.inputs.len(),
                inputs.len()
            )));
        }
        let mut values: Vec<Option<Vec<f32>>> = vec![None; graph.tensors.len()];
        for (i, (&t, data)) in graph.inputs.iter().zip(inputs).enumerate() {
            let tensor = &graph.tensors[t];
            if data.len() != tensor.elements() {
                return Err(IrError::Tensor {
                    tensor: t,
                    name: tensor.name.clone(),
                    message: format!(
                        "graph input {i} has shape {:?} ({} elements) but {} values were given",
                        tensor.shape,
                        tensor.elements(),
                        data.len()
                    ),
                });
            }
            values[t] = Some(data.to_vec());
        }
        for (n, node) in graph.nodes.iter().enumerate() {
            let err = |message: String| IrError::Node {
                node: n,
                op: node.op.name(),
                message,
            };
            let input = |i: usize| -> Result<&[f32], IrError> {
                let t = node
                    .inputs
                    .get(i)
                    .copied()
                    .flatten()
                    .ok_or_else(|| err(format!("input {i} is missing")))?;
                self.constants[t]
                    .as_deref()
                    .or(values[t].as_deref())
                    .ok_or_else(|| {
                        err(format!(
                            "input {i} (`{}`) has no value yet: no earlier operator writes it",
                            graph.tensors[t].name
                        ))
                    })
            };
            let optional = |i: usize| -> Result<Option<&[f32]>, IrError> {
                match node.inputs.get(i).copied().flatten() {
                    None => Ok(None),
                    Some(_) => input(i).map(Some),
                }
            };
            let shape = |i: usize| -> &[usize] {
                node.inputs
                    .get(i)
                    .copied()
                    .flatten()
                    .map_or(&[][..], |t| &graph.tensors[t].shape[..])
            };
            let out_id = node.outputs[0];
            let out_tensor = &graph.tensors[out_id];
            let out_shape = &out_tensor.shape[..];
            let x = input(0)?;
            let result = match &node.op {
                Op::Conv2d(a) => conv2d(
                    x,
                    dims4(shape(0)),
                    input(1)?,
                    dims4(shape(1)),
                    optional(2)?,
                    dims4(out_shape),
                    Window {
                        stride: a.stride,
                        dilation: a.dilation,
                    },
                    a.activation,
                ),
                Op::DepthwiseConv2d(a) => depthwise_conv2d(
                    x,
                    dims4(shape(0)),
                    input(1)?,
                    dims4(shape(1)),
                    optional(2)?,
                    dims4(out_shape),
                    Window {
                        stride: a.stride,
                        dilation: a.dilation,
                    },
                    a.depth_multiplier,
                    a.activation,
                ),
                Op::FullyConnected(a) => {
                    let f = shape(1);
                    fully_connected(x, input(1)?, [f[0], f[1]], optional(2)?, a.activation)
                }
                Op::AveragePool2d(a) => pool2d(x, dims4(shape(0)), dims4(out_shape), a, false),
                Op::MaxPool2d(a) => pool2d(x, dims4(shape(0)), dims4(out_shape), a, true),
                Op::Add(a) => add(x, shape(0), input(1)?, shape(1), out_shape, a.activation),
                Op::Reshape => x.to_vec(),
                Op::Softmax(a) => softmax(x, out_shape.last().copied().unwrap_or(1), a.beta),
                Op::Quantize => {
                    let q = out_tensor
                        .quant
                        .as_ref()
                        .filter(|q| q.is_per_tensor() && q.scale[0] > 0.0)
                        .ok_or_else(|| {
                            err(format!(
                                "output `{}` has no per-tensor quantization to round to",
                                out_tensor.name
                            ))
                        })?;
                    fake_quantize(x, q.scale[0], q.zero_point[0])
                }
                Op::Dequantize => x.to_vec(),
            };
            if result.len() != out_tensor.elements() {
                return Err(err(format!(
                    "computed {} values for output `{}` of shape {:?}",
                    result.len(),
                    out_tensor.name,
                    out_shape
                )));
            }
            values[out_id] = Some(result);
        }
        for &t in &graph.outputs {
            if values[t].is_none() && self.constants[t].is_none() {
                return Err(IrError::Graph(format!(
                    "graph output `{}` (tensor {t}) is written by no operator",
                    graph.tensors[t].name
                )));
            }
            if values[t].is_none() {
                values[t] = self.constants[t].clone();
            }
        }
        Ok(Evaluation {
            values,
            outputs: graph.outputs.clone(),
        })
    }
}

/// The real values of a constant.
fn decode(
    bytes: &[u8],
    dtype: DType,
    quant: Option<&Quantization>,
    shape: &[usize],
) -> Result<Vec<f32>, String> {
    let raw: Vec<f64> = match dtype {
        DType::Float32 => {
            return Ok(bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect())
        }
        DType::Int8 => bytes.iter().map(|&b| b as i8 as f64).collect(),
        DType::UInt8 => bytes.iter().map(|&b| b as f64).collect(),
        DType::Int16 => bytes
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]) as f64)
            .collect(),
        DType::Int32 => bytes
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64)
            .collect(),
        DType::Int64 => bytes
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f64)
            .collect(),
    };
    let Some(q) = quant else {
        // An unquantized integer constant (a RESHAPE's shape, say) is its own value.
        return Ok(raw.into_iter().map(|v| v as f32).collect());
    };
    if q.scale.is_empty() || q.scale.len() != q.zero_point.len() {
        return Err("quantization has no scale, or scales and zero points differ in number".into());
    }
    // Elements between two steps of the quantized axis, and the axis' length.
    let (inner, channels) = if q.scale.len() == 1 {
        (raw.len().max(1), 1)
    } else {
        let channels = shape.get(q.axis).copied().unwrap_or(0);
        if channels != q.scale.len() {
            return Err(format!(
                "{} scales along axis {} of shape {shape:?}",
                q.scale.len(),
                q.axis
            ));
        }
        (
            shape[q.axis + 1..].iter().product::<usize>().max(1),
            channels,
        )
    };
    Ok(raw
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let c = (i / inner) % channels;
            (q.scale[c] as f64 * (v - q.zero_point[c] as f64)) as f32
        })
        .collect())
}

fn dims4(shape: &[usize]) -> [usize; 4] {
    let mut d = [1; 4];
    for (slot, &v) in d.iter_mut().zip(shape) {
        *slot = v;
    }
    d
}

/// The clamp of a fused activation.
fn activate(x: f32, activation: Activation) -> f32 {
    let (lo, hi) = match activation {
        Activation::None => return x,
        Activation::Relu => (0.0, f32::INFINITY),
        Activation::Relu6 => (0.0, 6.0),
        Activation::ReluN1To1 => (-1.0, 1.0),
    };
    x.max(lo).min(hi)
}

#[derive(Debug, Clone, Copy)]
struct Window {
    stride: [usize; 2],
    dilation: [usize; 2],
}

/// TFLite's `ComputePaddingWithOffset` (without the offset): the padding before the first
/// row or column, half the total rounded down.
fn pad_before(input: usize, filter: usize, stride: usize, dilation: usize, output: usize) -> i64 {
    let effective = (filter as i64 - 1) * dilation as i64 + 1;
    let total = (output as i64 - 1) * stride as i64 + effective - input as i64;
    total.max(0) / 2
}

/// For output position `o` along one axis: the input index of tap `k`, if inside the input.
fn tap(o: usize, k: usize, stride: usize, dilation: usize, pad: i64, len: usize) -> Option<usize> {
    let i = (o * stride + k * dilation) as i64 - pad;
    (0..len as i64).contains(&i).then_some(i as usize)
}

#[allow(clippy::too_many_arguments)]
fn conv2d(
    x: &[f32],
    [batches, in_h, in_w, in_c]: [usize; 4],
    w: &[f32],
    [out_c, kh, kw, f_c]: [usize; 4],
    bias: Option<&[f32]>,
    [_, out_h, out_w, _]: [usize; 4],
    win: Window,
    activation: Activation,
) -> Vec<f32> {
    // The padding scheme is already in the output shape, which the graph check matched
    // against it; the amount before the first tap follows from the output size.
    let pad_y = pad_before(in_h, kh, win.stride[0], win.dilation[0], out_h);
    let pad_x = pad_before(in_w, kw, win.stride[1], win.dilation[1], out_w);
    let mut out = Vec::with_capacity(batches * out_h * out_w * out_c);
    for b in 0..batches {
        for oy in 0..out_h {
            for ox in 0..out_w {
                for oc in 0..out_c {
                    let mut total = 0.0f32;
                    for ky in 0..kh {
                        let Some(iy) = tap(oy, ky, win.stride[0], win.dilation[0], pad_y, in_h)
                        else {
                            continue;
                        };
                        for kx in 0..kw {
                            let Some(ix) = tap(ox, kx, win.stride[1], win.dilation[1], pad_x, in_w)
                            else {
                                continue;
                            };
                            let xi = ((b * in_h + iy) * in_w + ix) * in_c;
                            let wi = ((oc * kh + ky) * kw + kx) * f_c;
                            for (xv, wv) in x[xi..xi + f_c].iter().zip(&w[wi..wi + f_c]) {
                                total += xv * wv;
                            }
                        }
                    }
                    let bias = bias.map_or(0.0, |b| b[oc]);
                    out.push(activate(total + bias, activation));
                }
            }
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn depthwise_conv2d(
    x: &[f32],
    [batches, in_h, in_w, in_c]: [usize; 4],
    w: &[f32],
    [_, kh, kw, out_c]: [usize; 4],
    bias: Option<&[f32]>,
    [_, out_h, out_w, _]: [usize; 4],
    win: Window,
    depth_multiplier: usize,
    activation: Activation,
) -> Vec<f32> {
    let pad_y = pad_before(in_h, kh, win.stride[0], win.dilation[0], out_h);
    let pad_x = pad_before(in_w, kw, win.stride[1], win.dilation[1], out_w);
    let mut out = Vec::with_capacity(batches * out_h * out_w * out_c);
    for b in 0..batches {
        for oy in 0..out_h {
            for ox in 0..out_w {
                for oc in 0..out_c {
                    // Output channel oc reads input channel oc / depth_multiplier.
                    let ic = oc / depth_multiplier.max(1);
                    let mut total = 0.0f32;
                    for ky in 0..kh {
                        let Some(iy) = tap(oy, ky, win.stride[0], win.dilation[0], pad_y, in_h)
                        else {
                            continue;
                        };
                        for kx in 0..kw {
                            let Some(ix) = tap(ox, kx, win.stride[1], win.dilation[1], pad_x, in_w)
                            else {
                                continue;
                            };
                            total += x[((b * in_h + iy) * in_w + ix) * in_c + ic]
                                * w[(ky * kw + kx) * out_c + oc];
                        }
                    }
                    let bias = bias.map_or(0.0, |b| b[oc]);
                    out.push(activate(total + bias, activation));
                }
            }
        }
    }
    out
}

fn fully_connected(
    x: &[f32],
    w: &[f32],
    [units, depth]: [usize; 2],
    bias: Option<&[f32]>,
    activation: Activation,
) -> Vec<f32> {
    let batches = x.len() / depth.max(1);
    let mut out = Vec::with_capacity(batches * units);
    for row in x.chunks_exact(depth.max(1)).take(batches) {
        for u in 0..units {
            let mut total = 0.0f32;
            for (xv, wv) in row.iter().zip(&w[u * depth..(u + 1) * depth]) {
                total += xv * wv;
            }
            let bias = bias.map_or(0.0, |b| b[u]);
            out.push(activate(total + bias, activation));
        }
    }
    out
}

fn pool2d(
    x: &[f32],
    [batches, in_h, in_w, depth]: [usize; 4],
    [_, out_h, out_w, _]: [usize; 4],
    a: &crate::Pool2dAttrs,
    max: bool,
) -> Vec<f32> {
    let pad_y = pad_before(in_h, a.filter[0], a.stride[0], 1, out_h);
    let pad_x = pad_before(in_w, a.filter[1], a.stride[1], 1, out_w);
    let mut out = Vec::with_capacity(batches * out_h * out_w * depth);
    for b in 0..batches {
        for oy in 0..out_h {
            for ox in 0..out_w {
                for c in 0..depth {
                    // Only taps inside the input count, for the maximum and for the average's
                    // divisor alike (TFLite's reference pooling).
                    let mut acc = if max { f32::MIN } else { 0.0 };
                    let mut count = 0usize;
                    for ky in 0..a.filter[0] {
                        let Some(iy) = tap(oy, ky, a.stride[0], 1, pad_y, in_h) else {
                            continue;
                        };
                        for kx in 0..a.filter[1] {
                            let Some(ix) = tap(ox, kx, a.stride[1], 1, pad_x, in_w) else {
                                continue;
                            };
                            let v = x[((b * in_h + iy) * in_w + ix) * depth + c];
                            if max {
                                if acc < v {
                                    acc = v;
                                }
                            } else {
                                acc += v;
                            }
                            count += 1;
                        }
                    }
                    let value = if max {
                        acc
                    } else if count == 0 {
                        0.0
                    } else {
                        acc / count as f32
                    };
                    out.push(activate(value, a.activation));
                }
            }
        }
    }
    out
}

/// ADD with NumPy/TFLite broadcasting (shapes aligned at their last dimension).
fn add(
    x: &[f32],
    x_shape: &[usize],
    y: &[f32],
    y_shape: &[usize],
    out_shape: &[usize],
    activation: Activation,
) -> Vec<f32> {
    let rank = out_shape.len();
    // Row-major strides of an input seen at the output's rank, 0 along broadcast dimensions.
    let strides = |shape: &[usize]| -> Vec<usize> {
        let mut padded = vec![1; rank.saturating_sub(shape.len())];
        padded.extend_from_slice(shape);
        let mut strides = vec![0; rank];
        let mut step = 1;
        for d in (0..rank).rev() {
            strides[d] = if padded[d] == 1 { 0 } else { step };
            step *= padded[d];
        }
        strides
    };
    let (sx, sy) = (strides(x_shape), strides(y_shape));
    let total: usize = out_shape.iter().product();
    let mut index = vec![0usize; rank];
    let mut out = Vec::with_capacity(total);
    for _ in 0..total {
        let xi: usize = index.iter().zip(&sx).map(|(i, s)| i * s).sum();
        let yi: usize = index.iter().zip(&sy).map(|(i, s)| i * s).sum();
        out.push(activate(x[xi] + y[yi], activation));
        for d in (0..rank).rev() {
            index[d] += 1;
            if index[d] < out_shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
    out
}

/// SOFTMAX over the last dimension: `exp((x − max)·β) / Σ`.
fn softmax(x: &[f32], depth: usize, beta: f32) -> Vec<f32> {
    let mut out = Vec::with_capacity(x.len());
    for row in x.chunks(depth.max(1)) {
        let max = row.iter().fold(f32::MIN, |m, &v| if m < v { v } else { m });
        let exps: Vec<f32> = row.iter().map(|&v| ((v - max) * beta).exp()).collect();
        let sum: f32 = exps.iter().sum();
        out.extend(exps.iter().map(|e| e / sum));
    }
    out
}

/// Rounds to the int8 grid of (`scale`, `zero_point`) and back, as QUANTIZE then DEQUANTIZE.
fn fake_quantize(x: &[f32], scale: f32, zero_point: i64) -> Vec<f32> {
    x.iter()
        .map(|&v| {
            let q = ((v / scale).round() as i64 + zero_point).clamp(-128, 127);
            scale * (q - zero_point) as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AddAttrs, Conv2dAttrs, DepthwiseConv2dAttrs, Node, Padding, Pool2dAttrs, Tensor};

    fn floats(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|f| f.to_le_bytes()).collect()
    }

    fn activation(name: &str, shape: &[usize]) -> Tensor {
        Tensor {
            name: name.into(),
            dtype: DType::Float32,
            shape: shape.to_vec(),
            quant: None,
            data: None,
        }
    }

    fn constant(name: &str, shape: &[usize], values: &[f32]) -> Tensor {
        Tensor {
            data: Some(floats(values)),
            ..activation(name, shape)
        }
    }

    fn one_node(tensors: Vec<Tensor>, op: Op, inputs: Vec<Option<usize>>, out: usize) -> Graph {
        Graph {
            tensors,
            nodes: vec![Node {
                op,
                inputs,
                outputs: vec![out],
            }],
            inputs: vec![0],
            outputs: vec![out],
        }
    }

    /// 3x3 input, 2x2 filter of ones, SAME padding, stride 1: TFLite pads only after (total
    /// padding 1, half of it rounded down before), so each output sums a 2x2 block clipped at
    /// the bottom and right edges.
    #[test]
    fn conv2d_same_padding_by_hand() {
        let g = one_node(
            vec![
                activation("x", &[1, 3, 3, 1]),
                constant("w", &[1, 2, 2, 1], &[1.0; 4]),
                constant("b", &[1], &[0.5]),
                activation("y", &[1, 3, 3, 1]),
            ],
            Op::Conv2d(Conv2dAttrs {
                padding: Padding::Same,
                stride: [1, 1],
                dilation: [1, 1],
                activation: Activation::None,
            }),
            vec![Some(0), Some(1), Some(2)],
            3,
        );
        let x: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let y = evaluate(&g, &[&x]).unwrap();
        // [1 2 3; 4 5 6; 7 8 9] → 2x2 sums with the bottom/right clipped, plus 0.5.
        let want = [12.0, 16.0, 9.0, 24.0, 28.0, 15.0, 15.0, 17.0, 9.0].map(|v| v + 0.5);
        assert_eq!(y[0], want);
    }

    /// Dilation 2 on a 5-wide row with a 2-tap filter, VALID: taps at x and x+2.
    #[test]
    fn conv2d_dilation_and_relu6() {
        let g = one_node(
            vec![
                activation("x", &[1, 1, 5, 1]),
                constant("w", &[1, 1, 2, 1], &[1.0, 2.0]),
                activation("y", &[1, 1, 3, 1]),
            ],
            Op::Conv2d(Conv2dAttrs {
                padding: Padding::Valid,
                stride: [1, 1],
                dilation: [1, 2],
                activation: Activation::Relu6,
            }),
            vec![Some(0), Some(1), None],
            2,
        );
        let y = evaluate(&g, &[&[1.0, 0.5, -3.0, 2.0, 3.0]]).unwrap();
        // 1 + 2·(−3) = −5 → 0; 0.5 + 2·2 = 4.5; −3 + 2·3 = 3.
        assert_eq!(y[0], [0.0, 4.5, 3.0]);
    }

    /// Depth multiplier 2: output channels 0,1 read input channel 0; 2,3 read channel 1.
    #[test]
    fn depthwise_with_depth_multiplier() {
        let g = one_node(
            vec![
                activation("x", &[1, 1, 1, 2]),
                constant("w", &[1, 1, 1, 4], &[1.0, 2.0, 3.0, 4.0]),
                constant("b", &[4], &[0.0, 0.0, 0.0, 1.0]),
                activation("y", &[1, 1, 1, 4]),
            ],
            Op::DepthwiseConv2d(DepthwiseConv2dAttrs {
                padding: Padding::Valid,
                stride: [1, 1],
                dilation: [1, 1],
                depth_multiplier: 2,
                activation: Activation::None,
            }),
            vec![Some(0), Some(1), Some(2)],
            3,
        );
        let y = evaluate(&g, &[&[10.0, 100.0]]).unwrap();
        assert_eq!(y[0], [10.0, 20.0, 300.0, 401.0]);
    }

    /// SAME average pooling divides by the taps inside the input only.
    #[test]
    fn average_pool_counts_only_inside_taps() {
        let g = one_node(
            vec![
                activation("x", &[1, 3, 1, 1]),
                activation("y", &[1, 2, 1, 1]),
            ],
            Op::AveragePool2d(Pool2dAttrs {
                padding: Padding::Same,
                stride: [2, 1],
                filter: [2, 1],
                activation: Activation::None,
            }),
            vec![Some(0)],
            1,
        );
        let y = evaluate(&g, &[&[1.0, 3.0, 8.0]]).unwrap();
        assert_eq!(y[0], [2.0, 8.0]);
    }

    #[test]
    fn add_broadcasts_and_softmax_sums_to_one() {
        let mut g = one_node(
            vec![
                activation("x", &[1, 2, 3]),
                constant("c", &[3], &[1.0, 2.0, 3.0]),
                activation("s", &[1, 2, 3]),
                activation("p", &[1, 2, 3]),
            ],
            Op::Add(AddAttrs {
                activation: Activation::Relu,
            }),
            vec![Some(0), Some(1)],
            2,
        );
        g.nodes.push(Node {
            op: Op::Softmax(crate::SoftmaxAttrs { beta: 1.0 }),
            inputs: vec![Some(2)],
            outputs: vec![3],
        });
        g.outputs = vec![3];
        let e = Evaluator::new(&g)
            .unwrap()
            .run(&[&[0.0, 0.0, 0.0, -5.0, 1.0, 1.0]])
            .unwrap();
        assert_eq!(e.tensor(2).unwrap(), [1.0, 2.0, 3.0, 0.0, 3.0, 4.0]);
        let p = e.outputs()[0];
        for row in p.chunks(3) {
            assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        }
        // exp(1)/(1+e+e²) for the middle of the first row.
        let e1 = 1f32.exp();
        assert!((p[1] - e1 / (1.0 + e1 + e1 * e1)).abs() < 1e-6);
    }

    #[test]
    fn wrong_input_length_names_the_tensor() {
        let g = one_node(
            vec![activation("x", &[1, 2]), activation("y", &[1, 2])],
            Op::Reshape,
            vec![Some(0)],
            1,
        );
        let err = evaluate(&g, &[&[1.0]]).unwrap_err().to_string();
        assert!(err.contains("(x)") && err.contains("1 values"), "{err}");
    }

    #[test]
    fn int8_constants_are_dequantized_per_channel() {
        let q = Quantization {
            scale: vec![0.5, 2.0],
            zero_point: vec![0, 1],
            axis: 0,
        };
        let v = decode(&[2, 254, 3, 1], DType::Int8, Some(&q), &[2, 2]).unwrap();
        assert_eq!(v, [1.0, -1.0, 4.0, 0.0]);
    }
}
