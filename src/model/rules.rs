//! How mistral.rs 0.8.1 treats each tensor of an architecture once loaded:
//! whether in-situ quantization converts it (each loader's
//! `isq_layer_regexes` in `pipeline/loaders/normal_loaders.rs`), and whether
//! tensor parallelism splits it across ranks or every rank holds it whole
//! (`ColumnParallelLayer`/`RowParallelLayer` against `ReplicatedLayer` in each
//! `models/*.rs`, and `moe/experts.rs` for the experts).

use super::shape::{Attention, Family, ModelShape};
use super::tensors::{Part, Tensor};

/// The projections every loader's ISQ regexes name, in Hugging Face and GGUF
/// spellings.
const PROJECTIONS: &[&str] = &[
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
    "attn_q",
    "attn_k",
    "attn_v",
    "attn_output",
    "ffn_gate",
    "ffn_up",
    "ffn_down",
];

/// Whether in-situ quantization converts `tensor`: the attention and MLP
/// projections of decoder layers (experts included), and `lm_head`.
/// Embeddings, norms, routers (but Mixtral's) and vision towers stay in the
/// model dtype.
pub fn isq_converts(family: Family, tensor: &Tensor) -> bool {
    let name = tensor.name.as_str();
    if !name.ends_with(".weight") || tensor.dims.len() != 2 {
        return false;
    }
    match tensor.part() {
        Part::LmHead => true,
        Part::Layer(_) => match family {
            // Attention and `lm_head` only: the MXFP4 experts and the router
            // are never converted.
            Family::GptOss => ["q_proj", "k_proj", "v_proj", "o_proj"]
                .iter()
                .any(|p| name.contains(p)),
            // `experts.N.w1|w2|w3`, and Mixtral's router `block_sparse_moe.gate`.
            Family::Mixtral | Family::PhiMoe => {
                PROJECTIONS.iter().any(|p| name.contains(p))
                    || [".w1.", ".w2.", ".w3."].iter().any(|p| name.contains(p))
                    || (family == Family::Mixtral && name.ends_with("block_sparse_moe.gate.weight"))
            }
            // The latent attention's low-rank projections too.
            Family::DeepSeek => {
                PROJECTIONS.iter().any(|p| name.contains(p))
                    || ["q_a_proj", "q_b_proj", "kv_a_proj_with_mqa", "kv_b_proj"]
                        .iter()
                        .any(|p| name.contains(p))
            }
            Family::Dense | Family::Qwen3Moe | Family::Glm4Moe => {
                PROJECTIONS.iter().any(|p| name.contains(p))
            }
        },
        _ => false,
    }
}

/// Whether tensor parallelism splits `tensor` across ranks (column- and
/// row-parallel projections), rather than every rank holding all of it.
/// `isq` is whether in-situ quantization is on: it moves MoE experts of the
/// families built on `MoEExperts` from the fused CUDA kernels, which split
/// every expert along its width, to the gather kernels, which hold every
/// expert whole on every rank.
pub fn tp_splits(family: Family, tensor: &Tensor, isq: bool) -> bool {
    let name = tensor.name.as_str();
    // Norms, biases of row layers and other vectors stay whole.
    if tensor.dims.len() < 2 {
        return false;
    }
    let router = name.ends_with("mlp.gate.weight")
        || name.ends_with("block_sparse_moe.gate.weight")
        || name.contains("mlp.router.");
    if router {
        return false;
    }
    let expert = name.contains(".experts.");
    match family {
        // `GptOssMoE::new` takes no communicator: experts whole on every rank.
        Family::GptOss => !expert,
        Family::Qwen3Moe | Family::Glm4Moe | Family::DeepSeek if expert => !isq,
        // GLM-4-MoE's shared expert is a `ReplicatedLayer`; DeepSeek's an `Mlp`.
        Family::Glm4Moe if name.contains("shared_experts") => false,
        // The latent attention's down-projections are replicated.
        Family::DeepSeek => !(name.contains("q_a_proj") || name.contains("kv_a_proj_with_mqa")),
        _ => true,
    }
}

/// Why mistral.rs 0.8.1 cannot run this model with layers on the CPU, if it
/// cannot. Each failure is only at the first request, after the whole load.
pub fn cpu_blocker(shape: &ModelShape) -> Option<String> {
    let family = Family::of(&shape.architecture);
    let experts_on_moe_experts = matches!(
        family,
        Family::Qwen3Moe | Family::Glm4Moe | Family::DeepSeek
    ) || shape.architecture == "Glm4MoeLiteForCausalLM";
    // `PackedExperts::new` (mistralrs-quant `distributed/layers.rs`), the CPU
    // backend of `moe/experts.rs`, loads only stacked `experts.gate_up_proj`
    // tensors and builds placeholder layers for the hub's one-tensor-per-expert
    // form. Seen on a tiny Qwen3-MoE: "DummyLayer should not ever be present in
    // forward pass!".
    let per_expert = || shape.tensors.iter().any(|t| t.name.contains(".experts.0."));
    if experts_on_moe_experts && per_expert() {
        return Some(format!(
            "its experts are stored one tensor each, which {} loads on the CPU as \
             empty placeholders for {}: the first request fails",
            crate::RUNTIME,
            shape.architecture
        ));
    }
    // The CPU attention returns heads of the query's width; the output
    // projection takes `v_head_dim` (`models/deepseek2.rs`). Seen on a tiny
    // DeepSeek V2: "shape mismatch in matmul".
    if let Attention::Latent(m) = &shape.text.attention {
        if m.v_head_dim != m.qk_nope_head_dim + m.qk_rope_head_dim {
            return Some(format!(
                "{}'s CPU attention for {} returns heads of qk_nope_head_dim + \
                 qk_rope_head_dim ({}) where the output projection takes v_head_dim ({}): the first \
                 request fails",
                crate::RUNTIME,
                shape.architecture,
                m.qk_nope_head_dim + m.qk_rope_head_dim,
                m.v_head_dim
            ));
        }
    }
    // `MXFP4Layer::packed_gptoss_linear` (mistralrs-quant `mxfp4/mod.rs`)
    // runs only with CUDA's MXFP4 kernels or on Metal.
    if family == Family::GptOss && shape.text.moe.as_ref().is_some_and(|m| m.mxfp4) {
        return Some(format!(
            "{} runs gpt-oss's MXFP4 experts only on CUDA or Metal",
            crate::RUNTIME
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::StoredDtype;

    fn t(name: &str) -> Tensor {
        Tensor::new(name, vec![8, 8], StoredDtype::Bf16)
    }

    #[test]
    fn experts_are_quantized_where_the_loaders_say() {
        let w1 = t("model.layers.0.block_sparse_moe.experts.3.w1.weight");
        let gate = t("model.layers.0.block_sparse_moe.gate.weight");
        assert!(isq_converts(Family::Mixtral, &w1));
        assert!(isq_converts(Family::Mixtral, &gate));
        assert!(isq_converts(Family::PhiMoe, &w1));
        assert!(!isq_converts(Family::PhiMoe, &gate));
        let router = t("model.layers.0.mlp.gate.weight");
        let expert = t("model.layers.0.mlp.experts.7.up_proj.weight");
        assert!(!isq_converts(Family::Qwen3Moe, &router));
        assert!(isq_converts(Family::Qwen3Moe, &expert));
        assert!(isq_converts(
            Family::DeepSeek,
            &t("model.layers.0.self_attn.kv_b_proj.weight")
        ));
        assert!(!isq_converts(
            Family::GptOss,
            &t("model.layers.0.mlp.router.weight")
        ));
        assert!(!isq_converts(
            Family::Dense,
            &t("model.embed_tokens.weight")
        ));
    }

    #[test]
    fn tensor_parallelism_splits_experts_only_on_the_fused_kernels() {
        let expert = t("model.layers.1.mlp.experts.0.gate_proj.weight");
        assert!(tp_splits(Family::Qwen3Moe, &expert, false));
        assert!(!tp_splits(Family::Qwen3Moe, &expert, true));
        assert!(tp_splits(
            Family::Mixtral,
            &t("model.layers.1.block_sparse_moe.experts.0.w2.weight"),
            true
        ));
        assert!(!tp_splits(
            Family::Mixtral,
            &t("model.layers.1.block_sparse_moe.gate.weight"),
            false
        ));
        assert!(!tp_splits(
            Family::DeepSeek,
            &t("model.layers.1.self_attn.kv_a_proj_with_mqa.weight"),
            false
        ));
        assert!(!tp_splits(
            Family::GptOss,
            &t("model.layers.1.mlp.experts.gate_up_proj_blocks"),
            false
        ));
    }
}
