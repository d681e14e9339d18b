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

use super::{Channels4, Dw3x3Rows, FcRows};
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

/// Two filter rows against one expanded input row, the same function as
/// [`super::emulated::mac_rows2`]: per group of four bytes of each row one LDR and two
/// SXTB16, the input pair by one LDRD, four SMLAD (8 MACs in 11 instructions); two groups per
/// loop iteration.
#[inline(always)]
pub fn mac_rows2(acc: [i32; 2], row0: &[i8], row1: &[i8], x: &[u32], groups: usize) -> [i32; 2] {
    // Bounds first: the assembly reads exactly these ranges.
    let (row0, row1, x) = (&row0[..4 * groups], &row1[..4 * groups], &x[..2 * groups]);
    let [mut a0, mut a1] = acc;
    // SAFETY: reads `4 * groups` bytes from each row (LDR, unaligned allowed on ARMv7-M) and
    // `2 * groups` words from `x` (LDRD, which needs the word alignment `&[u32]` guarantees),
    // all in bounds by the slicing above; writes only the operands.
    unsafe {
        asm!(
            "lsrs {n}, {n}, #1",
            "bcc 2f",
            "ldrd {x0}, {x1}, [{px}], #8",
            "ldr {w}, [{p0}], #4",
            "sxtb16 {o}, {w}, ror #8",
            "sxtb16 {w}, {w}",
            "smlad {a0}, {w}, {x0}, {a0}",
            "smlad {a0}, {o}, {x1}, {a0}",
            "ldr {w}, [{p1}], #4",
            "sxtb16 {o}, {w}, ror #8",
            "sxtb16 {w}, {w}",
            "smlad {a1}, {w}, {x0}, {a1}",
            "smlad {a1}, {o}, {x1}, {a1}",
            "2:",
            "beq 4f",
            "3:",
            "ldrd {x0}, {x1}, [{px}], #8",
            "ldr {w}, [{p0}], #4",
            "sxtb16 {o}, {w}, ror #8",
            "sxtb16 {w}, {w}",
            "smlad {a0}, {w}, {x0}, {a0}",
            "smlad {a0}, {o}, {x1}, {a0}",
            "ldr {w}, [{p1}], #4",
            "sxtb16 {o}, {w}, ror #8",
            "sxtb16 {w}, {w}",
            "smlad {a1}, {w}, {x0}, {a1}",
            "smlad {a1}, {o}, {x1}, {a1}",
            "ldrd {x0}, {x1}, [{px}], #8",
            "ldr {w}, [{p0}], #4",
            "sxtb16 {o}, {w}, ror #8",
            "sxtb16 {w}, {w}",
            "smlad {a0}, {w}, {x0}, {a0}",
            "smlad {a0}, {o}, {x1}, {a0}",
            "ldr {w}, [{p1}], #4",
            "sxtb16 {o}, {w}, ror #8",
            "sxtb16 {w}, {w}",
            "smlad {a1}, {w}, {x0}, {a1}",
            "smlad {a1}, {o}, {x1}, {a1}",
            "subs {n}, {n}, #1",
            "bne 3b",
            "4:",
            n = inout(reg) groups => _,
            p0 = inout(reg) row0.as_ptr() => _,
            p1 = inout(reg) row1.as_ptr() => _,
            px = inout(reg) x.as_ptr() => _,
            w = out(reg) _,
            o = out(reg) _,
            x0 = out(reg) _,
            x1 = out(reg) _,
            a0 = inout(reg) a0,
            a1 = inout(reg) a1,
            options(readonly, nostack),
        );
    }
    [a0, a1]
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

/// The layout [`fc_rows3`]'s assembly reads (byte offsets in the comments).
#[repr(C)]
struct FcCtx {
    weights: u32,       // 0: the next triple's first row
    x: u32,             // 4
    groups: u32,        // 8
    k: u32,             // 12
    bias: u32,          // 16: the next triple's bias
    multiplier: u32,    // 20: the next triple's first multiplier
    shift_offset: u32,  // 24: shift address - multiplier address
    qstep: u32,         // 28: 4 per channel, 0 per tensor
    zp2p1: i32,         // 32
    act_min: i32,       // 36
    act_max: i32,       // 40
    saturate_only: u32, // 44
    out: u32,           // 48
    triples: u32,       // 52: triples left
}

/// Triples of fully connected outputs, the same function as [`super::emulated::fc_rows3`], in
/// one block of assembly: per triple the three biases, then per group of four input values one
/// LDRD of the input pairs and for each row one LDR, two SXTB16 and two SMLAD (12 MACs in 16
/// instructions), then each row's requantization (ADD of the sign correction, SMMLAR, ASR),
/// the clamp and three STRB. The loop's state lives in a context struct: the
/// multiply-accumulate loop needs the registers.
#[inline(never)]
pub fn fc_rows3(args: &FcRows<'_>, out: &mut [i8], triples: usize) {
    if !args.fits(out, triples) {
        return;
    }
    let base = args.multiplier.as_ptr() as u32;
    let mut ctx = FcCtx {
        weights: args.weights.as_ptr() as u32,
        x: args.x.as_ptr() as u32,
        groups: (args.k / 4) as u32,
        k: args.k as u32,
        bias: args.bias.as_ptr() as u32,
        multiplier: base,
        shift_offset: (args.shift.as_ptr() as u32).wrapping_sub(base),
        qstep: if args.per_channel { 4 } else { 0 },
        zp2p1: args.zero_point.wrapping_mul(2).wrapping_add(1),
        act_min: args.act_min,
        act_max: args.act_max,
        saturate_only: args.saturate_only as u32,
        out: out.as_mut_ptr() as u32,
        triples: triples as u32,
    };
    // SAFETY: `fits` checked that every address this reads or writes is inside the slices:
    // `3 * triples` rows of `k` bytes (a multiple of four) read four bytes at a time (LDR,
    // unaligned allowed on ARMv7-M), `k / 2` input words (LDRD: word-aligned as `&[u32]`),
    // one bias per row, one multiplier and shift per row or one in all, and `3 * triples`
    // outputs. `ctx` is valid for the block. Registers: the operands and the stack, where `ctx`
    // is saved during the inner loop.
    unsafe {
        asm!(
            "2:",
            "ldr {p0}, [{ctx}, #0]",
            "ldr {p2}, [{ctx}, #12]",
            "add {p1}, {p0}, {p2}",
            "add {p2}, {p1}, {p2}",
            "ldr {px}, [{ctx}, #4]",
            "ldr {w}, [{ctx}, #16]",
            "ldr {a0}, [{w}], #4",
            "ldr {a1}, [{w}], #4",
            "ldr {a2}, [{w}], #4",
            "str {w}, [{ctx}, #16]",
            "lsl {a0}, {a0}, #1",
            "lsl {a1}, {a1}, #1",
            "lsl {a2}, {a2}, #1",
            "push {{{ctx}}}",
            "ldr {ctx}, [{ctx}, #8]",
            "lsrs {ctx}, {ctx}, #1",
            "bcc 4f",
            "ldrd {x0}, {x1}, [{px}], #8",
            "ldr {w}, [{p0}], #4",
            "sxtb16 {o}, {w}, ror #8",
            "sxtb16 {w}, {w}",
            "smlad {a0}, {w}, {x0}, {a0}",
            "smlad {a0}, {o}, {x1}, {a0}",
            "ldr {w}, [{p1}], #4",
            "sxtb16 {o}, {w}, ror #8",
            "sxtb16 {w}, {w}",
            "smlad {a1}, {w}, {x0}, {a1}",
            "smlad {a1}, {o}, {x1}, {a1}",
            "ldr {w}, [{p2}], #4",
            "sxtb16 {o}, {w}, ror #8",
            "sxtb16 {w}, {w}",
            "smlad {a2}, {w}, {x0}, {a2}",
            "smlad {a2}, {o}, {x1}, {a2}",
            "4:",
            "beq 6f",
            "5:",
            "ldrd {x0}, {x1}, [{px}], #8",
            "ldr {w}, [{p0}], #4",
            "sxtb16 {o}, {w}, ror #8",
            "sxtb16 {w}, {w}",
            "smlad {a0}, {w}, {x0}, {a0}",
            "smlad {a0}, {o}, {x1}, {a0}",
            "ldr {w}, [{p1}], #4",
            "sxtb16 {o}, {w}, ror #8",
            "sxtb16 {w}, {w}",
            "smlad {a1}, {w}, {x0}, {a1}",
            "smlad {a1}, {o}, {x1}, {a1}",
            "ldr {w}, [{p2}], #4",
            "sxtb16 {o}, {w}, ror #8",
            "sxtb16 {w}, {w}",
            "smlad {a2}, {w}, {x0}, {a2}",
            "smlad {a2}, {o}, {x1}, {a2}",
            "ldrd {x0}, {x1}, [{px}], #8",
            "ldr {w}, [{p0}], #4",
            "sxtb16 {o}, {w}, ror #8",
            "sxtb16 {w}, {w}",
            "smlad {a0}, {w}, {x0}, {a0}",
            "smlad {a0}, {o}, {x1}, {a0}",
            "ldr {w}, [{p1}], #4",
            "sxtb16 {o}, {w}, ror #8",
            "sxtb16 {w}, {w}",
            "smlad {a1}, {w}, {x0}, {a1}",
            "smlad {a1}, {o}, {x1}, {a1}",
            "ldr {w}, [{p2}], #4",
            "sxtb16 {o}, {w}, ror #8",
            "sxtb16 {w}, {w}",
            "smlad {a2}, {w}, {x0}, {a2}",
            "smlad {a2}, {o}, {x1}, {a2}",
            "subs {ctx}, {ctx}, #1",
            "bne 5b",
            "6:",
            "pop {{{ctx}}}",
            // Rows are `k = 4 * groups` bytes: the third row's end is the next triple.
            "str {p2}, [{ctx}, #0]",
            "ldr {o}, [{ctx}, #28]",
            "ldr {px}, [{ctx}, #20]",
            "ldr {x1}, [{ctx}, #24]",
            "ldr {x0}, [{ctx}, #32]",
            // Row 0: e = -shift, addend = (2 * zp + 1) << (e - 1).
            "ldr {p0}, [{px}]",
            "ldr {p1}, [{px}, {x1}]",
            "rsb {p1}, {p1}, #0",
            "sub {w}, {p1}, #1",
            "lsl {w}, {x0}, {w}",
            "add {w}, {w}, {a0}, asr #31",
            "smmlar {a0}, {a0}, {p0}, {w}",
            "asr {a0}, {a0}, {p1}",
            "add {px}, {px}, {o}",
            // Row 1: e = -shift, addend = (2 * zp + 1) << (e - 1).
            "ldr {p0}, [{px}]",
            "ldr {p1}, [{px}, {x1}]",
            "rsb {p1}, {p1}, #0",
            "sub {w}, {p1}, #1",
            "lsl {w}, {x0}, {w}",
            "add {w}, {w}, {a1}, asr #31",
            "smmlar {a1}, {a1}, {p0}, {w}",
            "asr {a1}, {a1}, {p1}",
            "add {px}, {px}, {o}",
            // Row 2: e = -shift, addend = (2 * zp + 1) << (e - 1).
            "ldr {p0}, [{px}]",
            "ldr {p1}, [{px}, {x1}]",
            "rsb {p1}, {p1}, #0",
            "sub {w}, {p1}, #1",
            "lsl {w}, {x0}, {w}",
            "add {w}, {w}, {a2}, asr #31",
            "smmlar {a2}, {a2}, {p0}, {w}",
            "asr {a2}, {a2}, {p1}",
            "add {px}, {px}, {o}",
            "str {px}, [{ctx}, #20]",
            "ldr {w}, [{ctx}, #44]",
            "cmp {w}, #0",
            "beq 7f",
            "ssat {a0}, #8, {a0}",
            "ssat {a1}, #8, {a1}",
            "ssat {a2}, #8, {a2}",
            "b 8f",
            "7:",
            "ldr {w}, [{ctx}, #36]",
            "cmp {a0}, {w}",
            "it lt",
            "movlt {a0}, {w}",
            "cmp {a1}, {w}",
            "it lt",
            "movlt {a1}, {w}",
            "cmp {a2}, {w}",
            "it lt",
            "movlt {a2}, {w}",
            "ldr {w}, [{ctx}, #40]",
            "cmp {a0}, {w}",
            "it gt",
            "movgt {a0}, {w}",
            "cmp {a1}, {w}",
            "it gt",
            "movgt {a1}, {w}",
            "cmp {a2}, {w}",
            "it gt",
            "movgt {a2}, {w}",
            "8:",
            "ldr {w}, [{ctx}, #48]",
            "strb {a0}, [{w}], #1",
            "strb {a1}, [{w}], #1",
            "strb {a2}, [{w}], #1",
            "str {w}, [{ctx}, #48]",
            "ldr {w}, [{ctx}, #52]",
            "subs {w}, {w}, #1",
            "str {w}, [{ctx}, #52]",
            "bne 2b",
            ctx = inout(reg) &mut ctx as *mut FcCtx => _,
            p0 = out(reg) _,
            p1 = out(reg) _,
            p2 = out(reg) _,
            px = out(reg) _,
            w = out(reg) _,
            o = out(reg) _,
            x0 = out(reg) _,
            x1 = out(reg) _,
            a0 = out(reg) _,
            a1 = out(reg) _,
            a2 = out(reg) _,
        );
    }
}

/// Pairs of fully connected outputs for word-aligned rows whose length is a multiple of eight
/// bytes, the same function as [`super::emulated::fc_rows2_aligned`]: per eight input values
/// one LDM of four input pair words, and per row one LDRD of eight filter bytes, four SXTB16
/// and four SMLAD (16 MACs in 19 instructions); then the two rows' requantization, clamp and
/// stores, as [`fc_rows3`]. Same context layout as [`fc_rows3`].
#[inline(never)]
pub fn fc_rows2_aligned(args: &FcRows<'_>, out: &mut [i8], pairs: usize) {
    if !args.fits_aligned(out, pairs) {
        return;
    }
    let base = args.multiplier.as_ptr() as u32;
    let mut ctx = FcCtx {
        weights: args.weights.as_ptr() as u32,
        x: args.x.as_ptr() as u32,
        groups: (args.k / 8) as u32,
        k: args.k as u32,
        bias: args.bias.as_ptr() as u32,
        multiplier: base,
        shift_offset: (args.shift.as_ptr() as u32).wrapping_sub(base),
        qstep: if args.per_channel { 4 } else { 0 },
        zp2p1: args.zero_point.wrapping_mul(2).wrapping_add(1),
        act_min: args.act_min,
        act_max: args.act_max,
        saturate_only: args.saturate_only as u32,
        out: out.as_mut_ptr() as u32,
        triples: pairs as u32,
    };
    // SAFETY: `fits_aligned` checked that every address this reads or writes is inside the
    // slices: `2 * pairs` word-aligned rows of `k` bytes (a multiple of eight) read eight bytes
    // at a time (LDRD), `k / 2` input words read four at a time (LDM; word-aligned as
    // `&[u32]`), one bias per row, one multiplier and shift per row or one in all, and
    // `2 * pairs` outputs. `ctx` is valid for the block (`groups` holds eight-byte steps here,
    // `triples` the pairs). Registers: the operands, r0-r3 (declared clobbered) and the
    // stack, where `ctx` is saved during the inner loop.
    unsafe {
        asm!(
            "2:",
            "ldr {p0}, [{ctx}, #0]",
            "ldr {p1}, [{ctx}, #12]",
            "add {p1}, {p0}, {p1}",
            "ldr {px}, [{ctx}, #4]",
            "ldr {w0}, [{ctx}, #16]",
            "ldr {a0}, [{w0}], #4",
            "ldr {a1}, [{w0}], #4",
            "str {w0}, [{ctx}, #16]",
            "lsl {a0}, {a0}, #1",
            "lsl {a1}, {a1}, #1",
            "push {{{ctx}}}",
            "ldr {ctx}, [{ctx}, #8]",
            // Two steps of eight bytes per iteration; an odd one first.
            "lsrs {ctx}, {ctx}, #1",
            "bcc 4f",
            "ldm {px}!, {{r0, r1, r2, r3}}",
            "ldrd {w0}, {w1}, [{p0}], #8",
            "sxtb16 {o}, {w0}, ror #8",
            "sxtb16 {w0}, {w0}",
            "smlad {a0}, {w0}, r0, {a0}",
            "smlad {a0}, {o}, r1, {a0}",
            "sxtb16 {o}, {w1}, ror #8",
            "sxtb16 {w1}, {w1}",
            "smlad {a0}, {w1}, r2, {a0}",
            "smlad {a0}, {o}, r3, {a0}",
            "ldrd {w0}, {w1}, [{p1}], #8",
            "sxtb16 {o}, {w0}, ror #8",
            "sxtb16 {w0}, {w0}",
            "smlad {a1}, {w0}, r0, {a1}",
            "smlad {a1}, {o}, r1, {a1}",
            "sxtb16 {o}, {w1}, ror #8",
            "sxtb16 {w1}, {w1}",
            "smlad {a1}, {w1}, r2, {a1}",
            "smlad {a1}, {o}, r3, {a1}",
            "4:",
            "beq 6f",
            "3:",
            "ldm {px}!, {{r0, r1, r2, r3}}",
            "ldrd {w0}, {w1}, [{p0}], #8",
            "sxtb16 {o}, {w0}, ror #8",
            "sxtb16 {w0}, {w0}",
            "smlad {a0}, {w0}, r0, {a0}",
            "smlad {a0}, {o}, r1, {a0}",
            "sxtb16 {o}, {w1}, ror #8",
            "sxtb16 {w1}, {w1}",
            "smlad {a0}, {w1}, r2, {a0}",
            "smlad {a0}, {o}, r3, {a0}",
            "ldrd {w0}, {w1}, [{p1}], #8",
            "sxtb16 {o}, {w0}, ror #8",
            "sxtb16 {w0}, {w0}",
            "smlad {a1}, {w0}, r0, {a1}",
            "smlad {a1}, {o}, r1, {a1}",
            "sxtb16 {o}, {w1}, ror #8",
            "sxtb16 {w1}, {w1}",
            "smlad {a1}, {w1}, r2, {a1}",
            "smlad {a1}, {o}, r3, {a1}",
            "ldm {px}!, {{r0, r1, r2, r3}}",
            "ldrd {w0}, {w1}, [{p0}], #8",
            "sxtb16 {o}, {w0}, ror #8",
            "sxtb16 {w0}, {w0}",
            "smlad {a0}, {w0}, r0, {a0}",
            "smlad {a0}, {o}, r1, {a0}",
            "sxtb16 {o}, {w1}, ror #8",
            "sxtb16 {w1}, {w1}",
            "smlad {a0}, {w1}, r2, {a0}",
            "smlad {a0}, {o}, r3, {a0}",
            "ldrd {w0}, {w1}, [{p1}], #8",
            "sxtb16 {o}, {w0}, ror #8",
            "sxtb16 {w0}, {w0}",
            "smlad {a1}, {w0}, r0, {a1}",
            "smlad {a1}, {o}, r1, {a1}",
            "sxtb16 {o}, {w1}, ror #8",
            "sxtb16 {w1}, {w1}",
            "smlad {a1}, {w1}, r2, {a1}",
            "smlad {a1}, {o}, r3, {a1}",
            "subs {ctx}, {ctx}, #1",
            "bne 3b",
            "6:",
            "pop {{{ctx}}}",
            // Rows are `k` bytes: the second row's end is the next pair.
            "str {p1}, [{ctx}, #0]",
            "ldr r0, [{ctx}, #28]",
            "ldr {px}, [{ctx}, #20]",
            "ldr {w1}, [{ctx}, #24]",
            "ldr r1, [{ctx}, #32]",
            // Row 0: e = -shift, addend = (2 * zp + 1) << (e - 1).
            "ldr r2, [{px}]",
            "ldr r3, [{px}, {w1}]",
            "rsb r3, r3, #0",
            "sub {w0}, r3, #1",
            "lsl {w0}, r1, {w0}",
            "add {w0}, {w0}, {a0}, asr #31",
            "smmlar {a0}, {a0}, r2, {w0}",
            "asr {a0}, {a0}, r3",
            "add {px}, {px}, r0",
            // Row 1: e = -shift, addend = (2 * zp + 1) << (e - 1).
            "ldr r2, [{px}]",
            "ldr r3, [{px}, {w1}]",
            "rsb r3, r3, #0",
            "sub {w0}, r3, #1",
            "lsl {w0}, r1, {w0}",
            "add {w0}, {w0}, {a1}, asr #31",
            "smmlar {a1}, {a1}, r2, {w0}",
            "asr {a1}, {a1}, r3",
            "add {px}, {px}, r0",
            "str {px}, [{ctx}, #20]",
            "ldr {w0}, [{ctx}, #44]",
            "cmp {w0}, #0",
            "beq 7f",
            "ssat {a0}, #8, {a0}",
            "ssat {a1}, #8, {a1}",
            "b 8f",
            "7:",
            "ldr {w0}, [{ctx}, #36]",
            "cmp {a0}, {w0}",
            "it lt",
            "movlt {a0}, {w0}",
            "cmp {a1}, {w0}",
            "it lt",
            "movlt {a1}, {w0}",
            "ldr {w0}, [{ctx}, #40]",
            "cmp {a0}, {w0}",
            "it gt",
            "movgt {a0}, {w0}",
            "cmp {a1}, {w0}",
            "it gt",
            "movgt {a1}, {w0}",
            "8:",
            "ldr {w0}, [{ctx}, #48]",
            "strb {a0}, [{w0}], #1",
            "strb {a1}, [{w0}], #1",
            "str {w0}, [{ctx}, #48]",
            "ldr {w0}, [{ctx}, #52]",
            "subs {w0}, {w0}, #1",
            "str {w0}, [{ctx}, #52]",
            "bne 2b",
            ctx = inout(reg) &mut ctx as *mut FcCtx => _,
            p0 = out(reg) _,
            p1 = out(reg) _,
            px = out(reg) _,
            w0 = out(reg) _,
            w1 = out(reg) _,
            o = out(reg) _,
            a0 = out(reg) _,
            a1 = out(reg) _,
            out("r0") _,
            out("r1") _,
            out("r2") _,
            out("r3") _,
        );
    }
}
