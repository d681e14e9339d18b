//! Zero-copy reader and validator for `.mote` artefacts.
//!
//! Validation happens once, in [`Model::from_bytes`]; the accessors afterwards decode fixed
//! records on demand and never index out of bounds (reads past the end yield zeros, which
//! validation has already ruled out).

use crate::{
    DType, FormatError, Location, OpCode, ALIGN, HEADER_BYTES, MAGIC, MAX_RANK, NO_TENSOR,
    OP_RECORD_BYTES, TENSOR_RECORD_BYTES, VERSION,
};

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    match bytes.get(at..at + 2) {
        Some(b) => u16::from_le_bytes([b[0], b[1]]),
        None => 0,
    }
}

/// The little-endian word at `at` of a fixed-size record; with `at` a constant after
/// inlining, the bounds check is gone.
#[inline(always)]
fn le32<const N: usize>(rec: &[u8; N], at: usize) -> u32 {
    u32::from_le_bytes([rec[at], rec[at + 1], rec[at + 2], rec[at + 3]])
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    match bytes.get(at..at + 4) {
        Some(b) => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        None => 0,
    }
}

/// Byte ranges of the sections, decoded from the header for validation (a validated
/// [`Model`] reads its header in place).
#[derive(Debug, Clone, Copy)]
struct Header {
    file_bytes: usize,
    tensor_count: usize,
    tensors_offset: usize,
    op_count: usize,
    ops_offset: usize,
    index_count: usize,
    index_offset: usize,
    params_bytes: usize,
    params_offset: usize,
    const_bytes: usize,
    const_offset: usize,
    input_count: usize,
    inputs_index: usize,
    output_count: usize,
    outputs_index: usize,
}

impl Header {
    fn parse(bytes: &[u8]) -> Result<Self, FormatError> {
        if bytes.len() < HEADER_BYTES {
            return Err(FormatError::Truncated {
                needed: HEADER_BYTES,
                got: bytes.len(),
            });
        }
        if bytes[0..4] != MAGIC {
            return Err(FormatError::BadMagic);
        }
        let version = u16_at(bytes, 4);
        if version != VERSION {
            return Err(FormatError::UnsupportedVersion(version));
        }
        if u16_at(bytes, 6) as usize != HEADER_BYTES {
            return Err(FormatError::BadSection("header"));
        }
        let f = |at| u32_at(bytes, at) as usize;
        Ok(Header {
            file_bytes: f(8),
            tensor_count: f(20),
            tensors_offset: f(24),
            op_count: f(28),
            ops_offset: f(32),
            index_count: f(36),
            index_offset: f(40),
            params_bytes: f(44),
            params_offset: f(48),
            const_bytes: f(52),
            const_offset: f(56),
            input_count: f(60),
            inputs_index: f(64),
            output_count: f(68),
            outputs_index: f(72),
        })
    }
}

/// A validated `.mote` artefact, borrowed from its bytes (typically in flash).
///
/// It keeps the header where it is, as a view of its 20 words in the artefact, rather than a
/// decoded copy: a `Model` is three words, so the interpreter that holds one, and every frame
/// that holds either, stays small on the device's stack (a decoded copy was 64 bytes more).
#[derive(Debug, Clone, Copy)]
pub struct Model<'a> {
    bytes: &'a [u8],
    header: &'a [u32; HEADER_WORDS],
}

/// The header's size in 32-bit words.
const HEADER_WORDS: usize = HEADER_BYTES / 4;

/// Word positions of the header fields that accessors read (see docs/format.md).
mod field {
    pub const ARENA_BYTES: usize = 4;
    pub const TENSOR_COUNT: usize = 5;
    pub const TENSORS_OFFSET: usize = 6;
    pub const OP_COUNT: usize = 7;
    pub const OPS_OFFSET: usize = 8;
    pub const INDEX_COUNT: usize = 9;
    pub const INDEX_OFFSET: usize = 10;
    pub const PARAMS_BYTES: usize = 11;
    pub const PARAMS_OFFSET: usize = 12;
    pub const CONST_BYTES: usize = 13;
    pub const CONST_OFFSET: usize = 14;
    pub const INPUT_COUNT: usize = 15;
    pub const INPUTS_INDEX: usize = 16;
    pub const OUTPUT_COUNT: usize = 17;
    pub const OUTPUTS_INDEX: usize = 18;
}

/// One tensor's description.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TensorInfo {
    pub dtype: DType,
    pub rank: usize,
    /// Dimensions; entries at and beyond `rank` are 1.
    pub dims: [usize; MAX_RANK],
    pub location: Location,
    /// Byte offset in the arena or in the constant pool.
    pub offset: usize,
    /// Size in bytes (elements × dtype size).
    pub byte_len: usize,
    /// Quantization scale (per-tensor; 0 when not quantized).
    pub scale: f32,
    pub zero_point: i32,
}

impl TensorInfo {
    /// Whether both tensors are in the arena and their bytes intersect (a CONV_2D's input
    /// inside its output's memory, see docs/format.md).
    pub fn shares_arena_bytes(&self, other: &TensorInfo) -> bool {
        self.location == Location::Arena
            && other.location == Location::Arena
            && self.offset < other.offset + other.byte_len
            && other.offset < self.offset + self.byte_len
    }

    /// The dimensions that are used.
    pub fn shape(&self) -> &[usize] {
        &self.dims[..self.rank]
    }

    /// Number of elements.
    pub fn elements(&self) -> usize {
        self.byte_len / self.dtype.size()
    }

    /// The shape right-aligned into four dimensions, leading dimensions 1 (NHWC for rank 4).
    pub fn dims4(&self) -> [usize; 4] {
        let mut out = [1usize; 4];
        let r = self.rank.min(4);
        out[4 - r..].copy_from_slice(&self.dims[..r]);
        out
    }
}

/// Where a tensor's bytes are ([`Model::tensor_place`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place<'a> {
    /// `len` bytes at `offset` in the arena.
    Arena { offset: usize, len: usize },
    /// A constant's bytes in the artefact.
    Const(&'a [u8]),
}

/// A list of tensor indices (`u16`, [`NO_TENSOR`] for an omitted optional input).
#[derive(Debug, Clone, Copy)]
pub struct IndexList<'a> {
    bytes: &'a [u8],
}

impl<'a> IndexList<'a> {
    pub fn len(&self) -> usize {
        self.bytes.len() / 2
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Index of entry `i`, or `None` when `i` is out of range or the entry is omitted.
    pub fn get(&self, i: usize) -> Option<usize> {
        if i >= self.len() {
            return None;
        }
        match u16_at(self.bytes, i * 2) {
            NO_TENSOR => None,
            v => Some(v as usize),
        }
    }

    /// Every entry, omitted ones as `None`.
    pub fn iter(&self) -> impl Iterator<Item = Option<usize>> + 'a {
        self.bytes
            .chunks_exact(2)
            .map(|c| match u16::from_le_bytes([c[0], c[1]]) {
                NO_TENSOR => None,
                v => Some(v as usize),
            })
    }
}

/// One operator: its code, its tensors and its encoded parameters.
#[derive(Debug, Clone, Copy)]
pub struct OpInfo<'a> {
    pub opcode: OpCode,
    pub inputs: IndexList<'a>,
    pub outputs: IndexList<'a>,
    pub params: &'a [u8],
}

impl<'a> OpInfo<'a> {
    /// Decodes the parameters as `P`; `None` if their length does not match.
    pub fn params<P: crate::Params>(&self) -> Option<P> {
        P::decode(self.params)
    }
}

fn section(
    bytes_len: usize,
    offset: usize,
    len: usize,
    name: &'static str,
) -> Result<(), FormatError> {
    match offset.checked_add(len) {
        Some(end) if end <= bytes_len && offset >= HEADER_BYTES => Ok(()),
        _ => Err(FormatError::BadSection(name)),
    }
}

impl<'a> Model<'a> {
    /// Header word `at` (a [`field`] constant), validated in [`Model::from_bytes`].
    #[inline(always)]
    fn field(&self, at: usize) -> usize {
        u32::from_le(self.header[at]) as usize
    }

    /// Checks `bytes` completely and returns the model. Nothing is read before it is checked.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Self, FormatError> {
        let header = Header::parse(bytes)?;
        if bytes.len() < header.file_bytes {
            return Err(FormatError::Truncated {
                needed: header.file_bytes,
                got: bytes.len(),
            });
        }
        if bytes.len() > header.file_bytes || header.file_bytes < HEADER_BYTES {
            return Err(FormatError::BadSection("file length"));
        }
        if (bytes.as_ptr() as usize) % 4 != 0 {
            return Err(FormatError::Misaligned);
        }
        let stored = u32_at(bytes, 12);
        let computed = crc32fast::hash(&bytes[16..]);
        if stored != computed {
            return Err(FormatError::ChecksumMismatch { stored, computed });
        }
        Self::validate_structure(bytes, header)
    }

    /// Like [`Model::from_bytes`] but without the checksum. Every structural check still
    /// runs, so a model accepted here cannot make the runtime read out of bounds; what is not
    /// detected is a corrupted weight. Meant for firmware whose model is linked into its own
    /// flash image (the image's integrity is the flasher's concern), where skipping the CRC
    /// saves its lookup table (about 18 KB of flash) and a pass over every weight at start-up;
    /// and for fuzzing the structural checks.
    pub fn from_bytes_unchecksummed(bytes: &'a [u8]) -> Result<Self, FormatError> {
        let header = Header::parse(bytes)?;
        if bytes.len() != header.file_bytes {
            return Err(FormatError::Truncated {
                needed: header.file_bytes,
                got: bytes.len(),
            });
        }
        if (bytes.as_ptr() as usize) % 4 != 0 {
            return Err(FormatError::Misaligned);
        }
        Self::validate_structure(bytes, header)
    }

    fn validate_structure(bytes: &'a [u8], header: Header) -> Result<Self, FormatError> {
        let n = bytes.len();
        let h = &header;
        let table = |count: usize, size: usize, name| {
            count.checked_mul(size).ok_or(FormatError::BadSection(name))
        };
        section(
            n,
            h.tensors_offset,
            table(h.tensor_count, TENSOR_RECORD_BYTES, "tensors")?,
            "tensors",
        )?;
        section(
            n,
            h.ops_offset,
            table(h.op_count, OP_RECORD_BYTES, "operators")?,
            "operators",
        )?;
        section(
            n,
            h.index_offset,
            table(h.index_count, 2, "indices")?,
            "indices",
        )?;
        section(n, h.params_offset, h.params_bytes, "params")?;
        section(n, h.const_offset, h.const_bytes, "constants")?;
        if h.const_offset % ALIGN != 0 {
            return Err(FormatError::BadSection("constants"));
        }
        // Params are 32-bit words (operators' params start on multiples of 4 within it).
        if h.params_offset % 4 != 0 {
            return Err(FormatError::BadSection("params"));
        }
        if h.tensor_count >= NO_TENSOR as usize {
            return Err(FormatError::BadSection("tensors"));
        }
        // Both callers checked the alignment; the view cannot fail then, but a failure is
        // still an error, not a panic.
        let words = bytes
            .get(..HEADER_BYTES)
            .and_then(|b| bytemuck::try_cast_slice::<u8, u32>(b).ok())
            .and_then(|w| <&[u32; HEADER_WORDS]>::try_from(w).ok())
            .ok_or(FormatError::Misaligned)?;
        let model = Model {
            bytes,
            header: words,
        };
        for t in 0..h.tensor_count {
            model.validate_tensor(t)?;
        }
        for o in 0..h.op_count {
            model.validate_op(o)?;
        }
        for (count, start) in [
            (h.input_count, h.inputs_index),
            (h.output_count, h.outputs_index),
        ] {
            let list = model
                .index_list(start, count)
                .ok_or(FormatError::BadSection("graph inputs/outputs"))?;
            for (i, idx) in list.iter().enumerate() {
                match idx.and_then(|t| model.tensor(t)) {
                    Some(t) if t.location == Location::Arena => {}
                    _ => return Err(FormatError::BadGraphIo { index: i }),
                }
            }
        }
        Ok(model)
    }

    fn validate_tensor(&self, t: usize) -> Result<(), FormatError> {
        let bad = |what| FormatError::BadTensor { tensor: t, what };
        let rec = self.tensor_record(t).ok_or(bad("record"))?;
        let dtype = DType::from_u8(rec[0]).ok_or(bad("dtype"))?;
        let rank = rec[1] as usize;
        if rank > MAX_RANK {
            return Err(bad("rank"));
        }
        let location = Location::from_u8(rec[2]).ok_or(bad("location"))?;
        let mut elements: usize = 1;
        for d in 0..MAX_RANK {
            let dim = u32_at(rec, 4 + d * 4) as usize;
            if d < rank {
                elements = elements.checked_mul(dim).ok_or(bad("dims"))?;
            } else if dim != 1 {
                return Err(bad("dims"));
            }
        }
        let byte_len = elements.checked_mul(dtype.size()).ok_or(bad("dims"))?;
        let offset = u32_at(rec, 20) as usize;
        let limit = match location {
            Location::Arena => self.field(field::ARENA_BYTES),
            Location::Const => self.field(field::CONST_BYTES),
        };
        match offset.checked_add(byte_len) {
            Some(end) if end <= limit => {}
            _ => return Err(bad("offset")),
        }
        if offset % dtype.size() != 0 {
            return Err(bad("alignment"));
        }
        Ok(())
    }

    fn validate_op(&self, o: usize) -> Result<(), FormatError> {
        let bad = |what| FormatError::BadOp { op: o, what };
        let rec = self.op_record(o).ok_or(bad("record"))?;
        OpCode::from_u16(u16_at(rec, 0)).ok_or(bad("opcode"))?;
        let n_in = rec[2] as usize;
        let n_out = rec[3] as usize;
        let start = u32_at(rec, 4) as usize;
        let inputs = self.index_list(start, n_in).ok_or(bad("input list"))?;
        let outputs = self
            .index_list(start + n_in, n_out)
            .ok_or(bad("output list"))?;
        for idx in inputs
            .bytes
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
        {
            if idx != NO_TENSOR && idx as usize >= self.field(field::TENSOR_COUNT) {
                return Err(bad("input tensor index"));
            }
        }
        for idx in outputs.iter() {
            match idx.and_then(|t| self.tensor(t)) {
                Some(t) if t.location == Location::Arena => {}
                _ => return Err(bad("output tensor index")),
            }
        }
        let p_off = u32_at(rec, 8) as usize;
        let p_len = u32_at(rec, 12) as usize;
        match p_off.checked_add(p_len) {
            Some(end) if end <= self.field(field::PARAMS_BYTES) && p_off % 4 == 0 && p_len % 4 == 0 => {
                Ok(())
            }
            _ => Err(bad("params range")),
        }
    }

    /// The record of tensor `t`; `None` past the table (never, for `t < tensor_count`, once
    /// the sections are validated). A fixed-size array, so that decoding it needs no further
    /// bounds checks: the interpreter decodes records on every invoke.
    fn tensor_record(&self, t: usize) -> Option<&'a [u8; TENSOR_RECORD_BYTES]> {
        if t >= self.field(field::TENSOR_COUNT) {
            return None;
        }
        let at = self.field(field::TENSORS_OFFSET) + t * TENSOR_RECORD_BYTES;
        self.bytes
            .get(at..at + TENSOR_RECORD_BYTES)?
            .try_into()
            .ok()
    }

    /// The record of operator `o`, as [`Model::tensor_record`].
    fn op_record(&self, o: usize) -> Option<&'a [u8; OP_RECORD_BYTES]> {
        if o >= self.field(field::OP_COUNT) {
            return None;
        }
        let at = self.field(field::OPS_OFFSET) + o * OP_RECORD_BYTES;
        self.bytes.get(at..at + OP_RECORD_BYTES)?.try_into().ok()
    }

    fn index_list(&self, start: usize, count: usize) -> Option<IndexList<'a>> {
        let end = start.checked_add(count)?;
        if end > self.field(field::INDEX_COUNT) {
            return None;
        }
        let at = self.field(field::INDEX_OFFSET);
        Some(IndexList {
            bytes: self.bytes.get(at + start * 2..at + end * 2)?,
        })
    }

    /// The whole artefact.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Arena bytes this model needs (activations and scratch).
    pub fn arena_bytes(&self) -> usize {
        self.field(field::ARENA_BYTES)
    }

    /// Bytes of the constant pool (weights and other constants).
    pub fn const_bytes(&self) -> usize {
        self.field(field::CONST_BYTES)
    }

    pub fn tensor_count(&self) -> usize {
        self.field(field::TENSOR_COUNT)
    }

    pub fn op_count(&self) -> usize {
        self.field(field::OP_COUNT)
    }

    /// Tensor `t`, or `None` if out of range.
    pub fn tensor(&self, t: usize) -> Option<TensorInfo> {
        let rec = self.tensor_record(t)?;
        let dtype = DType::from_u8(rec[0])?;
        let rank = rec[1] as usize;
        // Validation made the dimensions at and beyond `rank` 1; they are not trusted here.
        let mut dims = [1usize; MAX_RANK];
        for (d, dim) in dims.iter_mut().enumerate() {
            if d < rank {
                *dim = le32(rec, 4 + d * 4) as usize;
            }
        }
        let elements = dims.iter().fold(1usize, |n, &d| n.wrapping_mul(d));
        Some(TensorInfo {
            dtype,
            rank: rank.min(MAX_RANK),
            dims,
            location: Location::from_u8(rec[2])?,
            offset: le32(rec, 20) as usize,
            // Validation checked that this product does not overflow.
            byte_len: elements.wrapping_mul(dtype.size()),
            scale: f32::from_bits(le32(rec, 24)),
            zero_point: le32(rec, 28) as i32,
        })
    }

    /// Tensor `t`'s dtype and dimensions as stored, and nothing else: what a runtime needs on
    /// every run for the tensors whose shape a kernel takes, decoded more cheaply than
    /// [`Model::tensor`]. Validation made the dimensions beyond the rank 1, as
    /// [`TensorInfo::dims`] has them.
    #[inline]
    pub fn tensor_shape(&self, t: usize) -> Option<(DType, [usize; MAX_RANK])> {
        let rec = self.tensor_record(t)?;
        let dims = [4, 8, 12, 16].map(|at| le32(rec, at) as usize);
        Some((DType::from_u8(rec[0])?, dims))
    }

    /// Where tensor `t`'s bytes are, and nothing else: what a runtime needs on every run for
    /// the tensors whose shape it does not use, decoded more cheaply than [`Model::tensor`].
    /// The length is the product of all four stored dimensions, which validation made equal
    /// to [`TensorInfo::byte_len`] (dimensions beyond the rank are 1).
    #[inline]
    pub fn tensor_place(&self, t: usize) -> Option<Place<'a>> {
        let rec = self.tensor_record(t)?;
        let size = DType::from_u8(rec[0])?.size();
        let len = (le32(rec, 4) as usize)
            .wrapping_mul(le32(rec, 8) as usize)
            .wrapping_mul(le32(rec, 12) as usize)
            .wrapping_mul(le32(rec, 16) as usize)
            .wrapping_mul(size);
        let offset = le32(rec, 20) as usize;
        match Location::from_u8(rec[2])? {
            Location::Arena => Some(Place::Arena { offset, len }),
            Location::Const => {
                // Wrapping: a wrapped range starts after it ends, which `get` refuses.
                let at = self.field(field::CONST_OFFSET).wrapping_add(offset);
                Some(Place::Const(self.bytes.get(at..at.wrapping_add(len))?))
            }
        }
    }

    /// Operator `o`, or `None` if out of range.
    pub fn op(&self, o: usize) -> Option<OpInfo<'a>> {
        let rec = self.op_record(o)?;
        let n_in = rec[2] as usize;
        let n_out = rec[3] as usize;
        let start = le32(rec, 4) as usize;
        let p_off = self
            .field(field::PARAMS_OFFSET)
            .checked_add(le32(rec, 8) as usize)?;
        let p_len = le32(rec, 12) as usize;
        Some(OpInfo {
            opcode: OpCode::from_u16(u16::from_le_bytes([rec[0], rec[1]]))?,
            inputs: self.index_list(start, n_in)?,
            outputs: self.index_list(start + n_in, n_out)?,
            params: self.bytes.get(p_off..p_off.checked_add(p_len)?)?,
        })
    }

    /// The graph's input tensors, in order.
    pub fn inputs(&self) -> IndexList<'a> {
        self.index_list(self.field(field::INPUTS_INDEX), self.field(field::INPUT_COUNT))
            .unwrap_or(IndexList { bytes: &[] })
    }

    /// The graph's output tensors, in order.
    pub fn outputs(&self) -> IndexList<'a> {
        self.index_list(self.field(field::OUTPUTS_INDEX), self.field(field::OUTPUT_COUNT))
            .unwrap_or(IndexList { bytes: &[] })
    }

    /// The bytes of a constant tensor (empty for arena tensors).
    pub fn const_data(&self, t: &TensorInfo) -> &'a [u8] {
        if t.location != Location::Const {
            return &[];
        }
        let at = self.field(field::CONST_OFFSET) + t.offset;
        self.bytes.get(at..at + t.byte_len).unwrap_or(&[])
    }
}
