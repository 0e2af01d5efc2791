//! The precisions a deployment runs at: weights, in-situ quantization, and
//! the KV cache.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::spelled;

spelled! {
/// Data type of the weights and activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum DType {
    /// The checkpoint's own dtype where the GPUs support it, else f16 (mistral.rs's rule).
    #[default]
    Auto = "auto",
    /// bfloat16; needs compute capability 8.0 or newer.
    Bf16 = "bf16",
    /// float16.
    F16 = "f16",
    /// float32.
    F32 = "f32",
}
}

spelled! {
/// In-situ quantization applied by mistral.rs while loading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum Quantization {
    /// Keep the weights in `dtype`.
    #[default]
    None = "none",
    /// GGML Q4_0: 4.5 bits per weight.
    Q4_0 = "q4_0",
    /// GGML Q4_1: 5 bits per weight.
    Q4_1 = "q4_1",
    /// GGML Q5_0: 5.5 bits per weight.
    Q5_0 = "q5_0",
    /// GGML Q5_1: 6 bits per weight.
    Q5_1 = "q5_1",
    /// GGML Q8_0: 8.5 bits per weight.
    Q8_0 = "q8_0",
    /// GGML Q8_1: 9 bits per weight (not on CUDA).
    Q8_1 = "q8_1",
    /// GGML Q2K: 2.625 bits per weight.
    Q2K = "q2k",
    /// GGML Q3K: 3.4375 bits per weight.
    Q3K = "q3k",
    /// GGML Q4K: 4.5 bits per weight.
    Q4K = "q4k",
    /// GGML Q5K: 5.5 bits per weight.
    Q5K = "q5k",
    /// GGML Q6K: 6.5625 bits per weight.
    Q6K = "q6k",
    /// GGML Q8K: 9.125 bits per weight (not on CUDA).
    Q8K = "q8k",
    /// HQQ 4-bit.
    Hqq4 = "hqq4",
    /// HQQ 8-bit.
    Hqq8 = "hqq8",
    /// FP8 (E4M3) weights.
    Fp8 = "fp8",
    /// AFQ 2-bit (Apple Metal).
    Afq2 = "afq2",
    /// AFQ 3-bit (Apple Metal).
    Afq3 = "afq3",
    /// AFQ 4-bit (Apple Metal).
    Afq4 = "afq4",
    /// AFQ 6-bit (Apple Metal).
    Afq6 = "afq6",
    /// AFQ 8-bit (Apple Metal).
    Afq8 = "afq8",
    /// FP8 scales with 8-bit weights.
    F8Q8 = "f8q8",
    /// MXFP4 4-bit floating point.
    Mxfp4 = "mxfp4",
}
}

spelled! {
/// Data type of the KV cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum KvCacheDtype {
    /// The model's dtype.
    #[default]
    Auto = "auto",
    /// FP8 (E4M3): half the memory of bf16/f16.
    F8e4m3 = "f8e4m3",
}
}
