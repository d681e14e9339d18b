//! Models compiled ahead of time into Rust code: the pieces that code and the firmware share.
//!
//! `mote-build` can turn a validated `.mote` artefact into a module of straight-line Rust
//! (`mote_plan.rs`): one block per operator that cuts the arena at the offsets the planner
//! chose and calls the operator's kernel with its parameters and constants as Rust
//! constants. There is no interpreter on the device then — no decoding of records, no
//! validation code, no dispatch — because everything the interpreter checks in
//! [`Interpreter::new`](crate::Interpreter::new) was checked on the host when the module was
//! generated, against the same artefact. What remains on the device is the kernels and a few
//! instructions per operator; with the offsets constant, the compiler folds the slicing below.
//!
//! [`Memory`] splits the arena around an operator's output and scratch (the interpreter uses
//! it too), and [`Compiled`] wraps a generated model's `invoke` with the interpreter's
//! input/output accessors, so that firmware runs either the same way. Operators whose kernel
//! the model calls many times are written as records that one shared runner per kernel reads
//! ([`steps`]), so that a deep network does not pay a kernel call's code per layer.

use core::ops::Range;

use crate::Error;

/// What generated code calls: the kernels the interpreter selects, and the parameter types.
pub use mote_format::params;
pub use mote_kernels::{conv2d, depthwise_conv2d, fully_connected, pool2d, quantize, select, softmax};

pub mod steps;

/// The arena split around one operator's output and scratch: those two borrowed mutably,
/// every other byte readable, so that inputs can be read while the output is written.
pub struct Memory<'a> {
    /// The read-only parts of the arena with their starting offsets.
    regions: [(usize, &'a [u8]); 3],
    pub out: &'a mut [u8],
    pub scratch: &'a mut [u8],
}

impl<'a> Memory<'a> {
    /// Splits `arena` around `out` and `scratch` (an empty scratch at the output's end when
    /// there is none). `None` if a range lies outside the arena or the two overlap.
    #[inline(always)]
    pub fn split(arena: &'a mut [u8], out: Range<usize>, scratch: Range<usize>) -> Option<Self> {
        let out_is_first = out.start <= scratch.start;
        let (first, second) = if out_is_first {
            (&out, &scratch)
        } else {
            (&scratch, &out)
        };
        if first.start > first.end
            || second.start > second.end
            || first.end > second.start
            || second.end > arena.len()
        {
            return None;
        }
        let (r0, rest) = arena.split_at_mut(first.start);
        let (m1, rest) = rest.split_at_mut(first.end - first.start);
        let (r1, rest) = rest.split_at_mut(second.start - first.end);
        let (m2, r2) = rest.split_at_mut(second.end - second.start);
        let (out_bytes, scratch_bytes) = if out_is_first { (m1, m2) } else { (m2, m1) };
        Some(Memory {
            regions: [(0, &*r0), (first.end, &*r1), (second.end, &*r2)],
            out: out_bytes,
            scratch: scratch_bytes,
        })
    }

    /// The `len` bytes at arena offset `offset`; `None` if they overlap the output or the
    /// scratch, or lie outside the arena.
    #[inline(always)]
    pub fn input(&self, offset: usize, len: usize) -> Option<&'a [u8]> {
        let end = offset.checked_add(len)?;
        let &(start, region) = self
            .regions
            .iter()
            .find(|(start, region)| offset >= *start && end <= start + region.len())?;
        region.get(offset - start..end - start)
    }

    /// The output as int8 values.
    #[inline(always)]
    pub fn out_i8(&mut self) -> &mut [i8] {
        bytemuck::cast_slice_mut(self.out)
    }

    /// The int8 output and the scratch, for the kernels that take both.
    #[inline(always)]
    pub fn out_i8_and_scratch(&mut self) -> (&mut [i8], &mut [u8]) {
        (bytemuck::cast_slice_mut(self.out), self.scratch)
    }
}

/// Bytes as int8 values (no copy; cannot fail).
#[inline(always)]
pub fn i8s(bytes: &[u8]) -> &[i8] {
    bytemuck::cast_slice(bytes)
}

/// What a generated operator block reports if the arena cannot be cut as planned:
/// unreachable for a module generated from a validated artefact (the offsets are constants
/// that were checked on the host), kept as an error rather than a panic.
#[cold]
#[inline(never)]
pub fn not_as_planned(op: usize, opcode: crate::OpCode) -> Error {
    Error::InvalidOp {
        op,
        opcode,
        what: "cannot be run as it was planned",
    }
}

/// A generated model in its arena, with the interpreter's accessors: inputs and outputs are
/// the arena ranges the planner gave them (`mote_plan.rs` lists them), `invoke` runs the
/// generated operators.
pub struct Compiled<'a, const N: usize> {
    arena: &'a mut [u8; N],
    inputs: &'static [Range<usize>],
    outputs: &'static [Range<usize>],
    run: fn(&mut [u8; N]) -> Result<(), Error>,
}

impl<'a, const N: usize> Compiled<'a, N> {
    /// The generated model `run` with its input and output ranges, in `arena` (whose size,
    /// `N`, is the generated module's `ARENA_BYTES`). Ranges outside the arena are refused.
    pub fn new(
        arena: &'a mut [u8; N],
        inputs: &'static [Range<usize>],
        outputs: &'static [Range<usize>],
        run: fn(&mut [u8; N]) -> Result<(), Error>,
    ) -> Result<Self, Error> {
        if inputs.iter().chain(outputs).any(|r| r.start > r.end || r.end > N) {
            return Err(Error::ArenaTooSmall { needed: usize::MAX, got: N });
        }
        Ok(Compiled {
            arena,
            inputs,
            outputs,
            run,
        })
    }

    pub fn input_count(&self) -> usize {
        self.inputs.len()
    }

    pub fn output_count(&self) -> usize {
        self.outputs.len()
    }

    /// The arena's size.
    pub fn arena_bytes(&self) -> usize {
        N
    }

    /// The bytes of input `i`, to be filled before [`invoke`](Self::invoke).
    pub fn input_bytes_mut(&mut self, i: usize) -> Result<&mut [u8], Error> {
        let r = self.inputs.get(i).ok_or(Error::NoSuchInput(i))?;
        self.arena.get_mut(r.clone()).ok_or(Error::NoSuchInput(i))
    }

    /// The bytes of output `j`, valid after [`invoke`](Self::invoke).
    pub fn output_bytes(&self, j: usize) -> Result<&[u8], Error> {
        let r = self.outputs.get(j).ok_or(Error::NoSuchOutput(j))?;
        self.arena.get(r.clone()).ok_or(Error::NoSuchOutput(j))
    }

    /// Runs every operator in order.
    pub fn invoke(&mut self) -> Result<(), Error> {
        (self.run)(self.arena)
    }
}
