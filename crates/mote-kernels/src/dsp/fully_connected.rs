//! FULLY_CONNECTED, int8, for cores with the DSP extension; the same bytes as
//! [`crate::fully_connected::fully_connected_int8`].
//!
//! Each batch row of the input is expanded once into scratch as 16-bit pairs (the layout of
//! [`super::im2col`]: `2 * (x + input_offset)`, grouped by four as `(x0, x2)`, `(x1, x3)`).
//! Filter rows are then taken three at a time ([`fc_rows3`], assembly on the device): per
//! four input values one LDRD of the shared input pairs, and per row one LDR, two SXTB16 and
//! two SMLAD — 12 MACs in 16 instructions — then the requantization, clamp and store of the
//! three outputs. Word-aligned rows of a multiple of eight bytes take
//! [`fc_rows2_aligned`] instead: one LDRD brings eight filter bytes and one LDM four input
//! pair words (16 MACs in 19 instructions). Rows left over, or off the fast requantization,
//! go two at a time.
//!
//! Covered: filter zero point 0 (the int8 quantization spec makes weights symmetric), input
//! zero point in int8; anything else runs the reference kernel.

use super::insn::{
    fc_rows2_aligned, fc_rows3, mac_rows2, pack16, smlad, sxtab16, sxtab16_ror8, sxtb16,
    sxtb16_ror8, FcRows,
};
use super::requant::{exact, Activation, Channels, Scale};
use super::{scratch_words, word};
use crate::scratch::Kernels;
use mote_format::params::FullyConnectedParams;

/// Scratch bytes [`fully_connected_int8`] uses (see
/// [`crate::scratch::fully_connected_int8`]).
pub fn fully_connected_int8_scratch_bytes(
    batches: usize,
    accum_depth: usize,
    output_depth: usize,
) -> usize {
    crate::scratch::fully_connected_int8(Kernels::CortexMDsp, batches, accum_depth, output_depth)
}

/// Int8 fully connected layer, bit-exact with
/// [`crate::fully_connected::fully_connected_int8`], which it calls for what the fast path does
/// not cover.
#[allow(clippy::too_many_arguments)]
pub fn fully_connected_int8(
    p: &FullyConnectedParams,
    input: &[i8],
    filter: &[i8],
    bias: Option<&[i32]>,
    multiplier: &[i32],
    shift: &[i32],
    output: &mut [i8],
    batches: usize,
    accum_depth: usize,
    output_depth: usize,
    scratch: &mut [u8],
) {
    let done = fully_connected_int8_fast(
        p,
        input,
        filter,
        bias,
        multiplier,
        shift,
        output,
        batches,
        accum_depth,
        output_depth,
        scratch,
    );
    if !done {
        crate::fully_connected::fully_connected_int8(
            p,
            input,
            filter,
            bias,
            multiplier,
            shift,
            output,
            batches,
            accum_depth,
            output_depth,
        );
    }
}

/// The filter's last one to three bytes of a row as a word, zero-filled.
#[inline(always)]
fn tail_word(tail: &[i8]) -> u32 {
    super::conv2d::tail_word(tail)
}

/// Two filter rows against one expanded input row ([`mac_rows2`] for the whole groups).
#[inline(always)]
fn dot2(x: &[u32], row0: &[i8], row1: &[i8], init: [i32; 2]) -> [i32; 2] {
    let full = row0.len() / 4;
    let [mut a0, mut a1] = mac_rows2(init, row0, row1, x, full);
    if row0.len() % 4 != 0 {
        if let Some(xs) = x.get(2 * full..2 * full + 2) {
            let (w0, w1) = (tail_word(&row0[4 * full..]), tail_word(&row1[4 * full..]));
            a0 = smlad(sxtb16(w0), xs[0], a0);
            a0 = smlad(sxtb16_ror8(w0), xs[1], a0);
            a1 = smlad(sxtb16(w1), xs[0], a1);
            a1 = smlad(sxtb16_ror8(w1), xs[1], a1);
        }
    }
    [a0, a1]
}

/// One filter row against one expanded input row.
#[inline(always)]
fn dot1(x: &[u32], row: &[i8], init: i32) -> i32 {
    let mut a = init;
    let full = row.len() / 4;
    for (q, xs) in row.chunks_exact(4).zip(x.chunks_exact(2)) {
        let w = word(q);
        a = smlad(sxtb16(w), xs[0], a);
        a = smlad(sxtb16_ror8(w), xs[1], a);
    }
    if row.len() % 4 != 0 {
        if let Some(xs) = x.get(2 * full..2 * full + 2) {
            let w = tail_word(&row[4 * full..]);
            a = smlad(sxtb16(w), xs[0], a);
            a = smlad(sxtb16_ror8(w), xs[1], a);
        }
    }
    a
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn fully_connected_int8_fast(
    p: &FullyConnectedParams,
    input: &[i8],
    filter: &[i8],
    bias: Option<&[i32]>,
    multiplier: &[i32],
    shift: &[i32],
    output: &mut [i8],
    batches: usize,
    accum_depth: usize,
    output_depth: usize,
    scratch: &mut [u8],
) -> bool {
    if output_depth == 0 || batches == 0 {
        return true;
    }
    if accum_depth == 0 || p.filter_zero_point != 0 || !(-128..=127).contains(&p.input_zero_point) {
        return false;
    }
    let per_channel = multiplier.len() != 1;
    let quant_len = if per_channel { output_depth } else { 1 };
    let multiplier = &multiplier[..quant_len];
    let shift = &shift[..quant_len];
    let bias = bias.map(|b| &b[..output_depth]);
    let filter = &filter[..output_depth * accum_depth];
    let zp = p.output_zero_point;
    let product_bound = accum_depth as u64 * 128 * 255;
    let Some(channels) = Channels::new(multiplier, shift, bias, zp, product_bound, output_depth)
    else {
        return false;
    };
    let words = scratch_words(scratch);
    let Some(x) = words.get_mut(..2 * accum_depth.div_ceil(4)) else {
        return false;
    };
    let act = Activation::new(p.act_min, p.act_max);
    let input_offset = -p.input_zero_point;
    let step = per_channel as usize;
    let init = |o: usize| {
        if channels.fast(o) {
            bias.map_or(0, |b| b[o]).wrapping_mul(2)
        } else {
            0
        }
    };
    let result = |o: usize, acc: i32| {
        let (m, s) = (multiplier[o * step], shift[o * step]);
        if channels.fast(o) {
            act.apply(Scale::derive(m, s, zp).apply_all([acc])[0])
        } else {
            exact(acc, bias.map_or(0, |b| b[o]), m, s, zp, act)
        }
    };

    for b in 0..batches {
        let row = &input[b * accum_depth..][..accum_depth];
        // `2 * (x + offset)` as the pairs `(x0, x2)`, `(x1, x3)` of each four values.
        let doubled = input_offset.wrapping_mul(2);
        let offset2 = pack16(doubled, doubled);
        let full = accum_depth / 4;
        for (q, o) in row.chunks_exact(4).zip(x.chunks_exact_mut(2)) {
            let w = word(q);
            o[0] = sxtab16(sxtab16(offset2, w), w);
            o[1] = sxtab16_ror8(sxtab16_ror8(offset2, w), w);
        }
        if full * 4 < accum_depth {
            // The missing values must contribute 0: the filter's tail word is zero-filled, so
            // any value works; use the zero point (0 after the offset).
            let mut last = [p.input_zero_point as i8; 4];
            last[..accum_depth - full * 4].copy_from_slice(&row[full * 4..]);
            let w = word(&last);
            if let Some(o) = x.get_mut(2 * full..2 * full + 2) {
                o[0] = sxtab16(sxtab16(offset2, w), w);
                o[1] = sxtab16_ror8(sxtab16_ror8(offset2, w), w);
            }
        }
        let x = &*x;
        let out = &mut output[b * output_depth..][..output_depth];
        // Triples of rows whose requantization is the fast right-shift kind go to
        // [`fc_rows3`] (assembly on the device), as long runs as possible.
        let in_assembly = |o: usize| {
            let q = o * step;
            accum_depth % 4 == 0 && bias.is_some() && channels.fast(o) && shift[q] < 0
        };
        let triple = |o: usize| o + 3 <= output_depth && (o..o + 3).all(in_assembly);
        let pair = |o: usize| o + 2 <= output_depth && (o..o + 2).all(in_assembly);
        // Word-aligned rows of a multiple of eight bytes take the LDRD/LDM kernel in pairs.
        let aligned = accum_depth % 8 == 0 && filter.as_ptr() as usize % 4 == 0;
        let mut o = 0;
        while o + 2 <= output_depth {
            if let (true, true, Some(bias)) = (aligned, pair(o), bias) {
                let mut end = o + 2;
                while pair(end) {
                    end += 2;
                }
                let args = FcRows {
                    weights: &filter[o * accum_depth..],
                    k: accum_depth,
                    x,
                    bias: &bias[o..],
                    multiplier: &multiplier[o * step..],
                    shift: &shift[o * step..],
                    per_channel,
                    zero_point: zp,
                    act_min: act.min(),
                    act_max: act.max(),
                    saturate_only: act.saturate_only(),
                };
                fc_rows2_aligned(&args, &mut out[o..end], (end - o) / 2);
                o = end;
                continue;
            }
            if let (true, Some(bias)) = (triple(o), bias) {
                let mut end = o + 3;
                while triple(end) {
                    end += 3;
                }
                let args = FcRows {
                    weights: &filter[o * accum_depth..],
                    k: accum_depth,
                    x,
                    bias: &bias[o..],
                    multiplier: &multiplier[o * step..],
                    shift: &shift[o * step..],
                    per_channel,
                    zero_point: zp,
                    act_min: act.min(),
                    act_max: act.max(),
                    saturate_only: act.saturate_only(),
                };
                fc_rows3(&args, &mut out[o..end], (end - o) / 3);
                o = end;
                continue;
            }
            let rows = &filter[o * accum_depth..];
            let (r0, r1) = (&rows[..accum_depth], &rows[accum_depth..2 * accum_depth]);
            let acc = dot2(x, r0, r1, [init(o), init(o + 1)]);
            out[o] = result(o, acc[0]);
            out[o + 1] = result(o + 1, acc[1]);
            o += 2;
        }
        if o < output_depth {
            let acc = dot1(x, &filter[o * accum_depth..][..accum_depth], init(o));
            out[o] = result(o, acc);
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use crate::dsp::self_test::{FullyConnectedCase, Path, Rng};
    use proptest::prelude::*;
    use std::vec;

    fn run(seed: u64, max_dim: usize) -> Path {
        let case = FullyConnectedCase::random(&mut Rng::new(seed), max_dim);
        let mut ws = vec![0u8; case.workspace_bytes()];
        match case.check(&mut ws) {
            Ok(path) => path,
            Err(e) => panic!("{e:?} in {case:?}"),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn matches_reference(seed in any::<u64>(), max_dim in 1usize..=6) {
            run(seed, max_dim);
        }
    }

    #[test]
    fn most_random_cases_take_the_fast_path() {
        let fast = (0..200).filter(|&s| run(s, 4) == Path::Fast).count();
        assert!(fast > 100, "only {fast} of 200 cases took the fast path");
    }
}
