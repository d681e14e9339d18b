//! mote's kernels: one module per operator, each with a portable reference implementation
//! that is the numeric specification (bit-exact with TFLM's reference kernels for int8).
//!
//! Kernels take plain slices that the runtime has already validated against the shapes, and
//! parameters from [`mote_format::params`] that the compiler precomputed. They never allocate
//! and never fail; shape consistency is the caller's contract (checked once, when the
//! interpreter is created).
//!
//! Optimized int8 kernels for Cortex-M cores with the DSP extension live in `dsp` (compiled
//! where they can run, and on hosts, where they are tested against the reference with an
//! emulation of the instructions). [`select`] is where a build picks one family, and
//! [`scratch`] says how much working memory each kernel wants, for the compiler's plan.
//!
//! Features: `self-test` compiles `dsp::self_test`, the optimized-versus-reference comparisons
//! as a `no_std` function for firmware to run on the device.

#![no_std]
// `deny`, not `forbid`: the DSP instruction wrappers (`dsp::insn::asm`, a few one-instruction
// `asm!` blocks) are the one place allowed to opt out. Everything else stays safe code.
#![deny(unsafe_code)]

#[cfg(test)]
extern crate std;

pub mod add;
pub mod conv2d;
pub mod depthwise_conv2d;
#[cfg(any(mote_dsp, not(target_arch = "arm")))]
pub mod dsp;
pub mod fixedpoint;
pub mod fully_connected;
pub mod pool2d;
pub mod quantize;
pub mod scratch;
pub mod select;
pub mod softmax;

/// A 4-D shape, NHWC for activations (`[out_c, kh, kw, in_c]` for CONV_2D filters).
pub type Shape4 = [usize; 4];

/// TFLite's `ActivationFunctionWithMinMax` for floats: `min(max(x, lo), hi)` written with the
/// comparisons of `std::max`/`std::min`, so that a NaN passes through and `-0.0` is kept,
/// which `f32::max`/`f32::min`/`f32::clamp` would not guarantee.
#[inline(always)]
pub(crate) fn activation_f32(x: f32, lo: f32, hi: f32) -> f32 {
    let y = if x < lo { lo } else { x };
    if hi < y {
        hi
    } else {
        y
    }
}
