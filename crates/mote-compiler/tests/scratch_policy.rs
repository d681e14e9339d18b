//! The scratch policy on the reference models: with every policy the artefact's plan verifies
//! (independently of the planner, from the artefact's own tensors and operators), a budget
//! bounds the arena, and the default policy keeps the arena within what the instructions it
//! buys justify. Run with `--nocapture` to see each model's decisions.

use std::collections::HashMap;

use mote_compiler::planner::{verify, Buffer, Plan};
use mote_compiler::{compile_with, CompileOptions, Kernels, ScratchPolicy};
use mote_format::{AlignedBytes, Location, Model, OpCode, ALIGN};

const MODELS: [&str; 6] = [
    "mlperf_tiny/kws/kws_ref_model.tflite",
    "mlperf_tiny/vww/vww_96_int8.tflite",
    "mlperf_tiny/ic/pretrainedResnet_quant.tflite",
    "mlperf_tiny/ad/ad01_int8.tflite",
    "tflm_examples/person_detection/person_detect.tflite",
    "tflm_examples/micro_speech/micro_speech_quantized.tflite",
];

/// The artefact's arena buffers (a RESHAPE in place joins its input's) with their lifetimes in
/// operator order, and the plan its tensor offsets make.
fn buffers_and_plan(bytes: &[u8]) -> (Vec<Buffer>, Plan) {
    let aligned = AlignedBytes::new(bytes);
    let model = Model::from_bytes(aligned.as_slice()).expect("artefact reads back");
    let mut root: HashMap<usize, usize> = HashMap::new();
    let mut shared = std::collections::HashSet::new();
    for o in 0..model.op_count() {
        let op = model.op(o).unwrap();
        if op.opcode == OpCode::Reshape {
            let (x, y) = (op.inputs.get(0).unwrap(), op.outputs.get(0).unwrap());
            let (tx, ty) = (model.tensor(x).unwrap(), model.tensor(y).unwrap());
            if tx.location == Location::Arena && tx.offset == ty.offset {
                let r = *root.get(&x).unwrap_or(&x);
                root.insert(y, r);
            }
        }
        // A convolution whose input shares its output's memory: one buffer over both.
        if op.opcode == OpCode::Conv2d {
            let (x, y) = (op.inputs.get(0).unwrap(), op.outputs.get(0).unwrap());
            let (tx, ty) = (model.tensor(x).unwrap(), model.tensor(y).unwrap());
            if tx.location == Location::Arena
                && tx.offset < ty.offset + ty.byte_len
                && ty.offset < tx.offset + tx.byte_len
            {
                let r = *root.get(&x).unwrap_or(&x);
                root.insert(y, r);
                shared.insert(r);
            }
        }
    }
    // key → (buffer, offset)
    let mut spans: HashMap<usize, (Buffer, usize)> = HashMap::new();
    let last = model.op_count().saturating_sub(1);
    let mut touch = |t: usize, at: usize| {
        let info = model.tensor(t).unwrap();
        if info.location != Location::Arena {
            return;
        }
        let key = *root.get(&t).unwrap_or(&t);
        let e = spans.entry(key).or_insert((
            Buffer {
                size: info.byte_len,
                first_use: at,
                last_use: at,
            },
            info.offset,
        ));
        e.0.first_use = e.0.first_use.min(at);
        e.0.last_use = e.0.last_use.max(at);
        if shared.contains(&key) {
            // The span of a shared convolution's input and output.
            let end = (e.1 + e.0.size).max(info.offset + info.byte_len);
            e.1 = e.1.min(info.offset);
            e.0.size = end - e.1;
        } else {
            e.0.size = e.0.size.max(info.byte_len);
            assert_eq!(
                e.1, info.offset,
                "tensors of one buffer at different offsets"
            );
        }
    };
    for t in model.inputs().iter().flatten() {
        touch(t, 0);
    }
    for o in 0..model.op_count() {
        let op = model.op(o).unwrap();
        for t in op.inputs.iter().chain(op.outputs.iter()).flatten() {
            touch(t, o);
        }
    }
    for t in model.outputs().iter().flatten() {
        touch(t, last);
    }
    let mut entries: Vec<(Buffer, usize)> = spans.into_values().collect();
    entries.sort_by_key(|(b, o)| (b.first_use, b.last_use, *o, b.size));
    let buffers: Vec<Buffer> = entries.iter().map(|e| e.0).collect();
    let plan = Plan {
        offsets: entries.iter().map(|e| e.1).collect(),
        arena_bytes: model.arena_bytes(),
        lower_bound: mote_compiler::planner::lower_bound(&buffers, ALIGN),
    };
    (buffers, plan)
}

#[test]
fn policies_on_the_reference_models() {
    let Some(shared) = mote_testdata::shared_dir() else {
        return;
    };
    for path in MODELS {
        let bytes = std::fs::read(shared.join("models").join(path)).unwrap();
        let graph = mote_tflite::import(&bytes).unwrap();
        let compile = |scratch| {
            let options = CompileOptions {
                kernels: Kernels::CortexMDsp,
                scratch,
            };
            compile_with(&graph, &options).unwrap()
        };
        let none = compile(ScratchPolicy::None);
        let all = compile(ScratchPolicy::All);
        let baseline = none.report.arena_bytes;
        for (name, policy) in [
            ("none", ScratchPolicy::None),
            ("all", ScratchPolicy::All),
            ("budget 0", ScratchPolicy::Budget { extra_permille: 0 }),
            (
                "budget 1/8",
                ScratchPolicy::Budget {
                    extra_permille: 125,
                },
            ),
            ("default", ScratchPolicy::DEFAULT),
        ] {
            let compiled = compile(policy);
            let report = &compiled.report;
            let (buffers, plan) = buffers_and_plan(&compiled.bytes);
            if let Err(e) = verify(&buffers, &plan, ALIGN) {
                panic!("{path}, {name}: the plan does not verify: {e}");
            }
            assert_eq!(report.arena_bytes, plan.arena_bytes);
            assert_eq!(report.scratch.baseline_arena, baseline, "{path}, {name}");
            assert!(
                report.arena_bytes >= baseline
                    && report.arena_bytes <= all.report.arena_bytes.max(baseline)
            );
            let granted: Vec<_> = report
                .scratch
                .requests
                .iter()
                .filter(|d| d.granted)
                .collect();
            // Every granted scratch is in the plan, each on its own operator.
            let scratch_bytes: usize = granted.iter().map(|d| d.bytes).sum();
            let planned: usize = buffers
                .iter()
                .filter(|b| b.first_use == b.last_use)
                .map(|b| b.size)
                .sum();
            assert!(
                planned >= scratch_bytes,
                "{path}, {name}: granted scratch missing from the plan"
            );
            match policy {
                ScratchPolicy::None => assert!(granted.is_empty()),
                ScratchPolicy::All => {
                    assert_eq!(granted.len(), report.scratch.requests.len());
                    assert_eq!(report.arena_bytes, all.report.arena_bytes);
                }
                ScratchPolicy::Budget { extra_permille } => assert!(
                    report.arena_bytes * 1000 <= baseline * (1000 + extra_permille as usize),
                    "{path}, {name}: arena {} over the budget",
                    report.arena_bytes
                ),
                ScratchPolicy::Exchange {
                    instructions_per_byte,
                } => {
                    let saved: u64 = granted.iter().map(|d| d.saving).sum();
                    let growth = (report.arena_bytes - baseline) as u64;
                    assert!(
                        growth * instructions_per_byte as u64 <= saved,
                        "{path}, {name}"
                    );
                    for d in &report.scratch.requests {
                        assert_eq!(
                            d.granted,
                            d.arena_growth as u64 * instructions_per_byte as u64 <= d.saving,
                            "{path}, {name}: {d:?}"
                        );
                    }
                }
            }
            if policy == ScratchPolicy::DEFAULT {
                println!(
                    "{path}: arena {} (no scratch {baseline}, all scratch {})",
                    report.arena_bytes, all.report.arena_bytes
                );
                for d in &report.scratch.requests {
                    println!(
                        "  #{:<3} {:18} {:>6} bytes, saves ~{:>10} instructions: {} (+{} arena)",
                        d.node,
                        d.op,
                        d.bytes,
                        d.saving,
                        if d.granted { "granted" } else { "refused" },
                        d.arena_growth
                    );
                }
            }
        }
    }
}
