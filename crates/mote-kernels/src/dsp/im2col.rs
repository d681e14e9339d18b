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
            rest.fill(self.zero_point);
        }
        out
    }
}

impl PatchSink for Bytes<'_> {
    #[inline(always)]
    fn values(&mut self, xs: &[i8]) {
        if let Some(dst) = self.out.get_mut(self.at..self.at + xs.len()) {
            dst.copy_from_slice(xs);
        }
        self.at += xs.len();
    }

    #[inline(always)]
    fn padding(&mut self, count: usize) {
        if let Some(dst) = self.out.get_mut(self.at..self.at + count) {
            dst.fill(self.zero_point);
        }
        self.at += count;
    }
}
