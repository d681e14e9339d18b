//! The pieces of the `mote` binary that tests and other tools reuse: `.npy` input and
//! output, and loading/running a model on the host.

pub mod model;
pub mod npy;
