//! Feeds arbitrary bytes to the `.mote` reader and, when they pass, to the interpreter: a
//! corrupt artefact must be refused by `Model::from_bytes_unchecksummed` or by
//! `Interpreter::new`, or run through `invoke` to completion; any panic is a bug. The checksum
//! is skipped so that mutations reach the structural checks instead of stopping at the CRC.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mote_format::{AlignedBytes, Model};
use mote_runtime::Interpreter;

/// Larger arenas are only checked for refusal with this much: allocating what a corrupt
/// header asks for would exercise the allocator, not mote.
const MAX_ARENA: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    // libFuzzer's buffer has no particular alignment; the reader needs 4 bytes.
    let bytes = AlignedBytes::new(data);
    let Ok(model) = Model::from_bytes_unchecksummed(bytes.as_slice()) else { return };

    // Every accessor of a validated model must answer without panicking.
    for t in 0..model.tensor_count() {
        if let Some(info) = model.tensor(t) {
            let _ = model.const_data(&info);
        }
        let _ = (model.tensor_place(t), model.tensor_shape(t));
    }
    for o in 0..model.op_count() {
        let _ = model.op(o);
    }
    let _ = (model.inputs().iter().count(), model.outputs().iter().count());

    let mut arena = AlignedBytes::zeroed(model.arena_bytes().min(MAX_ARENA));
    let Ok(mut interpreter) = Interpreter::new(&model, arena.as_mut_slice()) else { return };
    for i in 0..interpreter.input_count() {
        if let Ok(input) = interpreter.input_bytes_mut(i) {
            // Something other than zeros, derived from the input itself.
            for (k, b) in input.iter_mut().enumerate() {
                *b = data.get(k % data.len().max(1)).copied().unwrap_or(0);
            }
        }
    }
    let _ = interpreter.invoke();
    for j in 0..interpreter.output_count() {
        let _ = interpreter.output_bytes(j);
    }
});
