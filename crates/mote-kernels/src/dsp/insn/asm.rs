//! The instructions themselves, through `asm!`. This is the only place in the crate with
//! `unsafe`: each block is one or two register-to-register instructions with no memory
//! access and no stack use, so the only obligations are the operand constraints stated in each
//! `asm!` (checked by the assembler) and the flag options:
//!
//! - `preserves_flags` only where the instruction writes no flag at all. SMLAD, SMLAxy and SSAT
//!   may set the sticky Q flag, SADD16/SSUB8 write the GE flags; Rust's `preserves_flags`
//!   covers Q and GE on Arm, so those blocks leave it out and the compiler treats the flags as
//!   clobbered.
//! - `pure, nomem`: the results depend only on the operands, so the compiler may merge or drop
//!   calls like ordinary arithmetic (the Q flag is never read).
//!
//! Each function is exactly the same function as its namesake in [`super::emulated`].

use super::{Channels4, Dw3x3Rows, FcInput, FcPairs, FcQuant, FcSmallRows};
use core::arch::asm;

/// See [`super::emulated::smlad`].
#[inline(always)]
pub fn smlad(x: u32, y: u32, acc: i32) -> i32 {
    let mut acc = acc;
    // SAFETY: register-only arithmetic (see the module docs). The accumulator is read and
    // written in one register, so a loop keeps it there without moves.
    unsafe {
        asm!("smlad {a}, {x}, {y}, {a}", a = inlateout(reg) acc, x = in(reg) x,
             y = in(reg) y, options(pure, nomem, nostack));
    }
    acc
}

/// See [`super::emulated::smlabb`].
#[inline(always)]
pub fn smlabb(x: u32, y: u32, acc: i32) -> i32 {
    let mut acc = acc;
    // SAFETY: register-only arithmetic (see the module docs). The accumulator is read and
    // written in one register, so a loop keeps it there without moves.
    unsafe {
        asm!("smlabb {a}, {x}, {y}, {a}", a = inlateout(reg) acc, x = in(reg) x,
             y = in(reg) y, options(pure, nomem, nostack));
    }
    acc
}

/// See [`super::emulated::smlabt`].
#[inline(always)]
pub fn smlabt(x: u32, y: u32, acc: i32) -> i32 {
    let mut acc = acc;
    // SAFETY: register-only arithmetic (see the module docs). The accumulator is read and
    // written in one register, so a loop keeps it there without moves.
    unsafe {
        asm!("smlabt {a}, {x}, {y}, {a}", a = inlateout(reg) acc, x = in(reg) x,
             y = in(reg) y, options(pure, nomem, nostack));
    }
    acc
}

/// See [`super::emulated::smlatb`].
#[inline(always)]
pub fn smlatb(x: u32, y: u32, acc: i32) -> i32 {
    let mut acc = acc;
    // SAFETY: register-only arithmetic (see the module docs). The accumulator is read and
    // written in one register, so a loop keeps it there without moves.
    unsafe {
        asm!("smlatb {a}, {x}, {y}, {a}", a = inlateout(reg) acc, x = in(reg) x,
             y = in(reg) y, options(pure, nomem, nostack));
    }
    acc
}

/// See [`super::emulated::smlatt`].
#[inline(always)]
pub fn smlatt(x: u32, y: u32, acc: i32) -> i32 {
    let mut acc = acc;
    // SAFETY: register-only arithmetic (see the module docs). The accumulator is read and
    // written in one register, so a loop keeps it there without moves.
    unsafe {
        asm!("smlatt {a}, {x}, {y}, {a}", a = inlateout(reg) acc, x = in(reg) x,
             y = in(reg) y, options(pure, nomem, nostack));
    }
    acc
}

/// See [`super::emulated::sxtb16`].
#[inline(always)]
pub fn sxtb16(x: u32) -> u32 {
    let r: u32;
    // SAFETY: register-only arithmetic (see the module docs).
    unsafe {
        asm!("sxtb16 {r}, {x}", r = lateout(reg) r, x = in(reg) x,
             options(pure, nomem, nostack, preserves_flags));
    }
    r
}

/// See [`super::emulated::sxtb16_ror8`].
#[inline(always)]
pub fn sxtb16_ror8(x: u32) -> u32 {
    let r: u32;
    // SAFETY: register-only arithmetic (see the module docs).
    unsafe {
        asm!("sxtb16 {r}, {x}, ror #8", r = lateout(reg) r, x = in(reg) x,
             options(pure, nomem, nostack, preserves_flags));
    }
    r
}

/// See [`super::emulated::sxtab16`].
#[inline(always)]
pub fn sxtab16(a: u32, x: u32) -> u32 {
    let r: u32;
    // SAFETY: register-only arithmetic (see the module docs).
    unsafe {
        asm!("sxtab16 {r}, {a}, {x}", r = lateout(reg) r, a = in(reg) a, x = in(reg) x,
             options(pure, nomem, nostack, preserves_flags));
    }
    r
}

/// See [`super::emulated::sxtab16_ror8`].
#[inline(always)]
pub fn sxtab16_ror8(a: u32, x: u32) -> u32 {
    let r: u32;
    // SAFETY: register-only arithmetic (see the module docs).
    unsafe {
        asm!("sxtab16 {r}, {a}, {x}, ror #8", r = lateout(reg) r, a = in(reg) a,
             x = in(reg) x, options(pure, nomem, nostack, preserves_flags));
    }
    r
}

/// See [`super::emulated::sadd16`].
#[inline(always)]
pub fn sadd16(a: u32, b: u32) -> u32 {
    let r: u32;
    // SAFETY: register-only arithmetic (see the module docs).
    unsafe {
        asm!("sadd16 {r}, {a}, {b}", r = lateout(reg) r, a = in(reg) a, b = in(reg) b,
             options(pure, nomem, nostack));
    }
    r
}

/// See [`super::emulated::pkhbt_lsl16`].
#[inline(always)]
pub fn pkhbt_lsl16(a: u32, b: u32) -> u32 {
    let r: u32;
    // SAFETY: register-only arithmetic (see the module docs).
    unsafe {
        asm!("pkhbt {r}, {a}, {b}, lsl #16", r = lateout(reg) r, a = in(reg) a, b = in(reg) b,
             options(pure, nomem, nostack, preserves_flags));
    }
    r
}

/// See [`super::emulated::pkhtb_asr16`].
#[inline(always)]
pub fn pkhtb_asr16(a: u32, b: u32) -> u32 {
    let r: u32;
    // SAFETY: register-only arithmetic (see the module docs).
    unsafe {
        asm!("pkhtb {r}, {a}, {b}, asr #16", r = lateout(reg) r, a = in(reg) a, b = in(reg) b,
             options(pure, nomem, nostack, preserves_flags));
    }
    r
}

/// See [`super::emulated::ssat8`].
#[inline(always)]
pub fn ssat8(x: i32) -> i32 {
    let r: i32;
    // SAFETY: register-only arithmetic (see the module docs).
    unsafe {
        asm!("ssat {r}, #8, {x}", r = lateout(reg) r, x = in(reg) x,
             options(pure, nomem, nostack));
    }
    r
}

/// See [`super::emulated::smmlar`].
#[inline(always)]
pub fn smmlar(x: i32, y: i32, acc: i32) -> i32 {
    let r: i32;
    // SAFETY: register-only arithmetic (see the module docs).
    unsafe {
        asm!("smmlar {r}, {x}, {y}, {a}", r = lateout(reg) r, x = in(reg) x, y = in(reg) y,
             a = in(reg) acc, options(pure, nomem, nostack, preserves_flags));
    }
    r
}

/// See [`super::emulated::max_s8x4`].
#[inline(always)]
pub fn max_s8x4(a: u32, b: u32) -> u32 {
    let r: u32;
    // SAFETY: register-only arithmetic (see the module docs). The GE flags SSUB8 sets are
    // consumed by SEL inside this block.
    unsafe {
        asm!("ssub8 {t}, {a}, {b}", "sel {r}, {a}, {b}", t = out(reg) _, r = lateout(reg) r,
             a = in(reg) a, b = in(reg) b, options(pure, nomem, nostack));
    }
    r
}

/// See [`super::emulated::min_s8x4`].
#[inline(always)]
pub fn min_s8x4(a: u32, b: u32) -> u32 {
    let r: u32;
    // SAFETY: register-only arithmetic (see the module docs). The GE flags SSUB8 sets are
    // consumed by SEL inside this block; SEL takes `b` where `a >= b`.
    unsafe {
        asm!("ssub8 {t}, {a}, {b}", "sel {r}, {b}, {a}", t = out(reg) _, r = lateout(reg) r,
             a = in(reg) a, b = in(reg) b, options(pure, nomem, nostack));
    }
    r
}

/// The inner loop of the 1×4 matrix kernel, the same function as
/// [`super::emulated::mac_block4`], as one block of assembly so that the register allocator
/// cannot spill it: per group of four filter bytes one LDR, two SXTB16, two LDM of four patch
/// words and eight SMLAD (16 MACs in 13 instructions), two groups per loop iteration.
///
/// Registers: the four patch words must be ascending for LDM, so they are `r0`–`r3`; the
/// nine other operands take the remaining allocatable registers (r4, r5, r6, r8–r12, lr; r7 is
/// the frame pointer). That is all of them: a caller that needs r6 as a base pointer (a frame
/// with over-aligned locals) would fail to compile, not miscompile.
#[inline(always)]
pub fn mac_block4(acc: [i32; 4], weights: &[i8], patches: &[u32], groups: usize) -> [i32; 4] {
    // Bounds first: the assembly reads exactly these ranges.
    let weights = &weights[..4 * groups];
    let patches = &patches[..8 * groups];
    let [mut a0, mut a1, mut a2, mut a3] = acc;
    // SAFETY: reads `4 * groups` bytes from `weights` (LDR, unaligned allowed on ARMv7-M) and
    // `8 * groups` words from `patches` (LDM, which needs the word alignment `&[u32]`
    // guarantees), both in bounds by the slicing above; writes only the named registers and
    // no other registers than the operands.
    unsafe {
        asm!(
            "lsrs {n}, {n}, #1",
            "bcc 2f",
            // One group when the count is odd (flags from LSRS survive: nothing below sets
            // N, Z, C or V).
            "ldr {w}, [{wp}], #4",
            "sxtb16 {o}, {w}, ror #8",
            "sxtb16 {w}, {w}",
            "ldm {pp}!, {{r0, r1, r2, r3}}",
            "smlad {a0}, {w}, r0, {a0}",
            "smlad {a0}, {o}, r1, {a0}",
            "smlad {a1}, {w}, r2, {a1}",
            "smlad {a1}, {o}, r3, {a1}",
            "ldm {pp}!, {{r0, r1, r2, r3}}",
            "smlad {a2}, {w}, r0, {a2}",
            "smlad {a2}, {o}, r1, {a2}",
            "smlad {a3}, {w}, r2, {a3}",
            "smlad {a3}, {o}, r3, {a3}",
            "2:",
            "beq 4f",
            "3:",
            "ldr {w}, [{wp}], #4",
            "sxtb16 {o}, {w}, ror #8",
            "sxtb16 {w}, {w}",
            "ldm {pp}!, {{r0, r1, r2, r3}}",
            "smlad {a0}, {w}, r0, {a0}",
            "smlad {a0}, {o}, r1, {a0}",
            "smlad {a1}, {w}, r2, {a1}",
            "smlad {a1}, {o}, r3, {a1}",
            "ldm {pp}!, {{r0, r1, r2, r3}}",
            "smlad {a2}, {w}, r0, {a2}",
            "smlad {a2}, {o}, r1, {a2}",
            "smlad {a3}, {w}, r2, {a3}",
            "smlad {a3}, {o}, r3, {a3}",
            "ldr {w}, [{wp}], #4",
            "sxtb16 {o}, {w}, ror #8",
            "sxtb16 {w}, {w}",
            "ldm {pp}!, {{r0, r1, r2, r3}}",
            "smlad {a0}, {w}, r0, {a0}",
            "smlad {a0}, {o}, r1, {a0}",
            "smlad {a1}, {w}, r2, {a1}",
            "smlad {a1}, {o}, r3, {a1}",
            "ldm {pp}!, {{r0, r1, r2, r3}}",
            "smlad {a2}, {w}, r0, {a2}",
            "smlad {a2}, {o}, r1, {a2}",
            "smlad {a3}, {w}, r2, {a3}",
            "smlad {a3}, {o}, r3, {a3}",
            "subs {n}, {n}, #1",
            "bne 3b",
            "4:",
            n = inout(reg) groups => _,
            wp = inout(reg) weights.as_ptr() => _,
            pp = inout(reg) patches.as_ptr() => _,
            w = out(reg) _,
            o = out(reg) _,
            a0 = inout(reg) a0,
            a1 = inout(reg) a1,
            a2 = inout(reg) a2,
            a3 = inout(reg) a3,
            out("r0") _,
            out("r1") _,
            out("r2") _,
            out("r3") _,
            options(readonly, nostack),
        );
    }
    [a0, a1, a2, a3]
}

/// The layout [`conv_channels4`]'s assembly reads (byte offsets in the comments).
#[repr(C)]
struct ChannelsCtx {
    weights: u32,       // 0: next filter row
    patches: u32,       // 4
    groups: u32,        // 8
    row_back: u32,      // 12: 4 * groups - k, to step back after a row's last group
    bias_offset: u32,   // 16: bias address - multiplier address
    multiplier: u32,    // 20: next channel's multiplier
    shift_offset: u32,  // 24: shift address - multiplier address
    zp2p1: i32,         // 28: 2 * zero_point + 1
    act_min: i32,       // 32
    act_max: i32,       // 36
    saturate_only: u32, // 40
    out: u32,           // 44: next channel's first output
    stride: u32,        // 48
    channels: u32,      // 52: channels left
}

/// The channel loop of the 1×4 matrix kernel, the same function as
/// [`super::emulated::conv_channels4`], in one block of assembly. Per channel: the bias, the
/// [`mac_block4`] loop, then the requantization of [`crate::dsp::requant`] (`ADD` of the sign
/// correction, `SMMLAR`, `ASR`), the clamp (one SSAT, or compare-and-move against the
/// bounds) and four STRB. The loop's own state lives in a small context struct in memory,
/// because the multiply-accumulate loop needs every register.
#[inline(never)]
pub fn conv_channels4(args: &Channels4<'_>, out: &mut [i8], stride: usize, channels: usize) {
    if !args.fits(out, stride, channels) {
        return;
    }
    let groups = args.k.div_ceil(4);
    let base = args.multiplier.as_ptr() as u32;
    let mut ctx = ChannelsCtx {
        weights: args.weights.as_ptr() as u32,
        patches: args.patches.as_ptr() as u32,
        groups: groups as u32,
        row_back: (4 * groups - args.k) as u32,
        bias_offset: (args.bias.as_ptr() as u32).wrapping_sub(base),
        multiplier: base,
        shift_offset: (args.shift.as_ptr() as u32).wrapping_sub(base),
        zp2p1: args.zero_point.wrapping_mul(2).wrapping_add(1),
        act_min: args.act_min,
        act_max: args.act_max,
        saturate_only: args.saturate_only as u32,
        out: out.as_mut_ptr() as u32,
        stride: stride as u32,
        channels: channels as u32,
    };
    // SAFETY: `fits` checked that every address this reads or writes is inside the slices:
    // `channels` filter rows of `4 * groups` bytes starting `k` apart, `8 * groups` patch
    // words (LDM: word-aligned as `&[u32]`), `channels` values of bias, multiplier and shift,
    // and outputs `p * stride + c` for `p < 4`, `c < channels`. The context struct is read and
    // written through `ctx`, which stays valid for the block. Registers: the operands, r0-r3
    // (declared clobbered) and the stack, where `ctx` is saved during the inner loop.
    unsafe {
        asm!(
            "2:",
            "ldr {wp}, [{ctx}, #0]",
            "ldr {pp}, [{ctx}, #4]",
            "ldr {w}, [{ctx}, #20]",
            "ldr {o}, [{ctx}, #16]",
            "ldr {a0}, [{w}, {o}]",
            "lsls {a0}, {a0}, #1",
            "mov {a1}, {a0}",
            "mov {a2}, {a0}",
            "mov {a3}, {a0}",
            "push {{{ctx}}}",
            "ldr {ctx}, [{ctx}, #8]",
            "lsrs {ctx}, {ctx}, #1",
            "bcc 4f",
            "ldr {w}, [{wp}], #4",
            "sxtb16 {o}, {w}, ror #8",
            "sxtb16 {w}, {w}",
            "ldm {pp}!, {{r0, r1, r2, r3}}",
            "smlad {a0}, {w}, r0, {a0}",
            "smlad {a0}, {o}, r1, {a0}",
            "smlad {a1}, {w}, r2, {a1}",
            "smlad {a1}, {o}, r3, {a1}",
            "ldm {pp}!, {{r0, r1, r2, r3}}",
            "smlad {a2}, {w}, r0, {a2}",
            "smlad {a2}, {o}, r1, {a2}",
            "smlad {a3}, {w}, r2, {a3}",
            "smlad {a3}, {o}, r3, {a3}",
            "4:",
            "beq 6f",
            "5:",
            "ldr {w}, [{wp}], #4",
            "sxtb16 {o}, {w}, ror #8",
            "sxtb16 {w}, {w}",
            "ldm {pp}!, {{r0, r1, r2, r3}}",
            "smlad {a0}, {w}, r0, {a0}",
            "smlad {a0}, {o}, r1, {a0}",
            "smlad {a1}, {w}, r2, {a1}",
            "smlad {a1}, {o}, r3, {a1}",
            "ldm {pp}!, {{r0, r1, r2, r3}}",
            "smlad {a2}, {w}, r0, {a2}",
            "smlad {a2}, {o}, r1, {a2}",
            "smlad {a3}, {w}, r2, {a3}",
            "smlad {a3}, {o}, r3, {a3}",
            "ldr {w}, [{wp}], #4",
            "sxtb16 {o}, {w}, ror #8",
            "sxtb16 {w}, {w}",
            "ldm {pp}!, {{r0, r1, r2, r3}}",
            "smlad {a0}, {w}, r0, {a0}",
            "smlad {a0}, {o}, r1, {a0}",
            "smlad {a1}, {w}, r2, {a1}",
            "smlad {a1}, {o}, r3, {a1}",
            "ldm {pp}!, {{r0, r1, r2, r3}}",
            "smlad {a2}, {w}, r0, {a2}",
            "smlad {a2}, {o}, r1, {a2}",
            "smlad {a3}, {w}, r2, {a3}",
            "smlad {a3}, {o}, r3, {a3}",
            "subs {ctx}, {ctx}, #1",
            "bne 5b",
            "6:",
            "pop {{{ctx}}}",
            // Next row.
            "ldr {pp}, [{ctx}, #12]",
            "sub {wp}, {wp}, {pp}",
            "str {wp}, [{ctx}, #0]",
            // Multiplier, shift, e = -shift, addend = (2 * zp + 1) << (e - 1).
            "ldr {pp}, [{ctx}, #20]",
            "ldr {o}, [{ctx}, #24]",
            "ldr {o}, [{pp}, {o}]",
            "ldr {w}, [{pp}], #4",
            "str {pp}, [{ctx}, #20]",
            "rsb {o}, {o}, #0",
            "sub {wp}, {o}, #1",
            "ldr {pp}, [{ctx}, #28]",
            "lsl {pp}, {pp}, {wp}",
            "add r0, {pp}, {a0}, asr #31",
            "smmlar {a0}, {a0}, {w}, r0",
            "asr {a0}, {a0}, {o}",
            "add r0, {pp}, {a1}, asr #31",
            "smmlar {a1}, {a1}, {w}, r0",
            "asr {a1}, {a1}, {o}",
            "add r0, {pp}, {a2}, asr #31",
            "smmlar {a2}, {a2}, {w}, r0",
            "asr {a2}, {a2}, {o}",
            "add r0, {pp}, {a3}, asr #31",
            "smmlar {a3}, {a3}, {w}, r0",
            "asr {a3}, {a3}, {o}",
            "ldr r0, [{ctx}, #40]",
            "cmp r0, #0",
            "beq 7f",
            "ssat {a0}, #8, {a0}",
            "ssat {a1}, #8, {a1}",
            "ssat {a2}, #8, {a2}",
            "ssat {a3}, #8, {a3}",
            "b 8f",
            "7:",
            "ldr r0, [{ctx}, #32]",
            "ldr r1, [{ctx}, #36]",
            "cmp {a0}, r0",
            "it lt",
            "movlt {a0}, r0",
            "cmp {a0}, r1",
            "it gt",
            "movgt {a0}, r1",
            "cmp {a1}, r0",
            "it lt",
            "movlt {a1}, r0",
            "cmp {a1}, r1",
            "it gt",
            "movgt {a1}, r1",
            "cmp {a2}, r0",
            "it lt",
            "movlt {a2}, r0",
            "cmp {a2}, r1",
            "it gt",
            "movgt {a2}, r1",
            "cmp {a3}, r0",
            "it lt",
            "movlt {a3}, r0",
            "cmp {a3}, r1",
            "it gt",
            "movgt {a3}, r1",
            "8:",
            "ldr r0, [{ctx}, #44]",
            "ldr r1, [{ctx}, #48]",
            "strb {a0}, [r0]",
            "strb {a1}, [r0, r1]",
            "add r2, r0, r1, lsl #1",
            "strb {a2}, [r2]",
            "strb {a3}, [r2, r1]",
            "add r0, r0, #1",
            "str r0, [{ctx}, #44]",
            "ldr r0, [{ctx}, #52]",
            "subs r0, r0, #1",
            "str r0, [{ctx}, #52]",
            "bne 2b",
            ctx = inout(reg) &mut ctx as *mut ChannelsCtx => _,
            wp = out(reg) _,
            pp = out(reg) _,
            w = out(reg) _,
            o = out(reg) _,
            a0 = out(reg) _,
            a1 = out(reg) _,
            a2 = out(reg) _,
            a3 = out(reg) _,
            out("r0") _,
            out("r1") _,
            out("r2") _,
            out("r3") _,
        );
    }
}

/// The layout [`dw3x3_rows`]'s assembly reads (byte offsets in the comments).
#[repr(C)]
struct DwCtx {
    rows: [u32; 3],  // 0: the three input rows' first window
    out: u32,        // 12
    step: u32,       // 16
    count: u32,      // 20: outputs left in the row
    init: i32,       // 24
    multiplier: i32, // 28
    addend: i32,     // 32
    shift: u32,      // 36
    act_min: i32,    // 40
    act_max: i32,    // 44
    w: [u32; 6],     // 48
    cols: u32,       // 72
    row_skip: u32,   // 76: bytes from a row's end to the next row's start
    rows_left: u32,  // 80
}

/// One channel's outputs of a 3×3 depthwise convolution, the same function as
/// [`super::emulated::dw3x3_rows`], in one block of assembly: per output six LDR and six
/// SMLAD with the filter in registers, then ADD, SMMLAR and ASR (the requantization), SSAT or
/// the bounds, and one STRB; a few instructions more per output row. One block per stride
/// (the post-increment is an immediate) and clamp.
#[inline(never)]
pub fn dw3x3_rows(args: &Dw3x3Rows<'_>, out: &mut [i8], step: usize) {
    if !args.fits(out, step) {
        return;
    }
    let mut ctx = DwCtx {
        rows: args.rows.map(|r| r.as_ptr() as u32),
        out: out.as_mut_ptr() as u32,
        step: step as u32,
        count: 0,
        init: args.init,
        multiplier: args.multiplier,
        addend: args.addend,
        shift: args.shift,
        act_min: args.act_min,
        act_max: args.act_max,
        w: args.w,
        cols: args.cols as u32,
        row_skip: (args.row_step - 2 * args.stride * args.cols) as u32,
        rows_left: args.rows_out as u32,
    };
    // SAFETY: `fits` checked that the reads (per output row, `cols` windows of eight bytes
    // `2 * stride` apart, rows `row_step` apart, in each input row slice; unaligned LDR is
    // allowed on ARMv7-M) and the writes (`rows_out * cols` bytes `step` apart) are inside the
    // slices; `ctx` is valid for the block and written only at its counters. Registers: the
    // operands only.
    unsafe {
        match (args.stride, args.saturate_only) {
            (1, true) => asm!(
            "ldr {rp0}, [{ctx}, #0]",
            "ldr {rp1}, [{ctx}, #4]",
            "ldr {rp2}, [{ctx}, #8]",
            "ldr {out}, [{ctx}, #12]",
            "ldr {w0}, [{ctx}, #48]",
            "ldr {w1}, [{ctx}, #52]",
            "ldr {w2}, [{ctx}, #56]",
            "ldr {w3}, [{ctx}, #60]",
            "ldr {w4}, [{ctx}, #64]",
            "ldr {w5}, [{ctx}, #68]",
            "3:",
            "ldr {t}, [{ctx}, #72]",
            "str {t}, [{ctx}, #20]",
            "2:",
            "ldr {acc}, [{ctx}, #24]",
            "ldr {t}, [{rp0}, #4]",
            "smlad {acc}, {t}, {w1}, {acc}",
            "ldr {t}, [{rp0}], #2",
            "smlad {acc}, {t}, {w0}, {acc}",
            "ldr {t}, [{rp1}, #4]",
            "smlad {acc}, {t}, {w3}, {acc}",
            "ldr {t}, [{rp1}], #2",
            "smlad {acc}, {t}, {w2}, {acc}",
            "ldr {t}, [{rp2}, #4]",
            "smlad {acc}, {t}, {w5}, {acc}",
            "ldr {t}, [{rp2}], #2",
            "smlad {acc}, {t}, {w4}, {acc}",
            "ldr {t}, [{ctx}, #32]",
            "add {t}, {t}, {acc}, asr #31",
            "ldr {w5}, [{ctx}, #28]",
            "smmlar {acc}, {acc}, {w5}, {t}",
            "ldr {t}, [{ctx}, #36]",
            "asr {acc}, {acc}, {t}",
            "ssat {acc}, #8, {acc}",
            "strb {acc}, [{out}]",
            "ldr {t}, [{ctx}, #16]",
            "add {out}, {out}, {t}",
            "ldr {w5}, [{ctx}, #68]",
            "ldr {t}, [{ctx}, #20]",
            "subs {t}, {t}, #1",
            "str {t}, [{ctx}, #20]",
            "bne 2b",
            "ldr {t}, [{ctx}, #76]",
            "add {rp0}, {rp0}, {t}",
            "add {rp1}, {rp1}, {t}",
            "add {rp2}, {rp2}, {t}",
            "ldr {t}, [{ctx}, #80]",
            "subs {t}, {t}, #1",
            "str {t}, [{ctx}, #80]",
            "bne 3b",
            ctx = in(reg) &mut ctx as *mut DwCtx,
            rp0 = out(reg) _,
            rp1 = out(reg) _,
            rp2 = out(reg) _,
            out = out(reg) _,
            acc = out(reg) _,
            t = out(reg) _,
            w0 = out(reg) _,
            w1 = out(reg) _,
            w2 = out(reg) _,
            w3 = out(reg) _,
            w4 = out(reg) _,
            w5 = out(reg) _,
            options(nostack),
            ),
            (1, false) => asm!(
            "ldr {rp0}, [{ctx}, #0]",
            "ldr {rp1}, [{ctx}, #4]",
            "ldr {rp2}, [{ctx}, #8]",
            "ldr {out}, [{ctx}, #12]",
            "ldr {w0}, [{ctx}, #48]",
            "ldr {w1}, [{ctx}, #52]",
            "ldr {w2}, [{ctx}, #56]",
            "ldr {w3}, [{ctx}, #60]",
            "ldr {w4}, [{ctx}, #64]",
            "ldr {w5}, [{ctx}, #68]",
            "3:",
            "ldr {t}, [{ctx}, #72]",
            "str {t}, [{ctx}, #20]",
            "2:",
            "ldr {acc}, [{ctx}, #24]",
            "ldr {t}, [{rp0}, #4]",
            "smlad {acc}, {t}, {w1}, {acc}",
            "ldr {t}, [{rp0}], #2",
            "smlad {acc}, {t}, {w0}, {acc}",
            "ldr {t}, [{rp1}, #4]",
            "smlad {acc}, {t}, {w3}, {acc}",
            "ldr {t}, [{rp1}], #2",
            "smlad {acc}, {t}, {w2}, {acc}",
            "ldr {t}, [{rp2}, #4]",
            "smlad {acc}, {t}, {w5}, {acc}",
            "ldr {t}, [{rp2}], #2",
            "smlad {acc}, {t}, {w4}, {acc}",
            "ldr {t}, [{ctx}, #32]",
            "add {t}, {t}, {acc}, asr #31",
            "ldr {w5}, [{ctx}, #28]",
            "smmlar {acc}, {acc}, {w5}, {t}",
            "ldr {t}, [{ctx}, #36]",
            "asr {acc}, {acc}, {t}",
            "ldr {t}, [{ctx}, #40]",
            "cmp {acc}, {t}",
            "it lt",
            "movlt {acc}, {t}",
            "ldr {t}, [{ctx}, #44]",
            "cmp {acc}, {t}",
            "it gt",
            "movgt {acc}, {t}",
            "strb {acc}, [{out}]",
            "ldr {t}, [{ctx}, #16]",
            "add {out}, {out}, {t}",
            "ldr {w5}, [{ctx}, #68]",
            "ldr {t}, [{ctx}, #20]",
            "subs {t}, {t}, #1",
            "str {t}, [{ctx}, #20]",
            "bne 2b",
            "ldr {t}, [{ctx}, #76]",
            "add {rp0}, {rp0}, {t}",
            "add {rp1}, {rp1}, {t}",
            "add {rp2}, {rp2}, {t}",
            "ldr {t}, [{ctx}, #80]",
            "subs {t}, {t}, #1",
            "str {t}, [{ctx}, #80]",
            "bne 3b",
            ctx = in(reg) &mut ctx as *mut DwCtx,
            rp0 = out(reg) _,
            rp1 = out(reg) _,
            rp2 = out(reg) _,
            out = out(reg) _,
            acc = out(reg) _,
            t = out(reg) _,
            w0 = out(reg) _,
            w1 = out(reg) _,
            w2 = out(reg) _,
            w3 = out(reg) _,
            w4 = out(reg) _,
            w5 = out(reg) _,
            options(nostack),
            ),
            (_, true) => asm!(
            "ldr {rp0}, [{ctx}, #0]",
            "ldr {rp1}, [{ctx}, #4]",
            "ldr {rp2}, [{ctx}, #8]",
            "ldr {out}, [{ctx}, #12]",
            "ldr {w0}, [{ctx}, #48]",
            "ldr {w1}, [{ctx}, #52]",
            "ldr {w2}, [{ctx}, #56]",
            "ldr {w3}, [{ctx}, #60]",
            "ldr {w4}, [{ctx}, #64]",
            "ldr {w5}, [{ctx}, #68]",
            "3:",
            "ldr {t}, [{ctx}, #72]",
            "str {t}, [{ctx}, #20]",
            "2:",
            "ldr {acc}, [{ctx}, #24]",
            "ldr {t}, [{rp0}, #4]",
            "smlad {acc}, {t}, {w1}, {acc}",
            "ldr {t}, [{rp0}], #4",
            "smlad {acc}, {t}, {w0}, {acc}",
            "ldr {t}, [{rp1}, #4]",
            "smlad {acc}, {t}, {w3}, {acc}",
            "ldr {t}, [{rp1}], #4",
            "smlad {acc}, {t}, {w2}, {acc}",
            "ldr {t}, [{rp2}, #4]",
            "smlad {acc}, {t}, {w5}, {acc}",
            "ldr {t}, [{rp2}], #4",
            "smlad {acc}, {t}, {w4}, {acc}",
            "ldr {t}, [{ctx}, #32]",
            "add {t}, {t}, {acc}, asr #31",
            "ldr {w5}, [{ctx}, #28]",
            "smmlar {acc}, {acc}, {w5}, {t}",
            "ldr {t}, [{ctx}, #36]",
            "asr {acc}, {acc}, {t}",
            "ssat {acc}, #8, {acc}",
            "strb {acc}, [{out}]",
            "ldr {t}, [{ctx}, #16]",
            "add {out}, {out}, {t}",
            "ldr {w5}, [{ctx}, #68]",
            "ldr {t}, [{ctx}, #20]",
            "subs {t}, {t}, #1",
            "str {t}, [{ctx}, #20]",
            "bne 2b",
            "ldr {t}, [{ctx}, #76]",
            "add {rp0}, {rp0}, {t}",
            "add {rp1}, {rp1}, {t}",
            "add {rp2}, {rp2}, {t}",
            "ldr {t}, [{ctx}, #80]",
            "subs {t}, {t}, #1",
            "str {t}, [{ctx}, #80]",
            "bne 3b",
            ctx = in(reg) &mut ctx as *mut DwCtx,
            rp0 = out(reg) _,
            rp1 = out(reg) _,
            rp2 = out(reg) _,
            out = out(reg) _,
            acc = out(reg) _,
            t = out(reg) _,
            w0 = out(reg) _,
            w1 = out(reg) _,
            w2 = out(reg) _,
            w3 = out(reg) _,
            w4 = out(reg) _,
            w5 = out(reg) _,
            options(nostack),
            ),
            (_, false) => asm!(
            "ldr {rp0}, [{ctx}, #0]",
            "ldr {rp1}, [{ctx}, #4]",
            "ldr {rp2}, [{ctx}, #8]",
            "ldr {out}, [{ctx}, #12]",
            "ldr {w0}, [{ctx}, #48]",
            "ldr {w1}, [{ctx}, #52]",
            "ldr {w2}, [{ctx}, #56]",
            "ldr {w3}, [{ctx}, #60]",
            "ldr {w4}, [{ctx}, #64]",
            "ldr {w5}, [{ctx}, #68]",
            "3:",
            "ldr {t}, [{ctx}, #72]",
            "str {t}, [{ctx}, #20]",
            "2:",
            "ldr {acc}, [{ctx}, #24]",
            "ldr {t}, [{rp0}, #4]",
            "smlad {acc}, {t}, {w1}, {acc}",
            "ldr {t}, [{rp0}], #4",
            "smlad {acc}, {t}, {w0}, {acc}",
            "ldr {t}, [{rp1}, #4]",
            "smlad {acc}, {t}, {w3}, {acc}",
            "ldr {t}, [{rp1}], #4",
            "smlad {acc}, {t}, {w2}, {acc}",
            "ldr {t}, [{rp2}, #4]",
            "smlad {acc}, {t}, {w5}, {acc}",
            "ldr {t}, [{rp2}], #4",
            "smlad {acc}, {t}, {w4}, {acc}",
            "ldr {t}, [{ctx}, #32]",
            "add {t}, {t}, {acc}, asr #31",
            "ldr {w5}, [{ctx}, #28]",
            "smmlar {acc}, {acc}, {w5}, {t}",
            "ldr {t}, [{ctx}, #36]",
            "asr {acc}, {acc}, {t}",
            "ldr {t}, [{ctx}, #40]",
            "cmp {acc}, {t}",
            "it lt",
            "movlt {acc}, {t}",
            "ldr {t}, [{ctx}, #44]",
            "cmp {acc}, {t}",
            "it gt",
            "movgt {acc}, {t}",
            "strb {acc}, [{out}]",
            "ldr {t}, [{ctx}, #16]",
            "add {out}, {out}, {t}",
            "ldr {w5}, [{ctx}, #68]",
            "ldr {t}, [{ctx}, #20]",
            "subs {t}, {t}, #1",
            "str {t}, [{ctx}, #20]",
            "bne 2b",
            "ldr {t}, [{ctx}, #76]",
            "add {rp0}, {rp0}, {t}",
            "add {rp1}, {rp1}, {t}",
            "add {rp2}, {rp2}, {t}",
            "ldr {t}, [{ctx}, #80]",
            "subs {t}, {t}, #1",
            "str {t}, [{ctx}, #80]",
            "bne 3b",
            ctx = in(reg) &mut ctx as *mut DwCtx,
            rp0 = out(reg) _,
            rp1 = out(reg) _,
            rp2 = out(reg) _,
            out = out(reg) _,
            acc = out(reg) _,
            t = out(reg) _,
            w0 = out(reg) _,
            w1 = out(reg) _,
            w2 = out(reg) _,
            w3 = out(reg) _,
            w4 = out(reg) _,
            w5 = out(reg) _,
            options(nostack),
            ),
        }
    }
}

/// What [`fc_pairs`]'s assembly works on (byte offsets in the comments): it reads it, and
/// keeps its loop state in it, through a pointer it saves on the stack.
#[repr(C)]
struct FcFrame {
    x: u32,          // 0: the input row or its expansion
    k: u32,          // 4: row length, bytes
    bias: u32,       // 8: the next pair's bias
    out: u32,        // 12: the next pair's outputs
    pairs: u32,      // 16: pairs left
    multiplier: u32, // 20: per tensor the multiplier; per channel the next pair's
    shift: u32,      // 24: per tensor e = -shift (right shift) or the left shift; per channel the next pair's
    addend: i32,     // 28: per tensor (2 * zp + 1) << (e - 1), or zp for a left shift; per channel 2 * zp + 1
    act_min: i32,    // 32
    act_max: i32,    // 36
    entry: u32,      // 40: inner loop: 4 * expanded + (8-value steps) % 4
    epilogue: u32,   // 44: 6 when a group of four values is left, else `quant`
    weights: u32,    // 48: the first pair's first row
    offset: u32,     // 52: the input offset in both halves
    x_end: u32,      // 56: where the input's 8-value steps end
    quant: u32,      // 60: requantization and clamp (the epilogue table's first six entries)
}

// One step of eight input values against two rows, straight from the int8 input: LDRD of the
// input, four SXTAB16 (the offset added), then per row LDRD, four SXTB16, four SMLAD: 16 MACs
// in 23 instructions. Registers: r0-r3 input pairs, r4-r6 filter words, r7/r8 accumulators,
// r9 offset, r10 input, r11/r12 rows, lr the end of the input's steps.
macro_rules! fc_step_direct {
    () => {
        "ldrd r0, r2, [r10], #8
        sxtab16 r1, r9, r0, ror #8
        sxtab16 r0, r9, r0
        sxtab16 r3, r9, r2, ror #8
        sxtab16 r2, r9, r2
        ldrd r4, r5, [r11], #8
        sxtb16 r6, r4, ror #8
        sxtb16 r4, r4
        smlad r7, r4, r0, r7
        smlad r7, r6, r1, r7
        sxtb16 r6, r5, ror #8
        sxtb16 r5, r5
        smlad r7, r5, r2, r7
        smlad r7, r6, r3, r7
        ldrd r4, r5, [r12], #8
        sxtb16 r6, r4, ror #8
        sxtb16 r4, r4
        smlad r8, r4, r0, r8
        smlad r8, r6, r1, r8
        sxtb16 r6, r5, ror #8
        sxtb16 r5, r5
        smlad r8, r5, r2, r8
        smlad r8, r6, r3, r8
        "
    };
}

// The same step from the expanded input: one LDM of four pair words (16 MACs in 19
// instructions).
macro_rules! fc_step_expanded {
    () => {
        "ldm r10!, {{r0-r3}}
        ldrd r4, r5, [r11], #8
        sxtb16 r6, r4, ror #8
        sxtb16 r4, r4
        smlad r7, r4, r0, r7
        smlad r7, r6, r1, r7
        sxtb16 r6, r5, ror #8
        sxtb16 r5, r5
        smlad r7, r5, r2, r7
        smlad r7, r6, r3, r7
        ldrd r4, r5, [r12], #8
        sxtb16 r6, r4, ror #8
        sxtb16 r4, r4
        smlad r8, r4, r0, r8
        smlad r8, r6, r1, r8
        sxtb16 r6, r5, ror #8
        sxtb16 r5, r5
        smlad r8, r5, r2, r8
        smlad r8, r6, r3, r8
        "
    };
}

// The last four input values of a row of `8n + 4` bytes, from the int8 input (at lr, where
// the steps ended; r10 holds the frame's address by then).
macro_rules! fc_tail_direct {
    () => {
        "ldr r0, [lr]
        sxtab16 r1, r9, r0, ror #8
        sxtab16 r0, r9, r0
        ldr r4, [r11], #4
        sxtb16 r6, r4, ror #8
        sxtb16 r4, r4
        smlad r7, r4, r0, r7
        smlad r7, r6, r1, r7
        ldr r4, [r12], #4
        sxtb16 r6, r4, ror #8
        sxtb16 r4, r4
        smlad r8, r4, r0, r8
        smlad r8, r6, r1, r8
        "
    };
}

// The last four input values from the expansion.
macro_rules! fc_tail_expanded {
    () => {
        "ldrd r0, r1, [lr]
        ldr r4, [r11], #4
        sxtb16 r6, r4, ror #8
        sxtb16 r4, r4
        smlad r7, r4, r0, r7
        smlad r7, r6, r1, r7
        ldr r4, [r12], #4
        sxtb16 r6, r4, ror #8
        sxtb16 r4, r4
        smlad r8, r4, r0, r8
        smlad r8, r6, r1, r8
        "
    };
}

// Jump through a TBH table of the requantization entry points, indexed by the frame word at
// `$slot` (`epilogue` or `quant`; r10 points at the frame); entry 6 (`$tail`) handles a last
// group of four first.
macro_rules! fc_epilogue_table {
    ($slot:literal, $tail:literal) => {
        concat!(
            "ldr r6, [r10, #", $slot, "]\n",
            "tbh [pc, r6, lsl #1]\n",
            "3:\n",
            ".hword (30f - 3b) / 2\n",
            ".hword (31f - 3b) / 2\n",
            ".hword (32f - 3b) / 2\n",
            ".hword (33f - 3b) / 2\n",
            ".hword (34f - 3b) / 2\n",
            ".hword (35f - 3b) / 2\n",
            ".hword (", $tail, " - 3b) / 2\n"
        )
    };
}

// A right-shift requantization of accumulator `$a` (bias plus products) with r0 = multiplier,
// r1 = e, r2 = addend: `SMMLAR(2a, m, addend + sign) >> e`, see `crate::dsp::requant`.
macro_rules! fc_requant_right {
    ($a:literal) => {
        concat!(
            "lsl ", $a, ", ", $a, ", #1\n",
            "add r3, r2, ", $a, ", asr #31\n",
            "smmlar ", $a, ", ", $a, ", r0, r3\n",
            "asr ", $a, ", ", $a, ", r1\n"
        )
    };
}

// A left-shift (or no shift) requantization, r1 = the shift, r2 = the zero point:
// `SMMLAR(2a << s, m, zp)`.
macro_rules! fc_requant_left {
    ($a:literal) => {
        concat!(
            "lsl ", $a, ", ", $a, ", #1\n",
            "lsl ", $a, ", ", $a, ", r1\n",
            "smmlar ", $a, ", ", $a, ", r0, r2\n"
        )
    };
}

// One row's per-channel requantization: r0/r1 point at its multiplier and shift (advanced),
// r2 = 2 * zp + 1; e = -shift, addend = (2 * zp + 1) << (e - 1).
macro_rules! fc_requant_channel {
    ($a:literal) => {
        concat!(
            "ldr r4, [r0], #4\n",
            "ldr r5, [r1], #4\n",
            "rsb r5, r5, #0\n",
            "sub r6, r5, #1\n",
            "lsl r6, r2, r6\n",
            "lsl ", $a, ", ", $a, ", #1\n",
            "add r6, r6, ", $a, ", asr #31\n",
            "smmlar ", $a, ", ", $a, ", r4, r6\n",
            "asr ", $a, ", ", $a, ", r5\n"
        )
    };
}

/// Pairs of fully connected outputs, the same function as [`super::emulated::fc_pairs`], in
/// one block of assembly. Per pair: the two biases, one of the inner loops (chosen once per
/// call through a TBH table: direct or expanded input, entered where the number of 8-value
/// steps modulo four says, four steps per iteration), a last group of four values if any,
/// the requantization (another table), the clamp and two STRB. Per pair of rows and eight
/// input values 23 instructions from the int8 input, 19 from the expansion; per pair about 28
/// more. The loop needs all fourteen general registers: the block saves r6 and r7 itself (the
/// compiler may not hand them out) and keeps its state in the frame, whose address it keeps on
/// the stack. Inlined into its one caller: a call of its own would save the callee-saved
/// registers a second time, on a stack that is most of a model's RAM.
#[inline(always)]
pub fn fc_pairs(args: &FcPairs<'_>, out: &mut [i8], pairs: usize) {
    if !args.fits(out, pairs) {
        return;
    }
    let k = args.k;
    let steps = (k / 8) as u32;
    let (x, step_bytes, expanded) = match args.input {
        FcInput::Direct(x) => (x.as_ptr() as u32, 8, 0),
        FcInput::Expanded(x) => (x.as_ptr() as u32, 16, 1),
    };
    let saturate_only = args.act_min == -128 && args.act_max == 127;
    let zp2p1 = args.zero_point.wrapping_mul(2).wrapping_add(1);
    let (multiplier, shift, addend, quant) = match args.quant {
        FcQuant::PerTensor { multiplier, shift } if shift < 0 => {
            let e = shift.unsigned_abs();
            (multiplier as u32, e, zp2p1 << (e - 1), 0)
        }
        FcQuant::PerTensor { multiplier, shift } => {
            (multiplier as u32, shift as u32, args.zero_point, 1)
        }
        FcQuant::PerChannel { multiplier, shift } => (
            multiplier.as_ptr() as u32,
            shift.as_ptr() as u32,
            zp2p1,
            2,
        ),
    };
    let quant = 2 * quant + (!saturate_only) as u32;
    let mut frame = FcFrame {
        x,
        k: k as u32,
        bias: args.bias.as_ptr() as u32,
        out: out.as_mut_ptr() as u32,
        pairs: pairs as u32,
        multiplier,
        shift,
        addend,
        act_min: args.act_min,
        act_max: args.act_max,
        entry: 4 * expanded + steps % 4,
        epilogue: if k % 8 == 4 { 6 } else { quant },
        weights: args.weights.as_ptr() as u32,
        offset: super::pack16(args.input_offset, args.input_offset),
        x_end: x.wrapping_add(steps * step_bytes),
        quant,
    };
    // SAFETY: `fits` checked everything the block reads and writes: `2 * pairs` rows of `k`
    // bytes (a multiple of four, at least eight) from a word-aligned start, read with LDRD and
    // LDR; the input, `k` word-aligned bytes (LDRD, LDR) or `k / 2` words (LDM, LDRD); one
    // bias per row (LDRD: word-aligned as `&[i32]`); one multiplier and shift per row when
    // per channel; `2 * pairs` output bytes. Every shift is in range, so the register shifts
    // are too. The block writes its loop state into `frame` (borrowed mutably), pushes three
    // words and pops them (the stack is balanced at its end), restores r6 and r7, and declares
    // every other register it writes.
    unsafe {
        asm!(
            // The frame's address stays at [sp]; outside the inner loops it is in r10.
            "push {{r0, r6, r7}}",
            "mov r10, r0",
            "ldr r12, [r10, #48]",
            "ldr r9, [r10, #52]",
            "ldr lr, [r10, #56]",
            // Per pair: rows r11 and r12 (the previous pair's end), biases, the inner loop.
            "20:",
            "ldrd r3, r4, [r10, #4]",
            "mov r11, r12",
            "add r12, r12, r3",
            "ldrd r7, r8, [r4], #8",
            "str r4, [r10, #8]",
            "ldr r6, [r10, #40]",
            "ldr r10, [r10, #0]",
            "tbh [pc, r6, lsl #1]",
            "3:",
            ".hword (41f - 3b) / 2",
            ".hword (44f - 3b) / 2",
            ".hword (43f - 3b) / 2",
            ".hword (42f - 3b) / 2",
            ".hword (45f - 3b) / 2",
            ".hword (48f - 3b) / 2",
            ".hword (47f - 3b) / 2",
            ".hword (46f - 3b) / 2",
            // Direct input: four steps per iteration, entered at step 4 - steps % 4.
            "41:",
            fc_step_direct!(),
            "42:",
            fc_step_direct!(),
            "43:",
            fc_step_direct!(),
            "44:",
            fc_step_direct!(),
            "cmp r10, lr",
            "bne 41b",
            "ldr r10, [sp]",
            fc_epilogue_table!("44", "49f"),
            "49:",
            fc_tail_direct!(),
            fc_epilogue_table!("60", "30f"),
            // Expanded input.
            "45:",
            fc_step_expanded!(),
            "46:",
            fc_step_expanded!(),
            "47:",
            fc_step_expanded!(),
            "48:",
            fc_step_expanded!(),
            "cmp r10, lr",
            "bne 45b",
            "ldr r10, [sp]",
            fc_epilogue_table!("44", "50f"),
            "50:",
            fc_tail_expanded!(),
            fc_epilogue_table!("60", "30f"),
            // Requantization, then the clamp, then the stores.
            "31:",
            "ldrd r0, r1, [r10, #20]",
            "ldr r2, [r10, #28]",
            fc_requant_right!("r7"),
            fc_requant_right!("r8"),
            "b 39f",
            "32:",
            "ldrd r0, r1, [r10, #20]",
            "ldr r2, [r10, #28]",
            fc_requant_left!("r7"),
            fc_requant_left!("r8"),
            "b 37f",
            "33:",
            "ldrd r0, r1, [r10, #20]",
            "ldr r2, [r10, #28]",
            fc_requant_left!("r7"),
            fc_requant_left!("r8"),
            "b 39f",
            "34:",
            "ldrd r0, r1, [r10, #20]",
            "ldr r2, [r10, #28]",
            fc_requant_channel!("r7"),
            fc_requant_channel!("r8"),
            "strd r0, r1, [r10, #20]",
            "b 37f",
            "35:",
            "ldrd r0, r1, [r10, #20]",
            "ldr r2, [r10, #28]",
            fc_requant_channel!("r7"),
            fc_requant_channel!("r8"),
            "strd r0, r1, [r10, #20]",
            // max(act_min) then min(act_max), as the reference.
            "39:",
            "ldrd r0, r1, [r10, #32]",
            "cmp r7, r0",
            "it lt",
            "movlt r7, r0",
            "cmp r8, r0",
            "it lt",
            "movlt r8, r0",
            "cmp r7, r1",
            "it gt",
            "movgt r7, r1",
            "cmp r8, r1",
            "it gt",
            "movgt r8, r1",
            "b 38f",
            "30:",
            "ldrd r0, r1, [r10, #20]",
            "ldr r2, [r10, #28]",
            fc_requant_right!("r7"),
            fc_requant_right!("r8"),
            "37:",
            "ssat r7, #8, r7",
            "ssat r8, #8, r8",
            "38:",
            "ldrd r4, r5, [r10, #12]",
            "strb r7, [r4], #1",
            "strb r8, [r4], #1",
            "subs r5, r5, #1",
            "strd r4, r5, [r10, #12]",
            "bne 20b",
            "pop {{r0, r6, r7}}",
            inout("r0") &mut frame as *mut FcFrame => _,
            out("r1") _,
            out("r2") _,
            out("r3") _,
            out("r4") _,
            out("r5") _,
            out("r8") _,
            out("r9") _,
            out("r10") _,
            out("r11") _,
            out("r12") _,
            out("lr") _,
        );
    }
}

/// What [`fc_small_rows`]'s assembly reads (byte offsets in the comments).
#[repr(C)]
struct FcSmallFrame {
    x: u32,            // 0
    words: u32,        // 4: k / 4
    tail: u32,         // 8: k % 4
    input_offset: i32, // 12
    addend: i32,       // 16
    right_shift: u32,  // 20
    act_min: i32,      // 24
    act_max: i32,      // 28
    weights: u32,      // 32
    bias: u32,         // 36
    out: u32,          // 40
    out_end: u32,      // 44
    offset2: u32,      // 48: input_offset in both 16-bit lanes
    multiplier: i32,   // 52
}

/// Fully connected outputs one row at a time, the same function as
/// [`super::emulated::fc_small_rows`], in one assembly loop: per row one load of the bias,
/// ten instructions per four bytes (two LDR, two SXTAB16, two SXTB16, two SMLAD and the
/// count), six per leftover byte, and fifteen for the requantization (LSL, ADD, SMMLAR, ASR),
/// the clamp and the store, with every constant in a register or one LDRD away. What the
/// compiler made of the same loop at the boards' opt-level `s` reloaded eight spilled values
/// per row. Does nothing unless [`FcSmallRows::fits`].
#[inline(never)]
pub fn fc_small_rows(args: &FcSmallRows<'_>, out: &mut [i8]) {
    if !args.fits(out) {
        return;
    }
    let k = args.x.len();
    let frame = FcSmallFrame {
        x: args.x.as_ptr() as u32,
        words: (k / 4) as u32,
        tail: (k % 4) as u32,
        input_offset: args.input_offset,
        addend: args.addend,
        right_shift: args.right_shift,
        act_min: args.act_min,
        act_max: args.act_max,
        weights: args.weights.as_ptr() as u32,
        bias: args.bias.as_ptr() as u32,
        out: out.as_mut_ptr() as u32,
        out_end: out.as_mut_ptr().wrapping_add(out.len()) as u32,
        offset2: super::pack16(args.input_offset, args.input_offset),
        multiplier: args.multiplier,
    };
    // SAFETY: `fits` checked that there is at least one row, one bias per row, `rows * k`
    // filter bytes and `k` input bytes; the block reads exactly those (LDR, which may be
    // unaligned on these cores, and LDRSB), the frame (LDRD, word-aligned as `repr(C)` of
    // words) and writes the `rows` output bytes. The right shift is in 1..=31. It pushes r6
    // and r7 (which the compiler may not hand out) and pops them at its end, and declares
    // every other register it writes.
    unsafe {
        asm!(
            "push {{r6, r7}}",
            "mov r11, r0",
            "ldrd r0, r8, [r11, #32]",
            "ldrd r9, r10, [r11, #40]",
            "ldrd r12, lr, [r11, #48]",
            // Per row: the bias, then the words of the row.
            "2:",
            "ldrd r1, r2, [r11, #0]",
            "ldr r3, [r8], #4",
            "cbz r2, 4f",
            "3:",
            "ldr r4, [r1], #4",
            "ldr r5, [r0], #4",
            "sxtab16 r6, r12, r4",
            "sxtb16 r7, r5",
            "smlad r3, r6, r7, r3",
            "sxtab16 r6, r12, r4, ror #8",
            "sxtb16 r7, r5, ror #8",
            "smlad r3, r6, r7, r3",
            "subs r2, r2, #1",
            "bne 3b",
            // The leftover bytes.
            "4:",
            "ldrd r2, r6, [r11, #8]",
            "cbz r2, 6f",
            "5:",
            "ldrsb r4, [r1], #1",
            "ldrsb r5, [r0], #1",
            "add r4, r4, r6",
            "mla r3, r4, r5, r3",
            "subs r2, r2, #1",
            "bne 5b",
            // SMMLAR(2 acc, m, addend + sign) >> e, max(act_min), min(act_max), store.
            "6:",
            "ldrd r4, r5, [r11, #16]",
            "ldrd r6, r7, [r11, #24]",
            "lsls r3, r3, #1",
            "add r4, r4, r3, asr #31",
            "smmlar r3, r3, lr, r4",
            "asrs r3, r3, r5",
            "cmp r3, r6",
            "it lt",
            "movlt r3, r6",
            "cmp r3, r7",
            "it gt",
            "movgt r3, r7",
            "strb r3, [r9], #1",
            "cmp r9, r10",
            "bne 2b",
            "pop {{r6, r7}}",
            inout("r0") &frame as *const FcSmallFrame => _,
            out("r1") _,
            out("r2") _,
            out("r3") _,
            out("r4") _,
            out("r5") _,
            out("r8") _,
            out("r9") _,
            out("r10") _,
            out("r11") _,
            out("r12") _,
            out("lr") _,
        );
    }
}
