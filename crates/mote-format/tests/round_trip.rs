//! Whatever the writer produces, the reader accepts and reads back the same: random tensor
//! tables, operators and constants survive a round trip, and the reader's view of every
//! record equals what was written.

use mote_format::params::{Conv2dParams, Params, SoftmaxParams};
use mote_format::{AlignedBytes, DType, Location, Model, ModelBuilder, OpCode, TensorRecord};
use proptest::prelude::*;

fn dtype() -> impl Strategy<Value = DType> {
    prop_oneof![Just(DType::Int8), Just(DType::Int32), Just(DType::Float32)]
}

#[derive(Debug, Clone)]
struct TensorSpec {
    dtype: DType,
    shape: Vec<usize>,
    constant: bool,
    scale: f32,
    zero_point: i32,
}

fn tensor() -> impl Strategy<Value = TensorSpec> {
    (dtype(), prop::collection::vec(1usize..6, 0..=4), any::<bool>(), -10.0f32..10.0, -128i32..128)
        .prop_map(|(dtype, shape, constant, scale, zero_point)| TensorSpec { dtype, shape, constant, scale, zero_point })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn written_artefacts_read_back_identically(
        specs in prop::collection::vec(tensor(), 1..20),
        op_picks in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>(), any::<bool>()), 0..10),
        arena_slack in 0usize..64,
    ) {
        let mut b = ModelBuilder::new();
        let mut arena_end = 0usize;
        let mut records = Vec::new();
        for (i, s) in specs.iter().enumerate() {
            let bytes = s.shape.iter().product::<usize>() * s.dtype.size();
            let (location, offset) = if s.constant {
                let data: Vec<u8> = (0..bytes).map(|k| (k * 31 + i) as u8).collect();
                (Location::Const, b.add_const(&data))
            } else {
                let offset = arena_end.next_multiple_of(16);
                arena_end = offset + bytes;
                (Location::Arena, offset)
            };
            let record = TensorRecord { dtype: s.dtype, shape: s.shape.clone(), location, offset, scale: s.scale, zero_point: s.zero_point };
            records.push(record.clone());
            b.add_tensor(record);
        }
        b.arena_bytes = arena_end + arena_slack;
        let arena_tensors: Vec<usize> = (0..specs.len()).filter(|&i| !specs[i].constant).collect();
        let mut ops = Vec::new();
        if !arena_tensors.is_empty() {
            for (input, output, with_params) in &op_picks {
                let x = input.index(specs.len());
                let y = arena_tensors[output.index(arena_tensors.len())];
                if *with_params {
                    let p = Conv2dParams { stride_h: 2, pad_top: -1, float_act_max: 6.0, ..Default::default() };
                    b.add_op(OpCode::Conv2d, vec![Some(x), None], vec![y], &p);
                } else {
                    b.add_plain_op(OpCode::Reshape, vec![Some(x)], vec![y]);
                }
                ops.push((x, y, *with_params));
            }
            b.inputs = vec![arena_tensors[0]];
            b.outputs = vec![*arena_tensors.last().unwrap()];
        }
        let bytes = b.finish().unwrap();
        let aligned = AlignedBytes::new(&bytes);
        let model = Model::from_bytes(aligned.as_slice()).unwrap();

        prop_assert_eq!(model.tensor_count(), records.len());
        prop_assert_eq!(model.arena_bytes(), arena_end + arena_slack);
        for (i, r) in records.iter().enumerate() {
            let t = model.tensor(i).unwrap();
            prop_assert_eq!(t.dtype, r.dtype);
            prop_assert_eq!(t.shape(), &r.shape[..]);
            prop_assert_eq!(t.location, r.location);
            prop_assert_eq!(t.offset, r.offset);
            prop_assert_eq!(t.scale.to_bits(), r.scale.to_bits());
            prop_assert_eq!(t.zero_point, r.zero_point);
            if r.location == Location::Const {
                let want: Vec<u8> = (0..t.byte_len).map(|k| (k * 31 + i) as u8).collect();
                prop_assert_eq!(model.const_data(&t), &want[..]);
            }
        }
        prop_assert_eq!(model.op_count(), ops.len());
        for (o, (x, y, with_params)) in ops.iter().enumerate() {
            let op = model.op(o).unwrap();
            prop_assert_eq!(op.inputs.get(0), Some(*x));
            prop_assert_eq!(op.outputs.get(0), Some(*y));
            if *with_params {
                prop_assert_eq!(op.opcode, OpCode::Conv2d);
                prop_assert_eq!(op.inputs.len(), 2);
                prop_assert_eq!(op.inputs.get(1), None);
                let p: Conv2dParams = op.params().unwrap();
                prop_assert_eq!((p.stride_h, p.pad_top, p.float_act_max), (2, -1, 6.0));
                prop_assert!(op.params::<SoftmaxParams>().is_none());
            } else {
                prop_assert_eq!(op.opcode, OpCode::Reshape);
                prop_assert!(op.params.is_empty());
            }
        }
    }
}

#[test]
fn reader_refuses_what_the_header_cannot_hold() {
    let mut b = ModelBuilder::new();
    b.arena_bytes = 16;
    let t = b.add_tensor(TensorRecord { dtype: DType::Int8, shape: vec![16], location: Location::Arena, offset: 0, scale: 0.0, zero_point: 0 });
    b.inputs = vec![t];
    b.outputs = vec![t];
    let bytes = b.finish().unwrap();
    let aligned = AlignedBytes::new(&bytes);
    assert!(Model::from_bytes(aligned.as_slice()).is_ok());
    assert_eq!(Conv2dParams::WORDS, 12);

    // Longer than the header says, or misaligned in memory.
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(Model::from_bytes(AlignedBytes::new(&longer).as_slice()).is_err());
    let shifted = AlignedBytes::new(&[&[0u8][..], &bytes].concat());
    assert_eq!(Model::from_bytes(&shifted.as_slice()[1..]).unwrap_err(), mote_format::FormatError::Misaligned);
}
