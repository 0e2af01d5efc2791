use super::activations::vision_activations;
use super::*;
use crate::model::shape::Family;
use crate::model::{ModelShape, StoredDtype, Tensor, rules};
use crate::units::{DType, KvCacheDtype, Quantization};

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
    let shape = crate::model::config_json::from_config(&json).unwrap();
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
    let shape = crate::model::config_json::from_config(&json).unwrap();
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
    let err = crate::model::config_json::from_config(&experts).unwrap_err();
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
