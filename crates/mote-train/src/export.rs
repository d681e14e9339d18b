//! Export of a trained model to a float32 `mote_ir::Graph`: input `[1, ...]` channels last,
//! batch norm folded into the preceding convolution or dense layer, ReLU fused into it,
//! weights in TFLite's layouts, classifiers ending in SOFTMAX.

use mote_ir::{
    Activation, Conv2dAttrs, DType, DepthwiseConv2dAttrs, FullyConnectedAttrs, Graph, Node, Op,
    Padding, Pool2dAttrs, SoftmaxAttrs, Tensor as IrTensor,
};

use crate::model::Model;
use crate::spec::{Layer, Shape, Task};
use crate::{Result, TrainError};

fn activation_tensor(graph: &mut Graph, name: String, shape: Vec<usize>) -> usize {
    graph.tensors.push(IrTensor {
        name,
        dtype: DType::Float32,
        shape,
        quant: None,
        data: None,
    });
    graph.tensors.len() - 1
}

fn const_tensor(graph: &mut Graph, name: String, shape: Vec<usize>, values: &[f32]) -> usize {
    graph.tensors.push(IrTensor {
        name,
        dtype: DType::Float32,
        shape,
        quant: None,
        data: Some(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
    });
    graph.tensors.len() - 1
}

/// A constant weight: its shape and values.
type Weight = (Vec<usize>, Vec<f32>);

fn nhwc(s: Shape) -> Vec<usize> {
    match s {
        Shape::Map { h, w, c } => vec![1, h, w, c],
        Shape::Flat(n) => vec![1, n],
    }
}

/// The graph of `model`. The folded weights are those the model's eval forward pass uses.
pub fn to_graph(model: &Model) -> Result<Graph> {
    let spec = &model.spec;
    let mut g = Graph::default();
    let mut shape = spec.input()?;
    let mut x = activation_tensor(&mut g, "input".into(), nhwc(shape));
    g.inputs.push(x);
    for (i, layer) in spec.layers.iter().enumerate() {
        let out_shape = model.shapes()[i];
        let act = |relu: bool| {
            if relu {
                Activation::Relu
            } else {
                Activation::None
            }
        };
        let pad = |same: bool| if same { Padding::Same } else { Padding::Valid };
        let (op, weight): (Op, Option<Weight>) = match *layer {
            Layer::Conv2d {
                stride, same, relu, ..
            } => {
                let (w, _) = model.folded(i)?;
                // [O, I, kh, kw] → [O, kh, kw, I]
                let w = w.permute((0, 2, 3, 1))?.contiguous()?;
                let dims = w.dims().to_vec();
                (
                    Op::Conv2d(Conv2dAttrs {
                        padding: pad(same),
                        stride,
                        dilation: [1, 1],
                        activation: act(relu),
                    }),
                    Some((dims, w.flatten_all()?.to_vec1()?)),
                )
            }
            Layer::DepthwiseConv2d {
                kernel,
                stride,
                same,
                relu,
                ..
            } => {
                let (w, _) = model.folded(i)?;
                // [C, kh, kw] → [1, kh, kw, C]
                let w = w.permute((1, 2, 0))?.contiguous()?;
                let c = w.dim(2)?;
                (
                    Op::DepthwiseConv2d(DepthwiseConv2dAttrs {
                        padding: pad(same),
                        stride,
                        dilation: [1, 1],
                        depth_multiplier: 1,
                        activation: act(relu),
                    }),
                    Some((
                        vec![1, kernel[0], kernel[1], c],
                        w.flatten_all()?.to_vec1()?,
                    )),
                )
            }
            Layer::Dense { relu, .. } => {
                let (w, _) = model.folded(i)?;
                let dims = w.dims().to_vec();
                (
                    Op::FullyConnected(FullyConnectedAttrs {
                        activation: act(relu),
                        keep_num_dims: false,
                    }),
                    Some((dims, w.flatten_all()?.to_vec1()?)),
                )
            }
            Layer::AvgPool2d { size } | Layer::MaxPool2d { size } => {
                let attrs = Pool2dAttrs {
                    padding: Padding::Valid,
                    stride: size,
                    filter: size,
                    activation: Activation::None,
                };
                let op = if matches!(layer, Layer::AvgPool2d { .. }) {
                    Op::AveragePool2d(attrs)
                } else {
                    Op::MaxPool2d(attrs)
                };
                (op, None)
            }
            Layer::GlobalAvgPool => {
                let Shape::Map { h, w, .. } = shape else {
                    return Err(TrainError::Export(format!("layer {i}: pool of a vector")));
                };
                (
                    Op::AveragePool2d(Pool2dAttrs {
                        padding: Padding::Valid,
                        stride: [1, 1],
                        filter: [h, w],
                        activation: Activation::None,
                    }),
                    None,
                )
            }
            Layer::Flatten => (Op::Reshape, None),
        };
        let mut inputs = vec![Some(x)];
        if let Some((dims, values)) = weight {
            let (_, b) = model.folded(i)?;
            let b: Vec<f32> = b.to_vec1()?;
            let wt = const_tensor(&mut g, format!("layer{i}/weight"), dims, &values);
            let bt = const_tensor(&mut g, format!("layer{i}/bias"), vec![b.len()], &b);
            inputs.push(Some(wt));
            inputs.push(Some(bt));
        }
        // Global average pooling keeps [1, 1, 1, C]; the dense layer after it reads C values.
        let out_dims = match (layer, out_shape) {
            (Layer::GlobalAvgPool, Shape::Flat(c)) => vec![1, 1, 1, c],
            _ => nhwc(out_shape),
        };
        let y = activation_tensor(&mut g, format!("layer{i}/out"), out_dims);
        g.nodes.push(Node {
            op,
            inputs,
            outputs: vec![y],
        });
        x = y;
        shape = out_shape;
    }
    if let Task::Classify { .. } = spec.task {
        let dims = g.tensors[x].shape.clone();
        let y = activation_tensor(&mut g, "probabilities".into(), dims);
        g.nodes.push(Node {
            op: Op::Softmax(SoftmaxAttrs { beta: 1.0 }),
            inputs: vec![Some(x)],
            outputs: vec![y],
        });
        x = y;
    }
    g.outputs.push(x);
    g.check()
        .map_err(|e| TrainError::Export(format!("exported graph is inconsistent: {e}")))?;
    Ok(g)
}
