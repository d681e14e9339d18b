//! Hand-computed cases for each emulated instruction, including the wrap-around and
//! saturation corners, and (on a DSP build) the assembly against the emulation.

use super::emulated as e;
use super::pack16;

#[test]
fn smlad_hand_cases() {
    // 10 + 3*5 + (-4)*6 = 1
    assert_eq!(e::smlad(pack16(3, -4), pack16(5, 6), 10), 1);
    // Both products 2^30: the exact sum 2^31 wraps to i32::MIN (the hardware sets Q).
    let m = pack16(-32768, -32768);
    assert_eq!(e::smlad(m, m, 0), i32::MIN);
    // The accumulator wraps too.
    assert_eq!(e::smlad(pack16(1, 0), pack16(1, 0), i32::MAX), i32::MIN);
    assert_eq!(e::smlad(pack16(-1, 0), pack16(1, 0), i32::MIN), i32::MAX);
    // -32768 * 32767 in each lane.
    let a = pack16(-32768, -32768);
    let b = pack16(32767, 32767);
    assert_eq!(e::smlad(a, b, 0), -2 * 32768 * 32767);
}

#[test]
fn smlaxy_hand_cases() {
    let x = pack16(3, -7);
    let y = pack16(-5, 11);
    assert_eq!(e::smlabb(x, y, 100), 100 - 15);
    assert_eq!(e::smlabt(x, y, 100), 100 + 33);
    assert_eq!(e::smlatb(x, y, 100), 100 + 35);
    assert_eq!(e::smlatt(x, y, 100), 100 - 77);
    assert_eq!(
        e::smlabb(pack16(-32768, 0), pack16(-32768, 0), i32::MAX),
        i32::MAX.wrapping_add(1 << 30)
    );
}

#[test]
fn sign_extension_hand_cases() {
    // Bytes, low to high: 0xFF (-1), 0x01, 0x7F (127), 0x80 (-128).
    let x = 0x807F_01FF;
    assert_eq!(e::sxtb16(x), 0x007F_FFFF); // lo -1, hi 127
    assert_eq!(e::sxtb16_ror8(x), 0xFF80_0001); // lo 1, hi -128
    assert_eq!(e::sxtab16(pack16(100, -100), x), pack16(99, 27));
    assert_eq!(e::sxtab16_ror8(pack16(100, -100), x), pack16(101, -228));
    // Lanes add modulo 2^16 and do not carry into each other.
    let y = 0x00FF_0001; // byte 0 = 1, byte 2 = -1
    assert_eq!(e::sxtab16(pack16(32767, -32768), y), 0x7FFF_8000);
    assert_eq!(e::sadd16(pack16(-1, 32767), pack16(1, 1)), 0x8000_0000);
}

#[test]
fn pack_hand_cases() {
    assert_eq!(e::pkhbt_lsl16(0x1234_5678, 0x9ABC_DEF0), 0xDEF0_5678);
    assert_eq!(e::pkhtb_asr16(0x1234_5678, 0x9ABC_DEF0), 0x1234_9ABC);
}

#[test]
fn ssat8_hand_cases() {
    assert_eq!(e::ssat8(200), 127);
    assert_eq!(e::ssat8(-200), -128);
    assert_eq!(e::ssat8(-128), -128);
    assert_eq!(e::ssat8(127), 127);
    assert_eq!(e::ssat8(5), 5);
    assert_eq!(e::ssat8(i32::MIN), -128);
    assert_eq!(e::ssat8(i32::MAX), 127);
}

#[test]
fn smmlar_hand_cases() {
    // (2^30 * 2 + 2^31) >> 32 = 1
    assert_eq!(e::smmlar(1 << 30, 2, 0), 1);
    assert_eq!(e::smmlar(1 << 30, 2, 5), 6);
    // Rounds half up: (-2^31 + 2^31) >> 32 = 0, (-2^31 - 2 + 2^31) >> 32 = -1.
    assert_eq!(e::smmlar(-(1 << 30), 2, 0), 0);
    assert_eq!(e::smmlar(-(1 << 30) - 1, 2, 0), -1);
    assert_eq!(e::smmlar(-1, 1, 0), 0);
    assert_eq!(e::smmlar(i32::MIN, i32::MIN, 0), 1 << 30);
    // The accumulator's high word wraps: (2^31 - 1) + 2^30 → -2^30 - 1.
    assert_eq!(e::smmlar(i32::MIN, i32::MIN, i32::MAX), -(1 << 30) - 1);
}

#[test]
fn max_s8x4_hand_cases() {
    assert_eq!(e::max_s8x4(0x807F_01FF, 0x7F80_FF01), 0x7F7F_0101);
    assert_eq!(e::max_s8x4(0x8080_8080, 0x8080_8080), 0x8080_8080);
    assert_eq!(e::max_s8x4(0x0000_0000, 0xFFFF_FFFF), 0x0000_0000);
    assert_eq!(e::min_s8x4(0x807F_01FF, 0x7F80_FF01), 0x8080_FFFF);
    assert_eq!(e::min_s8x4(0x0000_0000, 0xFFFF_FFFF), 0xFFFF_FFFF);
}

/// A second, independent formulation of each instruction (64-bit exact arithmetic, then
/// truncation), checked against the emulation over many pseudo-random words.
#[test]
fn emulation_matches_wide_arithmetic() {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state as u32
    };
    let lo = |x: u32| (x & 0xffff) as u16 as i16 as i64;
    let hi = |x: u32| (x >> 16) as u16 as i16 as i64;
    let byte = |x: u32, i: u32| ((x >> (8 * i)) & 0xff) as u8 as i8 as i64;
    for _ in 0..20_000 {
        let (x, y, a) = (next(), next(), next());
        let acc = a as i32 as i64;
        assert_eq!(
            e::smlad(x, y, a as i32),
            (acc + lo(x) * lo(y) + hi(x) * hi(y)) as i32
        );
        assert_eq!(e::smlabt(x, y, a as i32), (acc + lo(x) * hi(y)) as i32);
        assert_eq!(e::smlatb(x, y, a as i32), (acc + hi(x) * lo(y)) as i32);
        let ext = |l: i64, h: i64| ((l as u32) & 0xffff) | ((h as u32) << 16);
        assert_eq!(e::sxtb16(x), ext(byte(x, 0), byte(x, 2)));
        assert_eq!(e::sxtb16_ror8(x), ext(byte(x, 1), byte(x, 3)));
        assert_eq!(
            e::sxtab16(y, x),
            ext(lo(y) + byte(x, 0), hi(y) + byte(x, 2))
        );
        let wide = ((acc as i128) << 32) + (x as i32 as i128) * (y as i32 as i128) + (1 << 31);
        assert_eq!(e::smmlar(x as i32, y as i32, a as i32), (wide >> 32) as i32);
    }
}
