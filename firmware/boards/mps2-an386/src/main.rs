//! mote firmware for QEMU's `mps2-an386` (Cortex-M4F): runs the embedded model on the
//! embedded test inputs and reports instructions, stack and whether the outputs match (see
//! `mote-harness`). Run with `cargo run --release` from this folder.

#![no_std]
#![no_main]

use core::ptr::{read_volatile, write_volatile};

use cortex_m_rt::{entry, exception, ExceptionFrame};
use mote_harness::Clock;
use mote_runtime::Arena;

mod vectors;

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

/// CMSDK APB timer 0: a 32-bit down-counter on the 25 MHz system clock, 3.2 ticks per
/// instruction at `-icount shift=7` (checked by experiment: a loop of 2,000,000
/// instructions reads 6,400,003 ticks).
struct Timer0;

const TIMER0: usize = 0x4000_0000;
const CTRL: *mut u32 = TIMER0 as *mut u32;
const VALUE: *mut u32 = (TIMER0 + 0x4) as *mut u32;
const RELOAD: *mut u32 = (TIMER0 + 0x8) as *mut u32;

impl Timer0 {
    fn start() -> Self {
        // SAFETY: the timer's registers on this board; nothing else uses the timer.
        unsafe {
            write_volatile(RELOAD, u32::MAX);
            write_volatile(VALUE, u32::MAX);
            write_volatile(CTRL, 1); // enable, no interrupt
        }
        Timer0
    }
}

impl Clock for Timer0 {
    const TICKS_PER_INSTRUCTION: (u32, u32) = (16, 5);

    #[inline(always)]
    fn ticks(&self) -> u32 {
        // SAFETY: a read of the timer's current value; it counts down, so invert it.
        !unsafe { read_volatile(VALUE) }
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
