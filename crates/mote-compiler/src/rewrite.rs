//! Graph rewrites that lowering applies first: each replaces an operator by one that computes
//! exactly the same bytes more cheaply on the device.
//!
//! - A DEPTHWISE_CONV_2D whose input has one channel (micro_speech's first layer: a 1-channel
//!   spectrogram into 8 channels) is an ordinary CONV_2D with filter `[out_c, kh, kw, 1]`:
//!   every output channel sums the same input taps times its own weights. For int8 the
//!   accumulators are integers and the per-channel requantization is the same, so the result
//!   is bit-identical; the convolution kernel then reads its filter straight from flash
//!   instead of reordering it into scratch on every inference, the depthwise kernel is not
//!   needed at all, and the arena does not hold the reordered copy. Float graphs keep their
//!   operator (a different kernel could round differently).

use mote_ir::{Conv2dAttrs, DType, Graph, Op, Quantization, Tensor};

/// `graph` with every rewrite applied (a copy; `graph` itself is left as it was). The
/// operators keep their positions, so operator numbers in messages and reports still match
/// the source model.
pub fn rewrite(graph: &Graph) -> Graph {
    let mut out = graph.clone();
    for n in 0..out.nodes.len() {
        single_channel_depthwise_as_conv(&mut out, n);
    }
    out
}

/// Rewrites node `n` when it is an int8 DEPTHWISE_CONV_2D over a one-channel input.
fn single_channel_depthwise_as_conv(graph: &mut Graph, n: usize) {
    let node = &graph.nodes[n];
    let Op::DepthwiseConv2d(a) = node.op else {
        return;
    };
    let (Some(Some(x)), Some(Some(f))) = (node.inputs.first(), node.inputs.get(1)) else {
        return;
    };
    let (x, f) = (&graph.tensors[*x], &graph.tensors[*f]);
    let [_, kh, kw, out_c] = match f.shape[..] {
        [a, b, c, d] => [a, b, c, d],
        _ => return,
    };
    let one_channel = x.shape.len() == 4 && x.shape[3] == 1;
    if !one_channel
        || x.dtype != DType::Int8
        || f.dtype != DType::Int8
        || a.depth_multiplier != out_c
        || f.shape[0] != 1
    {
        return;
    }
    let Some(data) = f.data.as_ref().filter(|d| d.len() == kh * kw * out_c) else {
        return;
    };
    let reordered = depthwise_filter_as_conv(data, out_c);
    // Per-channel scales follow the output channel, now on axis 0.
    let quant = f.quant.as_ref().map(|q| Quantization {
        scale: q.scale.clone(),
        zero_point: q.zero_point.clone(),
        axis: if q.is_per_tensor() { q.axis } else { 0 },
    });
    let filter = Tensor {
        name: format!("{} (as CONV_2D filter)", f.name),
        dtype: DType::Int8,
        shape: vec![out_c, kh, kw, 1],
        quant,
        data: Some(reordered),
    };
    graph.tensors.push(filter);
    let filter_id = graph.tensors.len() - 1;
    let node = &mut graph.nodes[n];
    node.inputs[1] = Some(filter_id);
    node.op = Op::Conv2d(Conv2dAttrs {
        padding: a.padding,
        stride: a.stride,
        dilation: a.dilation,
        activation: a.activation,
    });
}

/// A depthwise filter `[1, kh, kw, out_c]` as a convolution filter `[out_c, kh, kw, 1]`: tap
/// `t` of channel `c` moves from `t * out_c + c` to `c * taps + t`.
fn depthwise_filter_as_conv<T: Copy + Default>(data: &[T], out_c: usize) -> Vec<T> {
    let taps = data.len().checked_div(out_c).unwrap_or(0);
    let mut reordered = vec![T::default(); data.len()];
    for (t, row) in data.chunks_exact(out_c.max(1)).enumerate() {
        for (c, &v) in row.iter().enumerate() {
            reordered[c * taps + t] = v;
        }
    }
    reordered
}

#[cfg(test)]
mod tests {
    use super::*;
    use mote_format::params::{Conv2dParams, DepthwiseConv2dParams};
    use mote_ir::{Activation, DepthwiseConv2dAttrs, Node, Padding};
    use proptest::prelude::*;

    proptest! {
        /// The premise of the rewrite: for a one-channel input, the reference depthwise kernel
        /// and the reference convolution kernel with the reordered filter give the same bytes,
        /// whatever the shapes, strides, dilations, padding, zero points and requantization.
        #[test]
        fn one_channel_depthwise_equals_the_convolution(
            (in_h, in_w, kh, kw) in (1usize..9, 1usize..9, 1usize..5, 1usize..5),
            out_c in 1usize..7,
            (stride_h, stride_w, dil_h, dil_w) in (1i32..3, 1i32..3, 1i32..3, 1i32..3),
            (pad_top, pad_left) in (0i32..3, 0i32..3),
            (in_zp, out_zp) in (-128i32..128, -128i32..128),
            seed in any::<u64>(),
        ) {
            let mut state = seed;
            let mut next = move || {
                state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                z ^ (z >> 31)
            };
            let out_h = (in_h as i32 + 2 * pad_top - dil_h * (kh as i32 - 1) - 1) / stride_h + 1;
            let out_w = (in_w as i32 + 2 * pad_left - dil_w * (kw as i32 - 1) - 1) / stride_w + 1;
            prop_assume!(out_h >= 1 && out_w >= 1);
            let (out_h, out_w) = (out_h as usize, out_w as usize);
            let input: Vec<i8> = (0..in_h * in_w).map(|_| next() as i8).collect();
            let filter: Vec<i8> = (0..kh * kw * out_c).map(|_| next() as i8).collect();
            let bias: Vec<i32> = (0..out_c).map(|_| (next() % 20_001) as i32 - 10_000).collect();
            let multiplier: Vec<i32> =
                (0..out_c).map(|_| (1 << 30) + (next() % (1 << 30)) as i32).collect();
            let shift: Vec<i32> = (0..out_c).map(|_| -((next() % 10) as i32)).collect();
            let (act_min, act_max) = (-128, 127);
            let dw = DepthwiseConv2dParams {
                stride_h, stride_w, dilation_h: dil_h, dilation_w: dil_w, pad_top, pad_left,
                depth_multiplier: out_c as i32, input_zero_point: in_zp, output_zero_point: out_zp,
                act_min, act_max, float_act_min: f32::MIN, float_act_max: f32::MAX,
            };
            let conv = Conv2dParams {
                stride_h, stride_w, dilation_h: dil_h, dilation_w: dil_w, pad_top, pad_left,
                input_zero_point: in_zp, output_zero_point: out_zp,
                act_min, act_max, float_act_min: f32::MIN, float_act_max: f32::MAX,
            };
            let mut want = vec![0i8; out_h * out_w * out_c];
            mote_kernels::depthwise_conv2d::depthwise_conv2d_int8(
                &dw, &input, [1, in_h, in_w, 1], &filter, [1, kh, kw, out_c], Some(&bias),
                &multiplier, &shift, &mut want, [1, out_h, out_w, out_c],
            );
            let mut got = vec![0i8; want.len()];
            mote_kernels::conv2d::conv2d_int8(
                &conv, &input, [1, in_h, in_w, 1], &depthwise_filter_as_conv(&filter, out_c),
                [out_c, kh, kw, 1], Some(&bias), &multiplier, &shift, &mut got,
                [1, out_h, out_w, out_c],
            );
            prop_assert_eq!(got, want);
        }
    }

    fn tensor(name: &str, dtype: DType, shape: &[usize], data: Option<Vec<u8>>) -> Tensor {
        Tensor {
            name: name.into(),
            dtype,
            shape: shape.to_vec(),
            quant: Some(Quantization::per_tensor(0.5, 0)),
            data,
        }
    }

    fn depthwise_graph(in_c: usize, dtype: DType) -> Graph {
        let filter_data: Vec<u8> = (0..2 * 2 * 3 * in_c).map(|i| i as u8).collect();
        let mut filter = tensor("filter", dtype, &[1, 2, 2, 3 * in_c], Some(filter_data));
        filter.quant = Some(Quantization {
            scale: (0..3 * in_c).map(|c| 0.01 * (c + 1) as f32).collect(),
            zero_point: vec![0; 3 * in_c],
            axis: 3,
        });
        Graph {
            tensors: vec![
                tensor("x", dtype, &[1, 4, 4, in_c], None),
                filter,
                tensor("y", dtype, &[1, 4, 4, 3 * in_c], None),
            ],
            nodes: vec![Node {
                op: Op::DepthwiseConv2d(DepthwiseConv2dAttrs {
                    padding: Padding::Same,
                    stride: [1, 1],
                    dilation: [1, 1],
                    depth_multiplier: 3,
                    activation: Activation::Relu,
                }),
                inputs: vec![Some(0), Some(1), None],
                outputs: vec![2],
            }],
            inputs: vec![0],
            outputs: vec![2],
        }
    }

    #[test]
    fn an_int8_one_channel_depthwise_becomes_a_convolution() {
        let g = rewrite(&depthwise_graph(1, DType::Int8));
        let Op::Conv2d(a) = g.nodes[0].op else {
            panic!("still {:?}", g.nodes[0].op);
        };
        assert_eq!(a.activation, Activation::Relu);
        let f = &g.tensors[g.nodes[0].inputs[1].unwrap()];
        assert_eq!(f.shape, [3, 2, 2, 1]);
        let q = f.quant.as_ref().unwrap();
        assert_eq!((q.axis, q.scale.len()), (0, 3));
        // Channel 1's taps were at 1, 4, 7, 10.
        assert_eq!(&f.data.as_ref().unwrap()[4..8], &[1, 4, 7, 10]);
        g.check().unwrap();
    }

    #[test]
    fn other_depthwise_convolutions_stay() {
        for g in [
            depthwise_graph(2, DType::Int8),
            depthwise_graph(1, DType::Float32),
        ] {
            assert_eq!(rewrite(&g), g);
        }
    }
}
