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

/// What [`fc_small_rows`] works on: one input row of `k = x.len()` bytes against
/// `out.len()` filter rows, each output `clamp(requantize(bias + Σ (x + input_offset) · w))`
/// with one scale for every row, in the fast form of `crate::dsp::requant` on twice the
/// accumulator (the caller checked it exact for these rows: a non-negative multiplier, a
/// right shift, no accumulator near 2^30). Filter zero point 0.
#[derive(Clone, Copy)]
pub struct FcSmallRows<'a> {
    /// `out.len()` rows of `k` bytes, one after another.
    pub weights: &'a [i8],
    pub x: &'a [i8],
    /// One per row.
    pub bias: &'a [i32],
    /// `-input_zero_point`; `|input_offset| + 128` must fit in 16 bits.
    pub input_offset: i32,
    pub multiplier: i32,
    /// The right shift `e`, `1..=31`.
    pub right_shift: u32,
    /// `2^(e-1) + zero_point · 2^e` (`crate::dsp::requant`'s addend).
    pub addend: i32,
    pub act_min: i32,
    pub act_max: i32,
}

impl FcSmallRows<'_> {
    /// Whether the rows and their outputs fit (everything the functions read and write is in
    /// bounds); they do nothing otherwise.
    #[inline]
    pub fn fits(&self, out: &[i8]) -> bool {
        let rows = out.len();
        rows > 0
            && self.bias.len() >= rows
            && self.weights.len() / rows >= self.x.len()
            && (1..=31).contains(&self.right_shift)
            && (-32_639..=32_639).contains(&self.input_offset)
    }
}

/// The input of [`fc_pairs`]: the int8 row itself, or its expansion into 16-bit pairs.
#[derive(Clone, Copy)]
pub enum FcInput<'a> {
    /// `k` int8 values, word-aligned; each group of four is widened on the fly (two SXTAB16
    /// with the input offset), once per pair of filter rows.
    Direct(&'a [i8]),
    /// `k / 2` words: per group of four values `x0..x3` the pairs `(x0, x2)` and `(x1, x3)`,
    /// each value already plus the input offset (see `crate::dsp::fully_connected`).
    Expanded(&'a [u32]),
}

/// The requantization of the rows [`fc_pairs`] computes.
#[derive(Clone, Copy)]
pub enum FcQuant<'a> {
    /// One multiplier and shift (`-31..=31`) for every row.
    PerTensor { multiplier: i32, shift: i32 },
    /// One multiplier and shift per row, every shift a right shift (`-31..=-1`).
    PerChannel {
        multiplier: &'a [i32],
        shift: &'a [i32],
    },
}

/// What [`fc_pairs`] works on: pairs of filter rows of a fully connected layer against one
/// input row, each output `act(requantize(bias + Σ (x + input_offset) · w) + zero_point)`.
/// The requantization is the fast form of `crate::dsp::requant` on twice the accumulator: the
/// caller must have checked that it is exact for these rows (no accumulator reaches 2^30).
#[derive(Clone, Copy)]
pub struct FcPairs<'a> {
    /// `2 * pairs` rows of `k` bytes, starting word-aligned.
    pub weights: &'a [i8],
    /// Row length: a multiple of four, at least eight.
    pub k: usize,
    pub input: FcInput<'a>,
    /// Added to every input value (`-input_zero_point`, so that `x + input_offset` fits in 16
    /// bits); used by [`FcInput::Direct`] only.
    pub input_offset: i32,
    /// One per row.
    pub bias: &'a [i32],
    pub quant: FcQuant<'a>,
    pub zero_point: i32,
    pub act_min: i32,
    pub act_max: i32,
}

impl FcPairs<'_> {
    /// Whether `pairs` row pairs and their outputs fit (everything the assembly reads and
    /// writes is in bounds and aligned as it needs); the functions do nothing otherwise.
    #[inline]
    pub fn fits(&self, out: &[i8], pairs: usize) -> bool {
        let rows = 2 * pairs;
        let k = self.k;
        let input = match self.input {
            FcInput::Direct(x) => x.as_ptr() as usize % 4 == 0 && x.len() >= k,
            FcInput::Expanded(x) => x.len() >= k / 2,
        };
        let quant = match self.quant {
            FcQuant::PerTensor { shift, .. } => (-31..=31).contains(&shift),
            FcQuant::PerChannel { multiplier, shift } => {
                multiplier.len() >= rows
                    && shift.len() >= rows
                    && shift[..rows].iter().all(|s| (-31..=-1).contains(s))
            }
        };
        pairs >= 1
            && k >= 8
            && k % 4 == 0
            && input
            && quant
            && (-32_000..=32_000).contains(&self.input_offset)
            && self.weights.as_ptr() as usize % 4 == 0
            && rows
                .checked_mul(k)
                .is_some_and(|n| self.weights.len() >= n)
            && self.bias.len() >= rows
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
