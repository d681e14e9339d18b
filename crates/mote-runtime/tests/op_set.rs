//! An interpreter built with a subset of the operators (`Interpreter::with_ops`) runs models
//! that use only those and refuses any other, naming the operator.

use mote_format::{AlignedBytes, Model, OpCode};
use mote_runtime::{ops, Error, Interpreter};
use mote_testdata::{golden, shared_dir};

const FULLY_CONNECTED_ONLY: u32 = ops::bit(OpCode::FullyConnected);
const ADD_ONLY: u32 = ops::bit(OpCode::Add);

#[test]
fn a_build_with_the_models_operators_runs_it_and_one_without_refuses_it() {
    let Some(shared) = shared_dir() else { return };
    let g = golden(&shared, "hello_world_int8");
    let graph = mote_tflite::import(&std::fs::read(&g.model).unwrap()).unwrap();
    let compiled = mote_compiler::compile(&graph).unwrap();
    let bytes = AlignedBytes::new(&compiled.bytes);
    let model = Model::from_bytes(bytes.as_slice()).unwrap();
    let mut arena = AlignedBytes::zeroed(model.arena_bytes());

    let mut fc_only =
        Interpreter::<'_, '_, FULLY_CONNECTED_ONLY>::with_ops(&model, arena.as_mut_slice()).unwrap();
    fc_only.invoke().unwrap();

    let refused = Interpreter::<'_, '_, ADD_ONLY>::with_ops(&model, arena.as_mut_slice()).err();
    assert_eq!(
        refused,
        Some(Error::InvalidOp {
            op: 0,
            opcode: OpCode::FullyConnected,
            what: "operator not compiled into this build",
        })
    );
}
