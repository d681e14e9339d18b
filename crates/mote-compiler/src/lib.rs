//! mote's compiler: lowers a checked [`mote_ir::Graph`] into a `.mote` artefact.
//!
//! Lowering precomputes every integer parameter the device needs ([`quant`]), places every
//! activation in one arena ([`planner`]), and writes weights and per-channel requantization
//! tables into the artefact's constant pool. [`compile`] returns the bytes together with a
//! [`Report`] (per-operator MACs and weight bytes, arena bytes and the lower bound) that
//! `mote inspect` prints.

mod describe;
mod lower;
pub mod planner;
pub mod quant;
pub mod quantize;
mod rewrite;

pub use describe::describe;
pub use lower::{
    compile, compile_with, kernels_for_target, scratch_saving, CompileOptions, ScratchDecision,
    ScratchPolicy, ScratchReport,
};
pub use mote_kernels::scratch::Kernels;
pub use quantize::{quantize, Calibration, QuantizeError, QuantizeOptions, QuantizeReport, TensorRange};

/// Why a graph could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error(transparent)]
    Ir(#[from] mote_ir::IrError),
    #[error("operator #{node} ({op}): {message}")]
    Unsupported {
        node: usize,
        op: &'static str,
        message: String,
    },
    #[error("tensor #{tensor} ({name}): {message}")]
    Tensor {
        tensor: usize,
        name: String,
        message: String,
    },
    #[error("writing the artefact: {0}")]
    Format(#[from] mote_format::FormatError),
}

/// One operator in the compiled model, for reports.
#[derive(Debug, Clone, PartialEq)]
pub struct OpReport {
    pub op: &'static str,
    pub input_shapes: Vec<Vec<usize>>,
    pub output_shape: Vec<usize>,
    pub dtype: &'static str,
    pub macs: u64,
    /// Bytes of constants this operator owns (weights, bias, requantization tables).
    pub weight_bytes: usize,
}

/// One graph input or output, for reports.
#[derive(Debug, Clone, PartialEq)]
pub struct IoReport {
    pub name: String,
    pub dtype: &'static str,
    pub shape: Vec<usize>,
    pub scale: Option<f32>,
    pub zero_point: Option<i64>,
}

/// What compiling produced.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub ops: Vec<OpReport>,
    pub inputs: Vec<IoReport>,
    pub outputs: Vec<IoReport>,
    /// Arena bytes the plan needs.
    pub arena_bytes: usize,
    /// The largest set of bytes that must be alive at once: no plan can be smaller.
    pub lower_bound: usize,
    /// Bytes of the constant pool (weights, biases, requantization tables, with alignment).
    pub const_bytes: usize,
    /// Size of the whole `.mote` artefact (what goes to flash).
    pub artefact_bytes: usize,
    pub total_macs: u64,
    /// Which operators got the scratch their kernels asked for (empty for an artefact that
    /// was read, not compiled).
    pub scratch: ScratchReport,
}

/// A compiled model: the `.mote` bytes and the report.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub bytes: Vec<u8>,
    pub report: Report,
}
