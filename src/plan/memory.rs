//! The memory model: the bytes each term takes on a device. Every formula is
//! documented, with its source, in `docs/memory-model.md`.

use serde::Serialize;

use crate::manifest::size::ByteSize;
use crate::manifest::values::{DType, KvCacheDtype, Quantization};
use crate::model::shape::Family;
use crate::model::{Attention, ModelShape, Part, StoredDtype, Tensor, VisionFamily, rules};

/// Constants a user may override (`plan --overhead`).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Per GPU: CUDA context, cuBLAS/cuDNN workspaces and allocator slack that no
    /// other term covers.
    pub overhead: ByteSize,
    /// Extra per GPU under tensor parallelism: NCCL communicator buffers.
    pub nccl_overhead: ByteSize,
    /// The build uses flash attention (no attention-score buffers).
    pub flash_attention: bool,
    /// Paged-attention block size in tokens (mistral.rs's CUDA default).
    pub block_size: u64,
    /// Prefill attention is computed in query chunks of this many tokens
    /// (mistral.rs `ATTENTION_CHUNK_SIZE`).
    pub attention_chunk: u64,
    /// Solve the plan's capacity (`Plan::capacity`): some 30 what-if plans,
    /// which `plan` shows and `validate` does without.
    pub capacity: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            overhead: ByteSize::mib(512),
            nccl_overhead: ByteSize::mib(256),
            flash_attention: false,
            block_size: 32,
            attention_chunk: 1024,
            capacity: false,
        }
    }
}

/// The four terms of one device's memory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Terms {
    pub weights: ByteSize,
    pub kv_cache: ByteSize,
    pub activations: ByteSize,
    pub overhead: ByteSize,
}

impl Terms {
    pub fn total(&self) -> ByteSize {
        ByteSize(
            self.weights
                .0
                .saturating_add(self.kv_cache.0)
                .saturating_add(self.activations.0)
                .saturating_add(self.overhead.0),
        )
    }
}

/// Bytes per element of a runtime dtype. `Auto` must be resolved first.
pub fn dtype_bytes(dtype: DType) -> u64 {
    match dtype {
        DType::F32 => 4,
        DType::Bf16 | DType::F16 | DType::Auto => 2,
    }
}

/// GGML-style storage of an in-situ quantization type: `(block, bytes per block)`.
/// From the block structs of ggml (`block_q4_K` is 144 bytes per 256 weights:
/// 4.5 bits) and mistral.rs's HQQ/AFQ/FP8 layouts.
pub fn quant_block(q: Quantization) -> Option<(u64, u64)> {
    use Quantization::*;
    Some(match q {
        None => return Option::None,
        Q4_0 => (32, 18),
        Q4_1 => (32, 20),
        Q5_0 => (32, 22),
        Q5_1 => (32, 24),
        Q8_0 => (32, 34),
        Q8_1 => (32, 36),
        Q2K => (256, 84),
        Q3K => (256, 110),
        Q4K => (256, 144),
        Q5K => (256, 176),
        Q6K => (256, 210),
        Q8K => (256, 292),
        // 4/8-bit codes with an f16 scale and zero per group of 64.
        Hqq4 => (64, 36),
        Hqq8 => (64, 68),
        // One byte per weight, one scale per tensor row (negligible).
        Fp8 => (1, 1),
        // n-bit codes with a bf16 scale and bias per group of 64.
        Afq2 => (64, 20),
        Afq3 => (64, 28),
        Afq4 => (64, 36),
        Afq6 => (64, 52),
        Afq8 => (64, 68),
        // One byte per weight plus an f8 scale per 32.
        F8Q8 => (32, 33),
        // 4-bit e2m1 codes plus an e8m0 scale per 32.
        Mxfp4 => (32, 17),
    })
}

/// Bits per weight of a quantization, for messages.
pub fn bits_per_weight(q: Quantization) -> Option<f64> {
    quant_block(q).map(|(block, bytes)| bytes as f64 * 8.0 / block as f64)
}

/// Bytes `tensor` takes at run time with `dtype` and quantization `q`, where
/// `isq` says whether in-situ quantization converts this tensor.
pub fn tensor_bytes(tensor: &Tensor, dtype: DType, q: Quantization, isq: bool) -> u64 {
    match tensor.dtype {
        // GGUF tensors load as stored, and so do packed integer data (gpt-oss's
        // MXFP4 blocks and scales): mistral.rs casts only floating tensors.
        StoredDtype::Quantized { .. } | StoredDtype::I8 => return tensor.bytes,
        _ => {}
    }
    match quant_block(q) {
        Some((block, block_bytes)) if isq => tensor.elements().div_ceil(block) * block_bytes,
        _ => tensor.elements() * dtype_bytes(dtype),
    }
}

/// Per-layer and fixed weight bytes, precomputed once per (dtype, quantization).
#[derive(Debug, Clone)]
pub struct WeightTable {
    /// Per decoder layer: bytes split across tensor-parallel ranks (projections).
    pub sharded: Vec<u64>,
    /// Per decoder layer: bytes every rank holds whole (norms, biases of row layers).
    pub replicated: Vec<u64>,
    /// Embeddings, final norm and `lm_head`.
    pub text_fixed: u64,
    /// The vision tower and projector.
    pub vision: u64,
    /// The same layer in f32, for layers offloaded to the CPU.
    pub layer_f32: Vec<u64>,
}

/// A tensor as the weight table needs it: where it goes and how the runtime
/// treats it, read from its name once per model rather than once per
/// quantization the planner tries.
#[derive(Debug, Clone)]
pub struct Classified {
    part: Part,
    dtype: StoredDtype,
    elements: u64,
    stored: u64,
    /// In-situ quantization converts it.
    isq: bool,
    /// Tensor parallelism splits it, without and with in-situ quantization.
    split: [bool; 2],
    /// A GGUF token embedding (dequantized to f32 at load).
    gguf_embedding: bool,
}

/// Classifies every tensor of `shape`. Names that differ only in their
/// numbers (layer and expert indices) are treated alike, so each such
/// pattern is matched against the rules once: DeepSeek-V3 has some 45,000
/// tensors but a few dozen patterns.
pub fn classify(shape: &ModelShape) -> Vec<Classified> {
    let family = Family::of(&shape.architecture);
    // Pattern hash → its class. A 64-bit hash over a few dozen patterns does
    // not collide in practice (the odds are about n² / 2⁶⁵).
    let mut seen: std::collections::HashMap<u64, (Part, bool, [bool; 2])> =
        std::collections::HashMap::new();
    let rules_for = |t: &Tensor| {
        (
            t.part(),
            rules::isq_converts(family, t),
            [
                rules::tp_splits(family, t, false),
                rules::tp_splits(family, t, true),
            ],
        )
    };
    shape
        .tensors
        .iter()
        .map(|t| {
            let hash = pattern_hash(&t.name, t.dims.len());
            let (part, isq, split) = match seen.get(&hash) {
                // A layer's index is the name's first number.
                Some(&(Part::Layer(_), isq, split)) => {
                    (Part::Layer(first_number(&t.name)), isq, split)
                }
                Some(&class) => class,
                None => {
                    let class = rules_for(t);
                    seen.insert(hash, class);
                    class
                }
            };
            Classified {
                part,
                dtype: t.dtype,
                elements: t.elements(),
                stored: t.bytes,
                isq,
                split,
                gguf_embedding: t.name == "token_embd.weight",
            }
        })
        .collect()
}

/// FxHash of the name with each run of digits as one `#`, and of the
/// tensor's rank.
fn pattern_hash(name: &str, rank: usize) -> u64 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = 0u64;
    let mut in_digits = false;
    for &b in name.as_bytes() {
        let b = if b.is_ascii_digit() {
            if in_digits {
                continue;
            }
            in_digits = true;
            b'#'
        } else {
            in_digits = false;
            b
        };
        h = (h.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
    }
    (h.rotate_left(5) ^ rank as u64).wrapping_mul(K)
}

/// The first run of digits in `name`, as a number.
fn first_number(name: &str) -> u64 {
    let mut n: Option<u64> = None;
    for &b in name.as_bytes() {
        match (b.is_ascii_digit(), n) {
            (true, _) => n = Some(n.unwrap_or(0).saturating_mul(10) + u64::from(b - b'0')),
            (false, Some(_)) => break,
            (false, None) => {}
        }
    }
    n.unwrap_or(u64::MAX)
}

impl Classified {
    fn bytes(&self, dtype: DType, q: Quantization, isq: bool) -> u64 {
        match self.dtype {
            StoredDtype::Quantized { .. } | StoredDtype::I8 => return self.stored,
            _ => {}
        }
        match quant_block(q) {
            Some((block, block_bytes)) if isq => {
                self.elements.div_ceil(block).saturating_mul(block_bytes)
            }
            _ => self.elements.saturating_mul(dtype_bytes(dtype)),
        }
    }
}

impl WeightTable {
    pub fn new(
        shape: &ModelShape,
        dtype: DType,
        q: Quantization,
        per_layer_q: &dyn Fn(u64) -> Option<Quantization>,
    ) -> WeightTable {
        Self::from_classified(shape, &classify(shape), dtype, q, per_layer_q)
    }

    pub fn from_classified(
        shape: &ModelShape,
        tensors: &[Classified],
        dtype: DType,
        q: Quantization,
        per_layer_q: &dyn Fn(u64) -> Option<Quantization>,
    ) -> WeightTable {
        let layers = shape.text.layers as usize;
        let mut table = WeightTable {
            sharded: vec![0; layers],
            replicated: vec![0; layers],
            text_fixed: 0,
            vision: 0,
            layer_f32: vec![0; layers],
        };
        for t in tensors {
            match t.part {
                Part::Layer(i) if (i as usize) < layers => {
                    let q = per_layer_q(i).unwrap_or(q);
                    let bytes = t.bytes(dtype, q, t.isq);
                    if t.split[usize::from(q != Quantization::None)] {
                        table.sharded[i as usize] = table.sharded[i as usize].saturating_add(bytes);
                    } else {
                        table.replicated[i as usize] =
                            table.replicated[i as usize].saturating_add(bytes);
                    }
                    let f32 = match t.dtype {
                        StoredDtype::Quantized { .. } | StoredDtype::I8 => t.stored,
                        _ => t.elements.saturating_mul(4),
                    };
                    table.layer_f32[i as usize] = table.layer_f32[i as usize].saturating_add(f32);
                }
                Part::Vision => {
                    table.vision =
                        table
                            .vision
                            .saturating_add(t.bytes(dtype, Quantization::None, false))
                }
                // mistral.rs's GGUF models dequantize the token embedding to
                // f32 (candle's `dequantize`), and a tied output head loads the
                // stored copy again.
                Part::Embedding if t.gguf_embedding => {
                    let tied = if shape.text.tie_word_embeddings {
                        t.stored
                    } else {
                        0
                    };
                    table.text_fixed = table
                        .text_fixed
                        .saturating_add(t.elements.saturating_mul(4).saturating_add(tied))
                }
                Part::Layer(_) | Part::Embedding | Part::LmHead | Part::FinalNorm | Part::Other => {
                    table.text_fixed = table.text_fixed.saturating_add(t.bytes(dtype, q, t.isq))
                }
            }
        }
        table
    }

    pub fn layer(&self, i: usize) -> u64 {
        self.sharded[i].saturating_add(self.replicated[i])
    }

    pub fn all_layers(&self) -> u64 {
        (0..self.sharded.len()).fold(0u64, |n, i| n.saturating_add(self.layer(i)))
    }

    pub fn total(&self) -> u64 {
        self.all_layers()
            .saturating_add(self.text_fixed)
            .saturating_add(self.vision)
    }
}

/// What a device runs, for the KV and activation terms.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    pub batch: u64,
    pub seq_len: u64,
    pub images: u64,
    pub image_size: (u64, u64),
}

/// How the runtime holds the KV cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cache {
    /// Paged attention on CUDA: blocks sized up front by
    /// `calculate_cache_config`, every layer alike.
    Paged,
    /// mistral.rs's growing cache (the CPU, or any plan with a layer on the
    /// CPU, which turns paged attention off): 512-token chunks per sequence.
    Growing,
}

/// KV elements one token takes in one layer on one rank, as mistral.rs's
/// model metadata reports them (`ModelConfigLike::kv_cache_elements_per_token`
/// in `paged_attention/config.rs`): `2 × kv_heads × max(k, v head dim)`, or
/// for latent attention under paged attention on CUDA the latent and the
/// rope key, `kv_lora_rank + qk_rope_head_dim`, which every rank holds whole.
pub fn kv_elements_per_token(shape: &ModelShape, shards: u64, cache: Cache) -> u64 {
    let t = &shape.text;
    let shards = shards.max(1);
    match (&t.attention, cache) {
        (Attention::Latent(m), Cache::Paged) => m.kv_lora_rank + m.qk_rope_head_dim,
        // Without paged attention the decompressed K (no-rope and rope parts)
        // and V of every local head (`deepseek2.rs`).
        (Attention::Latent(m), Cache::Growing) => {
            (t.heads / shards).max(1) * (m.qk_nope_head_dim + m.qk_rope_head_dim + m.v_head_dim)
        }
        (Attention::Standard, _) => {
            // gpt-oss reports all its KV heads on every rank (`gpt_oss.rs`).
            let heads = if Family::of(&shape.architecture) == Family::GptOss {
                t.kv_heads
            } else {
                // Fewer KV heads than ranks: each rank keeps one whole head
                // (`compute_kv_shard` replicates them).
                t.kv_heads.div_ceil(shards).max(1)
            };
            2 * heads * t.head_dim
        }
    }
}

/// `calculate_cache_config` (`paged_attention/mod.rs`) for
/// `MemoryGpuConfig::ContextSize(tokens)`, as deployctl launches it: the
/// tokens' bytes floored to whole MiB, then back to blocks, each division
/// floored. `layers` is the model's whole count and `elements` the per-token
/// figure above.
pub fn paged_blocks(
    tokens: u64,
    dtype_size: u64,
    block_size: u64,
    layers: u64,
    elements: u64,
) -> u64 {
    const MIB: u128 = 1 << 20;
    // In u128: the product of four untrusted numbers.
    let (tokens, dtype_size, block_size, layers, elements) = (
        u128::from(tokens),
        u128::from(dtype_size.max(1)),
        u128::from(block_size.max(1)),
        u128::from(layers.max(1)),
        u128::from(elements.max(1)),
    );
    let mb = tokens * dtype_size * layers * elements / MIB;
    saturate(mb * MIB / dtype_size / block_size / layers / elements)
}

/// A u128 figure as u64 bytes, saturating: past 16 EiB nothing fits anyway.
fn saturate(x: u128) -> u64 {
    u64::try_from(x).unwrap_or(u64::MAX)
}

/// KV-cache bytes of one layer for the whole workload.
pub fn kv_per_layer(
    shape: &ModelShape,
    w: &Workload,
    dtype: DType,
    kv: KvCacheDtype,
    shards: u64,
    settings: &Settings,
    cache: Cache,
) -> u64 {
    let bytes = match kv {
        KvCacheDtype::F8e4m3 => 1,
        KvCacheDtype::Auto => dtype_bytes(dtype),
    };
    let elements = kv_elements_per_token(shape, shards, cache);
    let tokens = match cache {
        Cache::Paged => {
            paged_blocks(
                w.seq_len * w.batch,
                bytes,
                settings.block_size,
                shape.text.layers,
                elements,
            ) * settings.block_size
        }
        Cache::Growing => w.seq_len.div_ceil(512).saturating_mul(512 * w.batch),
    };
    saturate(u128::from(elements) * u128::from(bytes) * u128::from(tokens))
}

/// Bytes of a hybrid's recurrent state on the device that holds it (the
/// first of a pipeline, every tensor-parallel rank): a pool of slots, one per
/// live sequence, that starts at 4 and doubles (`RecurrentStatePool`,
/// `kv_cache/hybrid_cache.rs`), with the old pool alive while it copies into
/// the new; and, under paged attention with prefix caching (mistral.rs's text
/// default of 16, `prefix_cacher.rs`), up to 16 × 8 = 128 snapshots of one
/// sequence's state for prefix hits.
pub fn recurrent_bytes(shape: &ModelShape, w: &Workload, dtype: DType, cache: Cache) -> u64 {
    let Some(r) = &shape.text.recurrent else {
        return 0;
    };
    let x = u128::from;
    let per_sequence = x(r.layers) * (x(r.conv) + x(r.state)) * x(dtype_bytes(dtype));
    let slots = w.batch.next_power_of_two().max(4);
    let growing = if slots > 4 { slots / 2 } else { 0 };
    let snapshots = match (cache, shape.modality) {
        (Cache::Paged, crate::model::Modality::Text) => 16 * 8,
        _ => 0,
    };
    saturate(x(slots + growing + snapshots) * per_sequence)
}

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

fn vision_activations(shape: &ModelShape, w: &Workload, dtype: DType) -> u128 {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Tensor;

    /// A catalog model laid out from its config.
    fn catalog(id: &str) -> ModelShape {
        let text = crate::model::catalog::lookup(id).unwrap().1.unwrap();
        crate::model::from_config(&serde_json::from_str(text).unwrap()).unwrap()
    }

    fn llama_8b() -> ModelShape {
        catalog("meta-llama/Llama-3.1-8B-Instruct")
    }

    #[test]
    fn kv_cache_matches_the_published_per_token_figure() {
        // Llama-3.1-8B in bf16: 2 × 32 layers × 8 KV heads × 128 × 2 bytes = 131,072
        // bytes per token (vLLM #10517 reports 3.81 GiB for 1952 blocks of 16).
        let shape = llama_8b();
        let s = Settings {
            block_size: 16,
            ..Settings::default()
        };
        let w = Workload {
            batch: 1,
            seq_len: 1952 * 16,
            images: 0,
            image_size: (0, 0),
        };
        let per_layer = kv_per_layer(
            &shape,
            &w,
            DType::Bf16,
            KvCacheDtype::Auto,
            1,
            &s,
            Cache::Paged,
        );
        assert_eq!(per_layer * 32 / (1952 * 16), 131_072);
        let gib = (per_layer * 32) as f64 / (1u64 << 30) as f64;
        assert!((gib - 3.8125).abs() < 0.001, "{gib}");
        // FP8 halves it; tensor parallelism over 8 splits the 8 KV heads.
        assert_eq!(
            kv_per_layer(
                &shape,
                &w,
                DType::Bf16,
                KvCacheDtype::F8e4m3,
                1,
                &s,
                Cache::Paged
            ),
            per_layer / 2
        );
        assert_eq!(
            kv_per_layer(
                &shape,
                &w,
                DType::Bf16,
                KvCacheDtype::Auto,
                8,
                &s,
                Cache::Paged
            ),
            per_layer / 8
        );
        // 16-way: fewer KV heads than ranks, so each rank keeps one whole head.
        assert_eq!(
            kv_per_layer(
                &shape,
                &w,
                DType::Bf16,
                KvCacheDtype::Auto,
                16,
                &s,
                Cache::Paged
            ),
            per_layer / 8
        );
    }

    /// The per-token KV figures 0.8.1 allocates on CUDA with paged attention:
    /// `layers × kv_cache_elements_per_token × 2 bytes` in bf16.
    #[test]
    fn moe_and_latent_models_cache_what_mistralrs_allocates_per_token() {
        for (id, per_token) in [
            // 32 layers × 2 × 8 KV heads × 128
            ("mistralai/Mixtral-8x7B-Instruct-v0.1", 32 * 2 * 8 * 128 * 2),
            // 48 layers × 2 × 4 KV heads × head_dim 128 (not hidden/heads = 64)
            ("Qwen/Qwen3-30B-A3B", 48 * 2 * 4 * 128 * 2),
            // 27 layers × (kv_lora_rank 512 + qk_rope_head_dim 64)
            ("deepseek-ai/DeepSeek-V2-Lite-Chat", 27 * 576 * 2),
        ] {
            let shape = catalog(id);
            let elements = kv_elements_per_token(&shape, 1, Cache::Paged);
            assert_eq!(shape.text.layers * elements * 2, per_token, "{id}");
        }
    }

    /// `calculate_cache_config`'s flooring: the tokens' bytes to whole MiB,
    /// then to whole blocks. DeepSeek-V3's latent cache (61 layers × 576
    /// elements) asked for 4,096 tokens in bf16 gets 274 MiB, 127 blocks of 32.
    #[test]
    fn paged_blocks_floor_as_calculate_cache_config_does() {
        assert_eq!(paged_blocks(4096, 2, 32, 61, 576), 127);
        assert_eq!(paged_blocks(32768, 2, 32, 61, 576), 1024);
        // Llama-3.1-8B: 32 layers × 2 × 8 × 128; 4,096 tokens come out exact.
        assert_eq!(paged_blocks(4096, 2, 32, 32, 2048), 128);
        // Too small a context floors to no MiB at all, and so no blocks.
        assert_eq!(paged_blocks(1, 2, 32, 2, 64), 0);
    }

    /// Qwen3-Next's 36 gated-delta-net layers of 48 (every 4th is full
    /// attention): conv (2·16·128 + 32·128) × 4 and state 32 × 128 × 128 a
    /// layer, 38.25 MiB a sequence in bf16.
    #[test]
    fn a_hybrid_holds_its_recurrent_state_per_sequence_and_per_snapshot() {
        let json = serde_json::json!({
            "architectures": ["Qwen3NextForCausalLM"], "hidden_size": 2048,
            "num_hidden_layers": 48, "num_attention_heads": 16, "num_key_value_heads": 2,
            "head_dim": 256, "intermediate_size": 5120, "vocab_size": 151936,
            "max_position_embeddings": 262144, "full_attention_interval": 4,
            "linear_num_key_heads": 16, "linear_num_value_heads": 32,
            "linear_key_head_dim": 128, "linear_value_head_dim": 128,
            "linear_conv_kernel_dim": 4,
        });
        let shape = crate::model::shape::from_config(&json).unwrap();
        let r = shape.text.recurrent.clone().unwrap();
        assert_eq!((r.layers, r.conv, r.state), (36, 8192 * 4, 32 * 128 * 128));
        let per_sequence = 36 * (8192 * 4 + 32 * 128 * 128) * 2;
        assert_eq!(per_sequence, 40_108_032);
        let w = Workload {
            batch: 2,
            seq_len: 4096,
            images: 0,
            image_size: (0, 0),
        };
        // Four slots, and 128 prefix-cache snapshots under paged attention.
        assert_eq!(
            recurrent_bytes(&shape, &w, DType::Bf16, Cache::Growing),
            4 * per_sequence
        );
        assert_eq!(
            recurrent_bytes(&shape, &w, DType::Bf16, Cache::Paged),
            (4 + 128) * per_sequence
        );
        // Nine sequences: a pool of 16, grown from 8 (both alive while it copies).
        let nine = Workload { batch: 9, ..w };
        assert_eq!(
            recurrent_bytes(&shape, &nine, DType::Bf16, Cache::Growing),
            24 * per_sequence
        );
    }

    /// Absurd hybrid and expert numbers in a config neither overflow nor fill
    /// memory: the state saturates, and the expert count is refused.
    #[test]
    fn absurd_hybrid_and_expert_numbers_are_contained() {
        let json = serde_json::json!({
            "architectures": ["Qwen3NextForCausalLM"], "hidden_size": 2048,
            "num_hidden_layers": 48, "num_attention_heads": 16, "intermediate_size": 5120,
            "vocab_size": 151936, "max_position_embeddings": 262144,
            "linear_num_key_heads": u64::MAX, "linear_num_value_heads": u64::MAX,
            "linear_key_head_dim": u64::MAX, "linear_value_head_dim": 2,
        });
        let shape = crate::model::shape::from_config(&json).unwrap();
        let w = Workload {
            batch: 65_536,
            seq_len: 1 << 24,
            images: 0,
            image_size: (0, 0),
        };
        assert_eq!(
            recurrent_bytes(&shape, &w, DType::F32, Cache::Paged),
            u64::MAX
        );
        let experts = serde_json::json!({
            "architectures": ["MixtralForCausalLM"], "hidden_size": 64,
            "num_hidden_layers": 10_000, "num_attention_heads": 4, "intermediate_size": 64,
            "vocab_size": 32, "max_position_embeddings": 64,
            "num_local_experts": 16_384, "num_experts_per_tok": 2,
        });
        let err = crate::model::shape::from_config(&experts).unwrap_err();
        assert!(err.0.contains("more than any model has"), "{}", err.0);
    }

    #[test]
    fn latent_attention_caches_the_latent_only_under_paged_attention() {
        let shape = catalog("deepseek-ai/DeepSeek-V2-Lite-Chat");
        // kv_lora_rank 512 + qk_rope_head_dim 64, whole on every rank.
        assert_eq!(kv_elements_per_token(&shape, 1, Cache::Paged), 576);
        assert_eq!(kv_elements_per_token(&shape, 4, Cache::Paged), 576);
        // Growing cache: 16 heads × (128 + 64 + 128).
        assert_eq!(kv_elements_per_token(&shape, 1, Cache::Growing), 16 * 320);
    }

    /// mistral.rs's GGUF models call `dequantize` on `token_embd.weight`.
    #[test]
    fn a_gguf_embedding_is_held_in_f32_and_again_as_stored_when_tied() {
        let mut shape = llama_8b();
        let q4k = StoredDtype::Quantized {
            block: 256,
            block_bytes: 144,
        };
        let embed = Tensor::new("token_embd.weight", vec![128_256, 4096], q4k);
        let stored = embed.bytes;
        shape.tensors = vec![embed];
        let fixed = |shape: &ModelShape| {
            WeightTable::new(shape, DType::Bf16, Quantization::None, &|_| None).text_fixed
        };
        shape.text.tie_word_embeddings = true;
        assert_eq!(fixed(&shape), 128_256 * 4096 * 4 + stored);
        shape.text.tie_word_embeddings = false;
        assert_eq!(fixed(&shape), 128_256 * 4096 * 4);
    }

    #[test]
    fn quantized_bytes_use_real_bits_per_weight() {
        assert_eq!(bits_per_weight(Quantization::Q4K), Some(4.5));
        assert_eq!(bits_per_weight(Quantization::Q8_0), Some(8.5));
        assert_eq!(bits_per_weight(Quantization::Q6K), Some(6.5625));
        assert_eq!(bits_per_weight(Quantization::Q2K), Some(2.625));
        let proj = Tensor::new(
            "model.layers.0.mlp.up_proj.weight",
            vec![14336, 4096],
            StoredDtype::Bf16,
        );
        let norm = Tensor::new(
            "model.layers.0.input_layernorm.weight",
            vec![4096],
            StoredDtype::Bf16,
        );
        let embed = Tensor::new(
            "model.embed_tokens.weight",
            vec![128_256, 4096],
            StoredDtype::Bf16,
        );
        assert_eq!(
            tensor_bytes(&proj, DType::Bf16, Quantization::Q4K, true),
            14336 * 4096 / 256 * 144
        );
        // Norms and embeddings are not quantized by mistral.rs.
        assert_eq!(
            tensor_bytes(
                &norm,
                DType::Bf16,
                Quantization::Q4K,
                rules::isq_converts(Family::Dense, &norm)
            ),
            4096 * 2
        );
        assert_eq!(
            tensor_bytes(
                &embed,
                DType::Bf16,
                Quantization::Q4K,
                rules::isq_converts(Family::Dense, &embed)
            ),
            128_256 * 4096 * 2
        );
        assert_eq!(
            tensor_bytes(&proj, DType::F32, Quantization::None, true),
            14336 * 4096 * 4
        );
    }

    #[test]
    fn attention_scores_dominate_long_prefill_without_flash_attention() {
        let shape = llama_8b();
        let s = Settings::default();
        let w = Workload {
            batch: 1,
            seq_len: 8192,
            images: 0,
            image_size: (0, 0),
        };
        let act = activations(&shape, &w, DType::Bf16, 1, false, &s);
        // hidden: 8192 × (3·4096 + (32 + 16)·128) × 2 = 301,989,888
        // scores: 2 × 32 × 1024 × 8192 × 2 = 1,073,741,824, plus the causal mask
        // 8192² × 2 = 134,217,728 (together larger than the MLP's 469,762,048)
        assert_eq!(act, 301_989_888 + 1_073_741_824 + 134_217_728);
        let flash = Settings {
            flash_attention: true,
            ..s
        };
        assert_eq!(
            activations(&shape, &w, DType::Bf16, 1, false, &flash),
            301_989_888 + 469_762_048
        );
    }

    #[test]
    fn qwen_vision_attention_spans_every_image_at_once() {
        let shape = catalog("Qwen/Qwen2.5-VL-3B-Instruct");
        // 1024 px rounds up to 1036 (a multiple of 14 × 2): 74 × 74 = 5476 patches,
        // merged 2 × 2 into 1369 tokens.
        assert_eq!(shape.image_tokens(1024, 1024), Some((1369, 5476)));
        let one = Workload {
            batch: 1,
            seq_len: 16,
            images: 1,
            image_size: (1024, 1024),
        };
        let p: u64 = 5476;
        let hidden = p * 4 * 1280 * 2;
        let scores = 2 * 16 * p * p * 2;
        let handed = 1369 * 2048 * 2;
        assert_eq!(
            vision_activations(&shape, &one, DType::Bf16),
            u128::from(hidden + scores + handed)
        );
        // Two images: twice the patches in one attention, plus the two masks.
        let two = Workload { images: 2, ..one };
        let t = 2 * p;
        assert_eq!(
            vision_activations(&shape, &two, DType::Bf16),
            u128::from(2 * hidden + 2 * 16 * t * t * 2 + 2 * t * t * 2 + 2 * handed)
        );
    }
}
