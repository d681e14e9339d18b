//! Consistency checks for a [`Graph`]: every index in range, and every node's shapes and
//! dtypes agreeing with what its operator computes. The compiler relies on these checks, so
//! a model that passes them lowers without surprises.

use crate::{DType, Graph, IrError, Op, Padding};

/// Output size of a windowed operator along one axis, as TFLite computes it; `None` when the
/// parameters are meaningless or the window does not fit the input even once.
pub fn output_size(
    padding: Padding,
    input: usize,
    filter: usize,
    stride: usize,
    dilation: usize,
) -> Option<usize> {
    if stride == 0 || dilation == 0 || filter == 0 {
        return None;
    }
    let effective = (filter - 1).saturating_mul(dilation).saturating_add(1);
    match padding {
        Padding::Same => Some(input.div_ceil(stride)),
        Padding::Valid => input.saturating_add(stride).checked_sub(effective).map(|n| n / stride).filter(|&n| n > 0),
    }
}

impl Graph {
    /// Checks the whole graph; the first problem found is returned.
    pub fn check(&self) -> Result<(), IrError> {
        let n_tensors = self.tensors.len();
        for (list, what) in [(&self.inputs, "input"), (&self.outputs, "output")] {
            for &t in list {
                if t >= n_tensors {
                    return Err(IrError::Graph(format!(
                        "graph {what} refers to tensor {t}, which does not exist"
                    )));
                }
            }
        }
        for (t, tensor) in self.tensors.iter().enumerate() {
            if let Some(data) = &tensor.data {
                if data.len() != tensor.byte_len() {
                    return Err(IrError::Tensor {
                        tensor: t,
                        name: tensor.name.clone(),
                        message: format!(
                            "holds {} bytes of data but shape {:?} of {} needs {}",
                            data.len(),
                            tensor.shape,
                            tensor.dtype,
                            tensor.byte_len()
                        ),
                    });
                }
            }
        }
        for (n, node) in self.nodes.iter().enumerate() {
            self.check_node(n).map_err(|message| IrError::Node {
                node: n,
                op: node.op.name(),
                message,
            })?;
        }
        Ok(())
    }

    fn check_node(&self, n: usize) -> Result<(), String> {
        let node = &self.nodes[n];
        for t in node.inputs.iter().flatten().chain(&node.outputs) {
            if *t >= self.tensors.len() {
                return Err(format!("refers to tensor {t}, which does not exist"));
            }
        }
        let input = |i: usize| -> Result<&crate::Tensor, String> {
            node.inputs
                .get(i)
                .copied()
                .flatten()
                .map(|t| &self.tensors[t])
                .ok_or_else(|| format!("input {i} is missing"))
        };
        let output = |i: usize| -> Result<&crate::Tensor, String> {
            node.outputs
                .get(i)
                .map(|&t| &self.tensors[t])
                .ok_or_else(|| format!("output {i} is missing"))
        };
        let out = output(0)?;
        let x = input(0)?;
        let supported = |t: &crate::Tensor, role: &str| -> Result<(), String> {
            match t.dtype {
                DType::Int8 | DType::Float32 => Ok(()),
                other => Err(format!(
                    "{role} `{}` is {other}; mote supports int8 and float32 activations",
                    t.name
                )),
            }
        };
        let same_dtype = |role: &str, t: &crate::Tensor| -> Result<(), String> {
            if t.dtype != x.dtype {
                return Err(format!(
                    "{role} `{}` is {} but the input is {}",
                    t.name, t.dtype, x.dtype
                ));
            }
            Ok(())
        };
        let expect_shape = |want: &[usize]| -> Result<(), String> {
            if out.shape != want {
                return Err(format!(
                    "output `{}` has shape {:?}, expected {:?}",
                    out.name, out.shape, want
                ));
            }
            Ok(())
        };
        let rank4 = |t: &crate::Tensor, role: &str| -> Result<[usize; 4], String> {
            <[usize; 4]>::try_from(t.shape.as_slice())
                .map_err(|_| format!("{role} `{}` must be 4-D, has shape {:?}", t.name, t.shape))
        };
        match &node.op {
            Op::Conv2d(a) => {
                supported(x, "input")?;
                same_dtype("output", out)?;
                let [nb, h, w, c] = rank4(x, "input")?;
                let [oc, kh, kw, ic] = rank4(input(1)?, "filter")?;
                if ic == 0 || c % ic != 0 {
                    return Err(format!("filter depth {ic} does not divide input depth {c}"));
                }
                if ic != c {
                    return Err(format!(
                        "grouped convolution (input depth {c}, filter depth {ic}) is not supported"
                    ));
                }
                let oh = output_size(a.padding, h, kh, a.stride[0], a.dilation[0])
                    .ok_or("bad stride, dilation or filter height")?;
                let ow = output_size(a.padding, w, kw, a.stride[1], a.dilation[1])
                    .ok_or("bad stride, dilation or filter width")?;
                expect_shape(&[nb, oh, ow, oc])?;
                self.check_bias(node, 2, oc)?;
            }
            Op::DepthwiseConv2d(a) => {
                supported(x, "input")?;
                same_dtype("output", out)?;
                let [nb, h, w, c] = rank4(x, "input")?;
                let [one, kh, kw, oc] = rank4(input(1)?, "filter")?;
                if one != 1 || a.depth_multiplier == 0 || oc != c.saturating_mul(a.depth_multiplier) {
                    return Err(format!(
                        "filter shape [{one}, {kh}, {kw}, {oc}] does not match input depth {c} × depth multiplier {}",
                        a.depth_multiplier
                    ));
                }
                let oh = output_size(a.padding, h, kh, a.stride[0], a.dilation[0])
                    .ok_or("bad stride, dilation or filter height")?;
                let ow = output_size(a.padding, w, kw, a.stride[1], a.dilation[1])
                    .ok_or("bad stride, dilation or filter width")?;
                expect_shape(&[nb, oh, ow, oc])?;
                self.check_bias(node, 2, oc)?;
            }
            Op::FullyConnected(_) => {
                supported(x, "input")?;
                same_dtype("output", out)?;
                let f = input(1)?;
                if f.shape.len() != 2 {
                    return Err(format!(
                        "filter `{}` must be 2-D, has shape {:?}",
                        f.name, f.shape
                    ));
                }
                let (units, depth) = (f.shape[0], f.shape[1]);
                if depth == 0 || x.elements() % depth != 0 {
                    return Err(format!(
                        "input of {} elements is not a whole number of rows of depth {depth}",
                        x.elements()
                    ));
                }
                let batches = x.elements() / depth;
                if out.elements() != batches.saturating_mul(units) || out.shape.last() != Some(&units) {
                    return Err(format!(
                        "output `{}` has shape {:?}, expected {batches} rows of {units}",
                        out.name, out.shape
                    ));
                }
                self.check_bias(node, 2, units)?;
            }
            Op::AveragePool2d(a) | Op::MaxPool2d(a) => {
                supported(x, "input")?;
                same_dtype("output", out)?;
                let [nb, h, w, c] = rank4(x, "input")?;
                let oh = output_size(a.padding, h, a.filter[0], a.stride[0], 1)
                    .ok_or("bad stride or filter height")?;
                let ow = output_size(a.padding, w, a.filter[1], a.stride[1], 1)
                    .ok_or("bad stride or filter width")?;
                expect_shape(&[nb, oh, ow, c])?;
            }
            Op::Add(_) => {
                supported(x, "input")?;
                let y = input(1)?;
                same_dtype("second input", y)?;
                same_dtype("output", out)?;
                if x.shape.len() > 4 || y.shape.len() > 4 {
                    return Err("inputs of more than 4 dimensions are not supported".into());
                }
                let rank = x.shape.len().max(y.shape.len());
                let dim = |s: &[usize], i: usize| {
                    if i + s.len() >= rank {
                        s[i + s.len() - rank]
                    } else {
                        1
                    }
                };
                let mut want = Vec::with_capacity(rank);
                for i in 0..rank {
                    let (a, b) = (dim(&x.shape, i), dim(&y.shape, i));
                    if a != b && a != 1 && b != 1 {
                        return Err(format!(
                            "shapes {:?} and {:?} cannot be broadcast together",
                            x.shape, y.shape
                        ));
                    }
                    want.push(a.max(b));
                }
                expect_shape(&want)?;
            }
            Op::Reshape => {
                if out.elements() != x.elements() || out.dtype != x.dtype {
                    return Err(format!(
                        "reshapes {:?} {} into {:?} {}: element count or dtype differs",
                        x.shape, x.dtype, out.shape, out.dtype
                    ));
                }
            }
            Op::Softmax(_) => {
                supported(x, "input")?;
                same_dtype("output", out)?;
                if out.shape != x.shape || x.shape.is_empty() {
                    return Err(format!(
                        "output shape {:?} must equal input shape {:?}",
                        out.shape, x.shape
                    ));
                }
            }
            Op::Quantize => {
                if !(matches!(x.dtype, DType::Float32 | DType::Int8) && out.dtype == DType::Int8) {
                    return Err(format!(
                        "quantizes {} to {}; mote supports float32/int8 to int8",
                        x.dtype, out.dtype
                    ));
                }
                expect_shape(&x.shape)?;
            }
            Op::Dequantize => {
                if !(x.dtype == DType::Int8 && out.dtype == DType::Float32) {
                    return Err(format!(
                        "dequantizes {} to {}; mote supports int8 to float32",
                        x.dtype, out.dtype
                    ));
                }
                expect_shape(&x.shape)?;
            }
        }
        Ok(())
    }

    fn check_bias(&self, node: &crate::Node, i: usize, channels: usize) -> Result<(), String> {
        if let Some(b) = node.inputs.get(i).copied().flatten() {
            let b = &self.tensors[b];
            if b.elements() != channels {
                return Err(format!(
                    "bias `{}` has {} elements, expected {channels}",
                    b.name,
                    b.elements()
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Activation, AddAttrs, Conv2dAttrs, Node, Quantization, Tensor};

    fn tensor(name: &str, dtype: DType, shape: &[usize], constant: bool) -> Tensor {
        let bytes = shape.iter().product::<usize>() * dtype.size();
        Tensor {
            name: name.into(),
            dtype,
            shape: shape.to_vec(),
            quant: Some(Quantization::per_tensor(0.5, 0)),
            data: constant.then(|| vec![0; bytes]),
        }
    }

    /// input [1,5,5,2] * filter [3,3,3,2], stride 2, SAME → [1,3,3,3].
    fn conv_graph(output_shape: &[usize]) -> Graph {
        Graph {
            tensors: vec![
                tensor("x", DType::Int8, &[1, 5, 5, 2], false),
                tensor("w", DType::Int8, &[3, 3, 3, 2], true),
                tensor("b", DType::Int32, &[3], true),
                tensor("y", DType::Int8, output_shape, false),
            ],
            nodes: vec![Node {
                op: Op::Conv2d(Conv2dAttrs {
                    padding: Padding::Same,
                    stride: [2, 2],
                    dilation: [1, 1],
                    activation: Activation::Relu,
                }),
                inputs: vec![Some(0), Some(1), Some(2)],
                outputs: vec![3],
            }],
            inputs: vec![0],
            outputs: vec![3],
        }
    }

    #[test]
    fn output_sizes_follow_tflite() {
        assert_eq!(output_size(Padding::Same, 5, 3, 2, 1), Some(3));
        assert_eq!(output_size(Padding::Valid, 5, 3, 2, 1), Some(2));
        // Dilation 2 makes a 3-tap filter span 5 inputs.
        assert_eq!(output_size(Padding::Valid, 5, 3, 1, 2), Some(1));
        assert_eq!(output_size(Padding::Valid, 2, 3, 1, 1), None);
        assert_eq!(output_size(Padding::Same, 5, 3, 0, 1), None);
    }

    #[test]
    fn consistent_conv_passes_and_wrong_output_shape_is_named() {
        assert_eq!(conv_graph(&[1, 3, 3, 3]).check(), Ok(()));
        let err = conv_graph(&[1, 2, 2, 3]).check().unwrap_err().to_string();
        assert!(err.contains("operator #0 (CONV_2D)") && err.contains("[1, 3, 3, 3]"), "{err}");
    }

    #[test]
    fn constant_data_must_fill_its_shape() {
        let mut g = conv_graph(&[1, 3, 3, 3]);
        g.tensors[1].data.as_mut().unwrap().pop();
        let err = g.check().unwrap_err().to_string();
        assert!(err.contains("tensor #1 (w)"), "{err}");
    }

    #[test]
    fn add_broadcasts_like_tflite() {
        let graph = |a: &[usize], b: &[usize], out: &[usize]| Graph {
            tensors: vec![
                tensor("a", DType::Float32, a, false),
                tensor("b", DType::Float32, b, true),
                tensor("c", DType::Float32, out, false),
            ],
            nodes: vec![Node {
                op: Op::Add(AddAttrs { activation: Activation::None }),
                inputs: vec![Some(0), Some(1)],
                outputs: vec![2],
            }],
            inputs: vec![0],
            outputs: vec![2],
        };
        assert_eq!(graph(&[1, 4, 4, 3], &[3], &[1, 4, 4, 3]).check(), Ok(()));
        assert_eq!(graph(&[1, 4, 1, 3], &[1, 1, 5, 1], &[1, 4, 5, 3]).check(), Ok(()));
        assert!(graph(&[1, 4, 4, 3], &[2], &[1, 4, 4, 3]).check().is_err());
        assert!(graph(&[1, 4, 4, 3], &[3], &[1, 4, 4, 4]).check().is_err());
    }

    #[test]
    fn int16_activations_are_refused_with_the_tensor_named() {
        let mut g = conv_graph(&[1, 3, 3, 3]);
        g.tensors[0].dtype = DType::Int16;
        g.tensors[0].data = None;
        let err = g.check().unwrap_err().to_string();
        assert!(err.contains("int16") && err.contains("`x`"), "{err}");
    }
}
