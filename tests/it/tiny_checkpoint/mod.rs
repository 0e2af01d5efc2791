//! A tiny random-weight Llama checkpoint, written by the tests themselves so
//! that the safetensors launch paths (layer maps, topologies, per-range
//! quantization, dtype) run a real model without downloading one.
//!
//! Its dimensions are the smallest that every quantization mistral.rs applies
//! on the CPU accepts: k-quants pack 256 weights per block, so every linear
//! layer's input width is a multiple of 256.

use std::path::Path;

use safetensors::tensor::{Dtype, TensorView};
use serde_json::{Value, json};

pub(crate) const LAYERS: usize = 4;
const HIDDEN: usize = 256;
const INTERMEDIATE: usize = 512;
const HEADS: usize = 4;
const KV_HEADS: usize = 2;
const SPECIALS: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
const VOCAB: usize = 256 + SPECIALS.len();

/// The experts of the MoE variants: enough of them, and wide enough, that
/// their weights (Mixtral: 4 layers × 8 experts × 3 × 256 × 1024 f32 =
/// 96 MiB) dwarf the rest, so a plan that priced one dense MLP per layer
/// would be off eightfold.
pub(crate) const EXPERTS: usize = 8;
pub(crate) const EXPERT_INTERMEDIATE: usize = 1024;

/// DeepSeek V2's latent attention: the latent width and the head dims.
const KV_LORA_RANK: usize = 128;
const QK_NOPE: usize = 64;
const QK_ROPE: usize = 32;
/// As wide as the query head (`qk_nope + qk_rope`): mistral.rs 0.8.1's CPU
/// attention fails on a narrower V (`deployctl::plan::cpu_unsupported`).
const V_HEAD: usize = QK_NOPE + QK_ROPE;

/// Which architecture to write.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Arch {
    Llama,
    /// `MixtralForCausalLM`: every layer routes each token to 2 of 8 experts.
    Mixtral,
    /// `DeepseekV2ForCausalLM`: latent attention, a dense first layer, then 8
    /// routed experts stacked in 3-D tensors and one shared expert.
    DeepSeekV2,
    /// `Qwen3MoeForCausalLM`, experts stored one tensor each, as the hub's are.
    Qwen3Moe,
}

/// Writes config.json, tokenizer.json, tokenizer_config.json (with a ChatML
/// template) and model.safetensors (f32) of a tiny `arch` model into `dir`.
pub(crate) fn write_arch(dir: &Path, arch: Arch) {
    let head_dim = HIDDEN / HEADS;
    let mut config = json!({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
        "hidden_size": HIDDEN, "intermediate_size": INTERMEDIATE, "vocab_size": VOCAB,
        "num_hidden_layers": LAYERS, "num_attention_heads": HEADS, "num_key_value_heads": KV_HEADS,
        "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "max_position_embeddings": 1024,
        "tie_word_embeddings": false, "torch_dtype": "float32",
        "bos_token_id": 256, "eos_token_id": 258,
    });
    let extra = match arch {
        Arch::Llama => json!({}),
        Arch::Mixtral => json!({
            "architectures": ["MixtralForCausalLM"], "model_type": "mixtral",
            "intermediate_size": EXPERT_INTERMEDIATE, "num_local_experts": EXPERTS,
            "num_experts_per_tok": 2, "sliding_window": null,
        }),
        Arch::DeepSeekV2 => json!({
            "architectures": ["DeepseekV2ForCausalLM"], "model_type": "deepseek_v2",
            "num_key_value_heads": HEADS, "attention_bias": false, "q_lora_rank": null,
            "kv_lora_rank": KV_LORA_RANK, "qk_nope_head_dim": QK_NOPE,
            "qk_rope_head_dim": QK_ROPE, "v_head_dim": V_HEAD,
            "n_routed_experts": EXPERTS, "n_shared_experts": 1,
            "moe_intermediate_size": EXPERT_INTERMEDIATE, "num_experts_per_tok": 2,
            "first_k_dense_replace": 1, "moe_layer_freq": 1, "topk_method": "greedy",
            "n_group": 1, "topk_group": 1, "scoring_func": "softmax", "norm_topk_prob": false,
            "routed_scaling_factor": 1.0,
        }),
        Arch::Qwen3Moe => json!({
            "architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe",
            "head_dim": head_dim, "num_experts": EXPERTS, "num_experts_per_tok": 2,
            "moe_intermediate_size": EXPERT_INTERMEDIATE, "decoder_sparse_step": 1,
            "mlp_only_layers": [], "norm_topk_prob": true, "max_window_layers": LAYERS,
            "use_sliding_window": false, "sliding_window": null,
        }),
    };
    for (key, value) in extra.as_object().unwrap() {
        config[key] = value.clone();
    }
    write_json(&dir.join("config.json"), &config);
    write_json(&dir.join("tokenizer.json"), &tokenizer());
    write_json(
        &dir.join("tokenizer_config.json"),
        &json!({
            "bos_token": SPECIALS[0], "eos_token": SPECIALS[2], "unk_token": null,
            "chat_template": "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}",
        }),
    );

    let mut shapes: Vec<(String, Vec<usize>)> = vec![
        ("model.embed_tokens.weight".into(), vec![VOCAB, HIDDEN]),
        ("model.norm.weight".into(), vec![HIDDEN]),
        ("lm_head.weight".into(), vec![VOCAB, HIDDEN]),
    ];
    let mlp = |p: &str, width: usize| {
        vec![
            (format!("{p}.gate_proj.weight"), vec![width, HIDDEN]),
            (format!("{p}.up_proj.weight"), vec![width, HIDDEN]),
            (format!("{p}.down_proj.weight"), vec![HIDDEN, width]),
        ]
    };
    for l in 0..LAYERS {
        let p = format!("model.layers.{l}");
        shapes.extend([
            (format!("{p}.input_layernorm.weight"), vec![HIDDEN]),
            (format!("{p}.post_attention_layernorm.weight"), vec![HIDDEN]),
        ]);
        let a = format!("{p}.self_attn");
        if arch == Arch::DeepSeekV2 {
            shapes.extend([
                (
                    format!("{a}.q_proj.weight"),
                    vec![HEADS * (QK_NOPE + QK_ROPE), HIDDEN],
                ),
                (
                    format!("{a}.kv_a_proj_with_mqa.weight"),
                    vec![KV_LORA_RANK + QK_ROPE, HIDDEN],
                ),
                (format!("{a}.kv_a_layernorm.weight"), vec![KV_LORA_RANK]),
                (
                    format!("{a}.kv_b_proj.weight"),
                    vec![HEADS * (QK_NOPE + V_HEAD), KV_LORA_RANK],
                ),
                (format!("{a}.o_proj.weight"), vec![HIDDEN, HEADS * V_HEAD]),
            ]);
        } else {
            shapes.extend([
                (format!("{a}.q_proj.weight"), vec![HEADS * head_dim, HIDDEN]),
                (
                    format!("{a}.k_proj.weight"),
                    vec![KV_HEADS * head_dim, HIDDEN],
                ),
                (
                    format!("{a}.v_proj.weight"),
                    vec![KV_HEADS * head_dim, HIDDEN],
                ),
                (format!("{a}.o_proj.weight"), vec![HIDDEN, HEADS * head_dim]),
            ]);
        }
        if arch == Arch::Qwen3Moe {
            shapes.extend([
                (format!("{a}.q_norm.weight"), vec![head_dim]),
                (format!("{a}.k_norm.weight"), vec![head_dim]),
            ]);
        }
        match arch {
            Arch::Llama => shapes.extend(mlp(&format!("{p}.mlp"), INTERMEDIATE)),
            Arch::DeepSeekV2 if l == 0 => shapes.extend(mlp(&format!("{p}.mlp"), INTERMEDIATE)),
            Arch::Mixtral => {
                let moe = format!("{p}.block_sparse_moe");
                shapes.push((format!("{moe}.gate.weight"), vec![EXPERTS, HIDDEN]));
                for e in 0..EXPERTS {
                    let x = format!("{moe}.experts.{e}");
                    shapes.extend([
                        (format!("{x}.w1.weight"), vec![EXPERT_INTERMEDIATE, HIDDEN]),
                        (format!("{x}.w2.weight"), vec![HIDDEN, EXPERT_INTERMEDIATE]),
                        (format!("{x}.w3.weight"), vec![EXPERT_INTERMEDIATE, HIDDEN]),
                    ]);
                }
            }
            // The stacked form mistral.rs's CPU experts load (`PackedExperts`).
            Arch::DeepSeekV2 => {
                let m = format!("{p}.mlp");
                shapes.extend([
                    (format!("{m}.gate.weight"), vec![EXPERTS, HIDDEN]),
                    (
                        format!("{m}.experts.gate_up_proj"),
                        vec![EXPERTS, HIDDEN, 2 * EXPERT_INTERMEDIATE],
                    ),
                    (
                        format!("{m}.experts.down_proj"),
                        vec![EXPERTS, EXPERT_INTERMEDIATE, HIDDEN],
                    ),
                ]);
                shapes.extend(mlp(&format!("{m}.shared_experts"), EXPERT_INTERMEDIATE));
            }
            Arch::Qwen3Moe => {
                let m = format!("{p}.mlp");
                shapes.push((format!("{m}.gate.weight"), vec![EXPERTS, HIDDEN]));
                for e in 0..EXPERTS {
                    shapes.extend(mlp(&format!("{m}.experts.{e}"), EXPERT_INTERMEDIATE));
                }
            }
        }
    }
    let mut random = Lcg(0x5eed);
    let data: Vec<Vec<u8>> = shapes
        .iter()
        .map(|(name, dims)| {
            let n: usize = dims.iter().product();
            // Norms at one, everything else small: a stable, deterministic model.
            let values: Vec<f32> = if name.ends_with("norm.weight") {
                vec![1.0; n]
            } else {
                (0..n).map(|_| random.next() * 0.04).collect()
            };
            values.iter().flat_map(|v| v.to_le_bytes()).collect()
        })
        .collect();
    let views: Vec<(String, TensorView<'_>)> = shapes
        .iter()
        .zip(&data)
        .map(|((name, dims), bytes)| {
            (
                name.clone(),
                TensorView::new(Dtype::F32, dims.clone(), bytes).unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, &dir.join("model.safetensors")).unwrap();
}

/// A byte-level BPE vocabulary of the 256 byte symbols and the specials, no
/// merges: mistral.rs needs a ByteLevel (or ByteFallback) decoder.
fn tokenizer() -> Value {
    let mut vocab = serde_json::Map::new();
    for (id, symbol) in byte_symbols().into_iter().enumerate() {
        vocab.insert(symbol.to_string(), json!(id));
    }
    let added: Vec<Value> = SPECIALS
        .iter()
        .enumerate()
        .map(|(i, s)| {
            vocab.insert((*s).into(), json!(256 + i));
            json!({"id": 256 + i, "content": s, "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    let byte_level = json!({"type": "ByteLevel", "add_prefix_space": false,
                            "trim_offsets": true, "use_regex": true});
    json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": added,
        "normalizer": null, "pre_tokenizer": byte_level, "post_processor": null,
        "decoder": byte_level,
        "model": {"type": "BPE", "dropout": null, "unk_token": null,
                  "continuing_subword_prefix": null, "end_of_word_suffix": null,
                  "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                  "vocab": vocab, "merges": []},
    })
}

/// GPT-2's printable stand-ins for the 256 bytes, in byte order.
fn byte_symbols() -> Vec<char> {
    let printable = |b: u32| (33..=126).contains(&b) || (161..=172).contains(&b) || b >= 174;
    let mut shifted = 0;
    (0..256u32)
        .map(|b| {
            if printable(b) {
                char::from_u32(b).unwrap()
            } else {
                shifted += 1;
                char::from_u32(255 + shifted).unwrap()
            }
        })
        .collect()
}

fn write_json(path: &Path, value: &Value) {
    std::fs::write(path, serde_json::to_vec_pretty(value).unwrap()).unwrap();
}

/// Deterministic weights without a dependency: values in [-1, 1).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}
