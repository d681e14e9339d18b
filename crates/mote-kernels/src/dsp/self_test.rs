//! The optimized-versus-reference comparisons as plain `no_std` code: random cases from a
//! seed, both kernels on the same inputs, exact comparison of every output byte.
//!
//! The host's property tests (in each kernel's test module) drive these checks with seeds and
//! size limits from proptest; firmware calls [`self_test`] to run the same comparisons on the
//! device, where the instruction wrappers are the real instructions (behind the `self-test`
//! feature). No allocation: every case takes its buffers from a caller-provided workspace.

use super::insn;
use crate::Shape4;
use mote_format::params::{
    AddParams, Conv2dParams, DepthwiseConv2dParams, FullyConnectedParams, Pool2dParams,
};

/// What went wrong in a self-test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mismatch {
    /// An optimized kernel's output differs from the reference kernel's.
    Output {
        kernel: &'static str,
        /// The case's seed: `*Case::random(&mut Rng::new(seed), ..)` rebuilds it.
        seed: u64,
        index: usize,
        expected: i8,
        got: i8,
    },
    /// An instruction wrapper differs from its portable emulation.
    Instruction {
        name: &'static str,
        inputs: [u32; 3],
        expected: u32,
        got: u32,
    },
    /// The workspace is too small for a case.
    Workspace { kernel: &'static str, needed: usize },
}

/// Which path the optimized kernel took for a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Path {
    /// The DSP code ran.
    Fast,
    /// The case is outside the fast path (by design); the kernel ran the reference.
    Fallback,
}

impl From<bool> for Path {
    fn from(fast: bool) -> Self {
        if fast {
            Path::Fast
        } else {
            Path::Fallback
        }
    }
}

/// A small, fast, deterministic generator (xorshift64*), the same on every target.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        // Never zero: xorshift would stay there.
        Self(seed ^ 0x9E37_79B9_7F4A_7C15 | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i32, hi: i32) -> i32 {
        let span = (hi as i64 - lo as i64 + 1) as u64;
        (lo as i64 + (self.next_u64() % span) as i64) as i32
    }

    /// Uniform in `lo..=hi` for sizes.
    pub fn size(&mut self, lo: usize, hi: usize) -> usize {
        self.range(lo as i32, hi as i32) as usize
    }

    /// True with probability `1 / n`.
    pub fn one_in(&mut self, n: u32) -> bool {
        self.next_u32() % n == 0
    }

    pub fn fill_i8(&mut self, out: &mut [i8]) {
        for v in out {
            *v = self.next_u32() as i8;
        }
    }
}

/// Typed buffers carved out of one byte slice.
pub(crate) struct Workspace<'a> {
    rest: &'a mut [u8],
}

impl<'a> Workspace<'a> {
    pub(crate) fn new(bytes: &'a mut [u8]) -> Self {
        Self { rest: bytes }
    }

    /// `n` values of `T`, zeroed; `None` if the workspace is exhausted.
    pub(crate) fn take<T: bytemuck::Pod>(&mut self, n: usize) -> Option<&'a mut [T]> {
        let align = core::mem::align_of::<T>();
        let rest = core::mem::take(&mut self.rest);
        let pad = (align - rest.as_ptr() as usize % align) % align;
        let bytes = n.checked_mul(core::mem::size_of::<T>())?;
        if rest.len() < pad + bytes {
            self.rest = rest;
            return None;
        }
        let (_, rest) = rest.split_at_mut(pad);
        let (mine, rest) = rest.split_at_mut(bytes);
        self.rest = rest;
        mine.fill(0);
        bytemuck::try_cast_slice_mut(mine).ok()
    }
}

/// Bytes a case needs for `n` values of `T`, with slack for alignment.
pub(crate) const fn bytes_for<T>(n: usize) -> usize {
    n * core::mem::size_of::<T>() + core::mem::align_of::<T>()
}

/// Compares two outputs byte by byte.
pub(crate) fn compare(
    kernel: &'static str,
    seed: u64,
    expected: &[i8],
    got: &[i8],
) -> Result<(), Mismatch> {
    match expected.iter().zip(got).position(|(e, g)| e != g) {
        None => Ok(()),
        Some(index) => Err(Mismatch::Output {
            kernel,
            seed,
            index,
            expected: expected[index],
            got: got[index],
        }),
    }
}

/// Per-channel requantization parameters for accumulators of `k` products: mostly realistic
/// (multipliers in [0.5, 1), right shifts that keep outputs spread over int8), sometimes at
/// the edges (left shifts, zero multipliers, the largest shifts), rarely hostile (negative
/// multipliers), so that the fast paths and their fallbacks are both exercised.
pub(crate) fn requant_params(rng: &mut Rng, k: usize, multiplier: &mut [i32], shift: &mut [i32]) {
    // Outputs stay spread out when multiplier * 2^shift ≈ 100 / (sqrt(k) * 74 * 90).
    let log_k = usize::BITS - k.max(1).leading_zeros();
    let center = -6 - (log_k as i32) / 2;
    let edgy = rng.one_in(8);
    for (m, s) in multiplier.iter_mut().zip(shift.iter_mut()) {
        *m = rng.range(1 << 30, i32::MAX);
        *s = center + rng.range(-2, 2);
        if edgy {
            match rng.range(0, 6) {
                0 => *s = rng.range(-31, 31),
                1 => *s = rng.range(0, 3),
                2 => *m = 0,
                3 => *m = rng.range(i32::MIN, -1),
                // A dead channel, as TFLite leaves them: an output that no input changes.
                4 => *s = rng.range(-31, -24),
                _ => *m = rng.range(0, i32::MAX),
            }
        }
    }
}

/// An input zero point: usually int8, sometimes far outside (hostile models).
pub(crate) fn zero_point(rng: &mut Rng) -> i32 {
    if rng.one_in(16) {
        rng.range(-40_000, 40_000)
    } else {
        rng.range(-128, 127)
    }
}

/// An activation range: none, ReLU-like, ReLU6-like, or arbitrary (possibly crossed).
pub(crate) fn activation(rng: &mut Rng, zero_point: i32) -> (i32, i32) {
    match rng.range(0, 5) {
        0 | 1 => (-128, 127),
        2 => (zero_point.clamp(-128, 127), 127),
        3 => {
            let lo = zero_point.clamp(-128, 127);
            (lo, rng.range(lo, 127))
        }
        _ => (rng.range(-300, 127), rng.range(-128, 300)),
    }
}

/// Biases: usually moderate; sometimes one channel's is near 2^30 (as TFLite gives a channel
/// whose filter is all zeros), sometimes all are arbitrary. The fast requantization must hand
/// exactly those channels to the exact path.
pub(crate) fn biases(rng: &mut Rng, out: &mut [i32]) {
    let huge = rng.one_in(16);
    for b in out.iter_mut() {
        *b = if huge {
            rng.next_u32() as i32
        } else {
            rng.range(-100_000, 100_000)
        };
    }
    if rng.one_in(6) && !out.is_empty() {
        let c = rng.size(0, out.len() - 1);
        out[c] = if rng.one_in(2) {
            1_073_741_760
        } else {
            i32::MIN + rng.range(0, 100)
        };
    }
}

/// One CONV_2D comparison.
#[derive(Debug, Clone, Copy)]
pub struct Conv2dCase {
    pub seed: u64,
    pub params: Conv2dParams,
    pub input_shape: Shape4,
    pub filter_shape: Shape4,
    pub output_shape: Shape4,
    pub has_bias: bool,
    /// Scratch handed to the kernel: what it asks for, or less, and where it starts.
    pub scratch: ScratchGiven,
}

/// How much scratch a case gives the kernel, and at which offset from 4-byte alignment (the
/// kernel must use only the aligned words inside, or take a smaller block, or fall back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScratchGiven {
    pub bytes: usize,
    pub misalign: usize,
}

impl ScratchGiven {
    /// Usually exactly what was asked for, sometimes half, none or misaligned.
    pub(crate) fn random(rng: &mut Rng, wanted: usize) -> Self {
        let (bytes, misalign) = match rng.range(0, 9) {
            0 => (wanted / 2, 0),
            1 => (0, 0),
            2 => (wanted + 3, rng.size(1, 3)),
            _ => (wanted, 0),
        };
        Self { bytes, misalign }
    }
}

impl Conv2dCase {
    /// A random case with every dimension at most `max_dim` (channels up to `4 * max_dim`).
    pub fn random(rng: &mut Rng, max_dim: usize) -> Self {
        let seed = rng.next_u64();
        let max_dim = max_dim.max(1);
        let (kh, kw) = if rng.one_in(3) {
            (1, 1)
        } else {
            (rng.size(1, max_dim.min(5)), rng.size(1, max_dim.min(5)))
        };
        let in_c = if rng.one_in(2) {
            4 * rng.size(1, max_dim)
        } else {
            rng.size(1, 4 * max_dim)
        };
        let out_c = rng.size(1, 4 * max_dim);
        let (in_h, in_w) = (rng.size(1, 2 * max_dim), rng.size(1, 2 * max_dim));
        let batches = if rng.one_in(4) { 2 } else { 1 };
        let stride = |rng: &mut Rng| if rng.one_in(3) { rng.range(2, 3) } else { 1 };
        let dilation = |rng: &mut Rng| if rng.one_in(5) { rng.range(2, 3) } else { 1 };
        let (stride_h, stride_w) = (stride(rng), stride(rng));
        let (dilation_h, dilation_w) = (dilation(rng), dilation(rng));
        let pad = |rng: &mut Rng, k: usize, d: i32| {
            if rng.one_in(2) {
                0
            } else {
                rng.range(0, ((k as i32 - 1) * d).max(0) / 2 + 1)
            }
        };
        let (pad_top, pad_left) = (pad(rng, kh, dilation_h), pad(rng, kw, dilation_w));
        let out = |n: usize, k: usize, s: i32, d: i32, p: i32, rng: &mut Rng| {
            let span = (k as i32 - 1) * d + 1;
            let n = ((n as i32 + 2 * p - span) / s + 1).max(1) as usize;
            n + rng.one_in(5) as usize
        };
        let out_h = out(in_h, kh, stride_h, dilation_h, pad_top, rng);
        let out_w = out(in_w, kw, stride_w, dilation_w, pad_left, rng);
        let input_zero_point = zero_point(rng);
        let output_zero_point = if rng.one_in(16) {
            rng.range(-5000, 5000)
        } else {
            rng.range(-128, 127)
        };
        let (act_min, act_max) = activation(rng, output_zero_point);
        let input_shape = [batches, in_h, in_w, in_c];
        let filter_shape = [out_c, kh, kw, in_c];
        let output_shape = [batches, out_h, out_w, out_c];
        let wanted =
            super::conv2d::conv2d_int8_scratch_bytes(input_shape, filter_shape, output_shape);
        Self {
            seed,
            params: Conv2dParams {
                stride_h,
                stride_w,
                dilation_h,
                dilation_w,
                pad_top,
                pad_left,
                input_zero_point,
                output_zero_point,
                act_min,
                act_max,
                float_act_min: 0.0,
                float_act_max: 0.0,
            },
            input_shape,
            filter_shape,
            output_shape,
            has_bias: !rng.one_in(5),
            scratch: ScratchGiven::random(rng, wanted),
        }
    }

    fn sizes(&self) -> (usize, usize, usize, usize) {
        let input: usize = self.input_shape.iter().product();
        let filter: usize = self.filter_shape.iter().product();
        let output: usize = self.output_shape.iter().product();
        (input, filter, output, self.scratch.bytes)
    }

    /// Workspace bytes [`Conv2dCase::check`] needs.
    pub fn workspace_bytes(&self) -> usize {
        let (input, filter, output, scratch) = self.sizes();
        let out_c = self.filter_shape[0];
        bytes_for::<i8>(input)
            + bytes_for::<i8>(filter)
            + 3 * bytes_for::<i32>(out_c)
            + 2 * bytes_for::<i8>(output)
            + bytes_for::<u32>((scratch + self.scratch.misalign).div_ceil(4))
    }

    /// Runs the reference and the DSP kernel on the case's data and compares the outputs.
    pub fn check(&self, workspace: &mut [u8]) -> Result<Path, Mismatch> {
        const NAME: &str = "conv2d_int8";
        let too_small = Mismatch::Workspace {
            kernel: NAME,
            needed: self.workspace_bytes(),
        };
        let (n_in, n_filter, n_out, n_scratch) = self.sizes();
        let out_c = self.filter_shape[0];
        let k = self.filter_shape[1] * self.filter_shape[2] * self.filter_shape[3];
        let mut ws = Workspace::new(workspace);
        let (Some(input), Some(filter), Some(bias), Some(multiplier), Some(shift)) = (
            ws.take::<i8>(n_in),
            ws.take::<i8>(n_filter),
            ws.take::<i32>(out_c),
            ws.take::<i32>(out_c),
            ws.take::<i32>(out_c),
        ) else {
            return Err(too_small);
        };
        let (Some(expected), Some(got), Some(scratch)) = (
            ws.take::<i8>(n_out),
            ws.take::<i8>(n_out),
            ws.take::<u32>((n_scratch + self.scratch.misalign).div_ceil(4)),
        ) else {
            return Err(too_small);
        };
        let scratch: &mut [u8] = bytemuck::cast_slice_mut(scratch);
        let scratch = &mut scratch[self.scratch.misalign..][..n_scratch];
        let rng = &mut Rng::new(self.seed);
        rng.fill_i8(input);
        rng.fill_i8(filter);
        biases(rng, bias);
        requant_params(rng, k, multiplier, shift);
        let bias = self.has_bias.then_some(&*bias);
        crate::conv2d::conv2d_int8(
            &self.params,
            input,
            self.input_shape,
            filter,
            self.filter_shape,
            bias,
            multiplier,
            shift,
            expected,
            self.output_shape,
        );
        let fast = super::conv2d::conv2d_int8_fast(
            &self.params,
            input,
            self.input_shape,
            filter,
            self.filter_shape,
            bias,
            multiplier,
            shift,
            got,
            self.output_shape,
            scratch,
        );
        if !fast {
            // What the public kernel does in this case; compare anyway.
            crate::conv2d::conv2d_int8(
                &self.params,
                input,
                self.input_shape,
                filter,
                self.filter_shape,
                bias,
                multiplier,
                shift,
                got,
                self.output_shape,
            );
        }
        compare(NAME, self.seed, expected, got).map(|()| Path::from(fast))
    }
}

/// One DEPTHWISE_CONV_2D comparison.
#[derive(Debug, Clone, Copy)]
pub struct DepthwiseConv2dCase {
    pub seed: u64,
    pub params: DepthwiseConv2dParams,
    pub input_shape: Shape4,
    pub filter_shape: Shape4,
    pub output_shape: Shape4,
    pub has_bias: bool,
    pub scratch: ScratchGiven,
}

impl DepthwiseConv2dCase {
    /// A random case with every spatial dimension at most `2 * max_dim`.
    pub fn random(rng: &mut Rng, max_dim: usize) -> Self {
        let seed = rng.next_u64();
        let max_dim = max_dim.max(1);
        let (kh, kw) = if rng.one_in(2) {
            (3, 3)
        } else {
            (rng.size(1, max_dim.min(5)), rng.size(1, max_dim.min(5)))
        };
        let (in_c, depth_multiplier) = match rng.range(0, 9) {
            // One input channel, several outputs (person_detect's first layer).
            0 => (1, rng.size(1, 8)),
            1 => (rng.size(1, 12), 1),
            2 => (4 * rng.size(1, max_dim), 2),
            _ => (4 * rng.size(1, max_dim), 1),
        };
        let out_c = in_c * depth_multiplier;
        let (in_h, mut in_w) = (rng.size(1, 2 * max_dim + 2), rng.size(1, 2 * max_dim + 2));
        if rng.one_in(8) {
            // Wide rows: longer than the kernel's chunk of outputs.
            in_w = rng.size(30, 80);
        }
        let batches = if rng.one_in(4) { 2 } else { 1 };
        let stride = |rng: &mut Rng| if rng.one_in(3) { rng.range(2, 3) } else { 1 };
        let dilation = |rng: &mut Rng| if rng.one_in(8) { 2 } else { 1 };
        let (stride_h, stride_w) = (stride(rng), stride(rng));
        let (dilation_h, dilation_w) = (dilation(rng), dilation(rng));
        let pad = |rng: &mut Rng, k: usize, d: i32| {
            if rng.one_in(16) {
                -1
            } else {
                rng.range(0, ((k as i32 - 1) * d).max(0) / 2 + 1)
            }
        };
        let (pad_top, pad_left) = (pad(rng, kh, dilation_h), pad(rng, kw, dilation_w));
        let out = |n: usize, k: usize, s: i32, d: i32, p: i32, rng: &mut Rng| {
            let span = (k as i32 - 1) * d + 1;
            let n = ((n as i32 + 2 * p - span) / s + 1).max(1) as usize;
            n + rng.one_in(5) as usize
        };
        let out_h = out(in_h, kh, stride_h, dilation_h, pad_top, rng);
        let out_w = out(in_w, kw, stride_w, dilation_w, pad_left, rng);
        let input_zero_point = zero_point(rng);
        let output_zero_point = if rng.one_in(16) {
            rng.range(-5000, 5000)
        } else {
            rng.range(-128, 127)
        };
        let (act_min, act_max) = activation(rng, output_zero_point);
        let params = DepthwiseConv2dParams {
            stride_h,
            stride_w,
            dilation_h,
            dilation_w,
            pad_top,
            pad_left,
            depth_multiplier: depth_multiplier as i32,
            input_zero_point,
            output_zero_point,
            act_min,
            act_max,
            float_act_min: 0.0,
            float_act_max: 0.0,
        };
        let input_shape = [batches, in_h, in_w, in_c];
        let filter_shape = [1, kh, kw, out_c];
        let output_shape = [batches, out_h, out_w, out_c];
        let wanted = super::depthwise_conv2d::depthwise_conv2d_int8_scratch_bytes(
            &params,
            input_shape,
            filter_shape,
            output_shape,
        );
        Self {
            seed,
            params,
            input_shape,
            filter_shape,
            output_shape,
            has_bias: !rng.one_in(5),
            scratch: ScratchGiven::random(rng, wanted),
        }
    }

    /// Workspace bytes [`DepthwiseConv2dCase::check`] needs.
    pub fn workspace_bytes(&self) -> usize {
        let input: usize = self.input_shape.iter().product();
        let filter: usize = self.filter_shape.iter().product();
        let output: usize = self.output_shape.iter().product();
        let out_c = self.filter_shape[3];
        bytes_for::<i8>(input)
            + bytes_for::<i8>(filter)
            + 3 * bytes_for::<i32>(out_c)
            + 2 * bytes_for::<i8>(output)
            + bytes_for::<u32>((self.scratch.bytes + self.scratch.misalign).div_ceil(4))
    }

    /// Runs the reference and the DSP kernel on the case's data and compares the outputs.
    pub fn check(&self, workspace: &mut [u8]) -> Result<Path, Mismatch> {
        const NAME: &str = "depthwise_conv2d_int8";
        let too_small = Mismatch::Workspace {
            kernel: NAME,
            needed: self.workspace_bytes(),
        };
        let n_in: usize = self.input_shape.iter().product();
        let n_filter: usize = self.filter_shape.iter().product();
        let n_out: usize = self.output_shape.iter().product();
        let out_c = self.filter_shape[3];
        let k = self.filter_shape[1] * self.filter_shape[2];
        let n_scratch = self.scratch.bytes;
        let mut ws = Workspace::new(workspace);
        let (Some(input), Some(filter), Some(bias), Some(multiplier), Some(shift)) = (
            ws.take::<i8>(n_in),
            ws.take::<i8>(n_filter),
            ws.take::<i32>(out_c),
            ws.take::<i32>(out_c),
            ws.take::<i32>(out_c),
        ) else {
            return Err(too_small);
        };
        let (Some(expected), Some(got), Some(scratch)) = (
            ws.take::<i8>(n_out),
            ws.take::<i8>(n_out),
            ws.take::<u32>((n_scratch + self.scratch.misalign).div_ceil(4)),
        ) else {
            return Err(too_small);
        };
        let scratch: &mut [u8] = bytemuck::cast_slice_mut(scratch);
        let scratch = &mut scratch[self.scratch.misalign..][..n_scratch];
        let rng = &mut Rng::new(self.seed);
        rng.fill_i8(input);
        rng.fill_i8(filter);
        biases(rng, bias);
        requant_params(rng, k, multiplier, shift);
        let bias = self.has_bias.then_some(&*bias);
        crate::depthwise_conv2d::depthwise_conv2d_int8(
            &self.params,
            input,
            self.input_shape,
            filter,
            self.filter_shape,
            bias,
            multiplier,
            shift,
            expected,
            self.output_shape,
        );
        let fast = super::depthwise_conv2d::depthwise_conv2d_int8_fast(
            &self.params,
            input,
            self.input_shape,
            filter,
            self.filter_shape,
            bias,
            multiplier,
            shift,
            got,
            self.output_shape,
            scratch,
        );
        if !fast {
            crate::depthwise_conv2d::depthwise_conv2d_int8(
                &self.params,
                input,
                self.input_shape,
                filter,
                self.filter_shape,
                bias,
                multiplier,
                shift,
                got,
                self.output_shape,
            );
        }
        compare(NAME, self.seed, expected, got).map(|()| Path::from(fast))
    }
}

/// One FULLY_CONNECTED comparison.
#[derive(Debug, Clone, Copy)]
pub struct FullyConnectedCase {
    pub seed: u64,
    pub params: FullyConnectedParams,
    pub batches: usize,
    pub accum_depth: usize,
    pub output_depth: usize,
    pub per_channel: bool,
    pub has_bias: bool,
    pub scratch: ScratchGiven,
    /// Bytes by which the input and the filter start past a word boundary (models place both
    /// word-aligned; the kernel must cope with anything).
    pub misalign: usize,
}

impl FullyConnectedCase {
    /// A random case with depths up to `32 * max_dim`.
    pub fn random(rng: &mut Rng, max_dim: usize) -> Self {
        let seed = rng.next_u64();
        let max_dim = max_dim.max(1);
        let accum_depth = match rng.range(0, 2) {
            0 => 8 * rng.size(1, 4 * max_dim),
            1 => 4 * rng.size(1, 8 * max_dim),
            _ => rng.size(1, 32 * max_dim),
        };
        let output_depth = rng.size(1, 8 * max_dim);
        let batches = if rng.one_in(4) { rng.size(2, 3) } else { 1 };
        let input_zero_point = zero_point(rng);
        let output_zero_point = if rng.one_in(16) {
            rng.range(-5000, 5000)
        } else {
            rng.range(-128, 127)
        };
        let (act_min, act_max) = activation(rng, output_zero_point);
        let wanted = super::fully_connected::fully_connected_int8_scratch_bytes(
            batches,
            accum_depth,
            output_depth,
        );
        Self {
            seed,
            params: FullyConnectedParams {
                input_zero_point,
                filter_zero_point: if rng.one_in(12) { rng.range(-3, 3) } else { 0 },
                output_zero_point,
                act_min,
                act_max,
                float_act_min: 0.0,
                float_act_max: 0.0,
            },
            batches,
            accum_depth,
            output_depth,
            per_channel: rng.one_in(2),
            has_bias: !rng.one_in(5),
            scratch: ScratchGiven::random(rng, wanted),
            misalign: if rng.one_in(8) { rng.size(1, 3) } else { 0 },
        }
    }

    fn quant_len(&self) -> usize {
        if self.per_channel {
            self.output_depth
        } else {
            1
        }
    }

    /// Workspace bytes [`FullyConnectedCase::check`] needs.
    pub fn workspace_bytes(&self) -> usize {
        bytes_for::<u32>((self.batches * self.accum_depth + self.misalign).div_ceil(4))
            + bytes_for::<u32>((self.output_depth * self.accum_depth + self.misalign).div_ceil(4))
            + bytes_for::<i32>(self.output_depth)
            + 2 * bytes_for::<i32>(self.quant_len())
            + 2 * bytes_for::<i8>(self.batches * self.output_depth)
            + bytes_for::<u32>((self.scratch.bytes + self.scratch.misalign).div_ceil(4))
    }

    /// Runs the reference and the DSP kernel on the case's data and compares the outputs.
    pub fn check(&self, workspace: &mut [u8]) -> Result<Path, Mismatch> {
        const NAME: &str = "fully_connected_int8";
        let too_small = Mismatch::Workspace {
            kernel: NAME,
            needed: self.workspace_bytes(),
        };
        let (b, d, n, q) = (
            self.batches,
            self.accum_depth,
            self.output_depth,
            self.quant_len(),
        );
        let mut ws = Workspace::new(workspace);
        let m = self.misalign;
        let (Some(input), Some(filter), Some(bias), Some(multiplier), Some(shift)) = (
            ws.take::<u32>((b * d + m).div_ceil(4)),
            ws.take::<u32>((n * d + m).div_ceil(4)),
            ws.take::<i32>(n),
            ws.take::<i32>(q),
            ws.take::<i32>(q),
        ) else {
            return Err(too_small);
        };
        let input = &mut bytemuck::cast_slice_mut::<u32, i8>(input)[m..][..b * d];
        let filter = &mut bytemuck::cast_slice_mut::<u32, i8>(filter)[m..][..n * d];
        let (Some(expected), Some(got), Some(scratch)) = (
            ws.take::<i8>(b * n),
            ws.take::<i8>(b * n),
            ws.take::<u32>((self.scratch.bytes + self.scratch.misalign).div_ceil(4)),
        ) else {
            return Err(too_small);
        };
        let scratch: &mut [u8] = bytemuck::cast_slice_mut(scratch);
        let scratch = &mut scratch[self.scratch.misalign..][..self.scratch.bytes];
        let rng = &mut Rng::new(self.seed);
        rng.fill_i8(input);
        rng.fill_i8(filter);
        biases(rng, bias);
        requant_params(rng, d, multiplier, shift);
        let bias = self.has_bias.then_some(&*bias);
        let p = &self.params;
        crate::fully_connected::fully_connected_int8(
            p, input, filter, bias, multiplier, shift, expected, b, d, n,
        );
        let fast = super::fully_connected::fully_connected_int8_fast(
            p, input, filter, bias, multiplier, shift, got, b, d, n, scratch,
        );
        if !fast {
            crate::fully_connected::fully_connected_int8(
                p, input, filter, bias, multiplier, shift, got, b, d, n,
            );
        }
        compare(NAME, self.seed, expected, got)?;
        // The compact kernel for small layers, on the same case.
        got.fill(0);
        super::fully_connected::fully_connected_int8_small(
            p, input, filter, bias, multiplier, shift, got, b, d, n,
        );
        compare("fully_connected_int8_small", self.seed, expected, got).map(|()| Path::from(fast))
    }
}

/// One AVERAGE_POOL_2D and one MAX_POOL_2D comparison on the same input.
#[derive(Debug, Clone, Copy)]
pub struct Pool2dCase {
    pub seed: u64,
    pub params: Pool2dParams,
    pub input_shape: Shape4,
    pub output_shape: Shape4,
}

impl Pool2dCase {
    /// A random case with spatial dimensions up to `2 * max_dim` (sometimes a global pool
    /// over up to 400 inputs, beyond the 16-bit sums' 255).
    pub fn random(rng: &mut Rng, max_dim: usize) -> Self {
        let seed = rng.next_u64();
        let max_dim = max_dim.max(1);
        let depth = if rng.one_in(3) {
            rng.size(1, 9)
        } else {
            4 * rng.size(1, max_dim)
        };
        let batches = if rng.one_in(4) { 2 } else { 1 };
        let (in_h, in_w, fh, fw, sh, sw, pt, pl, out_h, out_w);
        if rng.one_in(5) {
            // Global pooling.
            in_h = rng.size(1, 20);
            in_w = rng.size(1, 20);
            (fh, fw, sh, sw, pt, pl, out_h, out_w) = (in_h, in_w, 1, 1, 0, 0, 1, 1);
        } else {
            in_h = rng.size(1, 2 * max_dim + 1);
            in_w = rng.size(1, 2 * max_dim + 1);
            fh = rng.size(1, 3);
            fw = rng.size(1, 3);
            sh = rng.size(1, 2);
            sw = rng.size(1, 2);
            pt = rng.size(0, fh - 1);
            pl = rng.size(0, fw - 1);
            out_h = ((in_h + 2 * pt).saturating_sub(fh)) / sh + 1;
            out_w = ((in_w + 2 * pl).saturating_sub(fw)) / sw + 1;
        }
        let (act_min, act_max) = match rng.range(0, 4) {
            0 => (-128, 127),
            1 => (rng.range(-128, 0), rng.range(0, 127)),
            2 => (rng.range(-300, -128), rng.range(127, 300)),
            3 => (rng.range(128, 200), rng.range(200, 300)),
            _ => (5, -5),
        };
        Self {
            seed,
            params: Pool2dParams {
                stride_h: sh as i32,
                stride_w: sw as i32,
                filter_h: fh as i32,
                filter_w: fw as i32,
                pad_top: pt as i32,
                pad_left: pl as i32,
                act_min,
                act_max,
                float_act_min: 0.0,
                float_act_max: 0.0,
            },
            input_shape: [batches, in_h, in_w, depth],
            output_shape: [batches, out_h, out_w, depth],
        }
    }

    /// Workspace bytes [`Pool2dCase::check`] needs.
    pub fn workspace_bytes(&self) -> usize {
        let input: usize = self.input_shape.iter().product();
        let output: usize = self.output_shape.iter().product();
        bytes_for::<i8>(input) + 2 * bytes_for::<i8>(output)
    }

    /// Runs the reference and the DSP kernels and compares the outputs. (Crossed activation
    /// bounds, which the runtime rejects, make the reference panic; they are not compared.)
    pub fn check(&self, workspace: &mut [u8]) -> Result<Path, Mismatch> {
        let too_small = Mismatch::Workspace {
            kernel: "pool2d_int8",
            needed: self.workspace_bytes(),
        };
        let n_in: usize = self.input_shape.iter().product();
        let n_out: usize = self.output_shape.iter().product();
        let mut ws = Workspace::new(workspace);
        let (Some(input), Some(expected), Some(got)) = (
            ws.take::<i8>(n_in),
            ws.take::<i8>(n_out),
            ws.take::<i8>(n_out),
        ) else {
            return Err(too_small);
        };
        Rng::new(self.seed).fill_i8(input);
        if self.params.act_min > self.params.act_max {
            return Ok(Path::Fallback);
        }
        let (p, i, o) = (&self.params, self.input_shape, self.output_shape);
        crate::pool2d::max_pool2d_int8(p, input, i, expected, o);
        super::pool2d::max_pool2d_int8(p, input, i, got, o);
        compare("max_pool2d_int8", self.seed, expected, got)?;
        crate::pool2d::average_pool2d_int8(p, input, i, expected, o);
        super::pool2d::average_pool2d_int8(p, input, i, got, o);
        compare("average_pool2d_int8", self.seed, expected, got)?;
        Ok(Path::Fast)
    }
}

/// One ADD comparison.
#[derive(Debug, Clone, Copy)]
pub struct AddCase {
    pub seed: u64,
    pub params: AddParams,
    pub shape1: Shape4,
    pub shape2: Shape4,
    pub output_shape: Shape4,
}

impl AddCase {
    /// A random case: TFLite-like rescaling parameters (a left shift of 20, multipliers below
    /// one), sometimes broadcasting or parameters outside the fast path.
    pub fn random(rng: &mut Rng, max_dim: usize) -> Self {
        let seed = rng.next_u64();
        let max_dim = max_dim.max(1);
        let shape = [
            rng.size(1, 2),
            rng.size(1, 2 * max_dim),
            rng.size(1, 2 * max_dim),
            rng.size(1, 4 * max_dim),
        ];
        let mut shape2 = shape;
        if rng.one_in(6) {
            // Broadcast one input along a dimension.
            shape2[rng.size(0, 3)] = 1;
        }
        let multiplier = |rng: &mut Rng| rng.range(1 << 30, i32::MAX);
        let output_zero_point = if rng.one_in(16) {
            rng.range(-5000, 5000)
        } else {
            rng.range(-128, 127)
        };
        let (act_min, act_max) = activation(rng, output_zero_point);
        let act_max = act_max.max(act_min);
        let edgy = rng.one_in(8);
        Self {
            seed,
            params: AddParams {
                input1_zero_point: zero_point(rng),
                input2_zero_point: zero_point(rng),
                output_zero_point,
                left_shift: if edgy { rng.range(0, 31) } else { 20 },
                input1_multiplier: multiplier(rng),
                input1_shift: rng.range(-3, 0),
                input2_multiplier: multiplier(rng),
                input2_shift: rng.range(-3, 0),
                output_multiplier: multiplier(rng),
                output_shift: if edgy {
                    rng.range(-31, 0)
                } else {
                    rng.range(-22, -17)
                },
                act_min,
                act_max,
                float_act_min: 0.0,
                float_act_max: 0.0,
            },
            shape1: shape,
            shape2,
            output_shape: shape,
        }
    }

    /// Workspace bytes [`AddCase::check`] needs.
    pub fn workspace_bytes(&self) -> usize {
        let n: usize = self.output_shape.iter().product();
        let n2: usize = self.shape2.iter().product();
        3 * bytes_for::<i8>(n) + bytes_for::<i8>(n2)
    }

    /// Runs the reference and the DSP kernel and compares the outputs.
    pub fn check(&self, workspace: &mut [u8]) -> Result<Path, Mismatch> {
        const NAME: &str = "add_int8";
        let too_small = Mismatch::Workspace {
            kernel: NAME,
            needed: self.workspace_bytes(),
        };
        let n: usize = self.output_shape.iter().product();
        let n2: usize = self.shape2.iter().product();
        let mut ws = Workspace::new(workspace);
        let (Some(a), Some(b), Some(expected), Some(got)) = (
            ws.take::<i8>(n),
            ws.take::<i8>(n2),
            ws.take::<i8>(n),
            ws.take::<i8>(n),
        ) else {
            return Err(too_small);
        };
        let rng = &mut Rng::new(self.seed);
        rng.fill_i8(a);
        rng.fill_i8(b);
        let (p, s1, s2, so) = (&self.params, self.shape1, self.shape2, self.output_shape);
        crate::add::add_int8(p, a, s1, b, s2, expected, so);
        let fast = super::add::add_int8_fast(p, a, s1, b, s2, got, so);
        if !fast {
            crate::add::add_int8(p, a, s1, b, s2, got, so);
        }
        compare(NAME, self.seed, expected, got).map(|()| Path::from(fast))
    }
}

/// Checks the instruction wrappers in use (the assembly on a DSP build) against the portable
/// emulation on `count` pseudo-random operand triples.
pub fn instructions(seed: u64, count: usize) -> Result<(), Mismatch> {
    use insn::emulated as e;
    let rng = &mut Rng::new(seed);
    for _ in 0..count {
        let (x, y, a) = (rng.next_u32(), rng.next_u32(), rng.next_u32());
        let checks: [(&'static str, u32, u32); 17] = [
            (
                "smlad",
                insn::smlad(x, y, a as i32) as u32,
                e::smlad(x, y, a as i32) as u32,
            ),
            (
                "smlabb",
                insn::smlabb(x, y, a as i32) as u32,
                e::smlabb(x, y, a as i32) as u32,
            ),
            (
                "smlabt",
                insn::smlabt(x, y, a as i32) as u32,
                e::smlabt(x, y, a as i32) as u32,
            ),
            (
                "smlatb",
                insn::smlatb(x, y, a as i32) as u32,
                e::smlatb(x, y, a as i32) as u32,
            ),
            (
                "smlatt",
                insn::smlatt(x, y, a as i32) as u32,
                e::smlatt(x, y, a as i32) as u32,
            ),
            ("sxtb16", insn::sxtb16(x), e::sxtb16(x)),
            ("sxtb16_ror8", insn::sxtb16_ror8(x), e::sxtb16_ror8(x)),
            ("sxtab16", insn::sxtab16(y, x), e::sxtab16(y, x)),
            (
                "sxtab16_ror8",
                insn::sxtab16_ror8(y, x),
                e::sxtab16_ror8(y, x),
            ),
            ("sadd16", insn::sadd16(x, y), e::sadd16(x, y)),
            ("pkhbt_lsl16", insn::pkhbt_lsl16(x, y), e::pkhbt_lsl16(x, y)),
            ("pkhtb_asr16", insn::pkhtb_asr16(x, y), e::pkhtb_asr16(x, y)),
            (
                "ssat8",
                insn::ssat8(x as i32) as u32,
                e::ssat8(x as i32) as u32,
            ),
            (
                "ssat8_small",
                insn::ssat8(x as i32 >> 22) as u32,
                e::ssat8(x as i32 >> 22) as u32,
            ),
            (
                "smmlar",
                insn::smmlar(x as i32, y as i32, a as i32) as u32,
                e::smmlar(x as i32, y as i32, a as i32) as u32,
            ),
            ("max_s8x4", insn::max_s8x4(x, y), e::max_s8x4(x, y)),
            ("min_s8x4", insn::min_s8x4(x, y), e::min_s8x4(x, y)),
        ];
        for (name, got, expected) in checks {
            if got != expected {
                return Err(Mismatch::Instruction {
                    name,
                    inputs: [x, y, a],
                    expected,
                    got,
                });
            }
        }
    }
    Ok(())
}

/// The kernels [`self_test`] compares, in the order of [`Summary::fast`].
pub const KERNELS: [&str; 5] = [
    "conv2d_int8",
    "depthwise_conv2d_int8",
    "fully_connected_int8",
    "pool2d_int8",
    "add_int8",
];

/// What a passing [`self_test`] ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    /// Random cases per kernel.
    pub cases: usize,
    /// Cases that ran the optimized code (the rest are outside the fast path by design and
    /// ran the reference), per kernel as in [`KERNELS`].
    pub fast: [usize; 5],
}

/// Runs the instruction check, then `cases` random comparisons per kernel (cases sized to fit
/// `workspace`), each output byte against the reference kernel's. For firmware: no
/// allocation, no panics. 64 KiB of workspace takes every case the generators make at their
/// default size; a smaller one gets smaller cases.
pub fn self_test(seed: u64, cases: usize, workspace: &mut [u8]) -> Result<Summary, Mismatch> {
    instructions(seed, 1000)?;
    let rng = &mut Rng::new(seed);
    let budget = workspace.len();
    let mut summary = Summary {
        cases,
        fast: [0; 5],
    };
    for _ in 0..cases {
        let paths = [
            fitting(rng, budget, Conv2dCase::random, Conv2dCase::workspace_bytes)
                .check(workspace)?,
            fitting(
                rng,
                budget,
                DepthwiseConv2dCase::random,
                DepthwiseConv2dCase::workspace_bytes,
            )
            .check(workspace)?,
            fitting(
                rng,
                budget,
                FullyConnectedCase::random,
                FullyConnectedCase::workspace_bytes,
            )
            .check(workspace)?,
            fitting(rng, budget, Pool2dCase::random, Pool2dCase::workspace_bytes)
                .check(workspace)?,
            fitting(rng, budget, AddCase::random, AddCase::workspace_bytes).check(workspace)?,
        ];
        for (count, path) in summary.fast.iter_mut().zip(paths) {
            *count += (path == Path::Fast) as usize;
        }
    }
    Ok(summary)
}

/// A random case that fits in `budget` bytes, shrinking the size limit until one does.
fn fitting<T>(
    rng: &mut Rng,
    budget: usize,
    make: impl Fn(&mut Rng, usize) -> T,
    need: impl Fn(&T) -> usize,
) -> T {
    let mut max_dim = 4;
    loop {
        let case = make(rng, max_dim);
        if need(&case) <= budget || max_dim == 1 {
            return case;
        }
        max_dim -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec;

    /// The device entry point on the host (with the emulated instructions): passes, and
    /// exercises every kernel's fast path.
    #[test]
    fn self_test_passes_and_takes_the_fast_paths() {
        let mut workspace = vec![0u8; 64 * 1024];
        let summary = self_test(7, 40, &mut workspace).unwrap();
        assert_eq!(summary.cases, 40);
        for (name, fast) in KERNELS.iter().zip(summary.fast) {
            assert!(
                fast > 10,
                "{name}: only {fast} of 40 cases on the fast path"
            );
        }
    }

    /// A tiny workspace gets smaller cases, or a clear error: never a panic.
    #[test]
    fn small_workspace_is_an_error_not_a_panic() {
        let mut workspace = vec![0u8; 64];
        match self_test(3, 5, &mut workspace) {
            Ok(_) | Err(Mismatch::Workspace { .. }) => {}
            Err(e) => panic!("{e:?}"),
        }
    }
}
