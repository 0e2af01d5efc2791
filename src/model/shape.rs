//! A model's shape: the numbers the planner needs, read from a Hugging Face
//! `config.json` (or a GGUF header), and the table of its tensors.

use serde::Serialize;

use super::tensors::Tensor;

/// Whether the model takes images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Modality {
    Text,
    Multimodal,
}

/// The language model's decoder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TextShape {
    pub layers: u64,
    pub hidden: u64,
    pub heads: u64,
    pub kv_heads: u64,
    pub head_dim: u64,
    pub intermediate: u64,
    pub vocab: u64,
    pub max_position_embeddings: u64,
    pub tie_word_embeddings: bool,
    /// q/k/v projections carry a bias (the Qwen2 family).
    pub qkv_bias: bool,
    /// Per-head RMSNorm on q and k (Gemma 3, Qwen 3).
    pub qk_norm: bool,
    /// Norms per decoder layer: 2 (Llama) or 4 (Gemma 2/3).
    pub norms_per_layer: u64,
    /// How attention projects queries, keys and values.
    pub attention: Attention,
    /// Routed experts, when the model has them.
    pub moe: Option<Moe>,
    /// The recurrent layers of a hybrid (linear attention, Mamba), when it
    /// has them.
    pub recurrent: Option<Recurrent>,
    /// `config.json` keys that change the layout but that deployctl does not
    /// read for this architecture: the planner warns about each.
    pub unread_keys: Vec<String>,
}

/// The attention block's projections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Attention {
    /// q, k and v heads of `head_dim` each (with grouped KV heads).
    Standard,
    /// DeepSeek's multi-head latent attention: queries and keys/values go
    /// through low-rank projections, and every head's K and V come from one
    /// shared latent vector per token.
    Latent(Mla),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mla {
    /// Rank of the query projection; `None` projects queries directly.
    pub q_lora_rank: Option<u64>,
    pub kv_lora_rank: u64,
    pub qk_nope_head_dim: u64,
    pub qk_rope_head_dim: u64,
    pub v_head_dim: u64,
}

/// The per-sequence state of a hybrid's recurrent layers, which mistral.rs
/// 0.8.1 keeps in a pool on the first device (`kv_cache/hybrid_cache.rs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recurrent {
    /// Layers that hold a state instead of (or besides) a KV cache.
    pub layers: u64,
    /// Elements of one sequence's convolution state in one layer.
    pub conv: u64,
    /// Elements of one sequence's recurrent (SSM or delta-rule) state in one
    /// layer.
    pub state: u64,
}

/// A mixture-of-experts MLP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Moe {
    /// Routed experts per sparse layer.
    pub experts: u64,
    /// Experts each token is routed to.
    pub active: u64,
    /// Hidden width of one routed expert.
    pub expert_intermediate: u64,
    /// Hidden width of the always-on shared expert MLP; 0 for none.
    pub shared_intermediate: u64,
    /// The router carries `e_score_correction_bias` (DeepSeek V3's
    /// `noaux_tc` routing).
    pub correction_bias: bool,
    /// The experts are stored, and kept, as MXFP4 blocks (gpt-oss's
    /// `quantization_config.quant_method = "mxfp4"`).
    pub mxfp4: bool,
    /// Which decoder layers carry experts; the others have a dense MLP of
    /// `intermediate`.
    pub sparse_layers: Vec<bool>,
}

impl Moe {
    pub fn is_sparse(&self, layer: u64) -> bool {
        self.sparse_layers
            .get(layer as usize)
            .copied()
            .unwrap_or(false)
    }
}

/// The vision tower of a multimodal model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VisionShape {
    pub family: VisionFamily,
    pub layers: u64,
    pub hidden: u64,
    pub heads: u64,
    pub intermediate: u64,
    pub patch_size: u64,
    /// Qwen2-VL merges `merge × merge` patches into one token.
    pub spatial_merge_size: u64,
    pub temporal_patch_size: u64,
    pub in_channels: u64,
    /// Width of the tokens handed to the language model.
    pub out_hidden: u64,
    /// Fixed input resolution (SigLIP), in pixels per side.
    pub image_size: Option<u64>,
    /// Tokens one image becomes in the language model (Gemma 3: 256).
    pub tokens_per_image: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VisionFamily {
    /// Qwen2-VL: LayerNorm blocks with a GELU MLP.
    Qwen2Vl,
    /// Qwen2.5-VL: RMSNorm blocks with a gated SiLU MLP, windowed attention.
    Qwen25Vl,
    /// SigLIP (Gemma 3): fixed resolution, absolute position embeddings.
    Siglip,
}

/// Everything the planner knows about a model.
#[derive(Debug, Clone, Serialize)]
pub struct ModelShape {
    /// The `architectures[0]` class name, e.g. `Qwen2VLForConditionalGeneration`.
    pub architecture: String,
    pub modality: Modality,
    /// The checkpoint's own dtype (`torch_dtype`), if it says.
    pub torch_dtype: Option<String>,
    pub text: TextShape,
    pub vision: Option<VisionShape>,
    /// Every tensor, with its exact bytes when read from the checkpoint's headers,
    /// else as the architecture defines them.
    #[serde(skip)]
    pub tensors: Vec<Tensor>,
    /// True when `tensors` came from the checkpoint itself.
    pub exact_tensors: bool,
}

/// The families whose configs differ in the keys the layout needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Llama-style decoders: Llama, Mistral, Qwen 2/3, Gemma, Phi 3, …
    Dense,
    Mixtral,
    PhiMoe,
    Qwen3Moe,
    /// DeepSeek V2 and V3: latent attention, shared and routed experts.
    DeepSeek,
    /// GLM-4-MoE: DeepSeek V3's routing with standard attention.
    Glm4Moe,
    GptOss,
}

impl Family {
    pub fn of(architecture: &str) -> Family {
        match architecture {
            "MixtralForCausalLM" => Family::Mixtral,
            "PhiMoEForCausalLM" => Family::PhiMoe,
            "Qwen3MoeForCausalLM" => Family::Qwen3Moe,
            "DeepseekV2ForCausalLM" | "DeepseekV3ForCausalLM" => Family::DeepSeek,
            "Glm4MoeForCausalLM" => Family::Glm4Moe,
            "GptOssForCausalLM" => Family::GptOss,
            _ => Family::Dense,
        }
    }
}

impl ModelShape {
    /// Tokens one image of `height × width` pixels adds to the prompt, and the
    /// patches the vision tower attends over (before merging).
    pub fn image_tokens(&self, height: u64, width: u64) -> Option<(u64, u64)> {
        let v = self.vision.as_ref()?;
        Some(match v.family {
            VisionFamily::Qwen2Vl | VisionFamily::Qwen25Vl => {
                // Images are resized to multiples of patch × merge.
                let unit = v.patch_size * v.spatial_merge_size;
                let h = height.div_ceil(unit) * unit;
                let w = width.div_ceil(unit) * unit;
                let patches = (h / v.patch_size) * (w / v.patch_size);
                (
                    patches / (v.spatial_merge_size * v.spatial_merge_size),
                    patches,
                )
            }
            VisionFamily::Siglip => {
                let side = v.image_size.unwrap_or(896) / v.patch_size;
                (v.tokens_per_image.unwrap_or(side * side), side * side)
            }
        })
    }
}
