//! mote's kernels: one module per operator, each with a portable reference implementation
//! that is the numeric specification (bit-exact with TFLM's reference kernels for int8).
//!
//! Kernels take plain slices that the runtime has already validated against the shapes, and
//! parameters from [`mote_format::params`] that the compiler precomputed. They never allocate
//! and never fail; shape consistency is the caller's contract (checked once, when the
//! interpreter is created).

#![no_std]
#![forbid(unsafe_code)]

pub mod fixedpoint;
pub mod conv2d;
pub mod depthwise_conv2d;
pub mod fully_connected;
pub mod pool2d;
pub mod add;
pub mod softmax;
pub mod quantize;

/// A 4-D shape, NHWC for activations (`[out_c, kh, kw, in_c]` for CONV_2D filters).
pub type Shape4 = [usize; 4];
