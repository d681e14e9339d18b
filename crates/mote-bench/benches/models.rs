//! Host speed of mote's interpreter (issue #2): for each covered model, one criterion
//! benchmark `invoke/<model>` of one inference on golden case 0: write the inputs, then
//! `Interpreter::invoke()`. The model is imported, compiled and the interpreter created
//! once, outside the timing loop; the output is checked against TFLM's golden output before
//! and after timing. The inputs are written inside the loop because the memory plan (mote's
//! as TFLM's) reuses an input's bytes once it is consumed: invoking again without them would
//! run on leftovers, and float kernels on leftovers can hit slow denormals. The copy is a
//! memcpy of at most ~110 KB, small next to the models' run time, and `bench/tflm_peer.py`
//! times TFLM the same way (`set_input` + `invoke`).
//!
//! Run with `cargo bench -p mote-bench` (add a model name to run just that one); the
//! medians land in `target/criterion/invoke/<model>/new/estimates.json`, which
//! `bench/run.sh` reads to put them next to TFLM's. Skips, saying why, when the shared
//! reference folder is missing.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};
use mote_bench::Prepared;
use mote_format::{AlignedBytes, Model};
use mote_runtime::Interpreter;
use mote_testdata::{shared_dir, COVERED_MODELS};

fn invoke(c: &mut Criterion) {
    let Some(shared) = shared_dir() else {
        eprintln!("mote-bench: no benchmarks run (the shared reference folder is missing)");
        return;
    };
    let mut group = c.benchmark_group("invoke");
    // Flat sampling: the same number of iterations in every sample, so a model that takes
    // tens of milliseconds needs only sample_size invokes, not the ~5,000 of linear sampling.
    group.sampling_mode(SamplingMode::Flat);
    for name in COVERED_MODELS {
        let prepared = Prepared::load(&shared, name).unwrap_or_else(|e| panic!("{e}"));
        let artefact = prepared.artefact();
        let model =
            Model::from_bytes(artefact.as_slice()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut arena = AlignedBytes::zeroed(model.arena_bytes());
        let mut interpreter = Interpreter::new(&model, arena.as_mut_slice())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        prepared
            .set_inputs(&mut interpreter)
            .unwrap_or_else(|e| panic!("{e}"));
        interpreter
            .invoke()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        prepared
            .check_outputs(&interpreter)
            .unwrap_or_else(|e| panic!("{e}"));
        group.bench_function(*name, |b| {
            b.iter(|| {
                prepared.set_inputs(&mut interpreter).unwrap();
                black_box(interpreter.invoke()).unwrap()
            })
        });
        prepared
            .check_outputs(&interpreter)
            .unwrap_or_else(|e| panic!("after timing: {e}"));
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = invoke
}
criterion_main!(benches);
