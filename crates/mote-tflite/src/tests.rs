//! Hand-built flatbuffers for the corners real models do not reach: external buffers, old-file
//! quirks (deprecated opcode field, dilation 0, depth_multiplier 0, out-of-range quantized
//! dimension) and each kind of error.

use super::*;
use flatbuffers::FlatBufferBuilder;

/// One tensor of a test model. `data` becomes an inline buffer.
struct T {
    name: &'static str,
    ty: fb::TensorType,
    shape: Vec<i32>,
    data: Option<Vec<u8>>,
    quant: Option<(Vec<f32>, Vec<i64>, i32)>,
}

fn t(name: &'static str, ty: fb::TensorType, shape: &[i32]) -> T {
    T {
        name,
        ty,
        shape: shape.to_vec(),
        data: None,
        quant: None,
    }
}

impl T {
    fn data(mut self, d: Vec<u8>) -> Self {
        self.data = Some(d);
        self
    }
    fn quant(mut self, scale: &[f32], zero_point: &[i64], dim: i32) -> Self {
        self.quant = Some((scale.to_vec(), zero_point.to_vec(), dim));
        self
    }
}

#[derive(Clone, Copy)]
enum Opts {
    None,
    Conv {
        act: fb::ActivationFunctionType,
        dilation: i32,
    },
    Depthwise {
        dm: i32,
        dilation: i32,
    },
    Fc {
        format: fb::FullyConnectedOptionsWeightsFormat,
    },
    Softmax(f32),
}

struct O {
    /// (deprecated_builtin_code, builtin_code, custom_code)
    code: (i8, fb::BuiltinOperator, Option<&'static str>),
    inputs: Vec<i32>,
    outputs: Vec<i32>,
    opts: Opts,
}

fn builtin(code: fb::BuiltinOperator, inputs: &[i32], outputs: &[i32], opts: Opts) -> O {
    // What current converters write: both fields, the deprecated one saturated at 127.
    let dep = code.0.min(127) as i8;
    O {
        code: (dep, code, None),
        inputs: inputs.to_vec(),
        outputs: outputs.to_vec(),
        opts,
    }
}

struct M {
    version: u32,
    subgraphs: usize,
    tensors: Vec<T>,
    ops: Vec<O>,
    inputs: Vec<i32>,
    outputs: Vec<i32>,
    /// Buffers stored outside the flatbuffer: (buffer index it replaces, bytes).
    external: Option<(usize, Vec<u8>)>,
}

fn model(tensors: Vec<T>, ops: Vec<O>, inputs: &[i32], outputs: &[i32]) -> M {
    M {
        version: 3,
        subgraphs: 1,
        tensors,
        ops,
        inputs: inputs.to_vec(),
        outputs: outputs.to_vec(),
        external: None,
    }
}

impl M {
    fn build(&self) -> Vec<u8> {
        match &self.external {
            None => self.build_with(0),
            Some((_, bytes)) => {
                // The offset's value does not change the flatbuffer's layout, so a first pass
                // tells where the appended data will start.
                let len = self.build_with(2).len();
                let mut out = self.build_with(len as u64);
                assert_eq!(out.len(), len);
                out.extend_from_slice(bytes);
                out
            }
        }
    }

    fn build_with(&self, external_offset: u64) -> Vec<u8> {
        let mut b = FlatBufferBuilder::new();
        // Buffer 0 is the empty sentinel; tensor k with data gets buffer k + 1.
        let mut buffers = vec![fb::Buffer::create(&mut b, &fb::BufferArgs::default())];
        let mut tensor_buffer = Vec::new();
        for tensor in &self.tensors {
            match &tensor.data {
                Some(d) => {
                    let index = buffers.len();
                    let args = match &self.external {
                        Some((i, bytes)) if *i == index => fb::BufferArgs {
                            data: None,
                            offset: external_offset,
                            size_: bytes.len() as u64,
                        },
                        _ => fb::BufferArgs {
                            data: Some(b.create_vector(d)),
                            ..Default::default()
                        },
                    };
                    buffers.push(fb::Buffer::create(&mut b, &args));
                    tensor_buffer.push(index as u32);
                }
                None => tensor_buffer.push(0),
            }
        }
        let mut tensors = Vec::new();
        for (tensor, &buffer) in self.tensors.iter().zip(&tensor_buffer) {
            let quantization = tensor.quant.as_ref().map(|(s, z, d)| {
                let scale = Some(b.create_vector(s));
                let zero_point = if z.is_empty() {
                    None
                } else {
                    Some(b.create_vector(z))
                };
                fb::QuantizationParameters::create(
                    &mut b,
                    &fb::QuantizationParametersArgs {
                        scale,
                        zero_point,
                        quantized_dimension: *d,
                        ..Default::default()
                    },
                )
            });
            let args = fb::TensorArgs {
                shape: Some(b.create_vector(&tensor.shape)),
                type_: tensor.ty,
                buffer,
                name: Some(b.create_string(tensor.name)),
                quantization,
                ..Default::default()
            };
            tensors.push(fb::Tensor::create(&mut b, &args));
        }
        let mut codes = Vec::new();
        let mut ops = Vec::new();
        for (i, op) in self.ops.iter().enumerate() {
            let (dep, code, custom) = op.code;
            let custom_code = custom.map(|c| b.create_string(c));
            let args = fb::OperatorCodeArgs {
                deprecated_builtin_code: dep,
                custom_code,
                version: 1,
                builtin_code: code,
            };
            codes.push(fb::OperatorCode::create(&mut b, &args));
            let (ty, options) = match op.opts {
                Opts::None => (fb::BuiltinOptions::NONE, None),
                Opts::Conv { act, dilation } => {
                    let args = fb::Conv2DOptionsArgs {
                        padding: fb::Padding::VALID,
                        stride_w: 1,
                        stride_h: 1,
                        fused_activation_function: act,
                        dilation_w_factor: dilation,
                        dilation_h_factor: dilation,
                        ..Default::default()
                    };
                    (
                        fb::BuiltinOptions::Conv2DOptions,
                        Some(fb::Conv2DOptions::create(&mut b, &args).as_union_value()),
                    )
                }
                Opts::Depthwise { dm, dilation } => {
                    let args = fb::DepthwiseConv2DOptionsArgs {
                        padding: fb::Padding::SAME,
                        stride_w: 1,
                        stride_h: 1,
                        depth_multiplier: dm,
                        fused_activation_function: fb::ActivationFunctionType::RELU6,
                        dilation_w_factor: dilation,
                        dilation_h_factor: dilation,
                    };
                    let o = fb::DepthwiseConv2DOptions::create(&mut b, &args).as_union_value();
                    (fb::BuiltinOptions::DepthwiseConv2DOptions, Some(o))
                }
                Opts::Fc { format } => {
                    let args = fb::FullyConnectedOptionsArgs {
                        weights_format: format,
                        ..Default::default()
                    };
                    let o = fb::FullyConnectedOptions::create(&mut b, &args).as_union_value();
                    (fb::BuiltinOptions::FullyConnectedOptions, Some(o))
                }
                Opts::Softmax(beta) => {
                    let o = fb::SoftmaxOptions::create(&mut b, &fb::SoftmaxOptionsArgs { beta })
                        .as_union_value();
                    (fb::BuiltinOptions::SoftmaxOptions, Some(o))
                }
            };
            let args = fb::OperatorArgs {
                opcode_index: i as u32,
                inputs: Some(b.create_vector(&op.inputs)),
                outputs: Some(b.create_vector(&op.outputs)),
                builtin_options_type: ty,
                builtin_options: options,
                ..Default::default()
            };
            ops.push(fb::Operator::create(&mut b, &args));
        }
        let tensors = b.create_vector(&tensors);
        let operators = b.create_vector(&ops);
        let inputs = b.create_vector(&self.inputs);
        let outputs = b.create_vector(&self.outputs);
        let subgraph = fb::SubGraph::create(
            &mut b,
            &fb::SubGraphArgs {
                tensors: Some(tensors),
                inputs: Some(inputs),
                outputs: Some(outputs),
                operators: Some(operators),
                name: None,
            },
        );
        let subgraphs = b.create_vector(&vec![subgraph; self.subgraphs]);
        let operator_codes = b.create_vector(&codes);
        let buffers = b.create_vector(&buffers);
        let root = fb::Model::create(
            &mut b,
            &fb::ModelArgs {
                version: self.version,
                operator_codes: Some(operator_codes),
                subgraphs: Some(subgraphs),
                buffers: Some(buffers),
                ..Default::default()
            },
        );
        fb::finish_model_buffer(&mut b, root);
        b.finished_data().to_vec()
    }
}

use fb::BuiltinOperator as B;
use fb::TensorType as Ty;

/// input [1,4] float → FC (weights [3,4], no bias) → [1,3] → SOFTMAX → [1,3].
fn fc_softmax() -> M {
    model(
        vec![
            t("x", Ty::FLOAT32, &[1, 4]),
            t("w", Ty::FLOAT32, &[3, 4]).data(vec![0; 48]),
            t("h", Ty::FLOAT32, &[1, 3]),
            t("y", Ty::FLOAT32, &[1, 3]),
        ],
        vec![
            builtin(
                B::FULLY_CONNECTED,
                &[0, 1, -1],
                &[2],
                Opts::Fc {
                    format: fb::FullyConnectedOptionsWeightsFormat::DEFAULT,
                },
            ),
            builtin(B::SOFTMAX, &[2], &[3], Opts::Softmax(0.5)),
        ],
        &[0],
        &[3],
    )
}

/// int8 input [1,5,5,2] → DEPTHWISE_CONV_2D (filter [1,3,3,4], SAME) → [1,5,5,4].
fn depthwise(dm: i32, dilation: i32) -> M {
    model(
        vec![
            t("x", Ty::INT8, &[1, 5, 5, 2]).quant(&[0.5], &[-1], 0),
            t("f", Ty::INT8, &[1, 3, 3, 4]).data(vec![1; 36]).quant(
                &[0.1, 0.2, 0.3, 0.4],
                &[0, 0, 0, 0],
                3,
            ),
            // person_detect's quirk: a 1-D bias quantized "along dimension 3".
            t("b", Ty::INT32, &[4]).data(vec![0; 16]).quant(
                &[0.05, 0.1, 0.15, 0.2],
                &[0, 0, 0, 0],
                3,
            ),
            t("y", Ty::INT8, &[1, 5, 5, 4]).quant(&[0.25], &[3], 0),
        ],
        vec![builtin(
            B::DEPTHWISE_CONV_2D,
            &[0, 1, 2],
            &[3],
            Opts::Depthwise { dm, dilation },
        )],
        &[0],
        &[3],
    )
}

/// float input [1,4,4,1] → CONV_2D (filter [2,3,3,1], VALID) → [1,2,2,2].
fn conv(act: fb::ActivationFunctionType, dilation: i32) -> M {
    model(
        vec![
            t("x", Ty::FLOAT32, &[1, 4, 4, 1]),
            t("conv1/weights", Ty::FLOAT32, &[2, 3, 3, 1]).data(vec![0; 72]),
            t("y", Ty::FLOAT32, &[1, 2, 2, 2]),
        ],
        vec![builtin(
            B::CONV_2D,
            &[0, 1, -1],
            &[2],
            Opts::Conv { act, dilation },
        )],
        &[0],
        &[2],
    )
}

fn import_ok(m: &M) -> Graph {
    import(&m.build()).unwrap_or_else(|e| panic!("import failed: {e}"))
}

fn import_err(m: &M) -> String {
    match import(&m.build()) {
        Ok(_) => panic!("import succeeded"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn short_and_foreign_bytes_are_errors() {
    for bytes in [&b""[..], b"TFL3", b"\x10\0\0\0ONNX\0\0\0\0\0\0\0\0"] {
        let e = import(bytes).unwrap_err();
        assert!(matches!(e, TfliteError::NotTflite(_)), "{e}");
        assert!(
            e.to_string().starts_with("not a TFLite flatbuffer: "),
            "{e}"
        );
    }
}

#[test]
fn fc_softmax_imports_with_omitted_bias() {
    let g = import_ok(&fc_softmax());
    assert_eq!(g.nodes.len(), 2);
    assert_eq!(g.nodes[0].inputs, vec![Some(0), Some(1), None]);
    assert_eq!(
        g.nodes[0].op,
        Op::FullyConnected(FullyConnectedAttrs {
            activation: Activation::None,
            keep_num_dims: false
        })
    );
    assert_eq!(g.nodes[1].op, Op::Softmax(SoftmaxAttrs { beta: 0.5 }));
    assert_eq!(g.tensors[1].data.as_deref(), Some(&[0u8; 48][..]));
    assert_eq!((g.inputs.clone(), g.outputs.clone()), (vec![0], vec![3]));
}

#[test]
fn old_files_set_only_the_deprecated_opcode_and_new_ones_only_the_new_one() {
    let mut m = fc_softmax();
    m.ops[0].code = (9, B::ADD, None); // builtin_code left at its default (0 = ADD)
    m.ops[1].code = (0, B::SOFTMAX, None);
    let g = import_ok(&m);
    assert_eq!(g.nodes[0].op.name(), "FULLY_CONNECTED");
    assert_eq!(g.nodes[1].op.name(), "SOFTMAX");
}

#[test]
fn depthwise_multiplier_is_derived_from_the_filter() {
    for stored in [0, 1, 2, 7] {
        let g = import_ok(&depthwise(stored, 1));
        match &g.nodes[0].op {
            Op::DepthwiseConv2d(a) => assert_eq!(a.depth_multiplier, 2, "stored {stored}"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn dilation_zero_means_one() {
    let g = import_ok(&depthwise(2, 0));
    let Op::DepthwiseConv2d(a) = &g.nodes[0].op else {
        panic!()
    };
    assert_eq!(a.dilation, [1, 1]);
    assert_eq!(a.activation, Activation::Relu6);
    assert_eq!(a.padding, Padding::Same);
    let g = import_ok(&conv(fb::ActivationFunctionType::RELU_N1_TO_1, 0));
    assert_eq!(
        g.nodes[0].op,
        Op::Conv2d(Conv2dAttrs {
            padding: Padding::Valid,
            stride: [1, 1],
            dilation: [1, 1],
            activation: Activation::ReluN1To1
        })
    );
    assert!(import_err(&conv(fb::ActivationFunctionType::NONE, -2)).contains("dilation -2x-2"));
}

#[test]
fn per_channel_quantization_and_the_1d_axis_quirk() {
    let g = import_ok(&depthwise(1, 1));
    let f = g.tensors[1].quant.as_ref().unwrap();
    assert_eq!((f.scale.len(), f.axis), (4, 3));
    let b = g.tensors[2].quant.as_ref().unwrap();
    assert_eq!(
        (b.scale.len(), b.axis),
        (4, 0),
        "1-D bias with quantized_dimension 3 is axis 0"
    );
    let x = g.tensors[0].quant.as_ref().unwrap();
    assert_eq!(x, &Quantization::per_tensor(0.5, -1));

    // Per-tensor: whatever the stored dimension, the axis is 0.
    let mut m = depthwise(1, 1);
    m.tensors[0].quant = Some((vec![0.5], vec![-1], 7));
    assert_eq!(import_ok(&m).tensors[0].quant.as_ref().unwrap().axis, 0);

    // Zero points left out: symmetric.
    let mut m = depthwise(1, 1);
    m.tensors[1].quant = Some((vec![0.1; 4], vec![], 3));
    assert_eq!(
        import_ok(&m).tensors[1].quant.as_ref().unwrap().zero_point,
        vec![0; 4]
    );

    // Scales that match no dimension are an error naming the tensor.
    let mut m = depthwise(1, 1);
    m.tensors[1].quant = Some((vec![0.1; 3], vec![0; 3], 3));
    let e = import_err(&m);
    assert!(
        e.starts_with("tensor #1 (f): per-channel quantization has 3 scales"),
        "{e}"
    );
    let mut m = depthwise(1, 1);
    m.tensors[1].quant = Some((vec![0.1; 4], vec![0; 2], 3));
    assert!(import_err(&m).contains("4 scales but 2 zero points"));
}

#[test]
fn external_buffers_are_sliced_from_the_file() {
    let mut m = conv(fb::ActivationFunctionType::RELU, 1);
    let weights: Vec<u8> = (0..72).collect();
    m.external = Some((1, weights.clone()));
    let g = import_ok(&m);
    assert_eq!(g.tensors[1].data.as_deref(), Some(&weights[..]));

    // The same file cut short: the external data now lies outside it.
    let bytes = m.build();
    let e = import(&bytes[..bytes.len() - 1]).unwrap_err().to_string();
    assert!(
        e.starts_with("tensor #1 (conv1/weights): buffer 1: external data at offset"),
        "{e}"
    );
}

#[test]
fn buffer_length_must_match_the_shape() {
    let mut m = conv(fb::ActivationFunctionType::NONE, 1);
    m.tensors[1].data = Some(vec![0; 100]);
    assert_eq!(
        import_err(&m),
        "tensor #1 (conv1/weights): buffer 1 holds 100 bytes, shape [2, 3, 3, 1] float32 needs 72"
    );
}

#[test]
fn errors_name_what_and_where() {
    let e = import_err(&conv(fb::ActivationFunctionType::TANH, 1));
    assert_eq!(
        e,
        "operator #0 (CONV_2D): fused activation TANH is not supported (supported: NONE, RELU, RELU6, RELU_N1_TO_1)"
    );

    let mut m = fc_softmax();
    m.ops[0].opts = Opts::Fc {
        format: fb::FullyConnectedOptionsWeightsFormat::SHUFFLED4x16INT8,
    };
    assert!(import_err(&m)
        .starts_with("operator #0 (FULLY_CONNECTED): weights format SHUFFLED4x16INT8"));

    let mut m = fc_softmax();
    m.ops[1] = builtin(B::UNIDIRECTIONAL_SEQUENCE_LSTM, &[2], &[3], Opts::None);
    let e = import(&m.build()).unwrap_err();
    assert!(
        matches!(&e, TfliteError::UnsupportedOperator { index: 1, op } if op == "UNIDIRECTIONAL_SEQUENCE_LSTM")
    );
    assert!(e.to_string().starts_with(
        "operator #1 (UNIDIRECTIONAL_SEQUENCE_LSTM): not supported by mote (supported: CONV_2D, "
    ));

    let mut m = fc_softmax();
    m.ops[1].code = (32, B::CUSTOM, Some("SignalWindow"));
    assert!(import_err(&m).starts_with("operator #1 (CUSTOM:SignalWindow): not supported by mote"));

    // An opcode beyond 127 lives only in the new field.
    let mut m = fc_softmax();
    m.ops[1].code = (127, B::GELU, None);
    assert!(import_err(&m).starts_with("operator #1 (GELU): not supported"));

    let mut m = fc_softmax();
    m.ops[1].opts = Opts::None;
    assert_eq!(
        import_err(&m),
        "operator #1 (SOFTMAX): has no SoftmaxOptions"
    );

    let mut m = fc_softmax();
    m.ops[1].inputs = vec![9];
    assert_eq!(
        import_err(&m),
        "operator #1 (SOFTMAX): input 0 refers to tensor 9, which does not exist (4 tensors)"
    );

    let mut m = fc_softmax();
    m.tensors[2].ty = Ty::FLOAT16;
    assert_eq!(
        import_err(&m),
        "tensor #2 (h): dtype FLOAT16 is not supported (supported: INT8, UINT8, INT16, INT32, INT64, FLOAT32)"
    );

    let mut m = fc_softmax();
    m.tensors[2].shape = vec![1, -3];
    assert!(import_err(&m).starts_with("tensor #2 (h): shape [1, -3] has a negative dimension"));
    m.tensors[2].shape = vec![65536, 65536];
    assert!(import_err(&m).contains("has more than 2147483647 elements"));

    let mut m = fc_softmax();
    m.subgraphs = 2;
    assert_eq!(
        import_err(&m),
        "model has 2 subgraphs; mote imports models with exactly one"
    );

    let mut m = fc_softmax();
    m.version = 2;
    assert!(import_err(&m).starts_with("TFLite schema version 2 is not supported"));

    let mut m = fc_softmax();
    m.outputs = vec![4];
    assert!(import_err(&m).starts_with("model: subgraph output refers to tensor 4"));

    // Inconsistent shapes come back from the IR check, with the file's indices.
    let mut m = fc_softmax();
    m.tensors[3].shape = vec![1, 4];
    let e = import(&m.build()).unwrap_err();
    assert!(matches!(e, TfliteError::Check(_)), "{e}");
    assert!(e.to_string().starts_with("operator #1 (SOFTMAX): "), "{e}");
}
