//! The `.mote` artefact: everything a device needs to run one model, laid out flat.
//!
//! A `.mote` file is a fixed header followed by a tensor table, an operator table, a pool of
//! tensor indices, a pool of integer-only operator parameters and a 16-byte-aligned constant
//! pool (weights, biases, per-channel multipliers and shifts). The memory plan is part of the
//! tensor table: every non-constant tensor carries its byte offset in the one arena, and the
//! header carries the arena size. Nothing is planned or allocated on the device.
//!
//! [`Model::from_bytes`] checks the checksum and every offset, length, index and enum value
//! before anything is used, so that a corrupt artefact is an error and never an
//! out-of-bounds read. The writer ([`ModelBuilder`]) is behind the `std` feature.
//!
//! All integers are little-endian. The layout is described in `docs/format.md`.

#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]

pub mod params;
mod reader;
#[cfg(feature = "std")]
mod writer;

pub use params::Params;
pub use reader::{IndexList, Model, OpInfo, Place, TensorInfo};
#[cfg(feature = "std")]
pub use writer::{AlignedBytes, ModelBuilder, OpRecord, TensorRecord};

/// First four bytes of every `.mote` file.
pub const MAGIC: [u8; 4] = *b"MOTE";
/// The format version this crate reads and writes.
pub const VERSION: u16 = 1;
/// Size of the header in bytes.
pub const HEADER_BYTES: usize = 80;
/// Size of one tensor record in bytes.
pub const TENSOR_RECORD_BYTES: usize = 32;
/// Size of one operator record in bytes.
pub const OP_RECORD_BYTES: usize = 16;
/// Alignment of every constant tensor within the file, and of arena offsets.
pub const ALIGN: usize = 16;
/// Most dimensions a tensor may have.
pub const MAX_RANK: usize = 4;
/// Index value meaning "no tensor" (an omitted optional input such as a bias).
pub const NO_TENSOR: u16 = u16::MAX;

/// Element type of a tensor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DType {
    Int8 = 0,
    Int32 = 1,
    Float32 = 2,
}

impl DType {
    /// Bytes per element.
    pub const fn size(self) -> usize {
        match self {
            DType::Int8 => 1,
            DType::Int32 | DType::Float32 => 4,
        }
    }

    pub const fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(DType::Int8),
            1 => Some(DType::Int32),
            2 => Some(DType::Float32),
            _ => None,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            DType::Int8 => "int8",
            DType::Int32 => "int32",
            DType::Float32 => "float32",
        }
    }
}

/// Where a tensor's bytes live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Location {
    /// In the caller's arena, at the planned offset.
    Arena = 0,
    /// In the constant pool of the artefact (flash), at the given offset.
    Const = 1,
}

impl Location {
    pub const fn from_u8(v: u8) -> Option<Self> {
        match v {
            0 => Some(Location::Arena),
            1 => Some(Location::Const),
            _ => None,
        }
    }
}

/// The operators a `.mote` artefact can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum OpCode {
    Conv2d = 1,
    DepthwiseConv2d = 2,
    FullyConnected = 3,
    AveragePool2d = 4,
    MaxPool2d = 5,
    Add = 6,
    Reshape = 7,
    Softmax = 8,
    Quantize = 9,
    Dequantize = 10,
}

impl OpCode {
    pub const fn from_u16(v: u16) -> Option<Self> {
        Some(match v {
            1 => OpCode::Conv2d,
            2 => OpCode::DepthwiseConv2d,
            3 => OpCode::FullyConnected,
            4 => OpCode::AveragePool2d,
            5 => OpCode::MaxPool2d,
            6 => OpCode::Add,
            7 => OpCode::Reshape,
            8 => OpCode::Softmax,
            9 => OpCode::Quantize,
            10 => OpCode::Dequantize,
            _ => return None,
        })
    }

    pub const fn name(self) -> &'static str {
        match self {
            OpCode::Conv2d => "CONV_2D",
            OpCode::DepthwiseConv2d => "DEPTHWISE_CONV_2D",
            OpCode::FullyConnected => "FULLY_CONNECTED",
            OpCode::AveragePool2d => "AVERAGE_POOL_2D",
            OpCode::MaxPool2d => "MAX_POOL_2D",
            OpCode::Add => "ADD",
            OpCode::Reshape => "RESHAPE",
            OpCode::Softmax => "SOFTMAX",
            OpCode::Quantize => "QUANTIZE",
            OpCode::Dequantize => "DEQUANTIZE",
        }
    }
}

/// Why an artefact was refused. Every variant says what was wrong and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatError {
    /// Fewer bytes than the header, or than the header says the file has.
    Truncated { needed: usize, got: usize },
    /// The first four bytes are not `MOTE`.
    BadMagic,
    /// A version this reader does not know.
    UnsupportedVersion(u16),
    /// The model bytes do not start on a 4-byte boundary (needed for zero-copy int32/float32).
    Misaligned,
    /// The stored checksum does not match the contents.
    ChecksumMismatch { stored: u32, computed: u32 },
    /// A section (named) lies outside the file or is misaligned.
    BadSection(&'static str),
    /// A tensor record is invalid; `what` names the field.
    BadTensor { tensor: usize, what: &'static str },
    /// An operator record is invalid; `what` names the field.
    BadOp { op: usize, what: &'static str },
    /// A graph input or output index is out of range.
    BadGraphIo { index: usize },
}

impl core::fmt::Display for FormatError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FormatError::Truncated { needed, got } => {
                write!(f, "truncated .mote artefact: needs {needed} bytes, got {got}")
            }
            FormatError::BadMagic => write!(f, "not a .mote artefact (bad magic)"),
            FormatError::UnsupportedVersion(v) => {
                write!(f, ".mote format version {v} is not supported (this reader knows {VERSION})")
            }
            FormatError::Misaligned => write!(f, ".mote bytes must start on a 4-byte boundary"),
            FormatError::ChecksumMismatch { stored, computed } => write!(
                f,
                ".mote checksum mismatch (stored {stored:#010x}, computed {computed:#010x}): the file is corrupt"
            ),
            FormatError::BadSection(s) => write!(f, ".mote section `{s}` lies outside the file"),
            FormatError::BadTensor { tensor, what } => write!(f, ".mote tensor {tensor}: invalid {what}"),
            FormatError::BadOp { op, what } => write!(f, ".mote operator {op}: invalid {what}"),
            FormatError::BadGraphIo { index } => write!(f, ".mote graph input/output {index}: invalid tensor index"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for FormatError {}

/// Rounds `n` up to a multiple of [`ALIGN`].
pub const fn align_up(n: usize) -> usize {
    (n + ALIGN - 1) & !(ALIGN - 1)
}
