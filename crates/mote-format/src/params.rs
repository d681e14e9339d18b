//! Integer-only operator parameters, as stored in a `.mote` artefact's params pool.
//!
//! Every parameter the device needs is computed on the host (requantization multipliers and
//! shifts, padding, activation bounds) and stored here as little-endian 32-bit words, so the
//! runtime only copies words into these structs and the kernels run pure integer loops.
//! Per-channel arrays (multipliers, shifts) are constant tensors, not params.
//! Shifts follow TFLite's convention: positive shifts left, negative shifts right.

/// A value that is stored as one little-endian 32-bit word.
pub trait Word: Copy {
    fn to_word(self) -> u32;
    fn from_word(word: u32) -> Self;
    /// The value as a Rust expression of its type, exactly (for generated code).
    #[cfg(feature = "std")]
    fn literal(self) -> std::string::String;
}

impl Word for i32 {
    fn to_word(self) -> u32 {
        self as u32
    }
    fn from_word(word: u32) -> Self {
        word as i32
    }
    #[cfg(feature = "std")]
    fn literal(self) -> std::string::String {
        std::format!("{self}i32")
    }
}

impl Word for f32 {
    fn to_word(self) -> u32 {
        self.to_bits()
    }
    fn from_word(word: u32) -> Self {
        f32::from_bits(word)
    }
    #[cfg(feature = "std")]
    fn literal(self) -> std::string::String {
        // By its bits: exact for every value, infinities and NaN included.
        std::format!("f32::from_bits({:#010x})", self.to_bits())
    }
}

/// Parameters that are stored as a fixed number of words.
pub trait Params: Sized + Copy {
    /// The operator these parameters belong to.
    const OPCODE: crate::OpCode;
    /// Number of 32-bit words in the encoded form.
    const WORDS: usize;
    /// Decodes from exactly `WORDS * 4` bytes; `None` if the length is wrong.
    fn decode(bytes: &[u8]) -> Option<Self>;
    /// Appends the encoded words to `out`.
    fn encode_into(&self, out: &mut [u8]);
}

macro_rules! params_struct {
    ($(#[$meta:meta])* $name:ident, $opcode:expr, { $($(#[$fmeta:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Default)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl $name {
            #[cold]
            #[inline(never)]
            fn decode_unaligned(bytes: &[u8]) -> Option<Self> {
                if bytes.len() != Self::WORDS * 4 {
                    return None;
                }
                let mut words = [0u32; Self::WORDS];
                for (w, c) in words.iter_mut().zip(bytes.chunks_exact(4)) {
                    *w = u32::from_ne_bytes([c[0], c[1], c[2], c[3]]);
                }
                Some(Self::from_words(&words))
            }

            /// Each field's name and value as a Rust expression, in declaration order, for
            /// code that mote-build generates.
            #[cfg(feature = "std")]
            pub fn rust_fields(&self) -> std::vec::Vec<(&'static str, std::string::String)> {
                std::vec![$((stringify!($field), <$ty as Word>::literal(self.$field)),)*]
            }

            /// The parameters as a Rust expression (`Name { … }`, with this module's types in
            /// scope), for code that mote-build generates.
            #[cfg(feature = "std")]
            pub fn rust_literal(&self) -> std::string::String {
                let fields: std::vec::Vec<std::string::String> = self
                    .rust_fields()
                    .into_iter()
                    .map(|(name, value)| std::format!("{name}: {value}"))
                    .collect();
                std::format!("{} {{ {} }}", stringify!($name), fields.join(", "))
            }

            /// From the words as stored (little-endian).
            #[inline(always)]
            fn from_words(words: &[u32; <Self as Params>::WORDS]) -> Self {
                let mut at = 0;
                let mut word = || {
                    let w = u32::from_le(words[at]);
                    at += 1;
                    w
                };
                Self { $($field: <$ty as Word>::from_word(word()),)* }
            }
        }

        impl Params for $name {
            const OPCODE: crate::OpCode = $opcode;
            const WORDS: usize = [$(stringify!($field)),*].len();

            fn decode(bytes: &[u8]) -> Option<Self> {
                // Word loads where the bytes are 4-byte aligned, as in a validated artefact
                // (the runtime decodes params on every invoke); byte loads elsewhere.
                match bytemuck::try_cast_slice::<u8, u32>(bytes) {
                    Ok(words) => Some(Self::from_words(words.try_into().ok()?)),
                    Err(_) => Self::decode_unaligned(bytes),
                }
            }

            fn encode_into(&self, out: &mut [u8]) {
                let mut chunks = out.chunks_exact_mut(4);
                $(
                    if let Some(chunk) = chunks.next() {
                        chunk.copy_from_slice(&<$ty as Word>::to_word(self.$field).to_le_bytes());
                    }
                )*
            }
        }
    };
}

params_struct!(
    /// CONV_2D. Inputs: input, filter `[out_c, kh, kw, in_c]`, bias (optional), and for int8
    /// the per-output-channel `multiplier` and `shift` tensors (int32).
    Conv2dParams, crate::OpCode::Conv2d, {
    stride_h: i32,
    stride_w: i32,
    dilation_h: i32,
    dilation_w: i32,
    /// Rows of implicit zero padding above the input.
    pad_top: i32,
    /// Columns of implicit zero padding left of the input.
    pad_left: i32,
    input_zero_point: i32,
    output_zero_point: i32,
    act_min: i32,
    act_max: i32,
    float_act_min: f32,
    float_act_max: f32,
});

params_struct!(
    /// DEPTHWISE_CONV_2D. Inputs as for [`Conv2dParams`]; filter is `[1, kh, kw, out_c]`
    /// with `out_c = in_c * depth_multiplier`.
    DepthwiseConv2dParams, crate::OpCode::DepthwiseConv2d, {
    stride_h: i32,
    stride_w: i32,
    dilation_h: i32,
    dilation_w: i32,
    pad_top: i32,
    pad_left: i32,
    depth_multiplier: i32,
    input_zero_point: i32,
    output_zero_point: i32,
    act_min: i32,
    act_max: i32,
    float_act_min: f32,
    float_act_max: f32,
});

params_struct!(
    /// FULLY_CONNECTED. Inputs: input (flattened to `[batches, depth]`), filter
    /// `[units, depth]`, bias (optional), and for int8 `multiplier` and `shift` (one value,
    /// or one per unit).
    FullyConnectedParams, crate::OpCode::FullyConnected, {
    input_zero_point: i32,
    filter_zero_point: i32,
    output_zero_point: i32,
    act_min: i32,
    act_max: i32,
    float_act_min: f32,
    float_act_max: f32,
});

params_struct!(
    /// AVERAGE_POOL_2D and MAX_POOL_2D (the opcode tells which).
    Pool2dParams, crate::OpCode::AveragePool2d, {
    stride_h: i32,
    stride_w: i32,
    filter_h: i32,
    filter_w: i32,
    pad_top: i32,
    pad_left: i32,
    act_min: i32,
    act_max: i32,
    float_act_min: f32,
    float_act_max: f32,
});

params_struct!(
    /// ADD with TFLite's broadcasting (each of up to 4 dimensions equal or 1).
    AddParams, crate::OpCode::Add, {
    input1_zero_point: i32,
    input2_zero_point: i32,
    output_zero_point: i32,
    /// Left shift applied to both inputs before rescaling (20 for int8, as TFLite).
    left_shift: i32,
    input1_multiplier: i32,
    input1_shift: i32,
    input2_multiplier: i32,
    input2_shift: i32,
    output_multiplier: i32,
    output_shift: i32,
    act_min: i32,
    act_max: i32,
    float_act_min: f32,
    float_act_max: f32,
});

params_struct!(
    /// SOFTMAX over the last dimension.
    SoftmaxParams, crate::OpCode::Softmax, {
    /// Fixed-point multiplier of `beta * input_scale` (int8).
    input_multiplier: i32,
    input_left_shift: i32,
    /// Differences below this (in input units) contribute nothing (int8).
    diff_min: i32,
    /// Float path only.
    beta: f32,
});

params_struct!(
    /// QUANTIZE: float32 → int8 uses `scale` and `zero_point` of the output; int8 → int8
    /// (requantize) uses `multiplier`, `shift`, `input_zero_point` and `zero_point`.
    QuantizeParams, crate::OpCode::Quantize, {
    scale: f32,
    zero_point: i32,
    input_zero_point: i32,
    multiplier: i32,
    shift: i32,
});

params_struct!(
    /// DEQUANTIZE: int8 → float32, `(q - zero_point) * scale`.
    DequantizeParams, crate::OpCode::Dequantize, {
    scale: f32,
    zero_point: i32,
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conv2d_params_round_trip() {
        let p = Conv2dParams {
            stride_h: 2,
            stride_w: 1,
            dilation_h: 1,
            dilation_w: 3,
            pad_top: -1,
            pad_left: 0,
            input_zero_point: -128,
            output_zero_point: 5,
            act_min: -128,
            act_max: 127,
            float_act_min: f32::NEG_INFINITY,
            float_act_max: 6.0,
        };
        let mut bytes = [0u8; Conv2dParams::WORDS * 4];
        p.encode_into(&mut bytes);
        assert_eq!(Conv2dParams::decode(&bytes), Some(p));
        assert_eq!(Conv2dParams::decode(&bytes[..4]), None);
    }
}
