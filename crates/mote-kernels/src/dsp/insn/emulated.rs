//! Portable Rust with the exact semantics of each instruction (Arm Architecture Reference
//! Manual, ARMv7-M, section A7.7). Used on every target without the DSP extension, and on the
//! device by the self-test to check the assembly against it.

use super::{hi16, lo16, pack16, Channels4, Dw3x3Rows, FcInput, FcPairs, FcQuant, FcSmallRows};

/// `SMLAD`: `acc + x.lo*y.lo + x.hi*y.hi` (signed 16×16 products), low 32 bits of the exact
/// sum. Each product fits in 32 bits; the hardware sets Q if the sum does not, and keeps the
/// wrapped value, which is what this returns.
#[inline(always)]
pub fn smlad(x: u32, y: u32, acc: i32) -> i32 {
    acc.wrapping_add(lo16(x) * lo16(y))
        .wrapping_add(hi16(x) * hi16(y))
}

/// `SMLABB`: `acc + x.lo*y.lo`, wrapping.
#[inline(always)]
pub fn smlabb(x: u32, y: u32, acc: i32) -> i32 {
    acc.wrapping_add(lo16(x) * lo16(y))
}

/// `SMLABT`: `acc + x.lo*y.hi`, wrapping.
#[inline(always)]
pub fn smlabt(x: u32, y: u32, acc: i32) -> i32 {
    acc.wrapping_add(lo16(x) * hi16(y))
}

/// `SMLATB`: `acc + x.hi*y.lo`, wrapping.
#[inline(always)]
pub fn smlatb(x: u32, y: u32, acc: i32) -> i32 {
    acc.wrapping_add(hi16(x) * lo16(y))
}

/// `SMLATT`: `acc + x.hi*y.hi`, wrapping.
#[inline(always)]
pub fn smlatt(x: u32, y: u32, acc: i32) -> i32 {
    acc.wrapping_add(hi16(x) * hi16(y))
}

/// `SXTB16`: bytes 0 and 2, sign-extended into the low and high halves.
#[inline(always)]
pub fn sxtb16(x: u32) -> u32 {
    pack16(x as u8 as i8 as i32, (x >> 16) as u8 as i8 as i32)
}

/// `SXTB16 …, ROR #8`: bytes 1 and 3, sign-extended into the low and high halves.
#[inline(always)]
pub fn sxtb16_ror8(x: u32) -> u32 {
    sxtb16(x.rotate_right(8))
}

/// `SXTAB16`: `a` plus bytes 0 and 2 of `x` (sign-extended), lane by lane, each lane modulo
/// 2^16.
#[inline(always)]
pub fn sxtab16(a: u32, x: u32) -> u32 {
    sadd16(a, sxtb16(x))
}

/// `SXTAB16 …, ROR #8`: `a` plus bytes 1 and 3 of `x`, lane by lane, modulo 2^16.
#[inline(always)]
pub fn sxtab16_ror8(a: u32, x: u32) -> u32 {
    sadd16(a, sxtb16_ror8(x))
}

/// `SADD16`: lane-wise sum modulo 2^16 (the GE flags it sets are not used).
#[inline(always)]
pub fn sadd16(a: u32, b: u32) -> u32 {
    pack16(lo16(a) + lo16(b), hi16(a) + hi16(b))
}

/// `PKHBT …, LSL #16`: the low half of `a` and the low half of `b` (as the high half).
#[inline(always)]
pub fn pkhbt_lsl16(a: u32, b: u32) -> u32 {
    (a & 0xffff) | (b << 16)
}

/// `PKHTB …, ASR #16`: the high half of `b` (as the low half) and the high half of `a`.
#[inline(always)]
pub fn pkhtb_asr16(a: u32, b: u32) -> u32 {
    (a & 0xffff_0000) | (b >> 16)
}

/// `SSAT #8`: `x` clamped to `-128..=127`.
#[inline(always)]
pub fn ssat8(x: i32) -> i32 {
    x.clamp(-128, 127)
}

/// `SMMLAR`: `(acc * 2^32 + x * y + 2^31) >> 32`, the rounded high word of a 64-bit
/// multiply-accumulate; the low 32 bits of that (exact, 65-bit) value's high part.
#[inline(always)]
pub fn smmlar(x: i32, y: i32, acc: i32) -> i32 {
    (((acc as i64) << 32)
        .wrapping_add(x as i64 * y as i64)
        .wrapping_add(1 << 31)
        >> 32) as i32
}

/// `SSUB8` then `SEL`: the lane-wise maximum of four signed bytes.
#[inline(always)]
pub fn max_s8x4(a: u32, b: u32) -> u32 {
    let mut out = 0u32;
    for lane in 0..4 {
        let shift = 8 * lane;
        let x = (a >> shift) as u8 as i8;
        let y = (b >> shift) as u8 as i8;
        out |= (x.max(y) as u8 as u32) << shift;
    }
    out
}

/// `SSUB8` then `SEL` (operands swapped): the lane-wise minimum of four signed bytes.
#[inline(always)]
pub fn min_s8x4(a: u32, b: u32) -> u32 {
    let mut out = 0u32;
    for lane in 0..4 {
        let shift = 8 * lane;
        let x = (a >> shift) as u8 as i8;
        let y = (b >> shift) as u8 as i8;
        out |= (x.min(y) as u8 as u32) << shift;
    }
    out
}

/// The inner loop of the 1×4 matrix kernel (see [`super::asm::mac_block4`] for the
/// instruction sequence): for each group `g` of four filter bytes, sign-extend them with
/// [`sxtb16`]/[`sxtb16_ror8`] and multiply-accumulate them into the four pixels' patch words
/// `patches[8g + 2p]` (taps 0 and 2) and `patches[8g + 2p + 1]` (taps 1 and 3) with [`smlad`].
/// Reads `4 * groups` bytes of `weights` and `8 * groups` words of `patches`.
#[inline(always)]
pub fn mac_block4(acc: [i32; 4], weights: &[i8], patches: &[u32], groups: usize) -> [i32; 4] {
    let mut acc = acc;
    let weights = &weights[..4 * groups];
    let patches = &patches[..8 * groups];
    for (q, x) in weights.chunks_exact(4).zip(patches.chunks_exact(8)) {
        let w = u32::from_le_bytes([q[0] as u8, q[1] as u8, q[2] as u8, q[3] as u8]);
        let (even, odd) = (sxtb16(w), sxtb16_ror8(w));
        for (p, a) in acc.iter_mut().enumerate() {
            *a = smlad(even, x[2 * p], *a);
            *a = smlad(odd, x[2 * p + 1], *a);
        }
    }
    acc
}

/// The channel loop of the 1×4 matrix kernel (see [`super::asm::conv_channels4`]): for each
/// channel `c < channels`, the four pixels' dot products of filter row `c` with the patches
/// (from `2 * bias[c]`), requantized with a right shift and clamped, stored at
/// `out[p * stride + c]`. Does nothing unless [`Channels4::fits`].
#[inline(never)]
pub fn conv_channels4(args: &Channels4<'_>, out: &mut [i8], stride: usize, channels: usize) {
    if !args.fits(out, stride, channels) {
        return;
    }
    let groups = args.k.div_ceil(4);
    let addend_base = args.zero_point.wrapping_mul(2).wrapping_add(1);
    for c in 0..channels {
        let init = args.bias[c].wrapping_mul(2);
        let row = &args.weights[c * args.k..][..4 * groups];
        let acc = mac_block4([init; 4], row, args.patches, groups);
        let e = args.shift[c].wrapping_neg() as u32;
        debug_assert!((1..=31).contains(&e));
        let addend = addend_base << (e - 1);
        for (p, a) in acc.into_iter().enumerate() {
            let v = smmlar(a, args.multiplier[c], addend.wrapping_add(a >> 31)) >> e;
            let v = if args.saturate_only {
                ssat8(v)
            } else {
                v.max(args.act_min).min(args.act_max)
            };
            out[p * stride + c] = v as i8;
        }
    }
}

/// One channel's outputs of a 3×3 depthwise convolution (see [`super::asm::dw3x3_rows`]):
/// per output two pairs of each input row times the filter pairs with [`smlad`], then the
/// right-shift requantization and the clamp; output `i` of row `r` goes to
/// `out[(r * cols + i) * step]`. Does nothing unless [`Dw3x3Rows::fits`].
#[inline(never)]
pub fn dw3x3_rows(args: &Dw3x3Rows<'_>, out: &mut [i8], step: usize) {
    if !args.fits(out, step) {
        return;
    }
    let pair = |row: &[u8], at: usize| {
        u32::from_le_bytes([row[at], row[at + 1], row[at + 2], row[at + 3]])
    };
    for r in 0..args.rows_out {
        for i in 0..args.cols {
            let at = r * args.row_step + 2 * args.stride * i;
            let mut acc = args.init;
            for (k, row) in args.rows.iter().enumerate() {
                acc = smlad(pair(row, at + 4), args.w[2 * k + 1], acc);
                acc = smlad(pair(row, at), args.w[2 * k], acc);
            }
            let v = smmlar(acc, args.multiplier, args.addend.wrapping_add(acc >> 31)) >> args.shift;
            let v = if args.saturate_only {
                ssat8(v)
            } else {
                v.max(args.act_min).min(args.act_max)
            };
            out[(r * args.cols + i) * step] = v as i8;
        }
    }
}

/// Fully connected outputs one row at a time (see [`super::asm::fc_small_rows`]): for each
/// row, `bias + Σ (x + input_offset) · w`, four bytes at a time with [`smlad`] on
/// [`sxtb16`]/[`sxtab16`] pairs and the rest byte by byte, doubled, requantized in the fast
/// form, clamped (max then min) and stored. Does nothing unless [`FcSmallRows::fits`].
#[inline(never)]
pub fn fc_small_rows(args: &FcSmallRows<'_>, out: &mut [i8]) {
    if !args.fits(out) {
        return;
    }
    let x = args.x;
    let k = x.len();
    let whole = k & !3;
    let offset2 = pack16(args.input_offset, args.input_offset);
    for (o, y) in out.iter_mut().enumerate() {
        let w = &args.weights[o * k..][..k];
        let mut acc = args.bias[o];
        for j in (0..whole).step_by(4) {
            let wv = u32::from_le_bytes([w[j] as u8, w[j + 1] as u8, w[j + 2] as u8, w[j + 3] as u8]);
            let xv = u32::from_le_bytes([x[j] as u8, x[j + 1] as u8, x[j + 2] as u8, x[j + 3] as u8]);
            acc = smlad(sxtab16(offset2, xv), sxtb16(wv), acc);
            acc = smlad(sxtab16_ror8(offset2, xv), sxtb16_ror8(wv), acc);
        }
        for j in whole..k {
            let term = (w[j] as i32).wrapping_mul((x[j] as i32).wrapping_add(args.input_offset));
            acc = acc.wrapping_add(term);
        }
        let acc2 = acc.wrapping_mul(2);
        let v = smmlar(acc2, args.multiplier, args.addend.wrapping_add(acc2 >> 31))
            >> args.right_shift;
        *y = v.max(args.act_min).min(args.act_max) as i8;
    }
}

/// Pairs of fully connected outputs (see [`super::asm::fc_pairs`]): for each of the
/// `2 * pairs` rows, `bias + Σ (x + input_offset) · w` with [`smlad`] on the pairs of
/// [`sxtb16`]/[`sxtb16_ror8`] (the input widened with [`sxtab16`]/[`sxtab16_ror8`], or taken
/// from the expansion), doubled, requantized in the fast form, clamped and stored at
/// `out[row]`. Does nothing unless [`FcPairs::fits`].
#[inline(never)]
pub fn fc_pairs(args: &FcPairs<'_>, out: &mut [i8], pairs: usize) {
    if !args.fits(out, pairs) {
        return;
    }
    let k = args.k;
    let offset = pack16(args.input_offset, args.input_offset);
    let zp2p1 = args.zero_point.wrapping_mul(2).wrapping_add(1);
    let saturate_only = args.act_min == -128 && args.act_max == 127;
    for (r, o) in out[..2 * pairs].iter_mut().enumerate() {
        let row = &args.weights[r * k..][..k];
        let mut acc = args.bias[r];
        for (g, q) in row.chunks_exact(4).enumerate() {
            let w = u32::from_le_bytes([q[0] as u8, q[1] as u8, q[2] as u8, q[3] as u8]);
            let (even, odd) = match args.input {
                FcInput::Direct(x) => {
                    let x = &x[4 * g..][..4];
                    let v = u32::from_le_bytes([x[0] as u8, x[1] as u8, x[2] as u8, x[3] as u8]);
                    (sxtab16(offset, v), sxtab16_ror8(offset, v))
                }
                FcInput::Expanded(x) => (x[2 * g], x[2 * g + 1]),
            };
            acc = smlad(sxtb16(w), even, acc);
            acc = smlad(sxtb16_ror8(w), odd, acc);
        }
        let a = acc.wrapping_mul(2);
        let (multiplier, shift) = match args.quant {
            FcQuant::PerTensor { multiplier, shift } => (multiplier, shift),
            FcQuant::PerChannel { multiplier, shift } => (multiplier[r], shift[r]),
        };
        let v = if shift < 0 {
            let e = shift.unsigned_abs();
            let addend = zp2p1 << (e - 1);
            smmlar(a, multiplier, addend.wrapping_add(a >> 31)) >> e
        } else {
            smmlar(a << shift, multiplier, args.zero_point)
        };
        let v = if saturate_only {
            ssat8(v)
        } else {
            v.max(args.act_min).min(args.act_max)
        };
        *o = v as i8;
    }
}
