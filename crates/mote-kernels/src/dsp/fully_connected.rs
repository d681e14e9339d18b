//! FULLY_CONNECTED, int8, for cores with the DSP extension; the same bytes as
//! [`crate::fully_connected::fully_connected_int8`].
//!
//! Filter rows go two at a time through [`fc_pairs`] (one assembly function on the device):
//! per eight input values one LDRD of the int8 input and four SXTAB16 widen it to 16-bit pairs
//! `x + input_offset` (as `(x0, x2)`, `(x1, x3)`), shared by both rows; per row one LDRD of
//! filter bytes, four SXTB16 and four SMLAD — 16 MACs in 23 instructions, with no scratch at
//! all. Given scratch (two bytes per input value, see [`crate::scratch::fully_connected_int8`]),
//! the input row is widened once into it and each pair reads it back with one LDM instead:
//! 16 MACs in 19 instructions. That pays only when there are enough rows to share the
//! widening, so the scratch rule asks for it only then, and the compiler may refuse it to keep
//! the arena small: the kernel is fast either way. The requantization, clamp and stores of a
//! pair take about 28 more instructions, inside the same assembly function.
//!
//! Covered: filter zero point 0 (the int8 quantization spec makes weights symmetric), input
//! zero point in int8; anything else runs the reference kernel. Rows the assembly does not
//! take (an odd last row, a row length that is not a multiple of four, no bias, a misaligned
//! input, a channel off the fast requantization or with a left shift per channel) run the same
//! arithmetic in Rust.

use super::insn::{
    fc_pairs, fc_small_rows, pack16, smlad, sxtab16, sxtab16_ror8, sxtb16, sxtb16_ror8, FcInput,
    FcPairs, FcQuant, FcSmallRows,
};
use super::requant::{exact, Activation, Channels, Scale};
use super::{scratch_words, word};
use crate::fixedpoint::multiply_by_quantized_multiplier;
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
/// not cover. Inlined into its caller (the runtime has one): its eleven arguments then stay
/// in the caller's registers and frame instead of being copied to the stack for a call, and
/// the checks below share the caller's frame — 112 bytes less stack under every fully
/// connected layer.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
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
        reference(
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

/// The reference kernel, not inlined: its frame stays off the fast path's stack.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn reference(
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
) {
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

/// `(x0, x2)` and `(x1, x3)` of each group of four input values, plus the offset: the
/// expansion that [`FcInput::Expanded`] reads (whole groups only).
#[inline(always)]
fn expand(row: &[i8], offset: i32, x: &mut [u32]) {
    let offset2 = pack16(offset, offset);
    for (q, o) in row.chunks_exact(4).zip(x.chunks_exact_mut(2)) {
        let w = word(q);
        o[0] = sxtab16(offset2, w);
        o[1] = sxtab16_ror8(offset2, w);
    }
}

/// `Σ (x + offset) · w` over one row: whole groups of four from the expansion when there is
/// one, else widened on the fly; a last partial group term by term.
#[inline(always)]
fn dot(x: &[i8], expanded: Option<&[u32]>, offset: i32, row: &[i8]) -> i32 {
    let full = row.len() / 4;
    let mut a = 0i32;
    match expanded {
        Some(xs) => {
            for (q, pair) in row.chunks_exact(4).zip(xs.chunks_exact(2)) {
                let w = word(q);
                a = smlad(sxtb16(w), pair[0], a);
                a = smlad(sxtb16_ror8(w), pair[1], a);
            }
        }
        None => {
            let offset2 = pack16(offset, offset);
            for (q, v) in row.chunks_exact(4).zip(x.chunks_exact(4)) {
                let (w, v) = (word(q), word(v));
                a = smlad(sxtb16(w), sxtab16(offset2, v), a);
                a = smlad(sxtb16_ror8(w), sxtab16_ror8(offset2, v), a);
            }
        }
    }
    for (&w, &v) in row[4 * full..].iter().zip(&x[4 * full..]) {
        a = a.wrapping_add(w as i32 * (v as i32 + offset));
    }
    a
}

/// One fully connected layer's operands, checked and cut to size.
struct Layer<'a> {
    input: &'a [i8],
    filter: &'a [i8],
    bias: Option<&'a [i32]>,
    /// One per row, or one for all.
    multiplier: &'a [i32],
    shift: &'a [i32],
    /// Row length (`accum_depth`) and rows (`output_depth`).
    k: usize,
    rows: usize,
    zero_point: i32,
    input_offset: i32,
    act: Activation,
}

/// The fast path alone: `false` (having written nothing) when it does not apply. Whether
/// it applies depends only on the parameters, shapes, constants and scratch length, never on
/// the input values, so a build can find out once on the host (`mote-build` does).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn fully_connected_int8_fast(
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
    let k = accum_depth;
    let quant_len = if multiplier.len() != 1 { output_depth } else { 1 };
    let layer = Layer {
        input: &input[..batches * k],
        filter: &filter[..output_depth * k],
        bias: bias.map(|b| &b[..output_depth]),
        multiplier: &multiplier[..quant_len],
        shift: &shift[..quant_len],
        k,
        rows: output_depth,
        zero_point: p.output_zero_point,
        input_offset: -p.input_zero_point,
        act: Activation::new(p.act_min, p.act_max),
    };
    let output = &mut output[..batches * output_depth];
    let product_bound = k as u64 * 128 * 255;
    if quant_len == 1 {
        // Per tensor, one check covers every row, with a bound on the largest |bias|: the OR
        // of each bias's one's-complement magnitude is at least the largest, and cheaper to
        // find (the usual case; anything it refuses goes through the exact table).
        let bias_bound = layer.bias.map_or(0, |b| {
            b.iter().fold(0u32, |m, &v| m | (v ^ (v >> 31)) as u32) as u64 + 1
        });
        let fast = Scale::new(
            layer.multiplier[0],
            layer.shift[0],
            layer.zero_point,
            product_bound + bias_bound,
        );
        if fast.is_some() {
            run(&layer, output, scratch, None);
            return true;
        }
    }
    with_table(&layer, output, scratch, product_bound)
}

/// The layer with a table of the rows on the fast requantization (kept out of the usual path:
/// the table takes stack).
#[inline(never)]
fn with_table(layer: &Layer<'_>, output: &mut [i8], scratch: &mut [u8], product_bound: u64) -> bool {
    let l = layer;
    let mut channels = Channels::empty();
    if !channels.fill(l.multiplier, l.shift, l.bias, l.zero_point, product_bound, l.rows) {
        return false;
    }
    run(layer, output, scratch, Some(&channels));
    true
}

/// Every batch row of the layer: pairs of rows through [`fc_pairs`] where they can go,
/// the rest in Rust. `channels`: which rows are on the fast requantization (`None`: all).
#[inline(never)]
fn run(l: &Layer<'_>, output: &mut [i8], scratch: &mut [u8], channels: Option<&Channels>) {
    let (k, rows) = (l.k, l.rows);
    let (filter, multiplier, shift, zp, act) = (l.filter, l.multiplier, l.shift, l.zero_point, l.act);
    let per_channel = multiplier.len() != 1;
    let step = per_channel as usize;
    let fast = |o: usize| channels.map_or(true, |c| c.fast(o));
    let result = |o: usize, sum: i32| {
        let (m, s) = (multiplier[o * step], shift[o * step]);
        let b = l.bias.map_or(0, |b| b[o]);
        if fast(o) {
            let acc2 = b.wrapping_add(sum).wrapping_mul(2);
            act.apply(Scale::derive(m, s, zp).apply_all([acc2])[0])
        } else {
            exact(sum.wrapping_mul(2), b, m, s, zp, act)
        }
    };
    // The assembly takes runs of rows on the fast requantization (per channel: right shifts
    // only), row length a multiple of four, word-aligned filter and input.
    let assembly = k % 4 == 0 && k >= 8 && filter.as_ptr() as usize % 4 == 0;
    let in_assembly = |o: usize| fast(o) && (!per_channel || shift[o] < 0);
    let all_in_assembly =
        channels.map_or(true, |c| c.all) && (!per_channel || shift.iter().all(|&s| s < 0));
    let quant = |o: usize| {
        if per_channel {
            FcQuant::PerChannel {
                multiplier: &multiplier[o..],
                shift: &shift[o..],
            }
        } else {
            FcQuant::PerTensor {
                multiplier: multiplier[0],
                shift: shift[0],
            }
        }
    };
    let mut expansion = if crate::scratch::fully_connected_expands(k, rows) {
        scratch_words(scratch).get_mut(..k / 2)
    } else {
        None
    };

    for (row, out) in l.input.chunks_exact(k).zip(output.chunks_exact_mut(rows)) {
        if let Some(x) = expansion.as_deref_mut() {
            expand(row, l.input_offset, x);
        }
        let xs = expansion.as_deref();
        let fc_input = match xs {
            Some(x) => Some(FcInput::Expanded(x)),
            None if row.as_ptr() as usize % 4 == 0 => Some(FcInput::Direct(row)),
            None => None,
        };
        let mut o = 0;
        while o < rows {
            if let (true, Some(fc_input), Some(bias)) = (assembly, fc_input, l.bias) {
                let end = if all_in_assembly {
                    rows
                } else {
                    (o..rows).find(|&r| !in_assembly(r)).unwrap_or(rows)
                };
                let pairs = (end - o) / 2;
                if pairs > 0 {
                    let args = FcPairs {
                        weights: &filter[o * k..],
                        k,
                        input: fc_input,
                        input_offset: l.input_offset,
                        bias: &bias[o..],
                        quant: quant(o),
                        zero_point: zp,
                        act_min: act.min(),
                        act_max: act.max(),
                    };
                    fc_pairs(&args, &mut out[o..], pairs);
                    o += 2 * pairs;
                    continue;
                }
            }
            out[o] = result(o, dot(row, xs, l.input_offset, &filter[o * k..][..k]));
            o += 1;
        }
    }
}

/// Int8 fully connected layer for layers of a few hundred multiply-accumulates, such as
/// hello_world's 1 → 16 → 16 → 1: bit-exact with
/// [`crate::fully_connected::fully_connected_int8`], in 1.1 KB of Cortex-M4 code instead of
/// the 2.7 KB of [`fully_connected_int8`]'s pair assembly, and faster on layers that small,
/// where the pair assembly's setup per call and the Rust path of its leftover rows (a row
/// length below eight, an odd last row) cost more than its inner loop saves (hello_world:
/// 2,154 instructions against 2,824).
///
/// The usual layer (one scale for every row, a bias, filter zero point 0, the fast
/// requantization exact for it) goes through [`fc_small_rows`], one assembly loop per batch
/// row: per row four filter and four input bytes per step through SXTB16/SXTAB16 (which adds
/// the input offset) and two SMLAD, the rest byte by byte, then SMMLAR, the clamp and the
/// store. Anything else takes the same loop in Rust, each row on the fast requantization
/// where it is exact and on the reference's arithmetic elsewhere; with a filter zero point
/// other than 0 (which the int8 quantization spec rules out) every term goes byte by byte.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
pub fn fully_connected_int8_small(
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
) {
    if small_usual(p, input, filter, bias, multiplier, shift, output, batches, accum_depth, output_depth) {
        return;
    }
    let k = accum_depth;
    if output_depth == 0 || k == 0 {
        // No row to walk (k = 0: every output is its requantized bias).
        crate::fully_connected::fully_connected_int8(
            p, input, filter, bias, multiplier, shift, output, batches, k, output_depth,
        );
        return;
    }
    // Per tensor: index 0 for every row (a stride of 0 instead of a branch per row).
    let quant_len = if multiplier.len() != 1 { output_depth } else { 1 };
    let (multiplier, shift) = (&multiplier[..quant_len], &shift[..quant_len]);
    let step = (quant_len != 1) as usize;
    let bias = bias.map(|b| &b[..output_depth]);
    let filter = &filter[..output_depth * k];
    let input_offset = p.input_zero_point.wrapping_neg();
    let filter_offset = p.filter_zero_point.wrapping_neg();
    // x + input_offset stays within a 16-bit lane exactly while |offset| + 128 < 2^15 (an
    // int8 zero point gives at most 128).
    let words = filter_offset == 0 && (-32_639..=32_639).contains(&input_offset);
    let whole = if words { k & !3 } else { 0 };
    let offset2 = pack16(input_offset, input_offset);
    // A row qualifies for the fast requantization as `SMALL_BOUND` says (every real layer:
    // anything else takes the reference's arithmetic).
    let zp = p.output_zero_point;
    let products = k as u64
        * (128 + input_offset.unsigned_abs() as u64)
        * (128 + filter_offset.unsigned_abs() as u64);
    let fast_layer = (-128..=128).contains(&zp) && products < SMALL_BOUND as u64;
    let act = Activation::new(p.act_min, p.act_max);

    for (x, out) in input[..batches * k].chunks_exact(k).zip(output.chunks_exact_mut(output_depth)) {
        let (x_words, x_rest) = x.split_at(whole);
        for (o, (w, y)) in filter.chunks_exact(k).zip(out.iter_mut()).enumerate() {
            let (w_words, w_rest) = w.split_at(whole);
            let mut acc = 0i32;
            for (wc, xc) in w_words.chunks_exact(4).zip(x_words.chunks_exact(4)) {
                let (wv, xv) = (word(wc), word(xc));
                acc = smlad(sxtb16(wv), sxtab16(offset2, xv), acc);
                acc = smlad(sxtb16_ror8(wv), sxtab16_ror8(offset2, xv), acc);
            }
            for (&wv, &xv) in w_rest.iter().zip(x_rest) {
                let term = (wv as i32)
                    .wrapping_add(filter_offset)
                    .wrapping_mul((xv as i32).wrapping_add(input_offset));
                acc = acc.wrapping_add(term);
            }
            let b = bias.map_or(0, |b| b[o]);
            acc = acc.wrapping_add(b);
            let (m, s) = (multiplier[o * step], shift[o * step]);
            *y = if fast_layer && small_scale(m, s) && b.unsigned_abs() < SMALL_BOUND {
                act.apply(Scale::derive(m, s, zp).apply_all([acc.wrapping_mul(2)])[0])
            } else {
                let scaled = multiply_by_quantized_multiplier(acc, m, s).wrapping_add(zp);
                // max then min, as the reference: never panics even if act_min > act_max.
                scaled.max(p.act_min).min(p.act_max) as i8
            };
        }
    }
}

/// The fast requantization (`Scale`) is exact for |acc| < 2^30 and |addend| + |acc| + 2 <
/// 2^31. With |zp| <= 128 and a right shift e <= 22 ([`small_scale`]), |addend| =
/// |(2 zp + 1) 2^(e-1)| < 2^29 + 2^21; so [`fully_connected_int8_small`] takes it for a row
/// whose products' bound and |bias| are each below this.
const SMALL_BOUND: u32 = 1 << 29;

/// A multiplier and shift [`SMALL_BOUND`]'s argument covers: non-negative, right shift 1–22.
#[inline(always)]
fn small_scale(multiplier: i32, shift: i32) -> bool {
    multiplier >= 0 && (-22..=-1).contains(&shift)
}

/// [`fully_connected_int8_small`]'s usual layer — one scale for every row, a bias, filter
/// zero point 0 — through the assembly of [`fc_small_rows`], one call per batch row, when
/// the fast requantization is exact for it (the test of the general loop, made once for the
/// layer: |zp| <= 128, [`small_scale`], the products' bound below [`SMALL_BOUND`] and every
/// |bias| at most it, so |acc| < 2^30 and |addend| + |acc| + 2 < 2^31). `false`, having
/// written nothing, otherwise. Checked before anything else so that the layer pays for
/// nothing the general loop needs.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn small_usual(
    p: &FullyConnectedParams,
    input: &[i8],
    filter: &[i8],
    bias: Option<&[i32]>,
    multiplier: &[i32],
    shift: &[i32],
    output: &mut [i8],
    batches: usize,
    k: usize,
    units: usize,
) -> bool {
    let (Some(bias), &[m], &[s]) = (bias, multiplier, shift) else {
        return false;
    };
    let input_offset = p.input_zero_point.wrapping_neg();
    let zp = p.output_zero_point;
    if k == 0
        || units == 0
        || p.filter_zero_point != 0
        || !(-32_639..=32_639).contains(&input_offset)
        || !(-128..=128).contains(&zp)
        || !small_scale(m, s)
        || k as u64 * (128 + input_offset.unsigned_abs() as u64) * 128 >= SMALL_BOUND as u64
        || input.len() / k < batches
        || output.len() / units < batches
        || filter.len() / units < k
    {
        return false;
    }
    let Some(bias) = bias.get(..units) else {
        return false;
    };
    // The OR of the one's-complement magnitudes (|b| for b >= 0, |b| - 1 below) bounds each.
    if bias.iter().fold(0u32, |bound, &b| bound | (b ^ (b >> 31)) as u32) >= SMALL_BOUND {
        return false;
    }
    let scale = Scale::derive(m, s, zp);
    let mut rows = FcSmallRows {
        weights: filter,
        x: &[],
        bias,
        input_offset,
        multiplier: m,
        right_shift: scale.right_shift(),
        addend: scale.addend(),
        act_min: p.act_min,
        act_max: p.act_max,
    };
    for (b, out) in output.chunks_exact_mut(units).take(batches).enumerate() {
        rows.x = &input[b * k..][..k];
        fc_small_rows(&rows, out);
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

    /// A hello_world-like layer (per-tensor scale, a bias, rows of whole words and a tail)
    /// takes the compact kernel's assembly path (emulated here; the device self-test runs
    /// the same comparisons through the assembly) with the reference's bytes.
    #[test]
    fn a_usual_small_layer_takes_the_row_assembly_with_the_reference_bytes() {
        use mote_format::params::FullyConnectedParams;
        let rng = &mut Rng::new(7);
        let (batches, k, units) = (2, 13, 16);
        let mut input = vec![0i8; batches * k];
        let mut filter = vec![0i8; units * k];
        rng.fill_i8(&mut input);
        rng.fill_i8(&mut filter);
        let bias: std::vec::Vec<i32> = (0..units).map(|_| rng.range(-5000, 5000)).collect();
        let (multiplier, shift) = ([1_518_500_250], [-9]);
        for (act_min, act_max) in [(-128, 127), (-5, 127), (-128, 40)] {
            let p = FullyConnectedParams {
                input_zero_point: -128,
                filter_zero_point: 0,
                output_zero_point: -5,
                act_min,
                act_max,
                float_act_min: 0.0,
                float_act_max: 0.0,
            };
            let mut expected = vec![0i8; batches * units];
            crate::fully_connected::fully_connected_int8(
                &p, &input, &filter, Some(&bias), &multiplier, &shift, &mut expected, batches, k,
                units,
            );
            let mut got = vec![0i8; batches * units];
            assert!(super::small_usual(
                &p, &input, &filter, Some(&bias), &multiplier, &shift, &mut got, batches, k, units,
            ));
            assert_eq!(got, expected, "act {act_min}..{act_max}");
        }
    }

    #[test]
    fn most_random_cases_take_the_fast_path() {
        let fast = (0..200).filter(|&s| run(s, 4) == Path::Fast).count();
        assert!(fast > 100, "only {fast} of 200 cases took the fast path");
    }
}
