//! mote's graph IR: the host-side description of a model between import and compilation.
//!
//! A [`Graph`] holds tensors (dtype, shape, optional quantization, optional constant data)
//! and nodes in execution order. Each node carries one variant of the closed [`Op`] enum with
//! that operator's attributes. Importers (`mote-tflite`) produce it; the compiler
//! (`mote-compiler`) lowers it to a `.mote` artefact. [`Graph::check`] verifies that every
//! node's tensors and shapes are consistent before anything is lowered.

mod check;
pub mod eval;

pub use check::output_size;
pub use eval::{evaluate, Evaluation, Evaluator};

/// Element type of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    Int8,
    UInt8,
    Int16,
    Int32,
    Int64,
    Float32,
}

impl DType {
    pub fn size(self) -> usize {
        match self {
            DType::Int8 | DType::UInt8 => 1,
            DType::Int16 => 2,
            DType::Int32 | DType::Float32 => 4,
            DType::Int64 => 8,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DType::Int8 => "int8",
            DType::UInt8 => "uint8",
            DType::Int16 => "int16",
            DType::Int32 => "int32",
            DType::Int64 => "int64",
            DType::Float32 => "float32",
        }
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Affine quantization: `real = scale * (q - zero_point)`, per tensor (one entry) or per
/// channel along `axis`.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantization {
    pub scale: Vec<f32>,
    pub zero_point: Vec<i64>,
    pub axis: usize,
}

impl Quantization {
    pub fn per_tensor(scale: f32, zero_point: i64) -> Self {
        Quantization {
            scale: vec![scale],
            zero_point: vec![zero_point],
            axis: 0,
        }
    }

    /// True when there is one scale for the whole tensor.
    pub fn is_per_tensor(&self) -> bool {
        self.scale.len() == 1
    }
}

/// Index of a tensor in [`Graph::tensors`].
pub type TensorId = usize;

#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub quant: Option<Quantization>,
    /// Little-endian element bytes for constants (weights, biases); `None` for activations.
    pub data: Option<Vec<u8>>,
}

impl Tensor {
    /// Number of elements; saturates instead of overflowing on absurd shapes, which
    /// [`Graph::check`] then rejects because no data or arena can hold them.
    pub fn elements(&self) -> usize {
        self.shape.iter().fold(1usize, |n, &d| n.saturating_mul(d))
    }

    pub fn byte_len(&self) -> usize {
        self.elements().saturating_mul(self.dtype.size())
    }

    pub fn is_const(&self) -> bool {
        self.data.is_some()
    }
}

/// Activation fused into the preceding operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Activation {
    #[default]
    None,
    Relu,
    Relu6,
    ReluN1To1,
}

/// Padding scheme of a windowed operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    Same,
    Valid,
}

/// Attributes of CONV_2D. Inputs: input, filter `[out_c, kh, kw, in_c]`, bias (optional).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Conv2dAttrs {
    pub padding: Padding,
    /// (height, width)
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    pub activation: Activation,
}

/// Attributes of DEPTHWISE_CONV_2D. Inputs: input, filter `[1, kh, kw, out_c]`, bias.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DepthwiseConv2dAttrs {
    pub padding: Padding,
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    pub depth_multiplier: usize,
    pub activation: Activation,
}

/// Attributes of FULLY_CONNECTED. Inputs: input, filter `[units, depth]`, bias (optional).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FullyConnectedAttrs {
    pub activation: Activation,
    pub keep_num_dims: bool,
}

/// Attributes of AVERAGE_POOL_2D and MAX_POOL_2D.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pool2dAttrs {
    pub padding: Padding,
    pub stride: [usize; 2],
    pub filter: [usize; 2],
    pub activation: Activation,
}

/// Attributes of ADD.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AddAttrs {
    pub activation: Activation,
}

/// Attributes of SOFTMAX.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SoftmaxAttrs {
    pub beta: f32,
}

/// The operators mote knows. Closed: adding one means adding a kernel, a lowering and tests.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Conv2d(Conv2dAttrs),
    DepthwiseConv2d(DepthwiseConv2dAttrs),
    FullyConnected(FullyConnectedAttrs),
    AveragePool2d(Pool2dAttrs),
    MaxPool2d(Pool2dAttrs),
    Add(AddAttrs),
    /// Inputs: data, and optionally a constant shape tensor (ignored: the output shape rules).
    Reshape,
    Softmax(SoftmaxAttrs),
    Quantize,
    Dequantize,
}

impl Op {
    /// The TFLite-style name, used in messages and reports.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Conv2d(_) => "CONV_2D",
            Op::DepthwiseConv2d(_) => "DEPTHWISE_CONV_2D",
            Op::FullyConnected(_) => "FULLY_CONNECTED",
            Op::AveragePool2d(_) => "AVERAGE_POOL_2D",
            Op::MaxPool2d(_) => "MAX_POOL_2D",
            Op::Add(_) => "ADD",
            Op::Reshape => "RESHAPE",
            Op::Softmax(_) => "SOFTMAX",
            Op::Quantize => "QUANTIZE",
            Op::Dequantize => "DEQUANTIZE",
        }
    }
}

/// One operator application. `inputs` entries are `None` for omitted optional inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub op: Op,
    pub inputs: Vec<Option<TensorId>>,
    pub outputs: Vec<TensorId>,
}

/// A model: tensors, nodes in execution order, and the graph's inputs and outputs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Graph {
    pub tensors: Vec<Tensor>,
    pub nodes: Vec<Node>,
    pub inputs: Vec<TensorId>,
    pub outputs: Vec<TensorId>,
}

/// What is wrong with a graph, and where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum IrError {
    #[error("operator #{node} ({op}): {message}")]
    Node {
        node: usize,
        op: &'static str,
        message: String,
    },
    #[error("tensor #{tensor} ({name}): {message}")]
    Tensor {
        tensor: usize,
        name: String,
        message: String,
    },
    #[error("graph: {0}")]
    Graph(String),
}

impl Graph {
    /// Number of multiply-accumulates of node `n` (0 for operators that do none).
    pub fn macs(&self, n: usize) -> u64 {
        let node = &self.nodes[n];
        let shape = |i: usize| -> &[usize] {
            node.inputs
                .get(i)
                .copied()
                .flatten()
                .map_or(&[][..], |t| &self.tensors[t].shape[..])
        };
        let out_elems = node
            .outputs
            .first()
            .map_or(0, |&t| self.tensors[t].elements()) as u64;
        match &node.op {
            Op::Conv2d(_) => {
                let f = shape(1);
                out_elems * f.iter().skip(1).product::<usize>() as u64
            }
            Op::DepthwiseConv2d(_) => {
                let f = shape(1);
                out_elems * f.iter().skip(1).take(2).product::<usize>() as u64
            }
            Op::FullyConnected(_) => {
                let f = shape(1);
                out_elems * f.last().copied().unwrap_or(0) as u64
            }
            _ => 0,
        }
    }
}
