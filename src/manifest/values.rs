//! Closed sets of choices, shared by the TOML model and the validated manifest.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What the model is: `auto` reads it from the model's config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// Decide from the model's architecture.
    #[default]
    Auto,
    /// A text-only language model.
    Text,
    /// A vision-language model that takes images.
    Multimodal,
}

/// Data type of the weights and activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    /// The checkpoint's own dtype where the GPUs support it, else f16 (mistral.rs's rule).
    #[default]
    Auto,
    /// bfloat16; needs compute capability 8.0 or newer.
    Bf16,
    /// float16.
    F16,
    /// float32.
    F32,
}

impl DType {
    /// The manifest's spelling, which mistral.rs's `--dtype` also takes.
    pub fn name(self) -> &'static str {
        match self {
            DType::Auto => "auto",
            DType::Bf16 => "bf16",
            DType::F16 => "f16",
            DType::F32 => "f32",
        }
    }
}

/// In-situ quantization applied by mistral.rs while loading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum Quantization {
    /// Keep the weights in `dtype`.
    #[default]
    #[serde(rename = "none")]
    None,
    /// GGML Q4_0: 4.5 bits per weight.
    #[serde(rename = "q4_0")]
    Q4_0,
    /// GGML Q4_1: 5 bits per weight.
    #[serde(rename = "q4_1")]
    Q4_1,
    /// GGML Q5_0: 5.5 bits per weight.
    #[serde(rename = "q5_0")]
    Q5_0,
    /// GGML Q5_1: 6 bits per weight.
    #[serde(rename = "q5_1")]
    Q5_1,
    /// GGML Q8_0: 8.5 bits per weight.
    #[serde(rename = "q8_0")]
    Q8_0,
    /// GGML Q8_1: 9 bits per weight (not on CUDA).
    #[serde(rename = "q8_1")]
    Q8_1,
    /// GGML Q2K: 2.625 bits per weight.
    #[serde(rename = "q2k")]
    Q2K,
    /// GGML Q3K: 3.4375 bits per weight.
    #[serde(rename = "q3k")]
    Q3K,
    /// GGML Q4K: 4.5 bits per weight.
    #[serde(rename = "q4k")]
    Q4K,
    /// GGML Q5K: 5.5 bits per weight.
    #[serde(rename = "q5k")]
    Q5K,
    /// GGML Q6K: 6.5625 bits per weight.
    #[serde(rename = "q6k")]
    Q6K,
    /// GGML Q8K: 9.125 bits per weight (not on CUDA).
    #[serde(rename = "q8k")]
    Q8K,
    /// HQQ 4-bit.
    #[serde(rename = "hqq4")]
    Hqq4,
    /// HQQ 8-bit.
    #[serde(rename = "hqq8")]
    Hqq8,
    /// FP8 (E4M3) weights.
    #[serde(rename = "fp8")]
    Fp8,
    /// AFQ 2-bit (Apple Metal).
    #[serde(rename = "afq2")]
    Afq2,
    /// AFQ 3-bit (Apple Metal).
    #[serde(rename = "afq3")]
    Afq3,
    /// AFQ 4-bit (Apple Metal).
    #[serde(rename = "afq4")]
    Afq4,
    /// AFQ 6-bit (Apple Metal).
    #[serde(rename = "afq6")]
    Afq6,
    /// AFQ 8-bit (Apple Metal).
    #[serde(rename = "afq8")]
    Afq8,
    /// FP8 scales with 8-bit weights.
    #[serde(rename = "f8q8")]
    F8Q8,
    /// MXFP4 4-bit floating point.
    #[serde(rename = "mxfp4")]
    Mxfp4,
}

impl Quantization {
    /// The manifest's spelling (`"q4k"`), which mistral.rs's `--isq` also takes.
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// Data type of the KV cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum KvCacheDtype {
    /// The model's dtype.
    #[default]
    Auto,
    /// FP8 (E4M3): half the memory of bf16/f16.
    F8e4m3,
}

/// How `apply` writes its log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Plain text, for a terminal.
    #[default]
    Plain,
    /// One JSON object per line, for a log pipeline.
    Json,
}

/// How layers are spread over the GPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Let the planner choose: one GPU, tensor parallelism or a pipeline.
    #[default]
    Auto,
    /// NCCL tensor parallelism: every layer split across `tensor_size` GPUs.
    Tensor,
    /// Contiguous ranges of layers per GPU, in order.
    Pipeline,
    /// A hand-written layer map (`map` or `map_file`).
    Manual,
}

impl Strategy {
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Auto => "auto",
            Strategy::Tensor => "tensor",
            Strategy::Pipeline => "pipeline",
            Strategy::Manual => "manual",
        }
    }
}
