//! Stack high-water marks by painting: fill the unused stack with a pattern, run the work,
//! then find the lowest word that no longer holds it. The stack grows down from
//! `_stack_start` (the top of RAM) towards `_stack_end` (the end of the statics), both
//! defined by cortex-m-rt's linker script.
//!
//! Two figures come out of it. [`paint`] at the start of `main` and [`low_water`] at the end
//! give the whole program's deepest stack, from reset on. [`Probe`] measures one call: it
//! repaints what has been used so far, down to the stack pointer of the function that makes
//! the call (the compiler never stores below the stack pointer, and the repainting is an
//! `asm!` block inlined into that function, using registers only), then counts the bytes
//! below that stack pointer that the call wrote. That is exactly the call's stack, with
//! nothing of the caller's.

use core::ptr::{addr_of, read_volatile};

/// The paint: a word unlikely to be stored by real code.
const PAINT: u32 = 0x6d6f_7465; // "mote"

extern "C" {
    static _stack_start: u32;
    static _stack_end: u32;
}

fn bounds() -> (usize, usize) {
    // Only the addresses of the linker-defined symbols are taken, never their values.
    (
        (addr_of!(_stack_end) as usize + 3) & !3,
        addr_of!(_stack_start) as usize,
    )
}

/// Writes the paint from `from` (word-aligned) up to the current stack pointer, and returns
/// the stack pointer. One `asm!` block reads the stack pointer and paints below it, so that
/// nothing the compiler places around it (a prologue that pushes registers, say) can come
/// between the reading and the painting and be painted over.
#[inline(always)]
fn fill_to_sp(from: usize) -> usize {
    let sp: usize;
    // SAFETY: writes only below the stack pointer, down to `from`: memory between the statics
    // and the live stack that nothing uses at this moment (no interrupts are enabled, and the
    // compiler never keeps anything below the stack pointer). Low registers and Thumb-1
    // instructions only, for the Cortex-M0 as well.
    unsafe {
        core::arch::asm!(
            "mov {sp}, sp",
            "2:",
            "cmp {p}, {sp}",
            "bhs 3f",
            "str {paint}, [{p}]",
            "adds {p}, {p}, #4",
            "b 2b",
            "3:",
            p = inout(reg) from => _,
            sp = out(reg) sp,
            paint = in(reg) PAINT,
            options(nostack),
        )
    };
    sp
}

/// Paints the free stack, up to the stack pointer. Call first thing in `main`, before
/// anything deep runs.
#[inline(never)]
pub fn paint() {
    fill_to_sp(bounds().0);
}

/// The lowest stack address written since the last painting (the top of the stack if none).
/// Inlined: a frame of its own would be written below the stack it measures.
#[inline(always)]
pub fn low_water() -> usize {
    let (bottom, top) = bounds();
    let mut p = bottom;
    // SAFETY: reads words of RAM between the statics and the top of the stack.
    while p < top && unsafe { read_volatile(p as *const u32) } == PAINT {
        p += 4;
    }
    p
}

/// Bytes of stack used since [`paint`]: from the top of RAM down to the deepest word that
/// was written.
pub fn high_water() -> usize {
    bounds().1 - low_water()
}

/// Measures the stack of one call; see the module's documentation.
pub struct Probe {
    /// The stack pointer when the probe was started: the call's stack starts below it.
    sp: usize,
    /// The program's deepest stack address before the probe repainted.
    deepest_before: usize,
}

impl Probe {
    /// Repaints the stack used so far, up to the caller's stack pointer. Inlined, so that the
    /// stack pointer is the caller's; make the call to measure right after.
    #[inline(always)]
    pub fn start() -> Probe {
        let deepest_before = low_water();
        let sp = fill_to_sp(deepest_before);
        Probe { sp, deepest_before }
    }

    /// The bytes the call wrote below the stack pointer at [`Probe::start`], and the whole
    /// program's stack high-water mark so far (the measured call included).
    #[inline(always)]
    pub fn finish(self) -> (usize, usize) {
        let low = low_water();
        (
            self.sp.saturating_sub(low),
            bounds().1 - low.min(self.deepest_before),
        )
    }
}
