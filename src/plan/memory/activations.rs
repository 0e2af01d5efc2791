//! Activation peaks: the largest intermediate a forward pass holds.

use crate::model::shape::Family;
use crate::model::{ModelShape, VisionFamily};
use crate::units::DType;

use super::kv_cache::saturate;
use super::{Settings, Workload, dtype_bytes};

/// Peak activation bytes of prefill on a device that holds decoder layers,
/// plus, on the first device, the vision tower's peak and the logits.
pub fn activations(
    shape: &ModelShape,
    w: &Workload,
    dtype: DType,
    shards: u64,
    first: bool,
    settings: &Settings,
) -> u64 {
    // In u128: products of untrusted config numbers and the workload.
    let x = u128::from;
    let t = &shape.text;
    let b = x(dtype_bytes(dtype));
    let shards = shards.max(1);
    let heads = x(t.heads / shards);
    let kv_heads = x(t.kv_heads.div_ceil(shards).max(1));
    let inter = x(t.intermediate / shards);
    let (s, batch) = (x(w.seq_len), x(w.batch));
    // Residual stream, its norm, the attention output and q/k/v for all tokens.
    let hidden = batch * s * (3 * x(t.hidden) + (heads + 2 * kv_heads) * x(t.head_dim)) * b;
    // Attention scores and their softmax for one query chunk against all keys,
    // and the causal mask mistral.rs materializes for the whole prompt
    // (`CausalMasker::make_causal_mask_matrix`, skipped under flash attention).
    let scores = if settings.flash_attention {
        0
    } else {
        2 * batch * heads * s.min(x(settings.attention_chunk)) * s * b + s * s * b
    };
    // Gate and up projections of the MLP.
    let dense = 2 * batch * s * inter * b;
    let mlp = dense.max(moe_activations(shape, batch * s, b, shards));
    let mut peak = hidden + scores.max(mlp);
    if first {
        // Logits of the last position, in f32.
        peak += batch * x(t.vocab) * 4;
        peak = peak.max(vision_activations(shape, w, dtype));
    }
    saturate(peak)
}

/// Peak of a sparse layer over `tokens` tokens: the router's f32 scores, and
/// the experts' buffers. The fused CUDA kernels (`moe/experts.rs`, and
/// gpt-oss's MXFP4 path) hold every token's `k` chosen experts at once:
/// gate and up `[T·k, 2·I/t]`, their product `[T·k, I/t]` and the outputs
/// `[T·k, H]`. Mixtral and PhiMoE loop over experts, one expert's tokens at a
/// time (all of them, at worst). Shared experts add a dense MLP.
fn moe_activations(shape: &ModelShape, tokens: u128, b: u128, shards: u64) -> u128 {
    let x = u128::from;
    let t = &shape.text;
    let Some(moe) = &t.moe else {
        return 0;
    };
    let family = Family::of(&shape.architecture);
    let width = x(match family {
        Family::GptOss => moe.expert_intermediate,
        _ => moe.expert_intermediate / shards,
    });
    let chosen = x(match family {
        Family::Mixtral | Family::PhiMoe => 1,
        _ => moe.active,
    });
    let router = tokens * x(moe.experts) * 4 + tokens * x(moe.active) * 8;
    let experts = tokens * chosen * (3 * width + x(t.hidden)) * b;
    let shared = 2 * tokens * x(moe.shared_intermediate / shards) * b;
    router + experts + shared
}

pub(super) fn vision_activations(shape: &ModelShape, w: &Workload, dtype: DType) -> u128 {
    let x = u128::from;
    let (Some(v), true) = (&shape.vision, w.images > 0) else {
        return 0;
    };
    let Some((tokens, patches)) = shape.image_tokens(w.image_size.0, w.image_size.1) else {
        return 0;
    };
    let (tokens, patches) = (x(tokens), x(patches));
    let b = x(dtype_bytes(dtype));
    let n = x(w.batch) * x(w.images);
    let hidden = n * patches * 4 * x(v.hidden) * b;
    // The vision towers compute attention with plain matmuls, flash attention
    // or not (mistral.rs `vision_models/*/vision.rs`).
    let scores = match v.family {
        // mistral.rs's Qwen2-VL and Qwen2.5-VL towers attend over the patches of
        // every image at once, separated by a block-diagonal mask (two masks, full
        // and windowed, for Qwen2.5-VL), so the buffers grow with (images × patches)².
        VisionFamily::Qwen2Vl | VisionFamily::Qwen25Vl => {
            let total = n * patches;
            let masks = match (n > 1, v.family) {
                (false, _) => 0,
                (true, VisionFamily::Qwen25Vl) => 2,
                (true, _) => 1,
            };
            2 * x(v.heads) * total * total * b + masks * total * total * b
        }
        // SigLIP runs images as a batch, each attending over its own patches.
        VisionFamily::Siglip => 2 * n * x(v.heads) * patches * patches * b,
    };
    let mlp = 2 * n * patches * x(v.intermediate) * b;
    // The image tokens handed to the language model stay alive through prefill.
    let handed = n * tokens * x(shape.text.hidden) * b;
    hidden + scores.max(mlp) + handed
}
