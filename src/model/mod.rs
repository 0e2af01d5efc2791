//! Model shapes: what the planner needs to know about a model, read offline
//! from a checkpoint's headers, a `config.json`, the Hugging Face cache or the
//! built-in catalog.

pub mod architectures;
pub mod catalog;
pub mod config_json;
mod gguf;
mod hf_cache;
pub mod layout;
pub mod resolve;
pub mod rules;
mod safetensors;
pub mod shape;
pub mod tensors;

pub use config_json::ShapeError;
pub use resolve::{Attempt, ResolveError, Resolved, ShapeOrigin, resolve};
pub use shape::{
    Attention, Family, Mla, Modality, ModelShape, Moe, Recurrent, TextShape, VisionFamily,
    VisionShape,
};
pub use tensors::{Part, StoredDtype, Tensor};

/// A model's shape from its `config.json`, with its tensors laid out as
/// mistral.rs builds the architecture.
pub fn from_config(config: &serde_json::Value) -> Result<ModelShape, ShapeError> {
    let mut shape = config_json::from_config(config)?;
    shape.tensors = layout::tensors(&shape);
    Ok(shape)
}
