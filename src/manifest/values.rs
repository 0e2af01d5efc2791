//! Closed sets of choices, shared by the TOML model and the validated manifest.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::units::spelled;

spelled! {
/// What the model is: `auto` reads it from the model's config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum ModelKind {
    /// Decide from the model's architecture.
    #[default]
    Auto = "auto",
    /// A text-only language model.
    Text = "text",
    /// A vision-language model that takes images.
    Multimodal = "multimodal",
}
}

spelled! {
/// How `apply` writes its log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum LogFormat {
    /// Plain text, for a terminal.
    #[default]
    Plain = "plain",
    /// One JSON object per line, for a log pipeline.
    Json = "json",
}
}

spelled! {
/// How layers are spread over the GPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub enum Strategy {
    /// Let the planner choose: one GPU, tensor parallelism or a pipeline.
    #[default]
    Auto = "auto",
    /// NCCL tensor parallelism: every layer split across `tensor_size` GPUs.
    Tensor = "tensor",
    /// Contiguous ranges of layers per GPU, in order.
    Pipeline = "pipeline",
    /// A hand-written layer map (`map` or `map_file`).
    Manual = "manual",
}
}
