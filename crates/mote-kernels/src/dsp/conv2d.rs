//! CONV_2D, int8 with per-channel requantization, for cores with the DSP extension; the same
//! bytes as [`crate::conv2d::conv2d_int8`].
//!
//! Output pixels are taken four at a time. Their patches (see [`super::im2col`]) go into the
//! scratch buffer as 16-bit values, then every output channel's filter row is read once per
//! block: four filter bytes are sign-extended with two SXTB16 and multiplied into all four
//! pixels with eight SMLAD: 16 MACs in 13 instructions (one LDR, two SXTB16, two LDM, eight
//! SMLAD; [`super::insn::mac_block4`]). A 1×1 convolution (most of the MACs of MobileNet-style networks) copies each
//! pixel's channels straight into its patch. When the pixels are not a multiple of four, the
//! last block is the last four pixels, overlapping the one before (so fewer than four
//! pixels, or a leftover with the output over the input, take the reference kernel).

use super::im2col::{Bytes, PatchSink, Words};
use super::insn::{conv_channels4, mac_block4, smlad, sxtb16, sxtb16_ror8, Channels4};
use super::requant::{exact, exact_inline, Activation, Channels, ConstantChannels, Scale};
use super::scratch_words;
use crate::conv2d::{tap_range, window_origin, ConvIo};
use crate::Shape4;
use core::ops::Range;
use mote_format::params::Conv2dParams;

use crate::scratch::{conv2d_layout as scratch_layout, groups, Kernels, CONV_BLOCK as BLOCK};

/// Scratch bytes [`conv2d_int8`] uses (see [`crate::scratch::conv2d_int8`]).
pub fn conv2d_int8_scratch_bytes(
    input_shape: Shape4,
    filter_shape: Shape4,
    output_shape: Shape4,
) -> usize {
    crate::scratch::conv2d_int8(Kernels::CortexMDsp, input_shape, filter_shape, output_shape)
}

/// Int8 convolution, bit-exact with [`crate::conv2d::conv2d_int8`] (which it calls for what
/// the fast path does not cover: grouped convolutions, zero points far outside int8, too
/// little scratch, parameters whose accumulators might overflow the fast requantization).
#[allow(clippy::too_many_arguments)]
pub fn conv2d_int8(
    p: &Conv2dParams,
    input: &[i8],
    input_shape: Shape4,
    filter: &[i8],
    filter_shape: Shape4,
    bias: Option<&[i32]>,
    multiplier: &[i32],
    shift: &[i32],
    output: &mut [i8],
    output_shape: Shape4,
    scratch: &mut [u8],
) {
    let done = conv2d_int8_fast(
        p,
        input,
        input_shape,
        filter,
        filter_shape,
        bias,
        multiplier,
        shift,
        output,
        output_shape,
        scratch,
    );
    if !done {
        crate::conv2d::conv2d_int8(
            p,
            input,
            input_shape,
            filter,
            filter_shape,
            bias,
            multiplier,
            shift,
            output,
            output_shape,
        );
    }
}

/// The filter taps whose input coordinate is inside the image: [`tap_range`] without its
/// divisions when the dilation is 1 (64-bit division is a library call on Cortex-M).
#[inline(always)]
pub(crate) fn taps(origin: i64, dilation: i64, extent: usize, count: usize) -> Range<usize> {
    if dilation == 1 {
        let start = (-origin).clamp(0, count as i64);
        let end = (extent as i64 - origin).clamp(start, count as i64);
        start as usize..end as usize
    } else {
        tap_range(origin, dilation, extent, count)
    }
}

/// Where patches come from: the input geometry and the convolution's window.
struct Patches<'a> {
    input: &'a [i8],
    in_h: usize,
    in_w: usize,
    in_c: usize,
    kh: usize,
    kw: usize,
    p: &'a Conv2dParams,
    input_offset: i32,
}

impl Patches<'_> {
    /// Walks the patch of output pixel `(b, oy, ox)` in filter order.
    #[inline(always)]
    fn walk(&self, at: (usize, usize, usize), sink: &mut impl PatchSink) {
        let (b, oy, ox) = at;
        let (in_h, in_w, in_c, kh, kw) = (self.in_h, self.in_w, self.in_c, self.kh, self.kw);
        let image = &self.input[b * in_h * in_w * in_c..][..in_h * in_w * in_c];
        let p = self.p;
        let y0 = window_origin(oy, p.stride_h, p.pad_top);
        let x0 = window_origin(ox, p.stride_w, p.pad_left);
        if kh == 1 && kw == 1 {
            // 1×1: the patch is the input pixel's channels (or padding).
            if (0..in_h as i64).contains(&y0) && (0..in_w as i64).contains(&x0) {
                sink.values(&image[(y0 as usize * in_w + x0 as usize) * in_c..][..in_c]);
            } else {
                sink.padding(in_c);
            }
            return;
        }
        let (dil_h, dil_w) = (p.dilation_h as i64, p.dilation_w as i64);
        let rows = taps(y0, dil_h, in_h, kh);
        let cols = taps(x0, dil_w, in_w, kw);
        let row_len = kw * in_c;
        sink.padding(rows.start * row_len);
        for fy in rows.clone() {
            let iy = (y0 + dil_h * fy as i64) as usize;
            sink.padding(cols.start * in_c);
            if cols.is_empty() {
                // The whole filter row is in the padding.
            } else if dil_w == 1 {
                // The covered taps of a filter row are contiguous in the input.
                let ix = (x0 + cols.start as i64) as usize;
                sink.values(&image[(iy * in_w + ix) * in_c..][..cols.len() * in_c]);
            } else {
                for fx in cols.clone() {
                    let ix = (x0 + dil_w * fx as i64) as usize;
                    sink.values(&image[(iy * in_w + ix) * in_c..][..in_c]);
                }
            }
            sink.padding((kw - cols.end) * in_c);
        }
        sink.padding((kh - rows.end) * row_len);
    }

    /// Writes the patch of output pixel `at` into slot `slot` of a block of `block` pixels;
    /// `staging` (`4 * groups(K)` bytes) is used when the input's channels are not a multiple
    /// of four.
    #[inline(always)]
    fn write(
        &self,
        words: &mut [u32],
        staging: &mut [i8],
        block: usize,
        slot: usize,
        at: (usize, usize, usize),
    ) {
        if self.in_c % 4 == 0 {
            self.write_words(words, block, slot, at);
        } else {
            // The fast path requires an int8 input zero point, so this is exact.
            let zero_point = self.input_offset.wrapping_neg() as i8;
            let mut bytes = Bytes::new(staging, zero_point);
            self.walk(at, &mut bytes);
            Words::new(words, block, slot, self.input_offset).values(bytes.finish());
        }
    }

    /// [`Self::write`] for inputs whose channels are a multiple of four: the patch goes
    /// straight into the words. Not inlined: one copy serves every call site and both block
    /// sizes (inlined, it was most of the kernel's flash), for a call per output pixel. The
    /// staged walk above stays inlined: it is the path of one-channel inputs, where the
    /// constant shapes of a single call site fold it down.
    #[inline(never)]
    fn write_words(&self, words: &mut [u32], block: usize, slot: usize, at: (usize, usize, usize)) {
        let mut out = Words::new(words, block, slot, self.input_offset);
        self.walk(at, &mut out);
    }
}

/// The last one to three filter bytes of a row as a word, zero-filled.
#[inline(always)]
pub(crate) fn tail_word(tail: &[i8]) -> u32 {
    match *tail {
        [a] => a as u8 as u32,
        [a, b] => u16::from_le_bytes([a as u8, b as u8]) as u32,
        [a, b, c] => u32::from_le_bytes([a as u8, b as u8, c as u8, 0]),
        _ => 0,
    }
}

/// Requantization inputs shared by the channel loops.
pub(crate) struct Requant<'a> {
    pub bias: Option<&'a [i32]>,
    pub multiplier: &'a [i32],
    pub shift: &'a [i32],
    pub zero_point: i32,
    pub activation: Activation,
    /// Which channels the fast requantization takes.
    pub channels: Channels,
    /// Which of the others have one output whatever the input.
    pub constant: ConstantChannels,
}

impl Requant<'_> {
    /// The bias slice, empty when there is no bias.
    #[inline(always)]
    pub(crate) fn bias(&self) -> &[i32] {
        self.bias.unwrap_or(&[])
    }

    /// Channel `c`'s four outputs from its multiply-accumulate, which started from
    /// `init(c)`.
    #[inline(always)]
    fn outputs<const C: usize>(&self, c: usize, acc: [i32; C]) -> [i8; C] {
        let (m, s, zp) = (self.multiplier[c], self.shift[c], self.zero_point);
        if self.channels.fast(c) {
            Scale::derive(m, s, zp)
                .apply_all(acc)
                .map(|v| self.activation.apply(v))
        } else {
            let b = self.bias().get(c).copied().unwrap_or(0);
            acc.map(|a| exact_inline(a, b, m, s, zp, self.activation))
        }
    }

    /// Where channel `c`'s multiply-accumulate starts: `2 * bias` on the fast path, 0 on the
    /// exact one (which adds the bias itself).
    #[inline(always)]
    fn init(&self, c: usize) -> i32 {
        if self.channels.fast(c) {
            self.bias().get(c).map_or(0, |b| b.wrapping_mul(2))
        } else {
            0
        }
    }
}

/// The multiply-accumulate of the filter bytes past the last whole group (`tail`, one to
/// three bytes) with that group's patch words `x` (two per pixel).
#[inline(always)]
fn tail_mac<const C: usize>(acc: &mut [i32; C], tail: &[i8], x: &[u32]) {
    let w = tail_word(tail);
    let (even, odd) = (sxtb16(w), sxtb16_ror8(w));
    for (a, x) in acc.iter_mut().zip(x.chunks_exact(2)) {
        *a = smlad(even, x[0], *a);
        *a = smlad(odd, x[1], *a);
    }
}

/// Every output channel of a block of four pixels: `out` holds the four pixels' outputs,
/// `out_c` each. Runs of channels on the fast path with right shifts go to [`conv_channels4`]
/// (assembly on the device); the others, one at a time, to [`channel4`]. Not inlined, so that
/// the loops have the register file to themselves.
#[inline(never)]
fn channels4(
    patches: &[u32],
    filter: &[i8],
    k: usize,
    rq: &Requant<'_>,
    out: &mut [i8],
    staging: &mut [i8],
) {
    let out_c = rq.multiplier.len();
    // Channels whose last group can read four filter bytes within the filter.
    let span = 4 * groups(k);
    let readable = match filter.len().checked_sub(span) {
        Some(room) => (room / k + 1).min(out_c),
        None => 0,
    };
    let in_assembly =
        |c: usize| rq.bias.is_some() && c < readable && rq.channels.fast(c) && rq.shift[c] < 0;
    let mut c = 0;
    while c < out_c {
        if let (true, Some(bias)) = (in_assembly(c), rq.bias) {
            let mut end = c + 1;
            while end < out_c && in_assembly(end) {
                end += 1;
            }
            let args = Channels4 {
                weights: &filter[c * k..],
                k,
                patches,
                bias: &bias[c..],
                multiplier: &rq.multiplier[c..],
                shift: &rq.shift[c..],
                zero_point: rq.zero_point,
                act_min: rq.activation.min(),
                act_max: rq.activation.max(),
                saturate_only: rq.activation.saturate_only(),
            };
            conv_channels4(&args, &mut out[c..], out_c, end - c);
            c = end;
        } else if let (true, Some(bias), Some(padded)) = (
            rq.channels.fast(c) && rq.shift[c] < 0,
            rq.bias,
            staging.get_mut(..span),
        ) {
            // A last channel whose final group would read past the filter: its row,
            // zero-padded to whole groups in the staging bytes (free once the patches are
            // written), through the same assembly.
            super::im2col::copy_short(&mut padded[..k], &filter[c * k..][..k]);
            super::im2col::fill_short(&mut padded[k..], 0);
            let args = Channels4 {
                weights: padded,
                k,
                patches,
                bias: &bias[c..],
                multiplier: &rq.multiplier[c..],
                shift: &rq.shift[c..],
                zero_point: rq.zero_point,
                act_min: rq.activation.min(),
                act_max: rq.activation.max(),
                saturate_only: rq.activation.saturate_only(),
            };
            conv_channels4(&args, &mut out[c..], out_c, 1);
            c += 1;
        } else if rq.constant.contains(c) {
            // Every input gives this channel one output (see `ConstantChannels`): that of the bias
            // alone, with no multiply-accumulate.
            let bias = rq.bias().get(c).copied().unwrap_or(0);
            let v = exact(0, bias, rq.multiplier[c], rq.shift[c], rq.zero_point, rq.activation);
            for p in 0..BLOCK {
                if let Some(o) = out.get_mut(p * out_c + c) {
                    *o = v;
                }
            }
            c += 1;
        } else {
            channel4(patches, &filter[c * k..][..k], c, rq, out, out_c);
            c += 1;
        }
    }
}

/// Output channel `c` (filter row `row`) of a block of four pixels.
#[inline(never)]
fn channel4(patches: &[u32], row: &[i8], c: usize, rq: &Requant<'_>, out: &mut [i8], out_c: usize) {
    let full = row.len() / 4;
    let init = rq.init(c);
    let mut acc = mac_block4([init; 4], row, patches, full);
    if row.len() % 4 != 0 {
        tail_mac(
            &mut acc,
            &row[full * 4..],
            patches.get(full * 8..full * 8 + 8).unwrap_or(&[]),
        );
    }
    for (p, v) in rq.outputs(c, acc).into_iter().enumerate() {
        if let Some(o) = out.get_mut(p * out_c + c) {
            *o = v;
        }
    }
}

/// The next output pixel after `at`, in (batch, row, column) order.
#[inline(always)]
fn advance(at: &mut (usize, usize, usize), out_hw: (usize, usize)) {
    at.2 += 1;
    if at.2 == out_hw.1 {
        at.2 = 0;
        at.1 += 1;
        if at.1 == out_hw.0 {
            at.1 = 0;
            at.0 += 1;
        }
    }
}

/// Writes the patches of the block of four pixels from pixel `at` on, advancing `at` past
/// them.
#[inline(always)]
fn gather(
    patches: &Patches<'_>,
    words: &mut [u32],
    staging: &mut [i8],
    at: &mut (usize, usize, usize),
    out_hw: (usize, usize),
) {
    for slot in 0..BLOCK {
        patches.write(words, staging, BLOCK, slot, *at);
        advance(at, out_hw);
    }
}

/// The (batch, row, column) of output pixel number `q`.
#[inline(always)]
fn pixel_at(q: usize, out_hw: (usize, usize)) -> (usize, usize, usize) {
    let per_image = out_hw.0 * out_hw.1;
    let (b, in_image) = (q / per_image, q % per_image);
    (b, in_image / out_hw.1, in_image % out_hw.1)
}

/// The fast path alone: `false` (having written nothing) when it does not apply. Whether
/// it applies depends only on the parameters, shapes, constants and scratch length, never on
/// the input values, so a build can find out once on the host (`mote-build` does).
#[allow(clippy::too_many_arguments)]
#[inline(never)]
pub fn conv2d_int8_fast(
    p: &Conv2dParams,
    input: &[i8],
    input_shape: Shape4,
    filter: &[i8],
    filter_shape: Shape4,
    bias: Option<&[i32]>,
    multiplier: &[i32],
    shift: &[i32],
    output: &mut [i8],
    output_shape: Shape4,
    scratch: &mut [u8],
) -> bool {
    conv2d_int8_fast_io(
        p,
        &mut ConvIo::Separate { input, output },
        input_shape,
        filter,
        filter_shape,
        bias,
        multiplier,
        shift,
        output_shape,
        scratch,
    )
}

/// [`conv2d_int8_fast`] reading and writing through `io` (possibly one buffer holding input
/// and output, see [`ConvIo`]): each block's patches are gathered from the input before any
/// of its outputs is written.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_int8_fast_io(
    p: &Conv2dParams,
    io: &mut ConvIo<'_>,
    input_shape: Shape4,
    filter: &[i8],
    filter_shape: Shape4,
    bias: Option<&[i32]>,
    multiplier: &[i32],
    shift: &[i32],
    output_shape: Shape4,
    scratch: &mut [u8],
) -> bool {
    let [batches, in_h, in_w, in_c] = input_shape;
    let [out_c, kh, kw, f_in_c] = filter_shape;
    let [_, out_h, out_w, _] = output_shape;
    if out_c == 0 {
        return true;
    }
    let k = kh * kw * in_c;
    if f_in_c != in_c || k == 0 {
        return false;
    }
    // The fast path keeps the TFLite rule that activations' zero points are int8: then
    // `x - zero_point` is within ±255 and twice it fits a 16-bit lane.
    if !(-128..=127).contains(&p.input_zero_point) {
        return false;
    }
    let input_offset = -p.input_zero_point;
    let (n_words, n_staging) = scratch_layout(filter_shape);
    let words = scratch_words(scratch);
    if words.len() * 4 < n_words * 4 + n_staging {
        return false;
    }
    let (words, staging) = words.split_at_mut(n_words);
    let staging: &mut [i8] = bytemuck::cast_slice_mut(staging);
    let bias = bias.map(|b| &b[..out_c]);
    let (multiplier, shift) = (&multiplier[..out_c], &shift[..out_c]);
    let zp = p.output_zero_point;
    let product_bound = k as u64 * 128 * 255;
    let mut channels = Channels::empty();
    if !channels.fill(multiplier, shift, bias, zp, product_bound, out_c) {
        return false;
    }
    let mut rq = Requant {
        bias,
        multiplier,
        shift,
        zero_point: zp,
        activation: Activation::new(p.act_min, p.act_max),
        channels,
        constant: ConstantChannels::empty(),
    };
    rq.constant.find(&rq.channels, multiplier, shift, bias, zp, rq.activation, product_bound, out_c);
    let filter = &filter[..out_c * k];
    let pixels = batches * out_h * out_w;
    if io.output().len() < pixels * out_c || io.input().len() < batches * in_h * in_w * in_c {
        return false;
    }
    // Pixels run in blocks of four, a last partial block as the last four pixels again
    // (below). That needs four pixels, and an input that the outputs already written have
    // not overwritten: other convolutions take the reference kernel. (A one-pixel loop for
    // them cost 1–2 KB of flash in every model.)
    if pixels % BLOCK != 0 && (pixels < BLOCK || !matches!(io, ConvIo::Separate { .. })) {
        return false;
    }
    let out_hw = (out_h, out_w);
    let words = &mut words[..groups(k) * 2 * BLOCK];
    let mut at = (0, 0, 0);
    for b in 0..pixels.div_ceil(BLOCK) {
        // A last, partial block is the last four pixels, overlapping the block before: the
        // outputs it rewrites get the same bytes (the input is separate, see above).
        let first = (b * BLOCK).min(pixels - BLOCK);
        if first != b * BLOCK {
            at = pixel_at(first, out_hw);
        }
        let patches = Patches { input: io.input(), in_h, in_w, in_c, kh, kw, p, input_offset };
        gather(&patches, words, staging, &mut at, out_hw);
        let out = &mut io.output()[first * out_c..][..BLOCK * out_c];
        channels4(words, filter, k, &rq, out, staging);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsp::self_test::{Conv2dCase, Path, Rng};
    use proptest::prelude::*;
    use std::vec;

    fn run(seed: u64, max_dim: usize) -> Path {
        let case = Conv2dCase::random(&mut Rng::new(seed), max_dim);
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

    /// Case `seed` run with its input inside the output's buffer, `overlap_distance` (rounded
    /// up to 4) after the output's start, through the DSP kernel (emulated) and through the
    /// reference kernel, each against the reference kernel with separate buffers. `None` for
    /// the cases it does not apply to (two batches). Returns the path the DSP kernel took.
    fn run_shared(seed: u64, max_dim: usize) -> Option<Path> {
        use crate::dsp::self_test::{biases, requant_params};
        let case = Conv2dCase::random(&mut Rng::new(seed), max_dim);
        let p = &case.params;
        let d = crate::conv2d::overlap_distance(p, case.input_shape, case.output_shape)?;
        let d = d.div_ceil(4) * 4;
        let n_in: usize = case.input_shape.iter().product();
        let n_out: usize = case.output_shape.iter().product();
        let [out_c, kh, kw, in_c] = case.filter_shape;
        let rng = &mut Rng::new(case.seed);
        let mut input = vec![0i8; n_in];
        let mut filter = vec![0i8; out_c * kh * kw * in_c];
        let (mut bias, mut mult, mut shift) = (vec![0; out_c], vec![0; out_c], vec![0; out_c]);
        rng.fill_i8(&mut input);
        rng.fill_i8(&mut filter);
        biases(rng, &mut bias);
        requant_params(rng, kh * kw * in_c, &mut mult, &mut shift);
        let bias = case.has_bias.then_some(&bias[..]);
        let mut want = vec![0i8; n_out];
        crate::conv2d::conv2d_int8(
            p, &input, case.input_shape, &filter, case.filter_shape, bias, &mult, &shift,
            &mut want, case.output_shape,
        );
        let len = n_out.max(d + n_in);
        let shared = |buf: &mut std::vec::Vec<i8>| {
            buf.clear();
            buf.resize(len, 0x55);
            buf[d..d + n_in].copy_from_slice(&input);
        };
        let mut buf = vec![];
        shared(&mut buf);
        let mut scratch = vec![0u32; case.scratch.bytes.div_ceil(4)];
        let scratch: &mut [u8] = bytemuck::cast_slice_mut(&mut scratch);
        let mut io = ConvIo::Overlapping { buf: &mut buf, input: d..d + n_in, output: 0..n_out };
        let fast = conv2d_int8_fast_io(
            p, &mut io, case.input_shape, &filter, case.filter_shape, bias, &mult, &shift,
            case.output_shape, &mut scratch[..case.scratch.bytes],
        );
        if fast {
            assert_eq!(&buf[..n_out], &want[..], "DSP, shared buffer: {case:?}");
        }
        shared(&mut buf);
        let mut io = ConvIo::Overlapping { buf: &mut buf, input: d..d + n_in, output: 0..n_out };
        crate::conv2d::conv2d_int8_io(
            p, &mut io, case.input_shape, &filter, case.filter_shape, bias, &mult, &shift,
            case.output_shape,
        );
        assert_eq!(&buf[..n_out], &want[..], "reference, shared buffer: {case:?}");
        Some(if fast { Path::Fast } else { Path::Fallback })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        /// An output written over its own input, from `overlap_distance` below it, is the
        /// same as with separate buffers, on both kernels.
        #[test]
        fn a_shared_buffer_gives_the_same_bytes(seed in any::<u64>(), max_dim in 1usize..=6) {
            run_shared(seed, max_dim);
        }
    }

    #[test]
    fn shared_buffers_are_tested_on_the_fast_path() {
        // With the output over the input, only whole blocks of four pixels take the fast
        // path: about a quarter of the random cases.
        let fast = (0..500).filter(|&s| run_shared(s, 4) == Some(Path::Fast)).count();
        assert!(fast > 100, "only {fast} of 500 cases took the fast path");
    }

    /// The distance is needed: one word less and some case reads input it already
    /// overwrote (so the test above would catch a kernel that wrote out of order).
    #[test]
    fn a_shorter_distance_breaks_some_case() {
        let broken = (0..300).any(|seed| {
            let case = Conv2dCase::random(&mut Rng::new(seed), 4);
            let p = &case.params;
            let Some(d) = crate::conv2d::overlap_distance(p, case.input_shape, case.output_shape)
            else {
                return false;
            };
            if d < 8 {
                return false;
            }
            let d = d - 4;
            let n_in: usize = case.input_shape.iter().product();
            let n_out: usize = case.output_shape.iter().product();
            let [out_c, kh, kw, in_c] = case.filter_shape;
            let rng = &mut Rng::new(case.seed);
            let mut input = vec![0i8; n_in];
            let mut filter = vec![0i8; out_c * kh * kw * in_c];
            let (mut bias, mut mult, mut shift) = (vec![0; out_c], vec![0; out_c], vec![0; out_c]);
            rng.fill_i8(&mut input);
            rng.fill_i8(&mut filter);
            crate::dsp::self_test::biases(rng, &mut bias);
            crate::dsp::self_test::requant_params(rng, kh * kw * in_c, &mut mult, &mut shift);
            let mut want = vec![0i8; n_out];
            crate::conv2d::conv2d_int8(
                p, &input, case.input_shape, &filter, case.filter_shape, Some(&bias), &mult,
                &shift, &mut want, case.output_shape,
            );
            let mut buf = vec![0x55i8; n_out.max(d + n_in)];
            buf[d..d + n_in].copy_from_slice(&input);
            let mut io = ConvIo::Overlapping { buf: &mut buf, input: d..d + n_in, output: 0..n_out };
            crate::conv2d::conv2d_int8_io(
                p, &mut io, case.input_shape, &filter, case.filter_shape, Some(&bias), &mult,
                &shift, case.output_shape,
            );
            buf[..n_out] != want[..]
        });
        assert!(broken);
    }

    /// The property test would pass trivially if everything fell back to the reference.
    #[test]
    fn most_random_cases_take_the_fast_path() {
        // About a third of the cases are built to fall back (no or half scratch, zero points
        // outside int8, parameters that could overflow).
        let fast = (0..200).filter(|&s| run(s, 4) == Path::Fast).count();
        assert!(fast > 100, "only {fast} of 200 cases took the fast path");
    }

    #[test]
    fn falls_back_without_scratch_and_for_grouped() {
        let p = Conv2dParams {
            stride_h: 1,
            stride_w: 1,
            dilation_h: 1,
            dilation_w: 1,
            act_min: -128,
            act_max: 127,
            ..Default::default()
        };
        let input = [1i8, 2, 3, 4];
        let mut out = [0i8; 2];
        let args = |out: &mut [i8], scratch: &mut [u8], filter_shape| {
            conv2d_int8_fast(
                &p,
                &input,
                [1, 1, 1, 4],
                &[1, 1, 1, 1],
                filter_shape,
                None,
                &[1 << 30, 1 << 30],
                &[0, 0],
                out,
                [1, 1, 1, 2],
                scratch,
            )
        };
        assert!(!args(&mut out, &mut [], [2, 1, 1, 2]));
        assert!(!args(&mut out, &mut [0u8; 64], [2, 1, 1, 2]), "grouped");
    }

    #[test]
    fn one_by_one_hand_case() {
        // Two pixels, 4 channels, 2 output channels; zero points 1 and -3; multiplier 0.5,
        // shift -1 (× 0.25), bias [8, -8].
        // pixel 0 x-1 = [0, 1, 2, 3]; pixel 1 x-1 = [-2, 4, 0, 1].
        // oc0 w = [1, 2, 3, 4]: p0 0+2+6+12 = 20, +8 = 28 → 7 → 4
        //                       p1 -2+8+0+4 = 10, +8 = 18 → 4.5 → 5 → 2
        // oc1 w = [-1, 1, -1, 1]: p0 0+1-2+3 = 2, -8 = -6 → -1.5 → -2 → -5
        //                         p1 2+4+0+1 = 7, -8 = -1 → -0.25 → 0 → -3
        let p = Conv2dParams {
            stride_h: 1,
            stride_w: 1,
            dilation_h: 1,
            dilation_w: 1,
            input_zero_point: 1,
            output_zero_point: -3,
            act_min: -128,
            act_max: 127,
            ..Default::default()
        };
        // Four pixels, the fast path's least: two, twice.
        let input = [1i8, 2, 3, 4, -1, 5, 1, 2, 1, 2, 3, 4, -1, 5, 1, 2];
        let filter = [1i8, 2, 3, 4, -1, 1, -1, 1];
        let run = |pixels: usize, out: &mut [i8]| {
            let mut scratch = [0u8; 128];
            conv2d_int8_fast(
                &p,
                &input[..4 * pixels],
                [1, 1, pixels, 4],
                &filter,
                [2, 1, 1, 4],
                Some(&[8, -8]),
                &[1 << 30, 1 << 30],
                &[-1, -1],
                out,
                [1, 1, pixels, 2],
                &mut scratch,
            )
        };
        let mut out = [0i8; 8];
        assert!(run(4, &mut out));
        assert_eq!(out, [4, -5, 2, -3, 4, -5, 2, -3]);
        // Fewer than four pixels: not the fast path, and nothing written.
        let mut out = [0i8; 4];
        assert!(!run(2, &mut out));
        assert_eq!(out, [0; 4]);
    }

    /// Pixels that are not a multiple of four: the last block overlaps the one before it,
    /// with the same bytes as the reference kernel.
    #[test]
    fn a_partial_last_block_overlaps_the_one_before() {
        let p = Conv2dParams {
            stride_h: 1,
            stride_w: 1,
            dilation_h: 1,
            dilation_w: 1,
            input_zero_point: 3,
            output_zero_point: -2,
            act_min: -128,
            act_max: 127,
            ..Default::default()
        };
        let input: std::vec::Vec<i8> = (0..7 * 8).map(|i| ((i * 37) % 251) as i8).collect();
        let filter: std::vec::Vec<i8> = (0..3 * 8).map(|i| ((i * 53) % 255) as i8).collect();
        let (bias, mult, shift) = ([100, -7, 0], [1 << 30, 3 << 29, 1 << 29], [-2, -3, -1]);
        let mut fast_out = [0i8; 7 * 3];
        let mut scratch = [0u8; 256];
        assert!(conv2d_int8_fast(
            &p, &input, [1, 1, 7, 8], &filter, [3, 1, 1, 8], Some(&bias), &mult, &shift,
            &mut fast_out, [1, 1, 7, 3], &mut scratch,
        ));
        let mut want = [0i8; 7 * 3];
        crate::conv2d::conv2d_int8(
            &p, &input, [1, 1, 7, 8], &filter, [3, 1, 1, 8], Some(&bias), &mult, &shift,
            &mut want, [1, 1, 7, 3],
        );
        assert_eq!(fast_out, want);
    }
}
