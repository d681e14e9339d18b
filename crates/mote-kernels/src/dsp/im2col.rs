//! Writing convolution patches ("im2col") into the scratch buffer in the layout the DSP
//! matrix kernel reads.
//!
//! A patch is the `K = kh * kw * in_c` input values that one output pixel's dot products use,
//! in filter order. Each value is stored as `2 * (x + input_offset)` in a 16-bit lane, and 0
//! for a tap in the padding (the reference skips those taps; a zero contributes nothing).
//! Values are grouped by four, `k = 4g .. 4g + 4`, into two words `(v0, v2)` and `(v1, v3)`:
//! exactly the pairs that `SXTB16` and `SXTB16 ROR #8` make from four filter bytes, so the
//! kernel never reorders the filter.
//!
//! The patches of a block of `C` pixels are interleaved by group: words `g * 2C + 2p` and
//! `g * 2C + 2p + 1` belong to pixel `p`, so the kernel walks one pointer forward and loads two
//! pixels' pairs with one LDM.
//!
//! Two ways in: when every run of input bytes in the patch starts at a multiple of four (the
//! input has a multiple of four channels) the bytes go straight to words, four at a time.
//! Otherwise the patch is first gathered as bytes into a staging area, padding written as the
//! input zero point (whose offset-corrected value is 0), then converted in one pass.

use super::insn::{pack16, sxtab16, sxtab16_ror8};
use super::word;

/// Where a patch's pieces go: runs of input bytes and runs of padding, in filter order.
pub(crate) trait PatchSink {
    fn values(&mut self, xs: &[i8]);
    fn padding(&mut self, count: usize);
}

/// Writes groups of four values straight into one pixel's slots of a block. Every run must
/// be a multiple of four values long.
pub(crate) struct Words<'a> {
    slots: core::slice::ChunksMut<'a, u32>,
    /// `2 * input_offset` in both lanes.
    offset2: u32,
}

impl<'a> Words<'a> {
    /// The writer for pixel `slot` of a block of `block` pixels.
    #[inline(always)]
    pub(crate) fn new(words: &'a mut [u32], block: usize, slot: usize, input_offset: i32) -> Self {
        let doubled = input_offset.wrapping_mul(2);
        let from = (2 * slot).min(words.len());
        Self {
            slots: words[from..].chunks_mut(2 * block),
            offset2: pack16(doubled, doubled),
        }
    }

    #[inline(always)]
    fn put(&mut self, even: u32, odd: u32) {
        if let Some([a, b, ..]) = self.slots.next() {
            *a = even;
            *b = odd;
        }
    }
}

impl PatchSink for Words<'_> {
    #[inline(always)]
    fn values(&mut self, xs: &[i8]) {
        for q in xs.chunks_exact(4) {
            let w = word(q);
            // x + 2*off, then + x again: 2 * (x + off) in each lane.
            let even = sxtab16(sxtab16(self.offset2, w), w);
            let odd = sxtab16_ror8(sxtab16_ror8(self.offset2, w), w);
            self.put(even, odd);
        }
    }

    #[inline(always)]
    fn padding(&mut self, count: usize) {
        for _ in 0..count / 4 {
            self.put(0, 0);
        }
    }
}

/// Gathers a patch as bytes, padding as the input zero point.
pub(crate) struct Bytes<'a> {
    out: &'a mut [i8],
    at: usize,
    zero_point: i8,
}

impl<'a> Bytes<'a> {
    #[inline(always)]
    pub(crate) fn new(out: &'a mut [i8], zero_point: i8) -> Self {
        Self {
            out,
            at: 0,
            zero_point,
        }
    }

    /// Fills the rest (up to the last whole group) with the zero point and returns the bytes.
    #[inline(always)]
    pub(crate) fn finish(self) -> &'a [i8] {
        let end = (self.at.div_ceil(4) * 4).min(self.out.len());
        let out = &mut self.out[..end];
        if let Some(rest) = out.get_mut(self.at..) {
            fill_short(rest, self.zero_point);
        }
        out
    }
}

/// Copies a short run of bytes with word loads and stores (unaligned, which ARMv7-M allows)
/// instead of a call to `memcpy`, whose overhead exceeds the work for runs of a few bytes.
#[inline(always)]
pub(crate) fn copy_short(dst: &mut [i8], src: &[i8]) {
    let mut d = dst.chunks_exact_mut(4);
    let mut s = src.chunks_exact(4);
    for (d4, s4) in (&mut d).zip(&mut s) {
        d4.copy_from_slice(s4);
    }
    match (d.into_remainder(), s.remainder()) {
        ([a], [x]) => *a = *x,
        ([a, b], [x, y]) => (*a, *b) = (*x, *y),
        ([a, b, c], [x, y, z]) => (*a, *b, *c) = (*x, *y, *z),
        _ => {}
    }
}

/// Fills a short run of bytes with word stores (see [`copy_short`]).
#[inline(always)]
pub(crate) fn fill_short(dst: &mut [i8], v: i8) {
    let word = [v; 4];
    let mut d = dst.chunks_exact_mut(4);
    for d4 in &mut d {
        d4.copy_from_slice(&word);
    }
    match d.into_remainder() {
        [a] => *a = v,
        [a, b] => (*a, *b) = (v, v),
        [a, b, c] => (*a, *b, *c) = (v, v, v),
        _ => {}
    }
}

impl PatchSink for Bytes<'_> {
    #[inline(always)]
    fn values(&mut self, xs: &[i8]) {
        if let Some(dst) = self.out.get_mut(self.at..self.at + xs.len()) {
            copy_short(dst, xs);
        }
        self.at += xs.len();
    }

    #[inline(always)]
    fn padding(&mut self, count: usize) {
        if let Some(dst) = self.out.get_mut(self.at..self.at + count) {
            fill_short(dst, self.zero_point);
        }
        self.at += count;
    }
}
