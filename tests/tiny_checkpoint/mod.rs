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

pub const LAYERS: usize = 4;
const HIDDEN: usize = 256;
const INTERMEDIATE: usize = 512;
const HEADS: usize = 4;
const KV_HEADS: usize = 2;
const SPECIALS: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
const VOCAB: usize = 256 + SPECIALS.len();

/// Mixtral's experts: enough of them, and wide enough, that their weights
/// (4 layers × 8 experts × 3 × 256 × 1024 f32 = 96 MiB) dwarf the rest, so a
/// plan that priced one dense MLP per layer would be off eightfold.
pub const EXPERTS: usize = 8;
const EXPERT_INTERMEDIATE: usize = 1024;

/// Which architecture to write.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    Llama,
    /// `MixtralForCausalLM`: every layer routes each token to 2 of 8 experts.
    Mixtral,
}

/// Writes config.json, tokenizer.json, tokenizer_config.json (with a ChatML
/// template) and model.safetensors (f32) of a tiny `arch` model into `dir`.
pub fn write_arch(dir: &Path, arch: Arch) {
    let head_dim = HIDDEN / HEADS;
    let mut config = json!({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
        "hidden_size": HIDDEN, "intermediate_size": INTERMEDIATE, "vocab_size": VOCAB,
        "num_hidden_layers": LAYERS, "num_attention_heads": HEADS, "num_key_value_heads": KV_HEADS,
        "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "max_position_embeddings": 1024,
        "tie_word_embeddings": false, "torch_dtype": "float32",
        "bos_token_id": 256, "eos_token_id": 258,
    });
    if arch == Arch::Mixtral {
        config["architectures"] = json!(["MixtralForCausalLM"]);
        config["model_type"] = json!("mixtral");
        config["intermediate_size"] = json!(EXPERT_INTERMEDIATE);
        config["num_local_experts"] = json!(EXPERTS);
        config["num_experts_per_tok"] = json!(2);
        config["sliding_window"] = json!(null);
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
    for l in 0..LAYERS {
        let p = format!("model.layers.{l}");
        shapes.extend([
            (format!("{p}.input_layernorm.weight"), vec![HIDDEN]),
            (format!("{p}.post_attention_layernorm.weight"), vec![HIDDEN]),
            (
                format!("{p}.self_attn.q_proj.weight"),
                vec![HEADS * head_dim, HIDDEN],
            ),
            (
                format!("{p}.self_attn.k_proj.weight"),
                vec![KV_HEADS * head_dim, HIDDEN],
            ),
            (
                format!("{p}.self_attn.v_proj.weight"),
                vec![KV_HEADS * head_dim, HIDDEN],
            ),
            (
                format!("{p}.self_attn.o_proj.weight"),
                vec![HIDDEN, HEADS * head_dim],
            ),
        ]);
        match arch {
            Arch::Llama => shapes.extend([
                (
                    format!("{p}.mlp.gate_proj.weight"),
                    vec![INTERMEDIATE, HIDDEN],
                ),
                (
                    format!("{p}.mlp.up_proj.weight"),
                    vec![INTERMEDIATE, HIDDEN],
                ),
                (
                    format!("{p}.mlp.down_proj.weight"),
                    vec![HIDDEN, INTERMEDIATE],
                ),
            ]),
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
