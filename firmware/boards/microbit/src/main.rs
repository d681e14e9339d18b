//! mote firmware for QEMU's `microbit` (nRF51822, Cortex-M0, 256 KiB flash and
//! 16 KiB RAM): runs the embedded model on the
//! embedded test inputs and reports instructions, stack and whether the outputs match (see
//! `mote-harness`). Run with `cargo run --release` from this folder.

#![no_std]
#![no_main]

use core::ptr::{read_volatile, write_volatile};

use cortex_m_rt::{entry, exception, ExceptionFrame};
use mote_harness::Clock;
use mote_runtime::Arena;

#[allow(dead_code)]
mod model {
    include!(concat!(env!("OUT_DIR"), "/mote_model.rs"));
}

/// The model compiled ahead of time, when built with `MOTE_RUNTIME=compiled`.
#[cfg(mote_compiled)]
mod plan {
    include!(concat!(env!("OUT_DIR"), "/mote_plan.rs"));
}

static mut ARENA: Arena<{ model::ARENA_BYTES }> = Arena::new();

/// nRF51 TIMER0 in 32-bit timer mode at 16 MHz (prescaler 0), 2.048 ticks per instruction
/// at `-icount shift=7` (checked by experiment: a loop of 2,000,000 instructions reads
/// 4,096,006 ticks). The counter is not readable directly: a CAPTURE task copies it into a
/// compare register.
struct Timer0;

const TIMER0: usize = 0x4000_8000;
const TASKS_START: *mut u32 = TIMER0 as *mut u32;
const TASKS_CLEAR: *mut u32 = (TIMER0 + 0x00c) as *mut u32;
const TASKS_CAPTURE0: *mut u32 = (TIMER0 + 0x040) as *mut u32;
const MODE: *mut u32 = (TIMER0 + 0x504) as *mut u32;
const BITMODE: *mut u32 = (TIMER0 + 0x508) as *mut u32;
const PRESCALER: *mut u32 = (TIMER0 + 0x510) as *mut u32;
const CC0: *mut u32 = (TIMER0 + 0x540) as *mut u32;

impl Timer0 {
    fn start() -> Self {
        // SAFETY: the timer's registers on this chip; nothing else uses the timer.
        unsafe {
            write_volatile(MODE, 0); // timer, not counter
            write_volatile(BITMODE, 3); // 32 bits
            write_volatile(PRESCALER, 0); // 16 MHz
            write_volatile(TASKS_CLEAR, 1);
            write_volatile(TASKS_START, 1);
        }
        Timer0
    }
}

impl Clock for Timer0 {
    const TICKS_PER_INSTRUCTION: (u32, u32) = (256, 125);

    #[inline(always)]
    fn ticks(&self) -> u32 {
        // SAFETY: capture the counter into CC[0], then read it.
        unsafe {
            write_volatile(TASKS_CAPTURE0, 1);
            read_volatile(CC0)
        }
    }
}

#[entry]
fn main() -> ! {
    mote_harness::paint_stack();
    let timer = Timer0::start();
    // SAFETY: `main` runs once and is the only code that touches ARENA.
    let arena = unsafe { &mut *core::ptr::addr_of_mut!(ARENA) };
    #[cfg(not(mote_compiled))]
    mote_harness::run::<_, { model::OPS }>(
        &timer,
        &mote_harness::bench!(model),
        arena.as_mut_slice(),
    );
    #[cfg(mote_compiled)]
    mote_harness::run_compiled(
        &timer,
        &mote_harness::bench!(model),
        mote_runtime::plan::Compiled::new(
            &mut arena.0,
            &plan::INPUTS_RANGES,
            &plan::OUTPUTS_RANGES,
            plan::invoke,
        ),
    );
}

#[exception]
unsafe fn HardFault(_frame: &ExceptionFrame) -> ! {
    mote_harness::fail("hard fault")
}
