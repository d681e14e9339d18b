//! Optimized int8 kernels for Cortex-M cores with the DSP extension (M4, M7, M33, M55), each
//! bit-exact with its reference kernel.
//!
//! The kernels are written once, on top of the instruction wrappers in [`insn`]: on a DSP
//! target those are the instructions, elsewhere a portable emulation with the same results.
//! The host therefore tests the real algorithm (packing, blocking, edge handling) against the
//! reference kernels with random shapes and parameters, and [`self_test`] runs the same
//! comparisons on the device.
//!
//! Each kernel has the reference's signature plus a `scratch` byte slice, and a
//! `*_scratch_bytes` function saying how much scratch it wants for given shapes. A kernel
//! falls back to the reference kernel, with the same result, when an input is outside what its
//! fast path handles exactly (for example a zero point far outside int8, parameters that
//! could overflow its 16-bit lanes, a grouped convolution, or too little scratch).

pub mod insn;

pub mod add;
pub mod conv2d;
pub mod depthwise_conv2d;
pub mod fully_connected;
mod im2col;
pub mod pool2d;
mod requant;
#[cfg(any(test, feature = "self-test"))]
pub mod self_test;

/// Four bytes as a little-endian word (one LDR; the bounds check folds away when `b` comes
/// from `chunks_exact(4)`).
#[inline(always)]
pub(crate) fn word(b: &[i8]) -> u32 {
    u32::from_le_bytes([b[0] as u8, b[1] as u8, b[2] as u8, b[3] as u8])
}

/// The 4-byte-aligned words inside a scratch byte slice (all of it when the slice is aligned,
/// as the compiler's plan makes it).
#[inline(always)]
pub(crate) fn scratch_words(scratch: &mut [u8]) -> &mut [u32] {
    let (_, words, _) = bytemuck::pod_align_to_mut::<u8, u32>(scratch);
    words
}
