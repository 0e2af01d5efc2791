//! The tensors of a checkpoint: read from its headers, or laid out from the
//! architecture when only a `config.json` is at hand. One table serves both the
//! byte counts and the check of hand-written layer maps against real names.

use serde::Serialize;

/// A tensor's element type as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StoredDtype {
    F32,
    F16,
    Bf16,
    F8,
    I8,
    /// A GGUF block-quantized type: bytes per block of `block` elements.
    Quantized {
        block: u64,
        block_bytes: u64,
    },
    /// Anything else, with its element size in bytes.
    Other {
        size: u64,
    },
}

impl StoredDtype {
    /// From a safetensors dtype name.
    pub fn from_safetensors(name: &str) -> StoredDtype {
        match name {
            "F32" | "I32" | "U32" => StoredDtype::F32,
            "F16" => StoredDtype::F16,
            "BF16" => StoredDtype::Bf16,
            "F8_E4M3" | "F8_E5M2" => StoredDtype::F8,
            "I8" | "U8" | "BOOL" => StoredDtype::I8,
            "F64" | "I64" | "U64" => StoredDtype::Other { size: 8 },
            _ => StoredDtype::Other { size: 2 },
        }
    }

    /// From a `torch_dtype` name; bf16 when unknown, the usual checkpoint type.
    pub fn from_torch(name: Option<&str>) -> StoredDtype {
        match name {
            Some("float32") => StoredDtype::F32,
            Some("float16") => StoredDtype::F16,
            _ => StoredDtype::Bf16,
        }
    }

    /// Bytes for `elements` elements of this type.
    pub fn bytes_for(self, elements: u64) -> u64 {
        match self {
            StoredDtype::F32 => elements.saturating_mul(4),
            StoredDtype::F16 | StoredDtype::Bf16 => elements.saturating_mul(2),
            StoredDtype::F8 | StoredDtype::I8 => elements,
            StoredDtype::Quantized { block, block_bytes } => {
                elements.div_ceil(block.max(1)).saturating_mul(block_bytes)
            }
            StoredDtype::Other { size } => elements.saturating_mul(size),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tensor {
    pub name: String,
    pub dims: Vec<u64>,
    pub dtype: StoredDtype,
    /// Bytes as stored.
    pub bytes: u64,
}

impl Tensor {
    pub fn new(name: impl Into<String>, dims: Vec<u64>, dtype: StoredDtype) -> Tensor {
        let bytes = dtype.bytes_for(dims.iter().fold(1u64, |n, d| n.saturating_mul(*d)));
        Tensor {
            name: name.into(),
            dims,
            dtype,
            bytes,
        }
    }

    /// Past this one tensor is no model's (the largest today are a few GiB):
    /// a header claiming it is corrupt, and its sums would overflow.
    pub const MAX_BYTES: u64 = 1 << 46;

    pub fn elements(&self) -> u64 {
        // Saturating: a header's dimensions are untrusted input.
        self.dims.iter().fold(1u64, |n, d| n.saturating_mul(*d))
    }

    pub fn part(&self) -> Part {
        part_of(&self.name)
    }
}

/// Which part of the model a tensor belongs to. Only decoder layers are mapped
/// to devices; everything else sits on the first device of a pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    Layer(u64),
    Embedding,
    LmHead,
    FinalNorm,
    Vision,
    Other,
}

/// Classifies a tensor by its name (Hugging Face or GGUF conventions).
pub fn part_of(name: &str) -> Part {
    let vision = [
        "visual.",
        "vision_tower",
        "vision_model",
        "multi_modal_projector",
        "vision_embed",
        "mm.",
    ];
    if vision.iter().any(|v| name.contains(v)) || name.starts_with("v.") {
        return Part::Vision;
    }
    for marker in ["layers.", "blk.", "h."] {
        if let Some(i) = name.find(marker) {
            let at_boundary = i == 0 || name.as_bytes()[i - 1] == b'.';
            let digits: String = name[i + marker.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if at_boundary && !digits.is_empty() {
                return Part::Layer(digits.parse().unwrap_or(u64::MAX));
            }
        }
    }
    if name.contains("embed_tokens") || name.contains("token_embd") || name.contains("wte.") {
        Part::Embedding
    } else if name.starts_with("lm_head") || name.contains(".lm_head") || name == "output.weight" {
        Part::LmHead
    } else if name.ends_with("norm.weight")
        || name.ends_with("norm.bias")
        || name == "output_norm.weight"
    {
        Part::FinalNorm
    } else {
        Part::Other
    }
}

/// Why a header's tensors cannot be a model's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TensorSizeError {
    /// One tensor past `Tensor::MAX_BYTES`.
    #[error(
        "tensor `{name}` of shape {dims:?} would be {bytes} bytes: no model's tensor is that large"
    )]
    TensorTooLarge {
        name: String,
        dims: Vec<u64>,
        bytes: u64,
    },
    /// All of them past a PiB.
    #[error("the tensors come to {bytes} bytes, more than a PiB: no model is that large")]
    TotalTooLarge { bytes: u64 },
}

/// Refuses tensors a header cannot truly hold: one past `Tensor::MAX_BYTES`,
/// or more than 2^50 bytes (a PiB) in all. Every sum the planner makes over
/// what passes stays far inside `u64`.
pub(crate) fn check_plausible(tensors: &[Tensor]) -> Result<(), TensorSizeError> {
    let mut total: u64 = 0;
    for t in tensors {
        if t.bytes > Tensor::MAX_BYTES {
            return Err(TensorSizeError::TensorTooLarge {
                name: t.name.clone(),
                dims: t.dims.clone(),
                bytes: t.bytes,
            });
        }
        total = total.saturating_add(t.bytes);
    }
    if total > 1 << 50 {
        return Err(TensorSizeError::TotalTooLarge { bytes: total });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_tensor_names() {
        assert_eq!(
            part_of("model.layers.12.self_attn.q_proj.weight"),
            Part::Layer(12)
        );
        assert_eq!(part_of("blk.3.attn_q.weight"), Part::Layer(3));
        assert_eq!(part_of("model.embed_tokens.weight"), Part::Embedding);
        assert_eq!(part_of("token_embd.weight"), Part::Embedding);
        assert_eq!(part_of("lm_head.weight"), Part::LmHead);
        assert_eq!(part_of("output.weight"), Part::LmHead);
        assert_eq!(part_of("model.norm.weight"), Part::FinalNorm);
        assert_eq!(part_of("visual.blocks.3.attn.qkv.weight"), Part::Vision);
        assert_eq!(
            part_of("vision_tower.vision_model.encoder.layers.2.mlp.fc1.weight"),
            Part::Vision
        );
        assert_eq!(part_of("model.sublayers.1.x"), Part::Other);
    }

    #[test]
    fn quantized_bytes_round_up_to_whole_blocks() {
        // Q4_K: 144 bytes per 256 elements = 4.5 bits per weight.
        let q4k = StoredDtype::Quantized {
            block: 256,
            block_bytes: 144,
        };
        assert_eq!(q4k.bytes_for(4096 * 4096), 4096 * 4096 / 256 * 144);
        assert_eq!(q4k.bytes_for(257), 288);
    }
}
