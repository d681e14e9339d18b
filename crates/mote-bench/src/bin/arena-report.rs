//! Prints the memory table of issue #2 for every covered model: mote's planned arena, the
//! planner's lower bound and their ratio, TFLM's arena (64-bit host from the golden
//! manifest; Cortex-M4 from `anchors/tflm_qemu_m4.json` where the model was measured
//! there) and mote/TFLM, weight bytes and MACs. Each model is also run once on golden
//! case 0 and its output checked against TFLM's, so the table never describes a model that
//! computes the wrong thing.
//!
//! `cargo run -p mote-bench --release --bin arena-report` prints the table;
//! `-- --list` prints the covered model names, one a line (what `bench/run.sh` iterates).

use anyhow::{bail, Context, Result};
use mote_bench::{arena_table, m4_arenas, ArenaRow, Prepared};
use mote_format::{AlignedBytes, Model};
use mote_runtime::Interpreter;
use mote_testdata::{shared_dir, COVERED_MODELS};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] => report(),
        ["--list"] => {
            for name in COVERED_MODELS {
                println!("{name}");
            }
            Ok(())
        }
        _ => bail!("usage: arena-report [--list]"),
    }
}

fn report() -> Result<()> {
    let Some(shared) = shared_dir() else {
        // shared_dir has said why; there is nothing to report.
        return Ok(());
    };
    let m4 = m4_arenas(&shared)?;
    let mut rows = Vec::new();
    for name in COVERED_MODELS {
        let prepared = Prepared::load(&shared, name)?;
        let artefact = prepared.artefact();
        let model = Model::from_bytes(artefact.as_slice())
            .with_context(|| format!("{name}: loading the artefact"))?;
        let mut arena = AlignedBytes::zeroed(model.arena_bytes());
        let mut interpreter = Interpreter::new(&model, arena.as_mut_slice())
            .with_context(|| format!("{name}: interpreter"))?;
        prepared.set_inputs(&mut interpreter)?;
        interpreter
            .invoke()
            .with_context(|| format!("{name}: invoke"))?;
        prepared.check_outputs(&interpreter)?;
        rows.push(ArenaRow::new(&prepared, &m4, &shared));
    }
    println!("{}", arena_table(&rows));
    println!(
        "Bytes. mote's arena is the same on every target (no pointers live in it). TFLM's \
         host arena (the golden manifests' `tflm_arena_bytes`) comes from its Python package on \
         a 64-bit host, with 8-byte pointers in its bookkeeping; its Cortex-M4 arena is the \
         smallest that runs with reference kernels (anchors/tflm_qemu_m4.json); — marks a model \
         not measured there. Weights are mote's constant pool (weights, biases, \
         requantization parameters)."
    );
    Ok(())
}
