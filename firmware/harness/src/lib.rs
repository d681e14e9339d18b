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
//!   instructions_max=… timer_overhead=… calibration=ok stack_bytes=… inference_stack_bytes=…
//!   arena_bytes=… host_matches_golden=1 outputs_match=1
//! ```
//!
//! (one line; `host_matches_golden` only when golden outputs were given to the build), and
//! with per-operator measurement one `mote-op index=… op=… instructions=…` line per
//! operator before it.
//!
//! The stack is reported twice (see [`stack`]). `stack_bytes` is the whole firmware's deepest
//! stack from reset until the report: start-up, loading and validating the model, every
//! timed inference, the comparison of the outputs — what a product built like this firmware
//! needs. `inference_stack_bytes` is the deepest stack of one `Interpreter::invoke` call
//! alone, below its caller's frame: what running the model adds to an application's own
//! stack. The report line itself and the optional per-operator pass (which prints from inside
//! the interpreter's loop) come after the measurement and are in neither. The harness keeps
//! its own frames shallow on the measured path: printing lives in functions of its own that
//! are called only to print.

#![no_std]

mod out;
mod stack;

use mote_runtime::plan::Compiled;
use mote_runtime::{Error, FormatError, Interpreter, Model, OpCode, Profiler};

pub use out::{exit_failure, exit_success, fail, Line};
pub use stack::{high_water as stack_high_water, paint as paint_stack};

/// Stack painting, for firmware that measures a peer runtime in the same way.
pub use stack::Probe as StackProbe;

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

/// Runs `bench` in `arena` with mote's interpreter and exits; never returns. Inlined into the
/// board's `main`, its one caller, so that the constant `bench` folds: without per-operator
/// measurement, for example, the profiling pass is not linked.
#[inline(always)]
pub fn run<C: Clock, const OPS: u32>(clock: &C, bench: &Bench, arena: &mut [u8]) -> ! {
    let overhead = calibrate(clock);
    let mut interpreter = load::<OPS>(bench.model, arena);
    measure(clock, bench, &mut interpreter, overhead)
}

/// Runs `bench` with a model compiled ahead of time (`mote_plan.rs`, see
/// `mote_runtime::plan`) and exits; never returns. What is measured is the same as for
/// [`run`]; per-operator figures need the interpreter.
#[inline(always)]
pub fn run_compiled<C: Clock, const N: usize>(
    clock: &C,
    bench: &Bench,
    compiled: Result<Compiled<'_, N>, Error>,
) -> ! {
    let overhead = calibrate(clock);
    let mut compiled = match compiled {
        Ok(c) => c,
        Err(e) => fail_with("setting up the compiled model", &e),
    };
    measure(clock, bench, &mut compiled, overhead)
}

/// What the harness needs of a runtime: mote's interpreter, or a model compiled ahead of
/// time.
pub trait Runtime {
    fn input_count(&self) -> usize;
    fn output_count(&self) -> usize;
    fn input_bytes_mut(&mut self, i: usize) -> Result<&mut [u8], Error>;
    fn output_bytes(&self, j: usize) -> Result<&[u8], Error>;
    fn invoke(&mut self) -> Result<(), Error>;
    fn arena_bytes(&self) -> usize;
    /// One inference measuring each operator (printing a line per operator); `None` when the
    /// runtime has no operator loop to measure.
    fn invoke_per_op<C: Clock>(&mut self, _clock: &C, _overhead: u64) -> Option<Result<(), Error>> {
        None
    }
}

impl<const OPS: u32> Runtime for Interpreter<'_, '_, OPS> {
    fn input_count(&self) -> usize {
        Interpreter::input_count(self)
    }
    fn output_count(&self) -> usize {
        Interpreter::output_count(self)
    }
    fn input_bytes_mut(&mut self, i: usize) -> Result<&mut [u8], Error> {
        Interpreter::input_bytes_mut(self, i)
    }
    fn output_bytes(&self, j: usize) -> Result<&[u8], Error> {
        Interpreter::output_bytes(self, j)
    }
    fn invoke(&mut self) -> Result<(), Error> {
        Interpreter::invoke(self)
    }
    fn arena_bytes(&self) -> usize {
        self.model().arena_bytes()
    }
    fn invoke_per_op<C: Clock>(&mut self, clock: &C, overhead: u64) -> Option<Result<(), Error>> {
        let mut profiler = OpProfiler {
            clock,
            start: 0,
            overhead,
        };
        Some(self.invoke_profiled(&mut profiler))
    }
}

impl<const N: usize> Runtime for Compiled<'_, N> {
    fn input_count(&self) -> usize {
        Compiled::input_count(self)
    }
    fn output_count(&self) -> usize {
        Compiled::output_count(self)
    }
    fn input_bytes_mut(&mut self, i: usize) -> Result<&mut [u8], Error> {
        Compiled::input_bytes_mut(self, i)
    }
    fn output_bytes(&self, j: usize) -> Result<&[u8], Error> {
        Compiled::output_bytes(self, j)
    }
    fn invoke(&mut self) -> Result<(), Error> {
        Compiled::invoke(self)
    }
    fn arena_bytes(&self) -> usize {
        Compiled::arena_bytes(self)
    }
}

/// The timed runs, the comparison of the outputs, the report and the exit, for any runtime.
#[inline(always)]
fn measure<C: Clock, R: Runtime>(clock: &C, bench: &Bench, runtime: &mut R, overhead: u64) -> ! {
    if bench.inputs.len() != runtime.input_count()
        || bench.expected.len() != runtime.output_count()
    {
        fail("the embedded test data does not match the model's inputs and outputs");
    }

    let mut min = u64::MAX;
    let mut max = 0;
    let mut outputs_match = true;
    let mut inference_stack = 0;
    let mut whole_stack = 0;
    for _ in 0..bench.runs {
        // The inputs are copied in before every run: the planner may reuse their memory.
        load_inputs(runtime, bench.inputs);
        let run = ticks_around_invoke(clock, runtime);
        if let Err(e) = run.result {
            fail_with("running the model", &e);
        }
        let instructions = instructions::<C>(run.ticks).saturating_sub(overhead);
        min = min.min(instructions);
        max = max.max(instructions);
        inference_stack = inference_stack.max(run.stack_bytes);
        whole_stack = whole_stack.max(run.whole_stack_bytes);
        outputs_match &= compare_outputs(runtime, bench.expected);
    }
    // Everything since the last inference's probe (the comparison of its outputs).
    let whole_stack = whole_stack.max(stack::high_water());

    if bench.per_op {
        outputs_match &= per_op_pass(clock, runtime, bench, overhead);
    }

    let golden_ok = bench.host_matches_golden != Some(false);
    let figures = Figures {
        instructions: if bench.runs > 0 { min } else { 0 },
        instructions_max: max,
        overhead,
        stack_bytes: whole_stack,
        inference_stack_bytes: inference_stack,
        arena_bytes: runtime.arena_bytes(),
        outputs_match: outputs_match && golden_ok,
    };
    report(bench, &figures);

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

/// The interpreter for `bytes`. Not inlined: the model's validation results stay off
/// [`run`]'s frame.
#[inline(never)]
fn load<'a, const OPS: u32>(bytes: &'a [u8], arena: &'a mut [u8]) -> Interpreter<'a, 'a, OPS> {
    // The model is part of this firmware image, so its integrity is the image's: the
    // structural checks stay, the CRC (an 18 KB table and a pass over the weights) goes.
    // The bytes are opaque to the optimizer, as bytes in a flash partition would be: with
    // `run` inlined into `main` they are a known constant, and the compiler could evaluate
    // this model's structural checks at build time (about 1.5 KB of the reader would vanish),
    // making the code measured that of this one model rather than of a runtime.
    let model = match Model::from_bytes_unchecksummed(core::hint::black_box(bytes)) {
        Ok(m) => m,
        Err(e) => fail_with("loading the model", &Error::Format(e)),
    };
    match Interpreter::<'_, '_, OPS>::with_ops(&model, arena) {
        Ok(i) => i,
        Err(e) => fail_with("creating the interpreter", &e),
    }
}

/// One more inference, measuring and printing each operator; whether its outputs match.
#[inline(never)]
fn per_op_pass<C: Clock, R: Runtime>(
    clock: &C,
    runtime: &mut R,
    bench: &Bench,
    overhead: u64,
) -> bool {
    load_inputs(runtime, bench.inputs);
    match runtime.invoke_per_op(clock, overhead) {
        Some(Ok(())) => {}
        Some(Err(e)) => fail_with("running the model per operator", &e),
        None => fail("per-operator figures need the interpreter"),
    }
    compare_outputs(runtime, bench.expected)
}

/// What [`run`] measured, for [`report`].
struct Figures {
    instructions: u64,
    instructions_max: u64,
    overhead: u64,
    stack_bytes: usize,
    inference_stack_bytes: usize,
    arena_bytes: usize,
    outputs_match: bool,
}

/// Prints the report line. Not inlined: its line buffer stays off [`run`]'s frame, which is
/// on the stack during every measured inference.
#[inline(never)]
fn report(bench: &Bench, f: &Figures) {
    let mut line = Line::new("mote-bench v=1 board=");
    line.text(bench.board)
        .text(" model=")
        .text(bench.model_name);
    line.text(" checksum=").hex32(bench.checksum);
    line.field("runs", bench.runs as u64)
        .field("instructions", f.instructions)
        .field("instructions_max", f.instructions_max)
        .field("timer_overhead", f.overhead)
        .text(" calibration=ok")
        .field("stack_bytes", f.stack_bytes as u64)
        .field("inference_stack_bytes", f.inference_stack_bytes as u64)
        .field("arena_bytes", f.arena_bytes as u64);
    if let Some(g) = bench.host_matches_golden {
        line.field("host_matches_golden", g as u64);
    }
    line.field("outputs_match", f.outputs_match as u64);
    line.send();
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

/// One measured inference.
struct Invoked {
    ticks: u32,
    result: Result<(), Error>,
    /// The inference's own stack (below [`ticks_around_invoke`]'s frame).
    stack_bytes: usize,
    /// The whole program's deepest stack so far, this inference included.
    whole_stack_bytes: usize,
}

/// Ticks around one inference, with the same framing as [`ticks_around_nothing`], and the
/// inference's stack (a [`stack::Probe`] around it).
#[inline(never)]
fn ticks_around_invoke<C: Clock, R: Runtime>(clock: &C, runtime: &mut R) -> Invoked {
    let probe = stack::Probe::start();
    let t0 = clock.ticks();
    let result = invoke(runtime);
    let ticks = clock.ticks().wrapping_sub(t0);
    let (stack_bytes, whole_stack_bytes) = probe.finish();
    Invoked {
        ticks,
        result,
        stack_bytes,
        whole_stack_bytes,
    }
}

/// The runtime's `invoke` as a call of its own (not inlined into [`ticks_around_invoke`]), so
/// that the probe counts the interpreter loop's frame with the rest of the inference.
#[inline(never)]
fn invoke<R: Runtime>(runtime: &mut R) -> Result<(), Error> {
    runtime.invoke()
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
        calibration_failed(expected, twice.wrapping_sub(once));
    }
    overhead
}

#[cold]
#[inline(never)]
fn calibration_failed(expected: u64, measured: u64) -> ! {
    let mut line = Line::new("mote-bench: error: timer calibration: a loop of ");
    line.uint(expected)
        .text(" instructions measured as ")
        .uint(measured)
        .text(" (is QEMU running with -icount shift=7?)")
        .send();
    exit_failure()
}

fn load_inputs<R: Runtime>(runtime: &mut R, inputs: &[&[u8]]) {
    for (i, bytes) in inputs.iter().enumerate() {
        match runtime.input_bytes_mut(i) {
            Ok(dst) if dst.len() == bytes.len() => dst.copy_from_slice(bytes),
            Ok(_) => fail("a test input's size differs from the model's input"),
            Err(e) => fail_with("reading an input", &e),
        }
    }
}

/// Whether every output equals the expected bytes; prints the first difference.
fn compare_outputs<R: Runtime>(runtime: &R, expected: &[&[u8]]) -> bool {
    for (j, want) in expected.iter().enumerate() {
        let got = match runtime.output_bytes(j) {
            Ok(got) => got,
            Err(e) => fail_with("reading an output", &e),
        };
        if got.len() != want.len() {
            print_difference(j, None);
            return false;
        }
        if let Some(k) = got.iter().zip(want.iter()).position(|(a, b)| a != b) {
            let byte = |bytes: &[u8]| bytes.get(k).copied().unwrap_or(0);
            print_difference(j, Some((k, byte(got), byte(want))));
            return false;
        }
    }
    true
}

/// Output `j` differs: in size (`None`), or at byte `k` (got, expected).
#[cold]
#[inline(never)]
fn print_difference(j: usize, at: Option<(usize, u8, u8)>) {
    let mut line = Line::new("mote-bench: output ");
    line.uint(j as u64);
    match at {
        None => line.text(" has a different size from the expected output"),
        Some((k, got, want)) => line
            .text(" differs at byte ")
            .uint(k as u64)
            .text(": got ")
            .uint(got as u64)
            .text(", expected ")
            .uint(want as u64),
    };
    line.send();
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
        print_op(
            op,
            opcode,
            instructions::<C>(ticks).saturating_sub(self.overhead),
        );
    }
}

/// One `mote-op` line; out of line, so that its buffer is not on the interpreter's stack
/// while the operators run.
#[inline(never)]
fn print_op(op: usize, opcode: OpCode, instructions: u64) {
    let mut line = Line::new("mote-op");
    line.field("index", op as u64)
        .text(" op=")
        .text(opcode.name())
        .field("instructions", instructions)
        .send();
}

/// Prints what failed and why, then exits with failure. The runtime's errors are described
/// without `core::fmt` (see [`out`]).
#[cold]
#[inline(never)]
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

/// Any panic ends the run as a failure, with a fixed message. Neither the panic's message
/// (which would need `core::fmt`) nor its location is printed: with the location, every panic
/// site in the firmware would keep its file name and a `Location` record in flash and pass
/// them to the handler, about 6 KB in all.
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    fail("panic")
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
