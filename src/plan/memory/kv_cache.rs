//! The KV cache: elements a token takes, paged blocks, and the bytes per layer.

use crate::model::shape::Family;
use crate::model::{Attention, ModelShape};
use crate::units::{DType, KvCacheDtype};

use super::{Settings, Workload, dtype_bytes};

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
pub(super) fn saturate(x: u128) -> u64 {
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
