//! mote's interpreter: runs a `.mote` artefact with no heap, no std and no planning.
//!
//! [`Interpreter::new`] takes a validated [`Model`] and the caller's arena and checks every
//! operator once against everything its kernel relies on: shapes, dtypes, parameter ranges,
//! per-channel shifts, and memory ranges in the arena. From then on [`Interpreter::invoke`] is
//! a loop that decodes each operator's record and dispatches to its kernel with a `match`,
//! without repeating those checks: they depend only on the immutable model bytes and on the
//! arena's length, so they would give the same answers (the argument is in `exec.rs`). A model
//! that passed `new` never makes the device panic.
//!
//! ## Features
//!
//! - `float32` (default): the float32 kernels (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED,
//!   pooling, ADD, SOFTMAX, QUANTIZE from and DEQUANTIZE to float32). Without it, int8-only
//!   firmware does not link them, and an artefact with float32 operators is refused by
//!   [`Interpreter::new`] ("float32 support is not compiled in").
//! - `std`: implements `std::error::Error` for [`Error`].

#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]

mod error;
mod exec;
pub mod plan;

/// Which operators an interpreter is built with, as a bit set (`1 << opcode` per operator),
/// given as the `OPS` parameter of [`Interpreter`]. A firmware that names its model's set
/// (`mote-build` emits it as `OPS`) links only those operators' checks and kernels — TFLM's
/// op resolver, decided at compile time. An artefact using any other operator is refused by
/// [`Interpreter::with_ops`].
pub mod ops {
    use mote_format::OpCode;

    /// Every operator.
    pub const ALL: u32 = u32::MAX;

    /// The bit of one operator.
    pub const fn bit(opcode: OpCode) -> u32 {
        1 << (opcode as u32)
    }

    /// Whether `set` holds `opcode`; constant when both are, so unused operators' code is
    /// dropped by the compiler.
    pub const fn has(set: u32, opcode: OpCode) -> bool {
        set & bit(opcode) != 0
    }
}

pub use error::Error;
pub use mote_format::{DType, FormatError, Model, OpCode, TensorInfo};

use mote_format::ALIGN;

/// An arena with the alignment the interpreter needs, for use as a `static` or on the stack:
/// `static mut ARENA: Arena<{ model::ARENA_BYTES }> = Arena::new();`
#[repr(C, align(16))]
pub struct Arena<const N: usize>(pub [u8; N]);

impl<const N: usize> Arena<N> {
    pub const fn new() -> Self {
        Arena([0; N])
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.0
    }
}

impl<const N: usize> Default for Arena<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// An element type that tensors can be viewed as.
pub trait Element: bytemuck::Pod {
    const DTYPE: DType;
}

impl Element for i8 {
    const DTYPE: DType = DType::Int8;
}

impl Element for i32 {
    const DTYPE: DType = DType::Int32;
}

impl Element for f32 {
    const DTYPE: DType = DType::Float32;
}

/// Called around every operator by [`Interpreter::invoke_profiled`]; both methods default to
/// doing nothing, so a profiler implements only what it measures.
pub trait Profiler {
    fn before_op(&mut self, _op: usize, _opcode: OpCode) {}
    fn after_op(&mut self, _op: usize, _opcode: OpCode) {}
}

/// A profiler that does nothing; what [`Interpreter::invoke`] uses.
pub struct NoProfiler;

impl Profiler for NoProfiler {}

impl<'m, 'a> Interpreter<'m, 'a> {
    /// Checks that `arena` is big enough and aligned to 16 bytes and that every operator is
    /// runnable, then returns an interpreter (with every operator built in) ready for
    /// [`input_mut`](Self::input_mut).
    pub fn new(model: &Model<'m>, arena: &'a mut [u8]) -> Result<Self, Error> {
        Self::with_ops(model, arena)
    }

    /// Parses and validates `bytes` as a `.mote` artefact, then creates the interpreter.
    pub fn from_bytes(bytes: &'m [u8], arena: &'a mut [u8]) -> Result<Self, Error> {
        let model = Model::from_bytes(bytes)?;
        Self::new(&model, arena)
    }
}

/// Runs one model in one arena.
pub struct Interpreter<'m, 'a, const OPS: u32 = { ops::ALL }> {
    model: Model<'m>,
    arena: &'a mut [u8],
}

impl<'m, 'a, const OPS: u32> Interpreter<'m, 'a, OPS> {
    /// As [`Interpreter::new`], for an interpreter built with only the operators in `OPS`
    /// (see [`ops`]); an artefact using another operator is refused.
    pub fn with_ops(model: &Model<'m>, arena: &'a mut [u8]) -> Result<Self, Error> {
        if arena.len() < model.arena_bytes() {
            return Err(Error::ArenaTooSmall {
                needed: model.arena_bytes(),
                got: arena.len(),
            });
        }
        if (arena.as_ptr() as usize) % ALIGN != 0 {
            return Err(Error::ArenaMisaligned);
        }
        for o in 0..model.op_count() {
            exec::check_op::<OPS>(model, arena, o)?;
        }
        Ok(Interpreter {
            model: *model,
            arena,
        })
    }

    pub fn model(&self) -> &Model<'m> {
        &self.model
    }

    pub fn input_count(&self) -> usize {
        self.model.inputs().len()
    }

    pub fn output_count(&self) -> usize {
        self.model.outputs().len()
    }

    /// Description (dtype, shape, quantization) of input `i`.
    pub fn input_info(&self, i: usize) -> Result<TensorInfo, Error> {
        self.model
            .inputs()
            .get(i)
            .and_then(|t| self.model.tensor(t))
            .ok_or(Error::NoSuchInput(i))
    }

    /// Description of output `j`.
    pub fn output_info(&self, j: usize) -> Result<TensorInfo, Error> {
        self.model
            .outputs()
            .get(j)
            .and_then(|t| self.model.tensor(t))
            .ok_or(Error::NoSuchOutput(j))
    }

    /// The bytes of input `i`, to be filled before [`invoke`](Self::invoke).
    pub fn input_bytes_mut(&mut self, i: usize) -> Result<&mut [u8], Error> {
        let t = self.input_info(i)?;
        self.arena
            .get_mut(t.offset..t.offset + t.byte_len)
            .ok_or(Error::NoSuchInput(i))
    }

    /// Input `i` as elements of type `T`, which must be its dtype.
    pub fn input_mut<T: Element>(&mut self, i: usize) -> Result<&mut [T], Error> {
        let t = self.input_info(i)?;
        if t.dtype != T::DTYPE {
            return Err(Error::WrongDType {
                expected: t.dtype,
                requested: T::DTYPE,
            });
        }
        bytemuck::try_cast_slice_mut(self.input_bytes_mut(i)?).map_err(|_| Error::ArenaMisaligned)
    }

    /// The bytes of output `j`, valid after [`invoke`](Self::invoke).
    pub fn output_bytes(&self, j: usize) -> Result<&[u8], Error> {
        let t = self.output_info(j)?;
        self.arena
            .get(t.offset..t.offset + t.byte_len)
            .ok_or(Error::NoSuchOutput(j))
    }

    /// Output `j` as elements of type `T`, which must be its dtype.
    pub fn output<T: Element>(&self, j: usize) -> Result<&[T], Error> {
        let t = self.output_info(j)?;
        if t.dtype != T::DTYPE {
            return Err(Error::WrongDType {
                expected: t.dtype,
                requested: T::DTYPE,
            });
        }
        bytemuck::try_cast_slice(self.output_bytes(j)?).map_err(|_| Error::ArenaMisaligned)
    }

    /// Runs every operator in order.
    pub fn invoke(&mut self) -> Result<(), Error> {
        self.invoke_profiled(&mut NoProfiler)
    }

    /// Runs every operator in order, calling `profiler` around each.
    pub fn invoke_profiled<P: Profiler>(&mut self, profiler: &mut P) -> Result<(), Error> {
        for o in 0..self.model.op_count() {
            // Borrowed where it was returned (moving it out of the `Option` would copy it).
            let op = self.model.op(o);
            let Some(op) = &op else {
                return Err(Error::Format(FormatError::BadOp {
                    op: o,
                    what: "record",
                }));
            };
            profiler.before_op(o, op.opcode);
            exec::run_op::<OPS>(&self.model, self.arena, o, op)?;
            profiler.after_op(o, op.opcode);
        }
        Ok(())
    }
}
