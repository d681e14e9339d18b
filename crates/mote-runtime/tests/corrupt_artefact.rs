//! Corrupt artefacts are errors, never panics (issue #2, "corrupt input").
//!
//! Real artefacts, compiled from the shared reference models, are truncated, bit-flipped and
//! mutated. With the checksum in place every damaged file must be refused by
//! `Model::from_bytes`. With the checksum bypassed (`from_bytes_unchecksummed`, or the CRC
//! re-stamped) the damage reaches the structural checks, and then each mutant must be refused
//! by the format reader, refused by `Interpreter::new`, or run through `invoke` to completion
//! (`Ok` or `Err`) — a panic anywhere is a bug. A small hand-built artefact with the
//! QUANTIZE/DEQUANTIZE paths (which no reference model uses) runs even without the shared data.

use std::cell::Cell;
use std::collections::{BTreeMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Once, OnceLock};

use mote_format::params::{
    AddParams, Conv2dParams, DequantizeParams, FullyConnectedParams, QuantizeParams, SoftmaxParams,
};
use mote_format::{
    AlignedBytes, DType, Location, Model, ModelBuilder, OpCode, Params, Place, TensorRecord,
    HEADER_BYTES, TENSOR_RECORD_BYTES,
};
use mote_runtime::{Error, Interpreter};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// Shared models compiled for these tests: int8 convolutions, depthwise convolutions, pooling,
/// fully connected layers, softmax and ADD (with and without broadcasting), and a float32 model.
const MODELS: &[(&str, &str)] = &[
    ("kws_ref_model", "mlperf_tiny/kws/kws_ref_model.tflite"),
    (
        "micro_speech_quantized",
        "tflm_examples/micro_speech/micro_speech_quantized.tflite",
    ),
    (
        "pretrainedResnet_quant",
        "mlperf_tiny/ic/pretrainedResnet_quant.tflite",
    ),
    (
        "hello_world_float",
        "tflm_examples/hello_world/hello_world_float.tflite",
    ),
    (
        "simple_add_model",
        "tflm_examples/memory_footprint/simple_add_model.tflite",
    ),
];

/// Mutants whose header asks for a bigger arena than this are only checked for refusal with a
/// small arena; allocating gigabytes would test the allocator, not mote.
const MAX_TEST_ARENA: usize = 1 << 20;

struct Artefact {
    name: &'static str,
    bytes: Vec<u8>,
}

/// The compiled shared models (empty when the shared data is missing) and the hand-built one.
fn artefacts() -> &'static [Artefact] {
    static ARTEFACTS: OnceLock<Vec<Artefact>> = OnceLock::new();
    ARTEFACTS.get_or_init(|| {
        let mut out = vec![Artefact {
            name: "quantize_chain (hand-built)",
            bytes: quantize_chain(),
        }];
        if let Some(shared) = mote_testdata::shared_dir() {
            for &(name, path) in MODELS {
                let tflite = std::fs::read(shared.join("models").join(path))
                    .unwrap_or_else(|e| panic!("{name}: reading {path}: {e}"));
                let graph =
                    mote_tflite::import(&tflite).unwrap_or_else(|e| panic!("{name}: import: {e}"));
                let compiled = mote_compiler::compile(&graph)
                    .unwrap_or_else(|e| panic!("{name}: compile: {e}"));
                out.push(Artefact {
                    name,
                    bytes: compiled.bytes,
                });
            }
        }
        out
    })
}

/// float32 [1,4] → QUANTIZE → int8 → QUANTIZE (requantize, ×2) → int8 → DEQUANTIZE → float32.
fn quantize_chain() -> Vec<u8> {
    let mut b = ModelBuilder::new();
    let tensor = |dtype, offset| TensorRecord {
        dtype,
        shape: vec![1, 4],
        location: Location::Arena,
        offset,
        scale: 0.0,
        zero_point: 0,
    };
    let x = b.add_tensor(tensor(DType::Float32, 0));
    let q = b.add_tensor(tensor(DType::Int8, 16));
    let r = b.add_tensor(tensor(DType::Int8, 32));
    let y = b.add_tensor(tensor(DType::Float32, 48));
    let to_int8 = QuantizeParams {
        scale: 0.5,
        zero_point: -3,
        input_zero_point: 0,
        multiplier: 0,
        shift: 0,
    };
    let requantize = QuantizeParams {
        scale: 0.0,
        zero_point: 1,
        input_zero_point: -3,
        multiplier: 1 << 30,
        shift: 2,
    };
    b.add_op(OpCode::Quantize, vec![Some(x)], vec![q], &to_int8);
    b.add_op(OpCode::Quantize, vec![Some(q)], vec![r], &requantize);
    b.add_op(
        OpCode::Dequantize,
        vec![Some(r)],
        vec![y],
        &DequantizeParams {
            scale: 0.25,
            zero_point: 1,
        },
    );
    b.inputs = vec![x];
    b.outputs = vec![y];
    b.arena_bytes = 64;
    b.finish().expect("the hand-built artefact is valid")
}

fn u32_at(bytes: &[u8], at: usize) -> usize {
    u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize
}

/// The byte ranges of an intact artefact's sections, read from its header.
struct Layout {
    header: Range<usize>,
    tensors: Range<usize>,
    ops: Range<usize>,
    indices: Range<usize>,
    params: Range<usize>,
    consts: Range<usize>,
}

impl Layout {
    fn of(bytes: &[u8]) -> Layout {
        let section = |offset_at: usize, count_at: usize, size: usize| {
            let start = u32_at(bytes, offset_at);
            start..start + u32_at(bytes, count_at) * size
        };
        Layout {
            header: 0..HEADER_BYTES,
            tensors: section(24, 20, TENSOR_RECORD_BYTES),
            ops: section(32, 28, mote_format::OP_RECORD_BYTES),
            indices: section(40, 36, 2),
            params: section(48, 44, 1),
            consts: section(56, 52, 1),
        }
    }

    /// Everything but the constant pool, in file order.
    fn tables(&self) -> [(&'static str, Range<usize>); 5] {
        [
            ("header", self.header.clone()),
            ("tensor table", self.tensors.clone()),
            ("op table", self.ops.clone()),
            ("index pool", self.indices.clone()),
            ("params", self.params.clone()),
        ]
    }
}

/// How a mutant ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    RefusedByFormat,
    RefusedByInterpreter,
    /// The header asks for more than [`MAX_TEST_ARENA`]; a small arena was refused.
    ArenaTooLarge,
    /// Accepted by `Interpreter::new`; not invoked (the caller asked for validation only, or
    /// the runtime sees it exactly as a mutant that already ran).
    Accepted,
    Ran {
        ok: bool,
    },
}

/// Takes `bytes` (4-byte aligned) as far as it goes with the checksum bypassed: validation,
/// `Interpreter::new` and, if `invoke` and both pass, `invoke` on an arena filled with
/// arbitrary bytes (`seed`), then every input and output accessor. Panics only if mote does.
fn exercise(bytes: &[u8], seed: u64, invoke: bool) -> Outcome {
    exercise_once(bytes, seed, invoke, &mut HashSet::new())
}

/// As [`exercise`], but a mutant that the runtime sees exactly as one in `seen` (see
/// [`runtime_view`]) is not invoked again.
fn exercise_once(bytes: &[u8], seed: u64, invoke: bool, seen: &mut HashSet<u64>) -> Outcome {
    let Ok(model) = Model::from_bytes_unchecksummed(bytes) else {
        return Outcome::RefusedByFormat;
    };
    assert_lean_accessors_agree(&model);
    if model.arena_bytes() > MAX_TEST_ARENA {
        let mut small = AlignedBytes::zeroed(MAX_TEST_ARENA);
        let refused = Interpreter::new(&model, small.as_mut_slice()).err();
        assert!(
            matches!(refused, Some(Error::ArenaTooSmall { .. })),
            "{refused:?}"
        );
        return Outcome::ArenaTooLarge;
    }
    let invoke = invoke && seen.insert(runtime_view(&model));
    let mut arena = AlignedBytes::zeroed(model.arena_bytes());
    if invoke {
        let mut state = seed | 1;
        for word in arena.as_mut_slice().chunks_mut(8) {
            // xorshift64: cheap arbitrary bytes, including NaNs and infinities for floats.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            word.copy_from_slice(&state.to_le_bytes()[..word.len()]);
        }
    }
    let Ok(mut interpreter) = Interpreter::new(&model, arena.as_mut_slice()) else {
        return Outcome::RefusedByInterpreter;
    };
    if !invoke {
        return Outcome::Accepted;
    }
    for i in 0..interpreter.input_count() {
        let _ = interpreter.input_info(i);
        let _ = interpreter.input_bytes_mut(i);
    }
    // `invoke` does not repeat `new`'s checks, so an error from it means that the checks and
    // the run disagree about this model: a bug, reported like a panic.
    let ok = interpreter.invoke().is_ok();
    assert!(ok, "accepted by Interpreter::new, but invoke failed: {:?}", interpreter.invoke());
    for j in 0..interpreter.output_count() {
        let _ = interpreter.output_info(j);
        let _ = interpreter.output_bytes(j);
    }
    Outcome::Ran { ok }
}

/// The runtime reads tensors through `tensor_place` and `tensor_shape` on every invoke, and
/// validates them through `tensor`: on a validated model they must say the same.
fn assert_lean_accessors_agree(model: &Model<'_>) {
    for t in 0..model.tensor_count() {
        let info = model.tensor(t).expect("a validated tensor decodes");
        assert_eq!(model.tensor_shape(t), Some((info.dtype, info.dims)), "tensor {t}");
        let place = match info.location {
            Location::Arena => Place::Arena {
                offset: info.offset,
                len: info.byte_len,
            },
            Location::Const => Place::Const(model.const_data(&info)),
        };
        assert_eq!(model.tensor_place(t), Some(place), "tensor {t}");
    }
}

/// A digest of everything the runtime reads from a model when it runs it: each operator's
/// code, tensors (dtype, shape, location, offset, and the bytes of constants) and params, and
/// the graph's inputs and outputs. It leaves out what the runtime never reads (tensors'
/// scale and zero point, padding, the arena size beyond the check in `Interpreter::new`),
/// so that mutants differing only there are invoked once.
fn runtime_view(model: &Model<'_>) -> u64 {
    let mut h = DefaultHasher::new();
    let tensor = |t: Option<usize>, h: &mut DefaultHasher| {
        t.hash(h);
        if let Some(info) = t.and_then(|t| model.tensor(t)) {
            (
                info.dtype as u8,
                info.rank,
                info.dims,
                info.location as u8,
                info.offset,
            )
                .hash(h);
            model.const_data(&info).hash(h);
        }
    };
    for o in 0..model.op_count() {
        let Some(op) = model.op(o) else { continue };
        (op.opcode as u16, op.params).hash(&mut h);
        for t in op.inputs.iter().chain(op.outputs.iter()) {
            tensor(t, &mut h);
        }
    }
    for t in model.inputs().iter().chain(model.outputs().iter()) {
        tensor(t, &mut h);
    }
    h.finish()
}

/// The same bytes with a correct checksum must fare exactly as they do without one.
fn assert_checksum_path_agrees(bytes: &[u8]) {
    let unchecked = Model::from_bytes_unchecksummed(bytes).map(|_| ());
    if bytes.len() < 16 {
        return;
    }
    let mut stamped = AlignedBytes::new(bytes);
    let crc = crc32fast::hash(&bytes[16..]);
    stamped.as_mut_slice()[12..16].copy_from_slice(&crc.to_le_bytes());
    let checked = Model::from_bytes(stamped.as_slice()).map(|_| ());
    assert_eq!(
        checked.is_ok(),
        unchecked.is_ok(),
        "with a re-stamped checksum: {checked:?}; unchecksummed: {unchecked:?}"
    );
}

thread_local! {
    /// Set while a mutant runs, so that its panic is reported once, in the test's summary,
    /// rather than printed by the panic hook as well.
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` and turns a panic into `what` it was doing and the panic's message.
fn no_panic<T>(f: impl FnOnce() -> T, what: impl FnOnce() -> String) -> Result<T, String> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                default(info);
            }
        }));
    });
    QUIET.with(|q| q.set(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    QUIET.with(|q| q.set(false));
    result.map_err(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("(non-string panic)");
        format!("{}: panicked: {message}", what())
    })
}

#[test]
fn intact_artefacts_load_and_run() {
    for a in artefacts() {
        let aligned = AlignedBytes::new(&a.bytes);
        Model::from_bytes(aligned.as_slice()).unwrap_or_else(|e| panic!("{}: {e}", a.name));
        assert_eq!(
            exercise(aligned.as_slice(), 1, true),
            Outcome::Ran { ok: true },
            "{}",
            a.name
        );
    }
}

#[test]
fn every_truncation_is_an_error() {
    for a in artefacts() {
        let aligned = AlignedBytes::new(&a.bytes);
        let n = a.bytes.len();
        // Every length inside the header and the tables, a stride through the constants, and
        // the last few bytes.
        let tables_end = Layout::of(&a.bytes).consts.start;
        let stride = (n / 1000).max(1);
        let lengths = (0..tables_end.min(n))
            .chain((tables_end..n).step_by(stride))
            .chain(n.saturating_sub(64)..n);
        for len in lengths {
            let cut = &aligned.as_slice()[..len];
            assert!(
                Model::from_bytes(cut).is_err(),
                "{}: truncated to {len} of {n} bytes was accepted",
                a.name
            );
            assert!(
                Model::from_bytes_unchecksummed(cut).is_err(),
                "{}: truncated to {len} of {n} bytes was accepted without the checksum",
                a.name
            );
        }
    }
}

#[test]
fn every_single_bit_flip_is_an_error() {
    for a in artefacts() {
        let n = a.bytes.len();
        let tables_end = Layout::of(&a.bytes).consts.start;
        let stride = (n / 2000).max(1);
        let mut mutant = AlignedBytes::new(&a.bytes);
        // Every bit of the header and tables; one bit per byte at a stride through the constants.
        let flips =
            (0..tables_end * 8).chain((tables_end..n).step_by(stride).map(|at| at * 8 + at % 8));
        for bit in flips {
            let (at, mask) = (bit / 8, 1u8 << (bit % 8));
            mutant.as_mut_slice()[at] ^= mask;
            let result = Model::from_bytes(mutant.as_slice());
            assert!(
                result.is_err(),
                "{}: flipping bit {} of byte {at} went unnoticed",
                a.name,
                bit % 8
            );
            mutant.as_mut_slice()[at] ^= mask;
        }
    }
}

/// Sets each byte in `ranges` of `base` to 0x00, 0xFF, 0x80 and its value + 1 in turn and
/// exercises each mutant; returns the panics found and counts the outcomes in `tally`.
fn sweep(
    name: &str,
    base: &[u8],
    ranges: &[(&'static str, Range<usize>)],
    invoke: bool,
    tally: &mut BTreeMap<Outcome, usize>,
) -> Vec<String> {
    let mut panics = Vec::new();
    let mut mutant = AlignedBytes::new(base);
    let mut seen = HashSet::new();
    for (section, range) in ranges {
        for at in range.clone() {
            let original = base[at];
            for value in [0x00, 0xFF, 0x80, original.wrapping_add(1)] {
                if value == original {
                    continue;
                }
                mutant.as_mut_slice()[at] = value;
                let what = || {
                    format!("{name}: {section} byte {at} set from {original:#04x} to {value:#04x}")
                };
                match no_panic(
                    || exercise_once(mutant.as_slice(), at as u64, invoke, &mut seen),
                    what,
                ) {
                    Ok(outcome) => *tally.entry(outcome).or_default() += 1,
                    Err(report) => panics.push(report),
                }
            }
            mutant.as_mut_slice()[at] = original;
        }
    }
    panics
}

/// The artefact with only operator `o` left: the header's op count becomes 1 and its op
/// table starts at `o`'s record. Tensors, index pool, params, constants and the graph's
/// inputs and outputs are untouched, so the result is valid, and invoking it runs one kernel.
fn single_op(bytes: &[u8], o: usize) -> Vec<u8> {
    let mut view = bytes.to_vec();
    let ops_offset = u32_at(bytes, 32) + o * mote_format::OP_RECORD_BYTES;
    view[28..32].copy_from_slice(&1u32.to_le_bytes());
    view[32..36].copy_from_slice(&(ops_offset as u32).to_le_bytes());
    view
}

/// The bytes that describe operator `o`: its record, its tensor indices, its params and the
/// records of its tensors and of the graph's inputs and outputs.
fn op_ranges(bytes: &[u8], o: usize) -> Vec<(&'static str, Range<usize>)> {
    let aligned = AlignedBytes::new(bytes);
    let model = Model::from_bytes(aligned.as_slice()).expect("intact artefact");
    let layout = Layout::of(bytes);
    let op = model.op(o).unwrap();
    let record = layout.ops.start + o * mote_format::OP_RECORD_BYTES;
    let first_index = u32_at(bytes, record + 4);
    let index_at = layout.indices.start + 2 * first_index;
    let params_at = params_offset(&model, o);
    let mut ranges = vec![
        ("op record", record..record + mote_format::OP_RECORD_BYTES),
        (
            "op's tensor indices",
            index_at..index_at + 2 * (op.inputs.len() + op.outputs.len()),
        ),
        ("op's params", params_at..params_at + op.params.len()),
    ];
    let tensors = op
        .inputs
        .iter()
        .chain(op.outputs.iter())
        .chain(model.inputs().iter())
        .chain(model.outputs().iter());
    let mut seen = std::collections::BTreeSet::new();
    for t in tensors.flatten() {
        if seen.insert(t) {
            let at = layout.tensors.start + t * TENSOR_RECORD_BYTES;
            ranges.push(("tensor record", at..at + TENSOR_RECORD_BYTES));
        }
    }
    ranges
}

/// The deterministic sweep, part one: every byte of the header, tensor table, op table, index
/// pool and params of every artefact set to 0x00, 0xFF, 0x80 and its value + 1, through
/// validation and `Interpreter::new`.
#[test]
fn every_table_byte_mutation_is_refused_or_accepted_without_panic() {
    let mut panics = Vec::new();
    let mut tally = BTreeMap::new();
    for a in artefacts() {
        panics.extend(sweep(
            a.name,
            &a.bytes,
            &Layout::of(&a.bytes).tables(),
            false,
            &mut tally,
        ));
    }
    eprintln!("table-byte mutants: {tally:?}");
    assert!(
        panics.is_empty(),
        "{} mutant(s) made mote panic:\n{}",
        panics.len(),
        panics.join("\n")
    );
}

/// The deterministic sweep, part two, which also invokes: for each operator of each artefact,
/// the artefact cut down to that operator (so that an invoke costs one kernel), with every
/// byte of the header and of that operator's record, indices, params and tensor records
/// mutated as in part one.
#[test]
fn every_operator_byte_mutation_is_refused_or_runs() {
    let mut panics = Vec::new();
    let mut tally = BTreeMap::new();
    for a in artefacts() {
        let aligned = AlignedBytes::new(&a.bytes);
        let op_count = Model::from_bytes(aligned.as_slice()).unwrap().op_count();
        for o in 0..op_count {
            let view = single_op(&a.bytes, o);
            let mut ranges = vec![("header", 0..HEADER_BYTES)];
            ranges.extend(op_ranges(&a.bytes, o));
            panics.extend(sweep(
                &format!("{} (operator {o} alone)", a.name),
                &view,
                &ranges,
                true,
                &mut tally,
            ));
        }
    }
    eprintln!("operator-byte mutants: {tally:?}");
    assert!(
        panics.is_empty(),
        "{} mutant(s) made mote panic:\n{}",
        panics.len(),
        panics.join("\n")
    );
}

/// What a proptest case does to one artefact.
#[derive(Debug, Clone)]
enum Mutation {
    SetByte {
        at: usize,
        value: u8,
    },
    FlipBit {
        at: usize,
        bit: u8,
    },
    /// Overwrites the aligned 32-bit word containing `at` (counts, offsets, dims, params).
    SetWord {
        at: usize,
        value: u32,
    },
}

fn apply(bytes: &mut [u8], m: &Mutation) {
    match *m {
        Mutation::SetByte { at, value } => bytes[at] = value,
        Mutation::FlipBit { at, bit } => bytes[at] ^= 1 << bit,
        Mutation::SetWord { at, value } => {
            let at = at & !3;
            if at + 4 <= bytes.len() {
                bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
            }
        }
    }
}

/// Word values that sit on the edges of the checks.
const INTERESTING_WORDS: &[u32] = &[
    0,
    1,
    2,
    3,
    4,
    15,
    16,
    31,
    32,
    33,
    0x7F,
    0x80,
    0xFF,
    0xFFFF,
    0x8000_0000,
    0x7FFF_FFFF,
    0xFFFF_FFFF,
    0xFFFF_FFE1,
    0xFFFF_FFE0,
];

/// A mutation whose offset is a fraction of the chosen section.
fn mutation() -> impl Strategy<Value = (u32, Mutation)> {
    let word = prop_oneof![proptest::sample::select(INTERESTING_WORDS), any::<u32>()];
    let at = any::<u32>().prop_map(|x| x as usize);
    (
        any::<u32>(),
        prop_oneof![
            (at.clone(), any::<u8>()).prop_map(|(at, value)| Mutation::SetByte { at, value }),
            (at.clone(), 0u8..8).prop_map(|(at, bit)| Mutation::FlipBit { at, bit }),
            (at, word).prop_map(|(at, value)| Mutation::SetWord { at, value }),
        ],
    )
}

/// Random mutations (one to four at a time) of the header, tables, params and of the constant
/// tensors the runtime interprets (bias, multiplier and shift tensors).
#[test]
fn random_mutations_are_refused_or_run() {
    let artefacts = artefacts();
    let mut runner = TestRunner::new(Config {
        cases: 400,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        0..artefacts.len(),
        proptest::collection::vec(mutation(), 1..=4),
        any::<u64>(),
    );
    let result = runner.run(&strategy, |(which, mutations, seed)| {
        let a = &artefacts[which];
        let layout = Layout::of(&a.bytes);
        let mut sections: Vec<Range<usize>> = layout.tables().into_iter().map(|(_, r)| r).collect();
        sections.extend(interpreted_constants(&a.bytes));
        sections.retain(|r| !r.is_empty());
        let mut bytes = a.bytes.clone();
        for (pick, m) in &mutations {
            let r = &sections[*pick as usize % sections.len()];
            let at = |x: usize| r.start + x % r.len();
            let m = match *m {
                Mutation::SetByte { at: x, value } => Mutation::SetByte { at: at(x), value },
                Mutation::FlipBit { at: x, bit } => Mutation::FlipBit { at: at(x), bit },
                Mutation::SetWord { at: x, value } => Mutation::SetWord { at: at(x), value },
            };
            apply(&mut bytes, &m);
        }
        let aligned = AlignedBytes::new(&bytes);
        no_panic(
            || {
                assert_checksum_path_agrees(aligned.as_slice());
                exercise(aligned.as_slice(), seed, true)
            },
            || format!("{}: {mutations:?}", a.name),
        )
        .map(|_| ())
        .map_err(TestCaseError::fail)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// The constant-pool byte ranges of the tensors that the runtime reads as numbers rather than
/// data: every constant input of an operator other than the filter (index 1).
fn interpreted_constants(bytes: &[u8]) -> Vec<Range<usize>> {
    let aligned = AlignedBytes::new(bytes);
    let model = Model::from_bytes(aligned.as_slice()).expect("intact artefact");
    let const_start = Layout::of(bytes).consts.start;
    let mut out = Vec::new();
    for o in 0..model.op_count() {
        let op = model.op(o).unwrap();
        for (i, t) in op.inputs.iter().enumerate() {
            let Some(t) = t.and_then(|t| model.tensor(t)) else {
                continue;
            };
            if i >= 2 && t.location == Location::Const {
                out.push(const_start + t.offset..const_start + t.offset + t.byte_len);
            }
        }
    }
    out
}

/// Where operator `o`'s params start in the file.
fn params_offset(model: &Model<'_>, o: usize) -> usize {
    model.op(o).unwrap().params.as_ptr() as usize - model.as_bytes().as_ptr() as usize
}

/// Checks that `mutant` is refused by `Interpreter::new` with a message containing `word`.
fn assert_refused(name: &str, what: &str, mutant: &AlignedBytes, word: &str) {
    let model = Model::from_bytes_unchecksummed(mutant.as_slice())
        .unwrap_or_else(|e| panic!("{name}: {what}: {e}"));
    let mut arena = AlignedBytes::zeroed(model.arena_bytes());
    match catch_unwind(AssertUnwindSafe(|| {
        Interpreter::new(&model, arena.as_mut_slice()).err()
    })) {
        Ok(Some(e)) => assert!(
            e.to_string().contains(word),
            "{name}: {what}: refused, but with `{e}`"
        ),
        Ok(None) => panic!("{name}: {what}: accepted by Interpreter::new"),
        Err(_) => panic!("{name}: {what}: Interpreter::new panicked"),
    }
}

/// A shift outside -31..=31 would overflow the fixed-point shifts in the kernels; every place
/// a shift comes from (per-channel shift tensors, ADD, SOFTMAX and QUANTIZE params) is checked
/// by `Interpreter::new`, and so are activation bounds that would make a clamp panic.
#[test]
fn out_of_range_shifts_and_bounds_are_refused() {
    let mut checked = 0;
    for a in artefacts() {
        let aligned = AlignedBytes::new(&a.bytes);
        let model = Model::from_bytes(aligned.as_slice()).unwrap();
        let const_start = Layout::of(&a.bytes).consts.start;
        for o in 0..model.op_count() {
            let op = model.op(o).unwrap();
            let int8 = op
                .inputs
                .get(0)
                .and_then(|t| model.tensor(t))
                .is_some_and(|t| t.dtype == DType::Int8);
            let p_at = params_offset(&model, o);
            let with_params = |edit: &dyn Fn(&mut [u8])| {
                let mut m = AlignedBytes::new(&a.bytes);
                edit(&mut m.as_mut_slice()[p_at..p_at + op.params.len()]);
                m
            };
            match op.opcode {
                OpCode::Conv2d | OpCode::DepthwiseConv2d | OpCode::FullyConnected if int8 => {
                    let shift = model.tensor(op.inputs.get(4).unwrap()).unwrap();
                    let at = const_start + shift.offset + 4 * (shift.elements() - 1);
                    for bad in [32, -32, 100, i32::MIN, i32::MAX] {
                        let mut m = AlignedBytes::new(&a.bytes);
                        m.as_mut_slice()[at..at + 4].copy_from_slice(&bad.to_le_bytes());
                        assert_refused(
                            a.name,
                            &format!("op {o} last channel shift {bad}"),
                            &m,
                            "shift",
                        );
                        checked += 1;
                    }
                    if op.opcode == OpCode::FullyConnected {
                        let bounds = with_params(&|p| {
                            let mut fc = FullyConnectedParams::decode(p).unwrap();
                            (fc.act_min, fc.act_max) = (fc.act_max, fc.act_min - 1);
                            fc.encode_into(p);
                        });
                        // FULLY_CONNECTED tolerates crossed bounds (max then min); it only
                        // must not panic.
                        let _ = exercise(bounds.as_slice(), 7, true);
                    }
                }
                OpCode::Add if int8 => {
                    for field in 0..3 {
                        for bad in [1, -32, i32::MIN] {
                            let m = with_params(&|p| {
                                let mut add = AddParams::decode(p).unwrap();
                                *[
                                    &mut add.input1_shift,
                                    &mut add.input2_shift,
                                    &mut add.output_shift,
                                ][field] = bad;
                                add.encode_into(p);
                            });
                            assert_refused(
                                a.name,
                                &format!("op {o} ADD shift {field} = {bad}"),
                                &m,
                                "shift",
                            );
                            checked += 1;
                        }
                    }
                    let m = with_params(&|p| {
                        let mut add = AddParams::decode(p).unwrap();
                        (add.act_min, add.act_max) = (1, 0);
                        add.encode_into(p);
                    });
                    assert_refused(
                        a.name,
                        &format!("op {o} ADD act_min > act_max"),
                        &m,
                        "activation",
                    );
                    checked += 1;
                }
                OpCode::Softmax if int8 => {
                    for bad in [-1, 32, i32::MIN] {
                        let m = with_params(&|p| {
                            let mut s = SoftmaxParams::decode(p).unwrap();
                            s.input_left_shift = bad;
                            s.encode_into(p);
                        });
                        assert_refused(
                            a.name,
                            &format!("op {o} SOFTMAX input_left_shift {bad}"),
                            &m,
                            "shift",
                        );
                        checked += 1;
                    }
                }
                OpCode::AveragePool2d | OpCode::MaxPool2d if int8 => {
                    let m = with_params(&|p| {
                        let mut pool = mote_format::params::Pool2dParams::decode(p).unwrap();
                        (pool.act_min, pool.act_max) = (1, 0);
                        pool.encode_into(p);
                    });
                    assert_refused(
                        a.name,
                        &format!("op {o} pool act_min > act_max"),
                        &m,
                        "activation",
                    );
                    checked += 1;
                }
                OpCode::Quantize if int8 => {
                    for bad in [32, -32, i32::MIN] {
                        let m = with_params(&|p| {
                            let mut q = QuantizeParams::decode(p).unwrap();
                            q.shift = bad;
                            q.encode_into(p);
                        });
                        assert_refused(
                            a.name,
                            &format!("op {o} QUANTIZE shift {bad}"),
                            &m,
                            "shift",
                        );
                        checked += 1;
                    }
                }
                _ => {}
            }
        }
    }
    assert!(checked > 0);
    eprintln!("{checked} out-of-range values refused");
}

/// A tensor with no elements can still have huge dimensions (`[1, 4e9, 0, 1]` passes every
/// size check, its product being zero), and the kernels loop over dimensions: an empty output
/// of that shape, or a window over an empty input of that shape, would run for hours. Found by
/// the fuzz target (`fuzz/`) as slow units. Such a model must be refused or finish at once.
#[test]
fn empty_tensors_with_huge_dimensions_finish_at_once() {
    let huge = 4_000_000_000;
    let tensor = |shape: Vec<usize>, offset| TensorRecord {
        dtype: DType::Int8,
        shape,
        location: Location::Arena,
        offset,
        scale: 0.0,
        zero_point: 0,
    };
    let pool = {
        let mut b = ModelBuilder::new();
        let x = b.add_tensor(tensor(vec![1, 4, 4, 1], 0));
        let y = b.add_tensor(tensor(vec![1, huge, 0, 1], 16));
        let p = mote_format::params::Pool2dParams {
            stride_h: 1,
            stride_w: 1,
            filter_h: 2,
            filter_w: 2,
            act_min: -128,
            act_max: 127,
            ..Default::default()
        };
        b.add_op(OpCode::AveragePool2d, vec![Some(x)], vec![y], &p);
        (b.inputs, b.outputs, b.arena_bytes) = (vec![x], vec![y], 32);
        b.finish().unwrap()
    };
    let add = {
        let mut b = ModelBuilder::new();
        let x = b.add_tensor(tensor(vec![1, 1, 1, 1], 0));
        let y = b.add_tensor(tensor(vec![huge, huge, 0, 1], 16));
        let p = AddParams {
            left_shift: 20,
            output_shift: -19,
            act_min: -128,
            act_max: 127,
            ..Default::default()
        };
        b.add_op(OpCode::Add, vec![Some(x), Some(x)], vec![y], &p);
        (b.inputs, b.outputs, b.arena_bytes) = (vec![x], vec![y], 32);
        b.finish().unwrap()
    };
    // The same through an empty input and filter: `[1, 4e9, 1, 0]` has no elements, but a
    // window over it has 4e9 rows.
    let conv = {
        let mut b = ModelBuilder::new();
        let empty = vec![1, huge, 1, 0];
        let x = b.add_tensor(tensor(empty.clone(), 0));
        let y = b.add_tensor(tensor(vec![1, 1, 1, 1], 16));
        let word = |b: &mut ModelBuilder, value: i32| {
            let offset = b.add_const(&value.to_le_bytes());
            let t = TensorRecord {
                dtype: DType::Int32,
                location: Location::Const,
                ..tensor(vec![1], offset)
            };
            b.add_tensor(t)
        };
        let filter_at = b.add_const(&[]);
        let filter = b.add_tensor(TensorRecord {
            location: Location::Const,
            ..tensor(empty, filter_at)
        });
        let (m, s) = (word(&mut b, 1 << 30), word(&mut b, 0));
        let p = mote_format::params::Conv2dParams {
            stride_h: 1,
            stride_w: 1,
            dilation_h: 1,
            dilation_w: 1,
            act_min: -128,
            act_max: 127,
            ..Default::default()
        };
        let inputs = vec![Some(x), Some(filter), None, Some(m), Some(s)];
        b.add_op(OpCode::Conv2d, inputs, vec![y], &p);
        (b.inputs, b.outputs, b.arena_bytes) = (vec![x], vec![y], 32);
        b.finish().unwrap()
    };
    for (name, bytes) in [("AVERAGE_POOL_2D", pool), ("ADD", add), ("CONV_2D", conv)] {
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let aligned = AlignedBytes::new(&bytes);
            let _ = done.send(exercise(aligned.as_slice(), 1, true));
        });
        match finished.recv_timeout(std::time::Duration::from_secs(10)) {
            Ok(outcome) => assert!(
                matches!(outcome, Outcome::Ran { .. } | Outcome::RefusedByInterpreter),
                "{name}: {outcome:?}"
            ),
            Err(_) => {
                panic!("{name} with an empty tensor of huge dimensions still runs after 10 s")
            }
        }
    }
}

/// int8 [1, 4] → RESHAPE → int8 [2, 2], the output at arena offset `out_offset`.
fn reshape(out_offset: usize) -> Vec<u8> {
    let mut b = ModelBuilder::new();
    let tensor = |shape: Vec<usize>, offset| TensorRecord {
        dtype: DType::Int8,
        shape,
        location: Location::Arena,
        offset,
        scale: 0.5,
        zero_point: 0,
    };
    let x = b.add_tensor(tensor(vec![1, 4], 0));
    let y = b.add_tensor(tensor(vec![2, 2], out_offset));
    b.add_plain_op(OpCode::Reshape, vec![Some(x)], vec![y]);
    b.inputs = vec![x];
    b.outputs = vec![y];
    b.arena_bytes = 32;
    b.finish().expect("the hand-built artefact is well formed")
}

/// A RESHAPE of an activation is a view of its input's bytes: on them it runs (and does
/// nothing), anywhere else it is refused when the interpreter is created, never run.
#[test]
fn a_reshape_runs_only_on_its_inputs_bytes() {
    let shared = AlignedBytes::new(&reshape(0));
    let model = Model::from_bytes(shared.as_slice()).unwrap();
    let mut arena = AlignedBytes::zeroed(model.arena_bytes());
    let mut interpreter = Interpreter::new(&model, arena.as_mut_slice()).unwrap();
    interpreter
        .input_mut::<i8>(0)
        .unwrap()
        .copy_from_slice(&[1, -2, 3, -4]);
    interpreter.invoke().unwrap();
    assert_eq!(interpreter.output::<i8>(0).unwrap(), &[1, -2, 3, -4]);

    let elsewhere = AlignedBytes::new(&reshape(16));
    assert_refused(
        "reshape",
        "output at another offset",
        &elsewhere,
        "not placed on its input's bytes",
    );
}

/// A 1×1, stride-2 CONV_2D from 32 int8 values to 16 pixels of 2 channels (`x` and `-x` of
/// every second value), its output at 0..32 and its input at `input_offset`.
fn strided_conv(input_offset: usize) -> Vec<u8> {
    let mut b = ModelBuilder::new();
    let arena = |shape: Vec<usize>, offset| TensorRecord {
        dtype: DType::Int8,
        shape,
        location: Location::Arena,
        offset,
        scale: 0.5,
        zero_point: 0,
    };
    let constant = |b: &mut ModelBuilder, dtype, shape: Vec<usize>, bytes: &[u8]| {
        let offset = b.add_const(bytes);
        b.add_tensor(TensorRecord {
            dtype,
            shape,
            location: Location::Const,
            offset,
            scale: 0.0,
            zero_point: 0,
        })
    };
    let words = |v: [i32; 2]| -> Vec<u8> { v.iter().flat_map(|w| w.to_le_bytes()).collect() };
    let x = b.add_tensor(arena(vec![1, 32, 1, 1], input_offset));
    let y = b.add_tensor(arena(vec![1, 16, 1, 2], 0));
    let filter = constant(&mut b, DType::Int8, vec![2, 1, 1, 1], &[1, 0xff]);
    let bias = constant(&mut b, DType::Int32, vec![2], &words([0, 0]));
    // ×1: multiplier 2^30 with a left shift of 1.
    let mult = constant(&mut b, DType::Int32, vec![2], &words([1 << 30, 1 << 30]));
    let shift = constant(&mut b, DType::Int32, vec![2], &words([1, 1]));
    let p = Conv2dParams {
        stride_h: 2,
        stride_w: 1,
        dilation_h: 1,
        dilation_w: 1,
        pad_top: 0,
        pad_left: 0,
        input_zero_point: 0,
        output_zero_point: 0,
        act_min: -128,
        act_max: 127,
        float_act_min: 0.0,
        float_act_max: 0.0,
    };
    b.add_op(
        OpCode::Conv2d,
        vec![Some(x), Some(filter), Some(bias), Some(mult), Some(shift)],
        vec![y],
        &p,
    );
    b.inputs = vec![x];
    b.outputs = vec![y];
    b.arena_bytes = 64;
    b.finish().expect("the hand-built artefact is well formed")
}

/// A convolution's output may share memory with its input when the input starts at least
/// `overlap_distance` bytes after the output (here 2): it then computes what it computes
/// with separate buffers. Closer, it is refused when the interpreter is created.
#[test]
fn a_convolution_shares_its_inputs_memory_only_from_a_safe_distance() {
    let input: Vec<i8> = (0..32).map(|i| (i * 7 - 100) as i8).collect();
    let want: Vec<i8> = (0..16).flat_map(|oy| [input[2 * oy], -input[2 * oy]]).collect();
    for offset in [32, 16, 2] {
        let bytes = AlignedBytes::new(&strided_conv(offset));
        let model = Model::from_bytes(bytes.as_slice()).unwrap();
        let mut arena = AlignedBytes::zeroed(model.arena_bytes());
        let mut interpreter = Interpreter::new(&model, arena.as_mut_slice())
            .unwrap_or_else(|e| panic!("input at {offset}: {e}"));
        interpreter.input_mut::<i8>(0).unwrap().copy_from_slice(&input);
        interpreter.invoke().unwrap();
        assert_eq!(interpreter.output::<i8>(0).unwrap(), &want[..], "input at {offset}");
    }
    for offset in [0, 1] {
        let bytes = AlignedBytes::new(&strided_conv(offset));
        assert_refused(
            "strided conv",
            &format!("input at {offset}"),
            &bytes,
            "starts too close",
        );
    }
}
