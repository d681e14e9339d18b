//! The `float32` feature: with it (the default) float32 operators run; without it
//! (`cargo test -p mote-runtime --no-default-features`) `Interpreter::new` refuses them with a
//! message that says so, and int8 operators still run.

use mote_format::params::{DequantizeParams, QuantizeParams};
use mote_format::{AlignedBytes, DType, Location, ModelBuilder, OpCode, TensorRecord};
use mote_runtime::Interpreter;

fn tensor(dtype: DType, offset: usize) -> TensorRecord {
    TensorRecord {
        dtype,
        shape: vec![1, 4],
        location: Location::Arena,
        offset,
        scale: 0.0,
        zero_point: 0,
    }
}

/// QUANTIZE float32 → int8, then DEQUANTIZE back.
fn float_model() -> Vec<u8> {
    let mut b = ModelBuilder::new();
    let x = b.add_tensor(tensor(DType::Float32, 0));
    let q = b.add_tensor(tensor(DType::Int8, 16));
    let y = b.add_tensor(tensor(DType::Float32, 32));
    let quantize = QuantizeParams {
        scale: 0.5,
        zero_point: -3,
        ..Default::default()
    };
    b.add_op(OpCode::Quantize, vec![Some(x)], vec![q], &quantize);
    let dequantize = DequantizeParams {
        scale: 0.5,
        zero_point: -3,
    };
    b.add_op(OpCode::Dequantize, vec![Some(q)], vec![y], &dequantize);
    (b.inputs, b.outputs, b.arena_bytes) = (vec![x], vec![y], 48);
    b.finish().unwrap()
}

/// QUANTIZE int8 → int8 (a requantization).
fn int8_model() -> Vec<u8> {
    let mut b = ModelBuilder::new();
    let x = b.add_tensor(tensor(DType::Int8, 0));
    let y = b.add_tensor(tensor(DType::Int8, 16));
    let requantize = QuantizeParams {
        zero_point: 1,
        input_zero_point: -3,
        multiplier: 1 << 30,
        shift: 1,
        ..Default::default()
    };
    b.add_op(OpCode::Quantize, vec![Some(x)], vec![y], &requantize);
    (b.inputs, b.outputs, b.arena_bytes) = (vec![x], vec![y], 32);
    b.finish().unwrap()
}

#[test]
fn int8_models_run_either_way() {
    let bytes = AlignedBytes::new(&int8_model());
    let mut arena = AlignedBytes::zeroed(32);
    let mut interpreter = Interpreter::from_bytes(bytes.as_slice(), arena.as_mut_slice()).unwrap();
    interpreter.input_mut::<i8>(0).unwrap().copy_from_slice(&[-3, -1, 1, 3]);
    interpreter.invoke().unwrap();
    // (x + 3) * 2^30 * 2 / 2^31 + 1 = x + 4
    assert_eq!(interpreter.output::<i8>(0).unwrap(), &[1, 3, 5, 7]);
}

#[cfg(feature = "float32")]
#[test]
fn float32_models_run_with_the_feature() {
    let bytes = AlignedBytes::new(&float_model());
    let mut arena = AlignedBytes::zeroed(48);
    let mut interpreter = Interpreter::from_bytes(bytes.as_slice(), arena.as_mut_slice()).unwrap();
    interpreter.input_mut::<f32>(0).unwrap().copy_from_slice(&[0.0, 0.5, -1.0, 2.25]);
    interpreter.invoke().unwrap();
    // Quantized to a step of 0.5 (2.25 rounds half away from zero, to 2.5).
    assert_eq!(interpreter.output::<f32>(0).unwrap(), &[0.0, 0.5, -1.0, 2.5]);
}

#[cfg(not(feature = "float32"))]
#[test]
fn float32_models_are_refused_without_the_feature() {
    let bytes = AlignedBytes::new(&float_model());
    let mut arena = AlignedBytes::zeroed(48);
    let error = Interpreter::from_bytes(bytes.as_slice(), arena.as_mut_slice())
        .err()
        .expect("refused");
    let message = error.to_string();
    assert!(message.contains("float32 support is not compiled in"), "{message}");
    assert!(message.contains("operator #0 (QUANTIZE)"), "{message}");
}
