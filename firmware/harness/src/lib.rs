//! What every mote board firmware shares: it runs the model that `mote-build` embedded on
//! the embedded test inputs, checks the outputs byte for byte against the host runtime's,
//! measures instructions with the board's timer and the stack by painting, prints one
//! machine-readable report line over semihosting, and exits through semihosting — with a
//! failure status when anything is wrong, so that a QEMU run is a test.
//!
//! Instruction counts are exact under QEMU's `-icount shift=7`: every instruction advances
//! virtual time by 128 ns, so a timer of `f` Hz advances `128e-9 * f` ticks per instruction.
//! The harness checks this on every run with a loop of known length before it measures the
//! model. The report line reads:
//!
//! ```text
//! mote-bench v=1 board=mps2-an386 model=hello_world_int8 checksum=0x… runs=1 instructions=…
//!   instructions_max=… timer_overhead=… calibration=ok stack_bytes=… arena_bytes=…
//!   host_matches_golden=1 outputs_match=1
//! ```
//!
//! (one line; `host_matches_golden` only when golden outputs were given to the build), and
//! with per-operator measurement one `mote-op index=… op=… instructions=…` line per
//! operator before it.

#![no_std]

mod out;
mod stack;

use mote_runtime::{Error, FormatError, Interpreter, Model, OpCode, Profiler};

pub use out::{exit_failure, exit_success, fail, Line};
pub use stack::{high_water as stack_high_water, paint as paint_stack};

/// A board's free-running 32-bit timer.
pub trait Clock {
    /// Timer ticks per instruction under `-icount shift=7`, as `(numerator, denominator)`.
    const TICKS_PER_INSTRUCTION: (u32, u32);

    /// The current count, increasing (wrapping at 2^32).
    fn ticks(&self) -> u32;
}

/// The model and test data to run, as `mote-build`'s module provides them.
pub struct Bench<'a> {
    pub board: &'a str,
    pub model_name: &'a str,
    /// The `.mote` artefact, 16-byte aligned.
    pub model: &'a [u8],
    pub checksum: u32,
    pub inputs: &'a [&'a [u8]],
    /// The host runtime's outputs for `inputs`.
    pub expected: &'a [&'a [u8]],
    pub host_matches_golden: Option<bool>,
    /// Timed inferences.
    pub runs: u32,
    /// Also run one inference measuring each operator.
    pub per_op: bool,
}

/// Loop iterations of the calibration; each is two instructions (`subs`, `bne`).
const CALIBRATION_LOOPS: u32 = 1000;

/// Runs `bench` in `arena` and exits; never returns.
pub fn run<C: Clock>(clock: &C, bench: &Bench, arena: &mut [u8]) -> ! {
    let overhead = calibrate(clock);

    // The model is part of this firmware image, so its integrity is the image's: the
    // structural checks stay, the CRC (an 18 KB table and a pass over the weights) goes.
    let model = match Model::from_bytes_unchecksummed(bench.model) {
        Ok(m) => m,
        Err(e) => fail_with("loading the model", &Error::Format(e)),
    };
    let mut interpreter = match Interpreter::new(&model, arena) {
        Ok(i) => i,
        Err(e) => fail_with("creating the interpreter", &e),
    };
    if bench.inputs.len() != interpreter.input_count()
        || bench.expected.len() != interpreter.output_count()
    {
        fail("the embedded test data does not match the model's inputs and outputs");
    }

    let mut min = u64::MAX;
    let mut max = 0;
    let mut outputs_match = true;
    for _ in 0..bench.runs {
        // The inputs are copied in before every run: the planner may reuse their memory.
        load_inputs(&mut interpreter, bench.inputs);
        let (ticks, result) = ticks_around_invoke(clock, &mut interpreter);
        if let Err(e) = result {
            fail_with("running the model", &e);
        }
        let instructions = instructions::<C>(ticks).saturating_sub(overhead);
        min = min.min(instructions);
        max = max.max(instructions);
        outputs_match &= compare_outputs(&interpreter, bench.expected);
    }

    if bench.per_op {
        load_inputs(&mut interpreter, bench.inputs);
        let mut profiler = OpProfiler {
            clock,
            start: 0,
            overhead,
        };
        if let Err(e) = interpreter.invoke_profiled(&mut profiler) {
            fail_with("running the model per operator", &e);
        }
        outputs_match &= compare_outputs(&interpreter, bench.expected);
    }

    let golden_ok = bench.host_matches_golden != Some(false);
    let mut line = Line::new("mote-bench v=1 board=");
    line.text(bench.board)
        .text(" model=")
        .text(bench.model_name);
    line.text(" checksum=").hex32(bench.checksum);
    line.field("runs", bench.runs as u64)
        .field("instructions", if bench.runs > 0 { min } else { 0 })
        .field("instructions_max", max)
        .field("timer_overhead", overhead)
        .text(" calibration=ok")
        .field("stack_bytes", stack::high_water() as u64)
        .field("arena_bytes", model.arena_bytes() as u64);
    if let Some(g) = bench.host_matches_golden {
        line.field("host_matches_golden", g as u64);
    }
    line.field("outputs_match", (outputs_match && golden_ok) as u64);
    line.send();

    if !outputs_match {
        fail("the outputs differ from the host runtime's");
    }
    if !golden_ok {
        fail("the host runtime's outputs differ from the golden outputs given to the build");
    }
    if min != max {
        fail("the instruction count differed between runs");
    }
    exit_success()
}

/// Instructions for `ticks`, rounded to the nearest: a reading is off by less than one tick,
/// which is less than half an instruction on every board (at least two ticks each).
pub fn instructions<C: Clock>(ticks: u32) -> u64 {
    let (num, den) = C::TICKS_PER_INSTRUCTION;
    (ticks as u64 * den as u64 + num as u64 / 2) / num as u64
}

/// `2 * n` instructions: `n` turns of a two-instruction loop.
#[inline(never)]
fn spin(n: u32) {
    // SAFETY: a register-only countdown loop.
    unsafe {
        core::arch::asm!(
            "2:",
            "subs {0}, {0}, #1",
            "bne 2b",
            inout(reg) n => _,
            options(nomem, nostack),
        )
    };
}

/// Ticks around `n` turns of the calibration loop. Not inlined, so that the code between
/// the two readings is the same for every `n` whatever the caller looks like.
#[inline(never)]
fn ticks_around_spin<C: Clock>(clock: &C, n: u32) -> u32 {
    let t0 = clock.ticks();
    spin(n);
    clock.ticks().wrapping_sub(t0)
}

/// Ticks between two back-to-back readings: what a measurement itself adds.
#[inline(never)]
fn ticks_around_nothing<C: Clock>(clock: &C) -> u32 {
    let t0 = clock.ticks();
    clock.ticks().wrapping_sub(t0)
}

/// Ticks around one inference, with the same framing as [`ticks_around_nothing`].
#[inline(never)]
fn ticks_around_invoke<C: Clock>(
    clock: &C,
    interpreter: &mut Interpreter,
) -> (u32, Result<(), Error>) {
    let t0 = clock.ticks();
    let result = interpreter.invoke();
    (clock.ticks().wrapping_sub(t0), result)
}

/// Ticks around `work`, framed as [`run`] frames an inference: for firmware that measures a
/// peer runtime in the same way (subtract [`calibrate`]'s overhead from
/// [`instructions`] of the result). mote's own path does not use it.
#[inline(never)]
pub fn ticks_around<C: Clock, R>(clock: &C, work: impl FnOnce() -> R) -> (u32, R) {
    let t0 = clock.ticks();
    let result = work();
    (clock.ticks().wrapping_sub(t0), result)
}

/// Checks the timer against loops of known length and returns the instructions that the
/// measurement itself adds (the second reading's), to subtract from every measurement.
/// Exits with failure when the timer does not count instructions (QEMU without `-icount`).
pub fn calibrate<C: Clock>(clock: &C) -> u64 {
    let overhead = instructions::<C>(ticks_around_nothing(clock));
    let once = instructions::<C>(ticks_around_spin(clock, CALIBRATION_LOOPS));
    let twice = instructions::<C>(ticks_around_spin(clock, 2 * CALIBRATION_LOOPS));
    let expected = 2 * CALIBRATION_LOOPS as u64;
    if twice.wrapping_sub(once) != expected {
        let mut line = Line::new("mote-bench: error: timer calibration: a loop of ");
        line.uint(expected)
            .text(" instructions measured as ")
            .uint(twice.wrapping_sub(once))
            .text(" (is QEMU running with -icount shift=7?)")
            .send();
        exit_failure();
    }
    overhead
}

fn load_inputs(interpreter: &mut Interpreter, inputs: &[&[u8]]) {
    for (i, bytes) in inputs.iter().enumerate() {
        match interpreter.input_bytes_mut(i) {
            Ok(dst) if dst.len() == bytes.len() => dst.copy_from_slice(bytes),
            Ok(_) => fail("a test input's size differs from the model's input"),
            Err(e) => fail_with("reading an input", &e),
        }
    }
}

/// Whether every output equals the expected bytes; prints the first difference.
fn compare_outputs(interpreter: &Interpreter, expected: &[&[u8]]) -> bool {
    for (j, want) in expected.iter().enumerate() {
        let got = match interpreter.output_bytes(j) {
            Ok(got) => got,
            Err(e) => fail_with("reading an output", &e),
        };
        if got.len() != want.len() {
            Line::new("mote-bench: output ")
                .uint(j as u64)
                .text(" has a different size from the expected output")
                .send();
            return false;
        }
        if let Some(k) = got.iter().zip(want.iter()).position(|(a, b)| a != b) {
            Line::new("mote-bench: output ")
                .uint(j as u64)
                .text(" differs at byte ")
                .uint(k as u64)
                .text(": got ")
                .uint(got.get(k).copied().unwrap_or(0) as u64)
                .text(", expected ")
                .uint(want.get(k).copied().unwrap_or(0) as u64)
                .send();
            return false;
        }
    }
    true
}

/// Measures each operator between `before_op` and `after_op`, printing a line per operator
/// (after the second reading, so the printing is not counted).
struct OpProfiler<'c, C: Clock> {
    clock: &'c C,
    start: u32,
    overhead: u64,
}

impl<C: Clock> Profiler for OpProfiler<'_, C> {
    fn before_op(&mut self, _op: usize, _opcode: OpCode) {
        self.start = self.clock.ticks();
    }

    fn after_op(&mut self, op: usize, opcode: OpCode) {
        let ticks = self.clock.ticks().wrapping_sub(self.start);
        let n = instructions::<C>(ticks).saturating_sub(self.overhead);
        let mut line = Line::new("mote-op");
        line.field("index", op as u64)
            .text(" op=")
            .text(opcode.name())
            .field("instructions", n)
            .send();
    }
}

/// Prints what failed and why, then exits with failure. The runtime's errors are described
/// without `core::fmt` (see [`out`]).
fn fail_with(context: &str, e: &Error) -> ! {
    let mut line = Line::new("mote-bench: error: ");
    line.text(context).text(": ");
    match e {
        Error::Format(f) => {
            line.text("invalid .mote artefact: ");
            match f {
                FormatError::Truncated { needed, got } => line
                    .text("truncated, needs ")
                    .uint(*needed as u64)
                    .text(" bytes, got ")
                    .uint(*got as u64),
                FormatError::BadMagic => line.text("bad magic"),
                FormatError::UnsupportedVersion(v) => {
                    line.text("unsupported version ").uint(*v as u64)
                }
                FormatError::Misaligned => line.text("bytes not 4-byte aligned"),
                FormatError::ChecksumMismatch { .. } => line.text("checksum mismatch"),
                FormatError::BadSection(s) => line.text("bad section ").text(s),
                FormatError::BadTensor { tensor, what } => line
                    .text("tensor ")
                    .uint(*tensor as u64)
                    .text(": invalid ")
                    .text(what),
                FormatError::BadOp { op, what } => line
                    .text("operator ")
                    .uint(*op as u64)
                    .text(": invalid ")
                    .text(what),
                FormatError::BadGraphIo { index } => {
                    line.text("graph input/output ").uint(*index as u64)
                }
            }
        }
        Error::ArenaTooSmall { needed, got } => line
            .text("arena too small, needs ")
            .uint(*needed as u64)
            .text(" bytes, got ")
            .uint(*got as u64),
        Error::ArenaMisaligned => line.text("arena not 16-byte aligned"),
        Error::InvalidOp { op, opcode, what } => line
            .text("operator #")
            .uint(*op as u64)
            .text(" (")
            .text(opcode.name())
            .text("): ")
            .text(what),
        Error::NoSuchInput(i) => line.text("no input ").uint(*i as u64),
        Error::NoSuchOutput(j) => line.text("no output ").uint(*j as u64),
        Error::WrongDType { .. } => line.text("wrong dtype"),
    };
    line.send();
    exit_failure()
}

/// Any panic ends the run as a failure, naming where it happened (the message itself would
/// need `core::fmt`).
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    let mut line = Line::new("mote-bench: error: panic");
    if let Some(location) = info.location() {
        line.text(" at ")
            .text(location.file())
            .text(":")
            .uint(location.line() as u64);
    }
    line.send();
    exit_failure()
}

/// The [`Bench`] for the module that `mote-build` generated, included as `mod $module`.
#[macro_export]
macro_rules! bench {
    ($module:ident) => {
        $crate::Bench {
            board: $module::BOARD,
            model_name: $module::MODEL_NAME,
            model: $module::model_bytes(),
            checksum: $module::CHECKSUM,
            inputs: &$module::TEST_INPUTS,
            expected: &$module::EXPECTED_OUTPUTS,
            host_matches_golden: $module::HOST_MATCHES_GOLDEN,
            runs: $module::RUNS,
            per_op: $module::PER_OP,
        }
    };
}
