//! Shared by the evaluator, quantizer and TFLM tests: .npy files, a deterministic random
//! source, and running a graph in mote's runtime.

#![allow(dead_code)] // Each test binary uses a different part.

use std::path::Path;

use mote_format::{AlignedBytes, Model};
use mote_ir::Graph;
use mote_runtime::Interpreter;

pub fn read_f32(path: &Path) -> Vec<f32> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    npyz::NpyFile::new(&bytes[..])
        .and_then(|f| f.into_vec::<f32>())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn read_i8(path: &Path) -> Vec<i8> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    npyz::NpyFile::new(&bytes[..])
        .and_then(|f| f.into_vec::<i8>())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

pub fn write_i8(path: &Path, shape: &[usize], data: &[i8]) {
    use npyz::WriterBuilder;
    let mut out = Vec::new();
    let shape: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&shape)
        .writer(&mut out)
        .begin_nd()
        .unwrap();
    w.extend(data.iter().copied()).unwrap();
    w.finish().unwrap();
    std::fs::write(path, out).unwrap();
}

pub fn write_f32(path: &Path, shape: &[usize], data: &[f32]) {
    use npyz::WriterBuilder;
    let mut out = Vec::new();
    let shape: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(&shape)
        .writer(&mut out)
        .begin_nd()
        .unwrap();
    w.extend(data.iter().copied()).unwrap();
    w.finish().unwrap();
    std::fs::write(path, out).unwrap();
}

/// SplitMix64: a few lines, deterministic on every platform, plenty for test inputs.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        let unit = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        lo + (hi - lo) * unit
    }

    pub fn int8(&mut self) -> i8 {
        (self.next_u64() >> 56) as u8 as i8
    }
}

/// A graph compiled for mote's runtime.
pub struct Compiled {
    bytes: AlignedBytes,
    arena: usize,
}

impl Compiled {
    pub fn new(graph: &Graph) -> Self {
        let compiled = mote_compiler::compile(graph).expect("compile");
        Compiled {
            arena: compiled.report.arena_bytes,
            bytes: AlignedBytes::new(&compiled.bytes),
        }
    }

    /// Runs once on the raw bytes of input 0; returns the raw bytes of output 0.
    pub fn run(&self, input: &[u8]) -> Vec<u8> {
        let model = Model::from_bytes(self.bytes.as_slice()).expect("artefact");
        let mut arena = AlignedBytes::zeroed(self.arena.max(model.arena_bytes()));
        let mut interpreter = Interpreter::new(&model, arena.as_mut_slice()).expect("interpreter");
        interpreter
            .input_bytes_mut(0)
            .unwrap()
            .copy_from_slice(input);
        interpreter.invoke().expect("invoke");
        interpreter.output_bytes(0).unwrap().to_vec()
    }
}

pub fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub fn bytes_f32(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// The per-tensor (scale, zero point) of a graph tensor.
pub fn params(graph: &Graph, t: usize) -> (f32, i64) {
    let q = graph.tensors[t].quant.as_ref().expect("quantized tensor");
    (q.scale[0], q.zero_point[0])
}

/// QUANTIZE as TFLite does it: round half away from zero, add the zero point, saturate.
pub fn quantize(values: &[f32], (scale, zero_point): (f32, i64)) -> Vec<i8> {
    values
        .iter()
        .map(|&v| ((v / scale).round() as i64 + zero_point).clamp(-128, 127) as i8)
        .collect()
}

pub fn dequantize(values: &[i8], (scale, zero_point): (f32, i64)) -> Vec<f32> {
    values
        .iter()
        .map(|&q| scale * (q as i64 - zero_point) as f32)
        .collect()
}

/// A small float graph with what the reference models lack: a dilated convolution without
/// bias and with RELU6, a depthwise convolution with depth multiplier 2 and stride 2, MAX_POOL,
/// an ADD of a broadcast constant, AVERAGE_POOL, a RESHAPE without shape operand, a
/// FULLY_CONNECTED without bias, SOFTMAX. Weights are random in [-0.5, 0.5).
pub fn synthetic_graph(seed: u64) -> Graph {
    use mote_ir::{
        Activation, AddAttrs, Conv2dAttrs, DType, DepthwiseConv2dAttrs, FullyConnectedAttrs, Node,
        Op, Padding, Pool2dAttrs, SoftmaxAttrs, Tensor,
    };
    let mut rng = Rng(seed);
    let mut tensors = Vec::new();
    let mut add = |name: &str, shape: &[usize], constant: bool, rng: &mut Rng| {
        let n: usize = shape.iter().product();
        tensors.push(Tensor {
            name: name.into(),
            dtype: DType::Float32,
            shape: shape.to_vec(),
            quant: None,
            data: constant
                .then(|| f32_bytes(&(0..n).map(|_| rng.uniform(-0.5, 0.5)).collect::<Vec<_>>())),
        });
        tensors.len() - 1
    };
    let x = add("x", &[1, 12, 12, 3], false, &mut rng);
    let w1 = add("conv/filter", &[8, 3, 3, 3], true, &mut rng);
    let a1 = add("conv", &[1, 12, 12, 8], false, &mut rng);
    let w2 = add("dw/filter", &[1, 3, 3, 16], true, &mut rng);
    let b2 = add("dw/bias", &[16], true, &mut rng);
    let a2 = add("dw", &[1, 5, 5, 16], false, &mut rng);
    let a3 = add("maxpool", &[1, 3, 3, 16], false, &mut rng);
    let c4 = add("offset", &[16], true, &mut rng);
    let a4 = add("add", &[1, 3, 3, 16], false, &mut rng);
    let a5 = add("avgpool", &[1, 1, 1, 16], false, &mut rng);
    let a6 = add("flat", &[1, 16], false, &mut rng);
    let w7 = add("fc/filter", &[4, 16], true, &mut rng);
    let a7 = add("logits", &[1, 4], false, &mut rng);
    let a8 = add("probabilities", &[1, 4], false, &mut rng);
    let node = |op, inputs: Vec<Option<usize>>, out| Node {
        op,
        inputs,
        outputs: vec![out],
    };
    let nodes = vec![
        node(
            Op::Conv2d(Conv2dAttrs {
                padding: Padding::Same,
                stride: [1, 1],
                dilation: [2, 2],
                activation: Activation::Relu6,
            }),
            vec![Some(x), Some(w1), None],
            a1,
        ),
        node(
            Op::DepthwiseConv2d(DepthwiseConv2dAttrs {
                padding: Padding::Valid,
                stride: [2, 2],
                dilation: [1, 1],
                depth_multiplier: 2,
                activation: Activation::Relu,
            }),
            vec![Some(a1), Some(w2), Some(b2)],
            a2,
        ),
        node(
            Op::MaxPool2d(Pool2dAttrs {
                padding: Padding::Same,
                stride: [2, 2],
                filter: [2, 2],
                activation: Activation::None,
            }),
            vec![Some(a2)],
            a3,
        ),
        node(
            Op::Add(AddAttrs {
                activation: Activation::None,
            }),
            vec![Some(a3), Some(c4)],
            a4,
        ),
        node(
            Op::AveragePool2d(Pool2dAttrs {
                padding: Padding::Valid,
                stride: [1, 1],
                filter: [3, 3],
                activation: Activation::None,
            }),
            vec![Some(a4)],
            a5,
        ),
        node(Op::Reshape, vec![Some(a5)], a6),
        node(
            Op::FullyConnected(FullyConnectedAttrs {
                activation: Activation::None,
                keep_num_dims: false,
            }),
            vec![Some(a6), Some(w7)],
            a7,
        ),
        node(Op::Softmax(SoftmaxAttrs { beta: 1.0 }), vec![Some(a7)], a8),
    ];
    let graph = Graph {
        tensors,
        nodes,
        inputs: vec![x],
        outputs: vec![a8],
    };
    graph.check().expect("the synthetic graph is consistent");
    graph
}
