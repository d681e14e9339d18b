//! The Arm DSP-extension instructions that the optimized kernels are written with, as small
//! functions over `u32`/`i32` words.
//!
//! Two implementations with the same signatures: [`asm`] issues the instruction itself with
//! `asm!` (only where the build script found the DSP extension, `cfg(mote_dsp)`), and
//! [`emulated`] computes exactly the same result in portable Rust. The kernels call the
//! re-exports below and so run unchanged on the host, where the property tests compare them
//! with the reference kernels, and on the device, where the same tests can run against the
//! assembly.
//!
//! Conventions: a `u32` holds packed lanes (two 16-bit halves, "lo" = bits 0..16, or four
//! bytes), an `i32` is a scalar. Where an instruction can overflow, the result is the
//! instruction's: the low 32 bits of the exact sum, i.e. wrapping arithmetic. The Q (sticky
//! saturation) flag that SMLAD, SMLAxy and SSAT may set is never read by mote, so it is not
//! modelled; the GE flags that SADD16/SSUB8 set are consumed inside the same wrapper
//! ([`max_s8x4`]) and never cross a function boundary.

pub mod emulated;

#[cfg(mote_dsp)]
#[allow(unsafe_code)]
pub mod asm;

#[cfg(mote_dsp)]
pub use asm::*;
#[cfg(not(mote_dsp))]
pub use emulated::*;

/// What [`conv_channels4`] works on: four pixels' patches (as
/// [`crate::dsp::conv2d`] lays them out), the filter rows and requantization of a run of
/// output channels. `shift` must be in `-31..=-1` for every channel (right shifts, checked
/// once per operator by the caller); `bias` is required.
pub struct Channels4<'a> {
    /// Filter rows of `k` bytes; the last group of each row may read up to three bytes past
    /// the row (multiplied by zero patch lanes), so the slice must hold
    /// `(channels - 1) * k + 4 * groups` bytes.
    pub weights: &'a [i8],
    pub k: usize,
    /// `groups = ceil(k / 4)` groups of eight words.
    pub patches: &'a [u32],
    pub bias: &'a [i32],
    pub multiplier: &'a [i32],
    pub shift: &'a [i32],
    pub zero_point: i32,
    pub act_min: i32,
    pub act_max: i32,
    /// `act_min == -128 && act_max == 127`: clamp with one SSAT.
    pub saturate_only: bool,
}

impl Channels4<'_> {
    /// Whether `channels` channels and the output slice fit (everything the assembly reads
    /// and writes is in bounds); the functions do nothing when this is false.
    #[inline(always)]
    pub fn fits(&self, out: &[i8], stride: usize, channels: usize) -> bool {
        let groups = self.k.div_ceil(4);
        channels >= 1
            && groups >= 1
            && stride >= channels
            && self.weights.len() >= (channels - 1) * self.k + 4 * groups
            && self.patches.len() >= 8 * groups
            && self.bias.len() >= channels
            && self.multiplier.len() >= channels
            && self.shift.len() >= channels
            && out.len() >= 3 * stride + channels
    }
}

/// What [`fc_rows3`] and [`fc_rows2_aligned`] work on: groups of filter rows of a fully connected layer against one
/// expanded input row, with right-shift requantization and the clamp.
pub struct FcRows<'a> {
    /// `3 * triples` rows of `k` bytes (`k` a multiple of four).
    pub weights: &'a [i8],
    pub k: usize,
    /// The expanded input: `k / 2` words.
    pub x: &'a [u32],
    /// One per row.
    pub bias: &'a [i32],
    /// One per row, or one for all rows (`per_channel == false`).
    pub multiplier: &'a [i32],
    pub shift: &'a [i32],
    pub per_channel: bool,
    pub zero_point: i32,
    pub act_min: i32,
    pub act_max: i32,
    pub saturate_only: bool,
}

impl FcRows<'_> {
    /// Whether `triples` row triples and their outputs fit; the functions do nothing
    /// otherwise. Every shift must be in `-31..=-1` (checked by the caller).
    #[inline(always)]
    pub fn fits(&self, out: &[i8], triples: usize) -> bool {
        let rows = 3 * triples;
        let q = if self.per_channel { rows } else { 1 };
        triples >= 1
            && self.k >= 4
            && self.k % 4 == 0
            && self.weights.len() >= rows * self.k
            && self.x.len() >= self.k / 2
            && self.bias.len() >= rows
            && self.multiplier.len() >= q
            && self.shift.len() >= q
            && out.len() >= rows
    }

    /// For [`fc_rows2_aligned`]: `pairs` row pairs fit, the rows are word-aligned (the filter
    /// starts at a multiple of four bytes) and `k` is a multiple of eight.
    #[inline(always)]
    pub fn fits_aligned(&self, out: &[i8], pairs: usize) -> bool {
        let rows = 2 * pairs;
        let q = if self.per_channel { rows } else { 1 };
        pairs >= 1
            && self.k >= 8
            && self.k % 8 == 0
            && self.weights.as_ptr() as usize % 4 == 0
            && self.weights.len() >= rows * self.k
            && self.x.len() >= self.k / 2
            && self.bias.len() >= rows
            && self.multiplier.len() >= q
            && self.shift.len() >= q
            && out.len() >= rows
    }
}

/// What [`dw3x3_rows`] works on: one channel's outputs of a 3×3 depthwise convolution over
/// 16-bit input rows (see [`crate::dsp::depthwise_conv2d`]), `rows_out` output rows of
/// `cols` outputs.
pub struct Dw3x3Rows<'a> {
    /// The three input rows of the first output row, as bytes, each starting at the first
    /// output's window. Output `i` of output row `r` reads bytes
    /// `r * row_step + 2 * stride * i ..` (eight bytes: two pairs) of each.
    pub rows: [&'a [u8]; 3],
    pub rows_out: usize,
    pub cols: usize,
    /// Bytes between consecutive output rows' inputs.
    pub row_step: usize,
    /// The filter as doubled 16-bit pairs: row r is `w[2r]` (columns 0, 1) and `w[2r + 1]`
    /// (column 2, 0).
    pub w: [u32; 6],
    /// `2 * bias`.
    pub init: i32,
    pub multiplier: i32,
    /// `(2 * zero_point + 1) << (shift - 1)`.
    pub addend: i32,
    /// The right shift, `1..=31`.
    pub shift: u32,
    pub act_min: i32,
    pub act_max: i32,
    pub saturate_only: bool,
    /// 1 or 2.
    pub stride: usize,
}

impl Dw3x3Rows<'_> {
    /// Whether the outputs (`step` apart in `out`, rows following each other) fit: everything
    /// the assembly reads and writes is in bounds. The functions do nothing when this is false.
    #[inline(always)]
    pub fn fits(&self, out: &[i8], step: usize) -> bool {
        let (rows, cols) = (self.rows_out, self.cols);
        if rows == 0 || cols == 0 || !(self.stride == 1 || self.stride == 2) {
            return false;
        }
        let reach = (rows - 1) * self.row_step + 2 * self.stride * (cols - 1) + 8;
        (1..=31).contains(&self.shift)
            && self.row_step >= 2 * self.stride * cols
            && self.rows.iter().all(|r| r.len() >= reach)
            && out.len() > step * (rows * cols - 1)
    }
}

/// Packs two 16-bit lanes: `lo` in bits 0..16, `hi` in bits 16..32.
#[inline(always)]
pub const fn pack16(lo: i32, hi: i32) -> u32 {
    (lo as u32 & 0xffff) | ((hi as u32) << 16)
}

/// The low 16-bit lane of a packed word, sign-extended.
#[inline(always)]
pub const fn lo16(x: u32) -> i32 {
    x as u16 as i16 as i32
}

/// The high 16-bit lane of a packed word, sign-extended.
#[inline(always)]
pub const fn hi16(x: u32) -> i32 {
    (x >> 16) as u16 as i16 as i32
}

#[cfg(test)]
mod tests;
