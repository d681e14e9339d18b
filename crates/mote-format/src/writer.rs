//! Writer for `.mote` artefacts (host side, behind the `std` feature).
//!
//! The compiler fills a [`ModelBuilder`] with tensors (arena offsets already planned),
//! constants and operators, and [`ModelBuilder::finish`] lays out the sections, pads the
//! constant pool to [`ALIGN`] and stamps the checksum. What it writes is read back by
//! [`Model::from_bytes`](crate::Model::from_bytes) in the tests, so the two stay in step.

use crate::{
    align_up, DType, FormatError, Location, OpCode, Params, ALIGN, HEADER_BYTES, MAGIC, MAX_RANK,
    NO_TENSOR, OP_RECORD_BYTES, TENSOR_RECORD_BYTES, VERSION,
};

/// A tensor to be written.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorRecord {
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub location: Location,
    /// Arena offset, or constant-pool offset as returned by [`ModelBuilder::add_const`].
    pub offset: usize,
    pub scale: f32,
    pub zero_point: i32,
}

/// An operator to be written.
#[derive(Debug, Clone, PartialEq)]
pub struct OpRecord {
    pub opcode: OpCode,
    pub inputs: Vec<Option<usize>>,
    pub outputs: Vec<usize>,
    pub params: Vec<u8>,
}

/// Collects the parts of an artefact and writes it.
#[derive(Debug, Clone, Default)]
pub struct ModelBuilder {
    pub tensors: Vec<TensorRecord>,
    pub ops: Vec<OpRecord>,
    pub inputs: Vec<usize>,
    pub outputs: Vec<usize>,
    pub arena_bytes: usize,
    consts: Vec<u8>,
}

fn put_u32(out: &mut Vec<u8>, v: usize) -> Result<(), FormatError> {
    let v = u32::try_from(v).map_err(|_| FormatError::BadSection("value exceeds 32 bits"))?;
    out.extend_from_slice(&v.to_le_bytes());
    Ok(())
}

impl ModelBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends constant bytes to the pool at an [`ALIGN`]-aligned offset and returns it.
    pub fn add_const(&mut self, bytes: &[u8]) -> usize {
        let offset = align_up(self.consts.len());
        self.consts.resize(offset, 0);
        self.consts.extend_from_slice(bytes);
        offset
    }

    /// Bytes in the constant pool so far.
    pub fn const_bytes(&self) -> usize {
        self.consts.len()
    }

    /// Adds a tensor and returns its index.
    pub fn add_tensor(&mut self, tensor: TensorRecord) -> usize {
        self.tensors.push(tensor);
        self.tensors.len() - 1
    }

    /// Adds an operator with typed parameters.
    pub fn add_op<P: Params>(
        &mut self,
        opcode: OpCode,
        inputs: Vec<Option<usize>>,
        outputs: Vec<usize>,
        params: &P,
    ) {
        let mut bytes = vec![0u8; P::WORDS * 4];
        params.encode_into(&mut bytes);
        self.ops.push(OpRecord {
            opcode,
            inputs,
            outputs,
            params: bytes,
        });
    }

    /// Adds an operator that has no parameters.
    pub fn add_plain_op(
        &mut self,
        opcode: OpCode,
        inputs: Vec<Option<usize>>,
        outputs: Vec<usize>,
    ) {
        self.ops.push(OpRecord {
            opcode,
            inputs,
            outputs,
            params: Vec::new(),
        });
    }

    /// Writes the artefact.
    pub fn finish(&self) -> Result<Vec<u8>, FormatError> {
        if self.tensors.len() >= NO_TENSOR as usize {
            return Err(FormatError::BadSection("too many tensors"));
        }
        // Index pool: each op's inputs then outputs, then graph inputs, then graph outputs.
        let mut indices: Vec<u16> = Vec::new();
        let mut op_io_start = Vec::with_capacity(self.ops.len());
        for op in &self.ops {
            if op.inputs.len() > u8::MAX as usize || op.outputs.len() > u8::MAX as usize {
                return Err(FormatError::BadSection("operator has too many tensors"));
            }
            op_io_start.push(indices.len());
            indices.extend(op.inputs.iter().map(|i| i.map_or(NO_TENSOR, |i| i as u16)));
            indices.extend(op.outputs.iter().map(|&i| i as u16));
        }
        let inputs_index = indices.len();
        indices.extend(self.inputs.iter().map(|&i| i as u16));
        let outputs_index = indices.len();
        indices.extend(self.outputs.iter().map(|&i| i as u16));

        let mut params: Vec<u8> = Vec::new();
        let mut op_params = Vec::with_capacity(self.ops.len());
        for op in &self.ops {
            op_params.push((params.len(), op.params.len()));
            params.extend_from_slice(&op.params);
            params.resize(params.len().next_multiple_of(4), 0);
        }

        let tensors_offset = HEADER_BYTES;
        let ops_offset = tensors_offset + self.tensors.len() * TENSOR_RECORD_BYTES;
        let index_offset = ops_offset + self.ops.len() * OP_RECORD_BYTES;
        let params_offset = (index_offset + indices.len() * 2).next_multiple_of(4);
        let const_offset = align_up(params_offset + params.len());
        let file_bytes = const_offset + self.consts.len();

        let mut out = Vec::with_capacity(file_bytes);
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(HEADER_BYTES as u16).to_le_bytes());
        put_u32(&mut out, file_bytes)?;
        put_u32(&mut out, 0)?; // checksum, stamped below
        for v in [
            self.arena_bytes,
            self.tensors.len(),
            tensors_offset,
            self.ops.len(),
            ops_offset,
            indices.len(),
            index_offset,
            params.len(),
            params_offset,
            self.consts.len(),
            const_offset,
            self.inputs.len(),
            inputs_index,
            self.outputs.len(),
            outputs_index,
            0,
        ] {
            put_u32(&mut out, v)?;
        }
        debug_assert_eq!(out.len(), HEADER_BYTES);

        for t in &self.tensors {
            if t.shape.len() > MAX_RANK {
                return Err(FormatError::BadSection("tensor rank above 4"));
            }
            out.extend_from_slice(&[t.dtype as u8, t.shape.len() as u8, t.location as u8, 0]);
            for d in 0..MAX_RANK {
                put_u32(&mut out, t.shape.get(d).copied().unwrap_or(1))?;
            }
            put_u32(&mut out, t.offset)?;
            out.extend_from_slice(&t.scale.to_bits().to_le_bytes());
            out.extend_from_slice(&t.zero_point.to_le_bytes());
        }
        for ((op, start), (p_off, p_len)) in self.ops.iter().zip(op_io_start).zip(op_params) {
            out.extend_from_slice(&(op.opcode as u16).to_le_bytes());
            out.extend_from_slice(&[op.inputs.len() as u8, op.outputs.len() as u8]);
            put_u32(&mut out, start)?;
            put_u32(&mut out, p_off)?;
            put_u32(&mut out, p_len)?;
        }
        for i in &indices {
            out.extend_from_slice(&i.to_le_bytes());
        }
        out.resize(params_offset, 0);
        out.extend_from_slice(&params);
        out.resize(const_offset, 0);
        out.extend_from_slice(&self.consts);
        debug_assert_eq!(out.len(), file_bytes);
        debug_assert_eq!(const_offset % ALIGN, 0);

        let checksum = crc32fast::hash(&out[16..]);
        out[12..16].copy_from_slice(&checksum.to_le_bytes());
        Ok(out)
    }
}

/// Bytes in a 16-byte-aligned buffer, as [`Model::from_bytes`](crate::Model::from_bytes) and
/// the interpreter's arena require (a `Vec<u8>` guarantees no alignment).
#[derive(Clone)]
pub struct AlignedBytes {
    blocks: Vec<u128>,
    len: usize,
}

impl AlignedBytes {
    /// A copy of `bytes`.
    pub fn new(bytes: &[u8]) -> Self {
        let mut aligned = Self::zeroed(bytes.len());
        aligned.as_mut_slice().copy_from_slice(bytes);
        aligned
    }

    /// `len` zero bytes.
    pub fn zeroed(len: usize) -> Self {
        AlignedBytes {
            blocks: vec![0u128; len.div_ceil(16)],
            len,
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        &bytemuck::cast_slice::<u128, u8>(&self.blocks)[..self.len]
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut::<u128, u8>(&mut self.blocks)[..self.len]
    }
}

impl core::fmt::Debug for AlignedBytes {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "AlignedBytes({} bytes)", self.len)
    }
}
