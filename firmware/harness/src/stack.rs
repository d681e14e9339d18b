//! Stack high-water mark by painting: fill the unused stack with a pattern at start-up, and
//! after the work find the lowest word that no longer holds it. The stack grows down from
//! `_stack_start` (the top of RAM) towards `_stack_end` (the end of the statics), both
//! defined by cortex-m-rt's linker script.

use core::ptr::{addr_of, read_volatile, write_volatile};

/// The paint: a word unlikely to be stored by real code.
const PAINT: u32 = 0x6d6f_7465; // "mote"
/// Words just below the current stack pointer left unpainted: room for this function's own
/// frame should the compiler give it one.
const MARGIN: usize = 64;

extern "C" {
    static _stack_start: u32;
    static _stack_end: u32;
}

fn bounds() -> (usize, usize) {
    // Only the addresses of the linker-defined symbols are taken, never their values.
    (
        addr_of!(_stack_end) as usize,
        addr_of!(_stack_start) as usize,
    )
}

/// Paints the free stack. Call first thing in `main`, before anything deep runs.
#[inline(never)]
pub fn paint() {
    let sp: usize;
    // SAFETY: reads the stack pointer into a register; no memory is touched.
    unsafe { core::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack)) };
    let (bottom, _) = bounds();
    let mut p = (bottom + 3) & !3;
    while p + 4 <= sp.saturating_sub(MARGIN) {
        // SAFETY: [bottom, sp - MARGIN) is RAM between the statics and the live stack, which
        // nothing uses yet (no interrupts are enabled, nothing has allocated there).
        unsafe { write_volatile(p as *mut u32, PAINT) };
        p += 4;
    }
}

/// Bytes of stack used since [`paint`]: from the top of RAM down to the deepest word that
/// was written.
pub fn high_water() -> usize {
    let (bottom, top) = bounds();
    let mut p = (bottom + 3) & !3;
    // SAFETY: reads words of RAM between the statics and the top of the stack.
    while p < top && unsafe { read_volatile(p as *const u32) } == PAINT {
        p += 4;
    }
    top - p
}
