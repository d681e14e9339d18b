//! The optimized kernels' property tests on the device: random cases for every DSP kernel,
//! each compared byte for byte with the reference kernel compiled into the same firmware, and
//! the instruction wrappers' assembly against their portable emulation (see
//! `mote_kernels::dsp::self_test`). Prints one line and exits through semihosting, with a
//! failure status on any mismatch.
//!
//! `cargo run --release --bin kernels-self-test` from this folder; `MOTE_SELF_TEST_SEED`
//! and `MOTE_SELF_TEST_CASES` (at build time) choose the cases.

#![no_std]
#![no_main]

#[path = "../vectors.rs"]
mod vectors;

use cortex_m_rt::{entry, exception, ExceptionFrame};
use mote_harness::{exit_failure, exit_success, Line};
use mote_kernels::dsp::self_test::{self_test, Mismatch, KERNELS};

/// Room for the largest case the generators make (input, filter, two outputs, scratch).
const WORKSPACE_BYTES: usize = 64 * 1024;
static mut WORKSPACE: [u8; WORKSPACE_BYTES] = [0; WORKSPACE_BYTES];

const SEED: u64 = parse(option_env!("MOTE_SELF_TEST_SEED"), 0x6d6f_7465);
const CASES: usize = parse(option_env!("MOTE_SELF_TEST_CASES"), 300) as usize;

/// A decimal number from the environment at build time, or `default`.
const fn parse(text: Option<&str>, default: u64) -> u64 {
    let Some(text) = text else {
        return default;
    };
    let bytes = text.as_bytes();
    let (mut value, mut i) = (0u64, 0);
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            return default;
        }
        value = value * 10 + (bytes[i] - b'0') as u64;
        i += 1;
    }
    value
}

#[entry]
fn main() -> ! {
    // SAFETY: `main` runs once and is the only code that touches WORKSPACE.
    let workspace = unsafe { &mut *core::ptr::addr_of_mut!(WORKSPACE) };
    match self_test(SEED, CASES, workspace) {
        Ok(summary) => {
            let mut line = Line::new("mote-kernels self-test: ok");
            line.field("seed", SEED)
                .field("cases", summary.cases as u64);
            for (name, fast) in KERNELS.iter().zip(summary.fast) {
                line.text(" ").text(name).text("_fast=").uint(fast as u64);
            }
            line.send();
            exit_success()
        }
        Err(mismatch) => {
            let mut line = Line::new("mote-kernels self-test: FAILED");
            line.field("seed", SEED);
            match mismatch {
                Mismatch::Output {
                    kernel,
                    seed,
                    index,
                    expected,
                    got,
                } => {
                    line.text(" kernel=").text(kernel).field("case_seed", seed);
                    line.field("index", index as u64);
                    line.field("expected", expected as u8 as u64)
                        .field("got", got as u8 as u64);
                }
                Mismatch::Instruction {
                    name,
                    inputs,
                    expected,
                    got,
                } => {
                    line.text(" instruction=").text(name);
                    for x in inputs {
                        line.text(" ").hex32(x);
                    }
                    line.text(" expected=")
                        .hex32(expected)
                        .text(" got=")
                        .hex32(got);
                }
                Mismatch::Workspace { kernel, needed } => {
                    line.text(" workspace_too_small kernel=").text(kernel);
                    line.field("needed", needed as u64);
                }
            }
            line.send();
            exit_failure()
        }
    }
}

#[exception]
unsafe fn HardFault(_frame: &ExceptionFrame) -> ! {
    mote_harness::fail("hard fault")
}
