//! The pieces of the `mote` binary that tests and other tools reuse: `.npy` input and
//! output, loading/running a model on the host, and benchmarking on emulated boards.

pub mod bench;
pub mod data_cmd;
pub mod features;
pub mod learn;
pub mod pipeline;
pub mod quickstart;
pub mod model;
pub mod npy;
