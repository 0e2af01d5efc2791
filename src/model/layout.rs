//! Tensors laid out from a `config.json`, as mistral.rs 0.8.1's loaders build
//! each architecture and as its Hugging Face checkpoints name them. Used when
//! the checkpoint's own headers are not at hand.

use super::shape::{Attention, Family, Mla, ModelShape, Moe, TextShape, VisionFamily};
use super::tensors::{StoredDtype, Tensor};

/// The tensors an architecture defines for `shape`, named as its Hugging Face
/// checkpoints name them, in the checkpoint's dtype.
pub fn tensors(shape: &ModelShape) -> Vec<Tensor> {
    let dtype = StoredDtype::from_torch(shape.torch_dtype.as_deref());
    let t = &shape.text;
    let family = Family::of(&shape.architecture);
    let gemma3 = shape.architecture.starts_with("Gemma3");
    let prefix = if gemma3 && shape.vision.is_some() {
        "language_model.model"
    } else {
        "model"
    };
    let mut out = Vec::new();
    let mut layers = Layers {
        out: &mut out,
        dtype,
        t,
        family,
    };
    layers.push(
        format!("{prefix}.embed_tokens.weight"),
        vec![t.vocab, t.hidden],
    );
    for i in 0..t.layers {
        let l = format!("{prefix}.layers.{i}");
        match &t.attention {
            Attention::Standard => layers.attention(&l),
            Attention::Latent(mla) => layers.latent_attention(&l, mla),
        }
        match &t.moe {
            Some(moe) if moe.is_sparse(i) => layers.experts(&l, moe),
            _ => layers.mlp(&format!("{l}.mlp"), t.intermediate),
        }
        let norms: &[&str] = if t.norms_per_layer == 4 {
            &[
                "input_layernorm",
                "post_attention_layernorm",
                "pre_feedforward_layernorm",
                "post_feedforward_layernorm",
            ]
        } else {
            &["input_layernorm", "post_attention_layernorm"]
        };
        for norm in norms {
            layers.norm(&format!("{l}.{norm}"));
        }
    }
    layers.norm(&format!("{prefix}.norm"));
    if !t.tie_word_embeddings {
        let head = if gemma3 && shape.vision.is_some() {
            "language_model.lm_head"
        } else {
            "lm_head"
        };
        layers.push(format!("{head}.weight"), vec![t.vocab, t.hidden]);
        // `lm_head_bias` (PhiMoE).
        if family == Family::PhiMoe {
            layers.push(format!("{head}.bias"), vec![t.vocab]);
        }
    }
    if let Some(v) = &shape.vision {
        let mut push = |name: String, dims: Vec<u64>| out.push(Tensor::new(name, dims, dtype));
        vision_tensors(v, t.hidden, &mut push);
    }
    out
}

/// Pushes the tensors of decoder layers, family by family.
struct Layers<'a> {
    out: &'a mut Vec<Tensor>,
    dtype: StoredDtype,
    t: &'a TextShape,
    family: Family,
}

impl Layers<'_> {
    fn push(&mut self, name: String, dims: Vec<u64>) {
        self.out.push(Tensor::new(name, dims, self.dtype));
    }

    /// `parent.leaf.weight` (and `.bias`). Names are joined with `concat`, one
    /// allocation each: DeepSeek-V3 has some 45,000 of them.
    fn linear(&mut self, parent: &str, leaf: &str, out: u64, inp: u64, bias: bool) {
        self.push([parent, ".", leaf, ".weight"].concat(), vec![out, inp]);
        if bias {
            self.push([parent, ".", leaf, ".bias"].concat(), vec![out]);
        }
    }

    /// RMSNorm, or LayerNorm with a bias (PhiMoE's `nn.LayerNorm`).
    fn norm(&mut self, name: &str) {
        self.push(format!("{name}.weight"), vec![self.t.hidden]);
        if self.family == Family::PhiMoe {
            self.push(format!("{name}.bias"), vec![self.t.hidden]);
        }
    }

    /// q, k, v and o with grouped KV heads. Biases: q, k and v under
    /// `attention_bias` or in the Qwen 2 family; o as well in PhiMoE and
    /// gpt-oss, whose `o_proj` takes the same flag. gpt-oss adds one learned
    /// attention sink per head (`self_attn.sinks`).
    fn attention(&mut self, l: &str) {
        let t = self.t;
        let (q, kv) = (t.heads * t.head_dim, t.kv_heads * t.head_dim);
        let a = format!("{l}.self_attn");
        self.linear(&a, "q_proj", q, t.hidden, t.qkv_bias);
        self.linear(&a, "k_proj", kv, t.hidden, t.qkv_bias);
        self.linear(&a, "v_proj", kv, t.hidden, t.qkv_bias);
        let o_bias = t.qkv_bias && matches!(self.family, Family::PhiMoe | Family::GptOss);
        self.linear(&a, "o_proj", t.hidden, q, o_bias);
        if t.qk_norm {
            self.push(format!("{a}.q_norm.weight"), vec![t.head_dim]);
            self.push(format!("{a}.k_norm.weight"), vec![t.head_dim]);
        }
        if self.family == Family::GptOss {
            self.push(format!("{a}.sinks"), vec![t.heads]);
        }
    }

    /// DeepSeek's latent attention (`models/deepseek2.rs`, `deepseek3.rs`):
    /// queries through `q_a_proj`/`q_b_proj` when `q_lora_rank` is set, else
    /// `q_proj`; one `kv_a_proj_with_mqa` to the latent and the shared rope
    /// key, and `kv_b_proj` back up to every head's K (no-rope part) and V.
    fn latent_attention(&mut self, l: &str, m: &Mla) {
        let t = self.t;
        let a = format!("{l}.self_attn");
        let q_head = m.qk_nope_head_dim + m.qk_rope_head_dim;
        match m.q_lora_rank {
            Some(rank) => {
                self.linear(&a, "q_a_proj", rank, t.hidden, false);
                self.push(format!("{a}.q_a_layernorm.weight"), vec![rank]);
                self.linear(&a, "q_b_proj", t.heads * q_head, rank, false);
            }
            None => self.linear(&a, "q_proj", t.heads * q_head, t.hidden, false),
        }
        self.linear(
            &a,
            "kv_a_proj_with_mqa",
            m.kv_lora_rank + m.qk_rope_head_dim,
            t.hidden,
            false,
        );
        self.push(format!("{a}.kv_a_layernorm.weight"), vec![m.kv_lora_rank]);
        self.linear(
            &a,
            "kv_b_proj",
            t.heads * (m.qk_nope_head_dim + m.v_head_dim),
            m.kv_lora_rank,
            false,
        );
        self.linear(&a, "o_proj", t.hidden, t.heads * m.v_head_dim, false);
    }

    /// A gated MLP: gate and up to `width`, down back to the hidden size.
    fn mlp(&mut self, m: &str, width: u64) {
        let h = self.t.hidden;
        self.linear(m, "gate_proj", width, h, false);
        self.linear(m, "up_proj", width, h, false);
        self.linear(m, "down_proj", h, width, false);
    }

    /// A sparse layer: the router, every routed expert, and the shared experts.
    fn experts(&mut self, l: &str, moe: &Moe) {
        let h = self.t.hidden;
        let (e, w) = (moe.experts, moe.expert_intermediate);
        match self.family {
            // `block_sparse_moe.gate` and `experts.{e}.w1/w3` (in), `w2` (out).
            Family::Mixtral | Family::PhiMoe => {
                let b = format!("{l}.block_sparse_moe");
                self.linear(&b, "gate", e, h, false);
                for x in 0..e {
                    let x = format!("{b}.experts.{x}");
                    self.linear(&x, "w1", w, h, false);
                    self.linear(&x, "w2", h, w, false);
                    self.linear(&x, "w3", w, h, false);
                }
            }
            // A biased router and the experts stacked in 3-D tensors, their
            // gate and up projections interleaved in one (`models/gpt_oss.rs`).
            Family::GptOss => {
                let m = format!("{l}.mlp");
                self.linear(&m, "router", e, h, true);
                let x = format!("{m}.experts");
                for (proj, out, inp) in [("gate_up_proj", 2 * w, h), ("down_proj", h, w)] {
                    if moe.mxfp4 {
                        // Two 4-bit codes a byte in blocks of 32, and one
                        // E8M0 scale byte a block, kept packed at run time.
                        let blocks = inp.div_ceil(32);
                        self.out.push(Tensor::new(
                            format!("{x}.{proj}_blocks"),
                            vec![e, out, blocks, 16],
                            StoredDtype::I8,
                        ));
                        self.out.push(Tensor::new(
                            format!("{x}.{proj}_scales"),
                            vec![e, out, blocks],
                            StoredDtype::I8,
                        ));
                    } else {
                        self.push(format!("{x}.{proj}"), vec![e, inp, out]);
                    }
                    self.push(format!("{x}.{proj}_bias"), vec![e, out]);
                }
            }
            // `mlp.gate` and `mlp.experts.{e}.{gate,up,down}_proj`; DeepSeek and
            // GLM-4-MoE add `shared_experts` and, for V3-style routing, the
            // gate's `e_score_correction_bias`.
            Family::Qwen3Moe | Family::DeepSeek | Family::Glm4Moe | Family::Dense => {
                let m = format!("{l}.mlp");
                self.linear(&m, "gate", e, h, false);
                if self.family == Family::Glm4Moe || moe.correction_bias {
                    self.push(format!("{m}.gate.e_score_correction_bias"), vec![e]);
                }
                for x in 0..e {
                    self.mlp(&format!("{m}.experts.{x}"), w);
                }
                if moe.shared_intermediate > 0 {
                    self.mlp(&format!("{m}.shared_experts"), moe.shared_intermediate);
                }
            }
        }
    }
}

fn vision_tensors(
    v: &super::shape::VisionShape,
    text_hidden: u64,
    push: &mut impl FnMut(String, Vec<u64>),
) {
    let d = v.hidden;
    match v.family {
        VisionFamily::Qwen2Vl | VisionFamily::Qwen25Vl => {
            let gated = v.family == VisionFamily::Qwen25Vl;
            push(
                "visual.patch_embed.proj.weight".into(),
                vec![
                    d,
                    v.in_channels,
                    v.temporal_patch_size,
                    v.patch_size,
                    v.patch_size,
                ],
            );
            for i in 0..v.layers {
                let b = format!("visual.blocks.{i}");
                for norm in ["norm1", "norm2"] {
                    push(format!("{b}.{norm}.weight"), vec![d]);
                    if !gated {
                        push(format!("{b}.{norm}.bias"), vec![d]);
                    }
                }
                push(format!("{b}.attn.qkv.weight"), vec![3 * d, d]);
                push(format!("{b}.attn.qkv.bias"), vec![3 * d]);
                push(format!("{b}.attn.proj.weight"), vec![d, d]);
                push(format!("{b}.attn.proj.bias"), vec![d]);
                if gated {
                    for proj in ["gate_proj", "up_proj"] {
                        push(format!("{b}.mlp.{proj}.weight"), vec![v.intermediate, d]);
                        push(format!("{b}.mlp.{proj}.bias"), vec![v.intermediate]);
                    }
                    push(format!("{b}.mlp.down_proj.weight"), vec![d, v.intermediate]);
                    push(format!("{b}.mlp.down_proj.bias"), vec![d]);
                } else {
                    push(format!("{b}.mlp.fc1.weight"), vec![v.intermediate, d]);
                    push(format!("{b}.mlp.fc1.bias"), vec![v.intermediate]);
                    push(format!("{b}.mlp.fc2.weight"), vec![d, v.intermediate]);
                    push(format!("{b}.mlp.fc2.bias"), vec![d]);
                }
            }
            let merged = d * v.spatial_merge_size * v.spatial_merge_size;
            push("visual.merger.ln_q.weight".into(), vec![d]);
            if !gated {
                push("visual.merger.ln_q.bias".into(), vec![d]);
            }
            push("visual.merger.mlp.0.weight".into(), vec![merged, merged]);
            push("visual.merger.mlp.0.bias".into(), vec![merged]);
            push(
                "visual.merger.mlp.2.weight".into(),
                vec![v.out_hidden, merged],
            );
            push("visual.merger.mlp.2.bias".into(), vec![v.out_hidden]);
        }
        VisionFamily::Siglip => {
            let side = v.image_size.unwrap_or(896) / v.patch_size;
            let e = "vision_tower.vision_model";
            push(
                format!("{e}.embeddings.patch_embedding.weight"),
                vec![d, v.in_channels, v.patch_size, v.patch_size],
            );
            push(format!("{e}.embeddings.patch_embedding.bias"), vec![d]);
            push(
                format!("{e}.embeddings.position_embedding.weight"),
                vec![side * side, d],
            );
            for i in 0..v.layers {
                let l = format!("{e}.encoder.layers.{i}");
                for proj in ["q_proj", "k_proj", "v_proj", "out_proj"] {
                    push(format!("{l}.self_attn.{proj}.weight"), vec![d, d]);
                    push(format!("{l}.self_attn.{proj}.bias"), vec![d]);
                }
                for norm in ["layer_norm1", "layer_norm2"] {
                    push(format!("{l}.{norm}.weight"), vec![d]);
                    push(format!("{l}.{norm}.bias"), vec![d]);
                }
                push(format!("{l}.mlp.fc1.weight"), vec![v.intermediate, d]);
                push(format!("{l}.mlp.fc1.bias"), vec![v.intermediate]);
                push(format!("{l}.mlp.fc2.weight"), vec![d, v.intermediate]);
                push(format!("{l}.mlp.fc2.bias"), vec![d]);
            }
            push(format!("{e}.post_layernorm.weight"), vec![d]);
            push(format!("{e}.post_layernorm.bias"), vec![d]);
            push(
                "multi_modal_projector.mm_input_projection_weight".into(),
                vec![d, text_hidden],
            );
            push(
                "multi_modal_projector.mm_soft_emb_norm.weight".into(),
                vec![d],
            );
        }
    }
}
