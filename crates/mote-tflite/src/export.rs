//! Export of a [`Graph`] as a `.tflite` flatbuffer, so that what mote trains and quantizes also
//! runs in TFLite and TFLM (and TFLM can check mote's quantizer and runtime byte for byte).
//!
//! The file is what TFLite's converter writes for the same graph, written with the builders
//! generated from TFLite's schema: schema version 3; one subgraph named `main` without
//! signatures; buffer 0 empty and one buffer per constant, its data 16-byte aligned (as the
//! schema's `force_align` asks, so kernels can read weights in place); operator codes with
//! both `deprecated_builtin_code` and `builtin_code` set; operator versions as TFLite's
//! `op_version.cc` assigns them (see [`operator_version`]); every operator's options table;
//! quantization with `quantized_dimension`. Tensor and operator indices are kept one to one,
//! so importing the file gives back an equal graph.

use flatbuffers::{FlatBufferBuilder, Push, WIPOffset};
use mote_ir::{Activation, DType, Graph, Node, Op, Padding, Tensor};

use crate::tflite_generated::tflite as fb;
use crate::{TfliteError, SCHEMA_VERSION};

/// Written into the model's `description`.
const DESCRIPTION: &str = concat!("mote ", env!("CARGO_PKG_VERSION"));

/// Alignment of every constant buffer's data (TFLite's schema: `force_align: 16`).
const BUFFER_ALIGN: usize = 16;

/// Writes `graph` as a `.tflite` flatbuffer. The graph is checked first
/// ([`Graph::check`]); a dimension or index beyond TFLite's `int32` is an error naming it.
pub fn export(graph: &Graph) -> Result<Vec<u8>, TfliteError> {
    graph.check()?;
    let mut fbb = FlatBufferBuilder::with_capacity(
        graph
            .tensors
            .iter()
            .map(|t| t.data.as_ref().map_or(0, Vec::len) + BUFFER_ALIGN)
            .sum::<usize>()
            + 4096,
    );

    // Buffers: 0 is the empty buffer that activations refer to; each constant gets its own.
    let mut buffers = vec![fb::Buffer::create(&mut fbb, &fb::BufferArgs::default())];
    let mut tensor_buffer = vec![0u32; graph.tensors.len()];
    for (t, tensor) in graph.tensors.iter().enumerate() {
        if let Some(data) = tensor.data.as_ref().filter(|d| !d.is_empty()) {
            let data = aligned_bytes(&mut fbb, data);
            tensor_buffer[t] = buffers.len() as u32;
            buffers.push(fb::Buffer::create(
                &mut fbb,
                &fb::BufferArgs {
                    data: Some(data),
                    ..Default::default()
                },
            ));
        }
    }

    let mut tensors = Vec::with_capacity(graph.tensors.len());
    for (t, tensor) in graph.tensors.iter().enumerate() {
        let off = write_tensor(&mut fbb, t, tensor, tensor_buffer[t])?;
        tensors.push(off);
    }

    // Operator codes: one per (operator, version), in order of first use.
    let mut codes: Vec<(fb::BuiltinOperator, i32)> = Vec::new();
    let mut operators = Vec::with_capacity(graph.nodes.len());
    for (n, node) in graph.nodes.iter().enumerate() {
        let code = (builtin(&node.op), operator_version(graph, node));
        let opcode_index = match codes.iter().position(|c| *c == code) {
            Some(i) => i,
            None => {
                codes.push(code);
                codes.len() - 1
            }
        } as u32;
        operators.push(write_operator(&mut fbb, graph, n, node, opcode_index)?);
    }
    let codes: Vec<_> = codes
        .iter()
        .map(|&(op, version)| {
            fb::OperatorCode::create(
                &mut fbb,
                &fb::OperatorCodeArgs {
                    // Readers before the opcode space outgrew a byte read only this field;
                    // codes beyond it are written as the placeholder, as TFLite does.
                    deprecated_builtin_code: op
                        .0
                        .min(fb::BuiltinOperator::PLACEHOLDER_FOR_GREATER_OP_CODES.0)
                        as i8,
                    builtin_code: op,
                    version,
                    custom_code: None,
                },
            )
        })
        .collect();

    let io = |list: &[usize], what: &str| -> Result<Vec<i32>, TfliteError> {
        list.iter()
            .map(|&t| {
                i32::try_from(t).map_err(|_| {
                    TfliteError::Model(format!("graph {what} tensor {t} is beyond int32"))
                })
            })
            .collect()
    };
    let inputs = io(&graph.inputs, "input")?;
    let outputs = io(&graph.outputs, "output")?;
    let subgraph_args = fb::SubGraphArgs {
        tensors: Some(fbb.create_vector(&tensors)),
        inputs: Some(fbb.create_vector(&inputs)),
        outputs: Some(fbb.create_vector(&outputs)),
        operators: Some(fbb.create_vector(&operators)),
        name: Some(fbb.create_string("main")),
    };
    let subgraph = fb::SubGraph::create(&mut fbb, &subgraph_args);
    let model_args = fb::ModelArgs {
        version: SCHEMA_VERSION,
        operator_codes: Some(fbb.create_vector(&codes)),
        subgraphs: Some(fbb.create_vector(&[subgraph])),
        description: Some(fbb.create_string(DESCRIPTION)),
        buffers: Some(fbb.create_vector(&buffers)),
        ..Default::default()
    };
    let model = fb::Model::create(&mut fbb, &model_args);
    fb::finish_model_buffer(&mut fbb, model);
    Ok(fbb.finished_data().to_vec())
}

/// A byte that asks the builder for 16-byte alignment: [`aligned_bytes`] opens its vector
/// with it so that the data (not only its length prefix) starts on a 16-byte boundary. (The
/// builder takes an element's alignment from its `Output` type.)
struct AlignedByte;

#[repr(align(16))]
struct Align16;
const _: () = assert!(std::mem::align_of::<Align16>() == BUFFER_ALIGN);

impl Push for AlignedByte {
    type Output = Align16;
    fn push(&self, _dst: &mut [u8], _rest: &[u8]) {}
    fn size() -> usize {
        1
    }
}

/// A `[ubyte]` vector whose first byte is 16-byte aligned in the finished file.
fn aligned_bytes<'a>(
    fbb: &mut FlatBufferBuilder<'a>,
    data: &[u8],
) -> WIPOffset<flatbuffers::Vector<'a, u8>> {
    // The builder writes back to front and aligns the end of what start_vector announces;
    // announcing the data's length with 16-byte alignment puts its start on a multiple of 16
    // from the end, and the finished buffer's length is a multiple of its largest alignment.
    fbb.start_vector::<AlignedByte>(data.len());
    for &b in data.iter().rev() {
        fbb.push(b);
    }
    fbb.end_vector::<u8>(data.len())
}

fn tensor_type(dtype: DType) -> fb::TensorType {
    match dtype {
        DType::Int8 => fb::TensorType::INT8,
        DType::UInt8 => fb::TensorType::UINT8,
        DType::Int16 => fb::TensorType::INT16,
        DType::Int32 => fb::TensorType::INT32,
        DType::Int64 => fb::TensorType::INT64,
        DType::Float32 => fb::TensorType::FLOAT32,
    }
}

fn write_tensor<'a>(
    fbb: &mut FlatBufferBuilder<'a>,
    index: usize,
    tensor: &Tensor,
    buffer: u32,
) -> Result<WIPOffset<fb::Tensor<'a>>, TfliteError> {
    let err = |message: String| TfliteError::Tensor {
        index,
        name: tensor.name.clone(),
        message,
    };
    let shape = tensor
        .shape
        .iter()
        .map(|&d| i32::try_from(d))
        .collect::<Result<Vec<i32>, _>>()
        .map_err(|_| {
            err(format!(
                "shape {:?} has a dimension beyond int32",
                tensor.shape
            ))
        })?;
    let quantization = match &tensor.quant {
        None => None,
        Some(q) => {
            let axis = i32::try_from(q.axis)
                .map_err(|_| err(format!("quantized axis {} is beyond int32", q.axis)))?;
            let args = fb::QuantizationParametersArgs {
                scale: Some(fbb.create_vector(&q.scale)),
                zero_point: Some(fbb.create_vector(&q.zero_point)),
                quantized_dimension: axis,
                ..Default::default()
            };
            Some(fb::QuantizationParameters::create(fbb, &args))
        }
    };
    let args = fb::TensorArgs {
        shape: Some(fbb.create_vector(&shape)),
        type_: tensor_type(tensor.dtype),
        buffer,
        name: Some(fbb.create_string(&tensor.name)),
        quantization,
        ..Default::default()
    };
    Ok(fb::Tensor::create(fbb, &args))
}

fn builtin(op: &Op) -> fb::BuiltinOperator {
    match op {
        Op::Conv2d(_) => fb::BuiltinOperator::CONV_2D,
        Op::DepthwiseConv2d(_) => fb::BuiltinOperator::DEPTHWISE_CONV_2D,
        Op::FullyConnected(_) => fb::BuiltinOperator::FULLY_CONNECTED,
        Op::AveragePool2d(_) => fb::BuiltinOperator::AVERAGE_POOL_2D,
        Op::MaxPool2d(_) => fb::BuiltinOperator::MAX_POOL_2D,
        Op::Add(_) => fb::BuiltinOperator::ADD,
        Op::Reshape => fb::BuiltinOperator::RESHAPE,
        Op::Softmax(_) => fb::BuiltinOperator::SOFTMAX,
        Op::Quantize => fb::BuiltinOperator::QUANTIZE,
        Op::Dequantize => fb::BuiltinOperator::DEQUANTIZE,
    }
}

/// The version TFLite's `op_version.cc` gives an operator with these tensors, for the cases
/// mote produces: for int8, CONV_2D and DEPTHWISE_CONV_2D 3, FULLY_CONNECTED 4 (per tensor or
/// per channel), pooling, ADD, SOFTMAX and DEQUANTIZE 2, QUANTIZE 1; for float32 1, except
/// DEPTHWISE_CONV_2D with dilation (2); FULLY_CONNECTED with `keep_num_dims` 5 and without a
/// bias input 6. These are also the versions in the converter-written reference models.
pub fn operator_version(graph: &Graph, node: &Node) -> i32 {
    let dtype = |i: usize| {
        node.inputs
            .get(i)
            .copied()
            .flatten()
            .map(|t| graph.tensors[t].dtype)
    };
    let int8 = dtype(0) == Some(DType::Int8);
    match &node.op {
        Op::Conv2d(_) => {
            if int8 {
                3
            } else {
                1
            }
        }
        Op::DepthwiseConv2d(a) => {
            if int8 {
                3
            } else if a.dilation != [1, 1] {
                2
            } else {
                1
            }
        }
        Op::FullyConnected(a) => {
            if node.inputs.len() == 2 {
                6
            } else if a.keep_num_dims {
                5
            } else if int8 {
                4
            } else {
                1
            }
        }
        Op::AveragePool2d(_) | Op::MaxPool2d(_) | Op::Add(_) | Op::Softmax(_) => {
            if int8 {
                2
            } else {
                1
            }
        }
        Op::Reshape => 1,
        // Versions 2-4 are for int16, per-channel and int4 outputs, which mote does not make.
        Op::Quantize => 1,
        Op::Dequantize => {
            if int8 {
                2
            } else {
                1
            }
        }
    }
}

fn activation(a: Activation) -> fb::ActivationFunctionType {
    match a {
        Activation::None => fb::ActivationFunctionType::NONE,
        Activation::Relu => fb::ActivationFunctionType::RELU,
        Activation::Relu6 => fb::ActivationFunctionType::RELU6,
        Activation::ReluN1To1 => fb::ActivationFunctionType::RELU_N1_TO_1,
    }
}

fn padding(p: Padding) -> fb::Padding {
    match p {
        Padding::Same => fb::Padding::SAME,
        Padding::Valid => fb::Padding::VALID,
    }
}

fn write_operator<'a>(
    fbb: &mut FlatBufferBuilder<'a>,
    graph: &Graph,
    index: usize,
    node: &Node,
    opcode_index: u32,
) -> Result<WIPOffset<fb::Operator<'a>>, TfliteError> {
    let err = |message: String| TfliteError::Operator {
        index,
        op: node.op.name().into(),
        message,
    };
    // Attributes come from the checked IR, so they fit int32 unless absurd; say so if not.
    let int = |what: &str, v: usize| -> Result<i32, TfliteError> {
        i32::try_from(v).map_err(|_| err(format!("{what} {v} is beyond int32")))
    };
    let (options_type, options) = match &node.op {
        Op::Conv2d(a) => {
            let args = fb::Conv2DOptionsArgs {
                padding: padding(a.padding),
                stride_h: int("stride", a.stride[0])?,
                stride_w: int("stride", a.stride[1])?,
                dilation_h_factor: int("dilation", a.dilation[0])?,
                dilation_w_factor: int("dilation", a.dilation[1])?,
                fused_activation_function: activation(a.activation),
                ..Default::default()
            };
            (
                fb::BuiltinOptions::Conv2DOptions,
                Some(fb::Conv2DOptions::create(fbb, &args).as_union_value()),
            )
        }
        Op::DepthwiseConv2d(a) => {
            let args = fb::DepthwiseConv2DOptionsArgs {
                padding: padding(a.padding),
                stride_h: int("stride", a.stride[0])?,
                stride_w: int("stride", a.stride[1])?,
                depth_multiplier: int("depth multiplier", a.depth_multiplier)?,
                dilation_h_factor: int("dilation", a.dilation[0])?,
                dilation_w_factor: int("dilation", a.dilation[1])?,
                fused_activation_function: activation(a.activation),
            };
            (
                fb::BuiltinOptions::DepthwiseConv2DOptions,
                Some(fb::DepthwiseConv2DOptions::create(fbb, &args).as_union_value()),
            )
        }
        Op::FullyConnected(a) => {
            let args = fb::FullyConnectedOptionsArgs {
                fused_activation_function: activation(a.activation),
                keep_num_dims: a.keep_num_dims,
                ..Default::default()
            };
            (
                fb::BuiltinOptions::FullyConnectedOptions,
                Some(fb::FullyConnectedOptions::create(fbb, &args).as_union_value()),
            )
        }
        Op::AveragePool2d(a) | Op::MaxPool2d(a) => {
            let args = fb::Pool2DOptionsArgs {
                padding: padding(a.padding),
                stride_h: int("stride", a.stride[0])?,
                stride_w: int("stride", a.stride[1])?,
                filter_height: int("filter size", a.filter[0])?,
                filter_width: int("filter size", a.filter[1])?,
                fused_activation_function: activation(a.activation),
            };
            (
                fb::BuiltinOptions::Pool2DOptions,
                Some(fb::Pool2DOptions::create(fbb, &args).as_union_value()),
            )
        }
        Op::Add(a) => {
            let args = fb::AddOptionsArgs {
                fused_activation_function: activation(a.activation),
                ..Default::default()
            };
            (
                fb::BuiltinOptions::AddOptions,
                Some(fb::AddOptions::create(fbb, &args).as_union_value()),
            )
        }
        Op::Reshape => {
            // The output's shape, which is what mote's importer and TFLM's kernel go by.
            let out = &graph.tensors[node.outputs[0]];
            let new_shape = out
                .shape
                .iter()
                .map(|&d| int("dimension", d))
                .collect::<Result<Vec<_>, _>>()?;
            let args = fb::ReshapeOptionsArgs {
                new_shape: Some(fbb.create_vector(&new_shape)),
            };
            (
                fb::BuiltinOptions::ReshapeOptions,
                Some(fb::ReshapeOptions::create(fbb, &args).as_union_value()),
            )
        }
        Op::Softmax(a) => {
            let args = fb::SoftmaxOptionsArgs { beta: a.beta };
            (
                fb::BuiltinOptions::SoftmaxOptions,
                Some(fb::SoftmaxOptions::create(fbb, &args).as_union_value()),
            )
        }
        Op::Quantize => (
            fb::BuiltinOptions::QuantizeOptions,
            Some(fb::QuantizeOptions::create(fbb, &fb::QuantizeOptionsArgs {}).as_union_value()),
        ),
        Op::Dequantize => (
            fb::BuiltinOptions::DequantizeOptions,
            Some(
                fb::DequantizeOptions::create(fbb, &fb::DequantizeOptionsArgs {}).as_union_value(),
            ),
        ),
    };
    let refs = |list: &mut dyn Iterator<Item = Option<usize>>| -> Result<Vec<i32>, TfliteError> {
        list.map(|t| match t {
            None => Ok(-1),
            Some(t) => int("tensor index", t),
        })
        .collect()
    };
    let inputs = refs(&mut node.inputs.iter().copied())?;
    let outputs = refs(&mut node.outputs.iter().map(|&t| Some(t)))?;
    let args = fb::OperatorArgs {
        opcode_index,
        inputs: Some(fbb.create_vector(&inputs)),
        outputs: Some(fbb.create_vector(&outputs)),
        builtin_options_type: options_type,
        builtin_options: options,
        ..Default::default()
    };
    Ok(fb::Operator::create(fbb, &args))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin_name;

    #[test]
    fn constant_data_is_16_byte_aligned() {
        // Odd-sized constants around the aligned one must not shift it.
        let tensor = |name: &str, len: usize| Tensor {
            name: name.into(),
            dtype: DType::Int8,
            shape: vec![len],
            quant: None,
            data: Some((0..len).map(|i| i as u8 ^ 0x5a).collect()),
        };
        let graph = Graph {
            tensors: vec![tensor("a", 3), tensor("b", 37), tensor("c", 5)],
            ..Default::default()
        };
        let bytes = export(&graph).unwrap();
        let model = fb::root_as_model(&bytes).unwrap();
        let buffers = model.buffers().unwrap();
        assert_eq!(buffers.len(), 4);
        assert!(buffers.get(0).data().is_none());
        for (i, want) in [(1, 3), (2, 37), (3, 5)] {
            let data = buffers.get(i).data().unwrap();
            assert_eq!(data.len(), want);
            let offset = data.as_ptr() as usize - bytes.as_ptr() as usize;
            assert_eq!(offset % BUFFER_ALIGN, 0, "buffer {i} at offset {offset}");
            assert_eq!(data, graph.tensors[i - 1].data.as_deref().unwrap());
        }
        assert_eq!(model.description(), Some(DESCRIPTION));
        assert_eq!(model.version(), SCHEMA_VERSION);
    }

    /// The versions export assigns are the ones TFLite's converter wrote in the reference
    /// models, for every operator they use (the exceptions listed are files from TOCO,
    /// TFLite's older converter, which versioned some int8 kernels differently).
    #[test]
    fn operator_versions_match_the_converter() {
        let Some(shared) = mote_testdata::shared_dir() else {
            return;
        };
        let code_of =
            |c: &fb::OperatorCode| i32::from(c.deprecated_builtin_code()).max(c.builtin_code().0);
        let mut differences = Vec::new();
        for name in mote_testdata::COVERED_MODELS {
            let g = mote_testdata::golden(&shared, name);
            let original = std::fs::read(&g.model).unwrap();
            let exported = export(&crate::import(&original).unwrap()).unwrap();
            let (a, b) = (
                fb::root_as_model(&original).unwrap(),
                fb::root_as_model(&exported).unwrap(),
            );
            for code in b.operator_codes().unwrap() {
                assert_eq!(code.builtin_code().0, code_of(&code));
                assert_eq!(
                    i32::from(code.deprecated_builtin_code()),
                    code.builtin_code().0
                );
                let original_version = a
                    .operator_codes()
                    .unwrap()
                    .iter()
                    .find(|c| code_of(c) == code.builtin_code().0)
                    .map(|c| c.version());
                if original_version != Some(code.version()) {
                    differences.push(format!(
                        "{name} {}: {:?} -> {}",
                        builtin_name(code.builtin_code()),
                        original_version,
                        code.version()
                    ));
                }
            }
        }
        // person_detect.tflite ("TOCO Converted.") marks its int8 CONV_2D version 2; today's
        // op_version.cc gives every int8 CONV_2D version 3, as the MLIR-converted models have.
        assert_eq!(differences, ["person_detect CONV_2D: Some(2) -> 3"]);
    }
}
