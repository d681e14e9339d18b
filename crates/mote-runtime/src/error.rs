//! The runtime's one error type.

use mote_format::{DType, FormatError, OpCode};

/// Why a model cannot be run (or an access is wrong). Each variant names what and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// The artefact itself is invalid.
    Format(FormatError),
    /// The arena is smaller than the model's plan.
    ArenaTooSmall {
        needed: usize,
        got: usize,
    },
    /// The arena does not start on a 16-byte boundary (use [`crate::Arena`]).
    ArenaMisaligned,
    /// Operator `op` cannot be run as stored; `what` says which check failed.
    InvalidOp {
        op: usize,
        opcode: OpCode,
        what: &'static str,
    },
    NoSuchInput(usize),
    NoSuchOutput(usize),
    /// A typed access asked for the wrong element type.
    WrongDType {
        expected: DType,
        requested: DType,
    },
}

impl From<FormatError> for Error {
    fn from(e: FormatError) -> Self {
        Error::Format(e)
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Format(e) => e.fmt(f),
            Error::ArenaTooSmall { needed, got } => {
                write!(
                    f,
                    "arena too small: the model needs {needed} bytes, got {got}"
                )
            }
            Error::ArenaMisaligned => write!(f, "arena must start on a 16-byte boundary"),
            Error::InvalidOp { op, opcode, what } => {
                write!(f, "operator #{op} ({}): {what}", opcode.name())
            }
            Error::NoSuchInput(i) => write!(f, "the model has no input {i}"),
            Error::NoSuchOutput(j) => write!(f, "the model has no output {j}"),
            Error::WrongDType {
                expected,
                requested,
            } => write!(
                f,
                "tensor is {} but was accessed as {}",
                expected.name(),
                requested.name()
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}
