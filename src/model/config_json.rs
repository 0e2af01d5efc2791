//! Reading a Hugging Face `config.json` into a model shape: every key the
//! layout needs, each checked to be a count, under every name the families
//! spell it.

use serde_json::Value as Json;

use super::shape::{
    Attention, Family, Mla, Modality, ModelShape, Moe, Recurrent, TextShape, VisionFamily,
    VisionShape,
};

/// Why a config could not be read as a model shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeError(pub String);

fn get<'a>(json: &'a Json, key: &str) -> Option<&'a Json> {
    json.get(key)
}

fn missing(key: &str) -> ShapeError {
    ShapeError(format!("`{key}` is missing"))
}

/// A key that is set, but not to a whole number a count can be.
fn not_a_count(key: &str, value: &Json) -> ShapeError {
    let shown = value.to_string();
    let shown = if shown.len() > 40 {
        "a long value".to_owned()
    } else {
        format!("`{shown}`")
    };
    ShapeError(format!("`{key}` is {shown}, not a whole number"))
}

fn uint(json: &Json, key: &str) -> Option<u64> {
    get(json, key).and_then(Json::as_u64)
}

/// Keys of Hugging Face configs that change which tensors a model has or how
/// large its KV cache is. A config that sets one the architecture's reader
/// does not take is reported, never silently ignored.
const LAYOUT_KEYS: &[&str] = &[
    "num_local_experts",
    "num_experts",
    "n_routed_experts",
    "n_shared_experts",
    "moe_intermediate_size",
    "shared_expert_intermediate_size",
    "first_k_dense_replace",
    "moe_layer_freq",
    "decoder_sparse_step",
    "mlp_only_layers",
    "interleave_moe_layer_step",
    "intermediate_size_mlp",
    "q_lora_rank",
    "kv_lora_rank",
    "qk_nope_head_dim",
    "qk_rope_head_dim",
    "v_head_dim",
    "full_attention_interval",
    "linear_num_key_heads",
    "linear_num_value_heads",
    "linear_key_head_dim",
    "linear_value_head_dim",
    "linear_conv_kernel_dim",
    "mamba_d_state",
    "mamba_n_heads",
    "mamba_d_conv",
    "mamba_expand",
    "mamba_n_groups",
    "mamba_d_head",
    "layers_block_type",
    "num_kv_shared_layers",
    "hidden_size_per_layer_input",
    "altup_num_inputs",
    "laurel_rank",
    "num_nextn_predict_layers",
];

/// Whether a config value sets something: not null, false, 0 or empty.
fn is_set(v: &Json) -> bool {
    match v {
        Json::Null | Json::Bool(false) => false,
        Json::Number(n) => n.as_f64() != Some(0.0),
        Json::Array(a) => !a.is_empty(),
        Json::String(s) => !s.is_empty(),
        _ => true,
    }
}

/// Reads a text config, remembering which keys it took.
struct Reader<'a> {
    text: &'a Json,
    top: &'a Json,
    read: std::cell::RefCell<Vec<&'static str>>,
}

impl<'a> Reader<'a> {
    fn value(&self, key: &'static str) -> Option<&'a Json> {
        self.read.borrow_mut().push(key);
        get(self.text, key).or_else(|| get(self.top, key))
    }

    fn uint(&self, key: &'static str) -> Option<u64> {
        self.value(key).and_then(Json::as_u64)
    }

    fn need(&self, key: &'static str) -> Result<u64, ShapeError> {
        match self.value(key) {
            None | Some(Json::Null) => Err(missing(key)),
            Some(v) => v.as_u64().ok_or_else(|| not_a_count(key, v)),
        }
    }

    /// Layout keys the config sets that were never read.
    fn unread(&self) -> Vec<String> {
        let read = self.read.borrow();
        LAYOUT_KEYS
            .iter()
            .filter(|k| !read.contains(k))
            .filter(|k| {
                get(self.text, k)
                    .or_else(|| get(self.top, k))
                    .is_some_and(is_set)
            })
            .map(|k| (*k).to_owned())
            .collect()
    }
}

/// Reads the shape from a Hugging Face `config.json`, without its tensors
/// (`model::layout` lays those out). Text settings may sit at the top level or
/// in `text_config` (Gemma 3, newer Qwen2.5-VL exports).
pub fn from_config(config: &Json) -> Result<ModelShape, ShapeError> {
    let architecture = get(config, "architectures")
        .and_then(Json::as_array)
        .and_then(|a| a.first())
        .and_then(Json::as_str)
        .ok_or_else(|| ShapeError("`architectures` is missing".into()))?
        .to_owned();
    let model_type = get(config, "model_type")
        .and_then(Json::as_str)
        .unwrap_or_default();
    let r = Reader {
        text: get(config, "text_config").unwrap_or(config),
        top: config,
        read: Default::default(),
    };
    // Gemma 3 configs leave out what equals transformers' `Gemma3TextConfig`
    // defaults; fill those in from the library's published defaults.
    let gemma3 = model_type == "gemma3" || architecture.starts_with("Gemma3");
    let text_uint = |key: &'static str, gemma_default: u64| -> Result<u64, ShapeError> {
        match r.value(key) {
            Some(v) if !v.is_null() => v.as_u64().ok_or_else(|| not_a_count(key, v)),
            _ if gemma3 => Ok(gemma_default),
            _ => Err(missing(key)),
        }
    };
    let hidden = text_uint("hidden_size", 2304)?;
    let heads = text_uint("num_attention_heads", 8)?;
    let kv_heads = r
        .uint("num_key_value_heads")
        .or(if gemma3 { Some(4) } else { None })
        .unwrap_or(heads);
    let head_dim = r
        .uint("head_dim")
        .or(if gemma3 { Some(256) } else { None })
        .unwrap_or(hidden / heads.max(1));
    let layers = text_uint("num_hidden_layers", 26)?;
    for (key, value) in [
        ("num_hidden_layers", layers),
        ("num_attention_heads", heads),
        ("hidden_size", hidden),
        ("num_key_value_heads", kv_heads),
        ("head_dim", head_dim),
    ] {
        if value == 0 {
            return Err(ShapeError(format!(
                "`{key}` is 0: a model has at least one"
            )));
        }
    }
    // Past these a config describes no real model, and sums over it would
    // overflow: refuse it rather than plan it.
    for (key, value, max) in [
        ("num_hidden_layers", layers, 10_000),
        ("hidden_size", hidden, 1 << 20),
        ("num_attention_heads", heads, 1 << 14),
        ("num_key_value_heads", kv_heads, 1 << 14),
        ("head_dim", head_dim, 1 << 14),
    ] {
        if value > max {
            return Err(ShapeError(format!(
                "`{key}` is {value}, more than any model has (at most {max})"
            )));
        }
    }
    let family = Family::of(&architecture);
    let attention = match family {
        Family::DeepSeek => Attention::Latent(Mla {
            q_lora_rank: r.uint("q_lora_rank"),
            kv_lora_rank: r.need("kv_lora_rank")?,
            qk_nope_head_dim: r.need("qk_nope_head_dim")?,
            qk_rope_head_dim: r.need("qk_rope_head_dim")?,
            v_head_dim: r.need("v_head_dim")?,
        }),
        _ => Attention::Standard,
    };
    let moe = moe(&r, family, layers)?;
    let intermediate = match family {
        // gpt-oss names its expert width `intermediate_size` and has no dense MLP.
        Family::GptOss | Family::Mixtral | Family::PhiMoe => 0,
        _ => text_uint("intermediate_size", 9216)?,
    };
    let mut text = TextShape {
        layers,
        hidden,
        heads,
        kv_heads,
        head_dim,
        intermediate,
        vocab: text_uint("vocab_size", 262_208)?,
        max_position_embeddings: text_uint("max_position_embeddings", 131_072)?,
        tie_word_embeddings: r
            .value("tie_word_embeddings")
            .and_then(Json::as_bool)
            .unwrap_or(gemma3),
        qkv_bias: model_type.starts_with("qwen2")
            || architecture.starts_with("Qwen2")
            || r.value("attention_bias").and_then(Json::as_bool) == Some(true),
        qk_norm: gemma3
            || model_type.starts_with("qwen3")
            || r.value("use_qk_norm").and_then(Json::as_bool) == Some(true),
        norms_per_layer: if gemma3 || model_type.starts_with("gemma2") {
            4
        } else {
            2
        },
        attention,
        moe,
        recurrent: recurrent(&r, &architecture, layers, hidden),
        unread_keys: Vec::new(),
    };
    for dim in [text.intermediate, text.vocab] {
        if dim > 1 << 24 {
            return Err(ShapeError(format!(
                "a width of {dim} is more than any model has"
            )));
        }
    }
    let vision = match get(config, "vision_config") {
        Some(v) => Some(vision_shape(v, config, &architecture, &text)?),
        None => None,
    };
    let torch_dtype = r
        .value("torch_dtype")
        .and_then(Json::as_str)
        .map(str::to_owned);
    text.unread_keys = r.unread();
    Ok(ModelShape {
        architecture,
        modality: if vision.is_some() {
            Modality::Multimodal
        } else {
            Modality::Text
        },
        torch_dtype,
        text,
        vision,
        tensors: Vec::new(),
        exact_tensors: false,
    })
}

/// The recurrent state of the hybrids, as their mistral.rs 0.8.1 models size
/// the `RecurrentLayerConfig` of each recurrent layer.
fn recurrent(r: &Reader<'_>, architecture: &str, layers: u64, hidden: u64) -> Option<Recurrent> {
    match architecture {
        // `models/qwen3_next.rs`: layer i is full attention when
        // `(i + 1) % full_attention_interval == 0`, else a gated delta net with
        // conv `[2·kd + vd, kernel]` and state `[nv, dk, dv]`.
        "Qwen3NextForCausalLM" => {
            let interval = r.uint("full_attention_interval").unwrap_or(4).max(1);
            let (nk, nv) = (
                r.uint("linear_num_key_heads")?,
                r.uint("linear_num_value_heads")?,
            );
            let (dk, dv) = (
                r.uint("linear_key_head_dim")?,
                r.uint("linear_value_head_dim")?,
            );
            let kernel = r.uint("linear_conv_kernel_dim").unwrap_or(4);
            // Saturating: these numbers are unchecked config input.
            let mul = |a: u64, b: u64| a.saturating_mul(b);
            Some(Recurrent {
                layers: layers - layers / interval,
                conv: mul(mul(2, mul(nk, dk)).saturating_add(mul(nv, dv)), kernel),
                state: mul(mul(nv, dk), dv),
            })
        }
        // `models/granite.rs`: `layer_types` marks Mamba layers; conv
        // `[expand·h + 2·groups·d_state, d_conv]`, state `[heads, d_head, d_state]`.
        "GraniteMoeHybridForCausalLM" => {
            let mamba = r
                .value("layer_types")
                .and_then(Json::as_array)?
                .iter()
                .filter(|t| t.as_str() == Some("mamba"))
                .count() as u64;
            let expand = r.uint("mamba_expand").unwrap_or(2);
            let heads = r.uint("mamba_n_heads").unwrap_or(128).max(1);
            let groups = r.uint("mamba_n_groups").unwrap_or(1);
            let d_state = r.uint("mamba_d_state").unwrap_or(256);
            let mul = |a: u64, b: u64| a.saturating_mul(b);
            let d_head = r
                .uint("mamba_d_head")
                .unwrap_or(mul(expand, hidden) / heads);
            let d_conv = r.uint("mamba_d_conv").unwrap_or(4);
            (mamba > 0).then(|| Recurrent {
                layers: mamba,
                conv: mul(
                    mul(expand, hidden).saturating_add(mul(2, mul(groups, d_state))),
                    d_conv,
                ),
                state: mul(mul(heads, d_head), d_state),
            })
        }
        _ => None,
    }
}

/// The experts of a MoE family, as its mistral.rs 0.8.1 model reads them.
fn moe(r: &Reader<'_>, family: Family, layers: u64) -> Result<Option<Moe>, ShapeError> {
    let count = |key| -> Result<u64, ShapeError> {
        let n = r.need(key)?;
        if n == 0 || n > 1 << 14 {
            return Err(ShapeError(format!("`{key}` is {n}, not an expert count")));
        }
        Ok(n)
    };
    let all = vec![true; layers as usize];
    let moe = match family {
        Family::Dense => return Ok(None),
        // `models/mixtral.rs` and `models/phi3_5_moe.rs`: every layer routes
        // over `num_local_experts` experts of `intermediate_size`.
        Family::Mixtral | Family::PhiMoe => Moe {
            experts: count("num_local_experts")?,
            active: count("num_experts_per_tok")?,
            expert_intermediate: r.need("intermediate_size")?,
            shared_intermediate: 0,
            correction_bias: false,
            mxfp4: false,
            sparse_layers: all,
        },
        // `models/gpt_oss.rs`: `num_local_experts` (`experts_per_token` active).
        Family::GptOss => Moe {
            experts: count("num_local_experts")?,
            active: r
                .uint("experts_per_token")
                .or_else(|| r.uint("num_experts_per_tok"))
                .unwrap_or(4),
            expert_intermediate: r.need("intermediate_size")?,
            shared_intermediate: 0,
            correction_bias: false,
            mxfp4: r
                .value("quantization_config")
                .and_then(|q| q.get("quant_method"))
                .and_then(Json::as_str)
                == Some("mxfp4"),
            sparse_layers: all,
        },
        // `models/qwen3_moe.rs`: layer i is sparse unless listed in
        // `mlp_only_layers`, and when `(i + 1) % decoder_sparse_step == 0`.
        Family::Qwen3Moe => {
            let step = r.uint("decoder_sparse_step").unwrap_or(1).max(1);
            let dense: Vec<u64> = r
                .value("mlp_only_layers")
                .and_then(Json::as_array)
                .map(|a| a.iter().filter_map(Json::as_u64).collect())
                .unwrap_or_default();
            Moe {
                experts: count("num_experts")?,
                active: count("num_experts_per_tok")?,
                expert_intermediate: r.need("moe_intermediate_size")?,
                shared_intermediate: 0,
                correction_bias: false,
                mxfp4: false,
                sparse_layers: (0..layers)
                    .map(|i| !dense.contains(&i) && (i + 1) % step == 0)
                    .collect(),
            }
        }
        // `models/deepseek2.rs`, `deepseek3.rs`, `glm4_moe.rs`: layer i is
        // sparse from `first_k_dense_replace` on, every `moe_layer_freq`-th.
        Family::DeepSeek | Family::Glm4Moe => {
            // The checkpoint's multi-token-prediction layer (past
            // `num_hidden_layers`) is never loaded: the layer loops stop at
            // `num_hidden_layers` (`deepseek3.rs`, `glm4_moe.rs`).
            let _ = r.value("num_nextn_predict_layers");
            let first_dense = r.uint("first_k_dense_replace").unwrap_or(0);
            let freq = r.uint("moe_layer_freq").unwrap_or(1).max(1);
            let shared = r.uint("n_shared_experts").unwrap_or(0);
            let width = r.need("moe_intermediate_size")?;
            Moe {
                experts: count("n_routed_experts")?,
                active: count("num_experts_per_tok")?,
                expert_intermediate: width,
                // GLM-4-MoE builds one shared expert of `moe_intermediate_size`
                // whatever `n_shared_experts` says (`glm4_moe.rs`); DeepSeek one
                // MLP of `moe_intermediate_size × n_shared_experts`.
                shared_intermediate: match (family, shared) {
                    (_, 0) => 0,
                    (Family::Glm4Moe, _) => width,
                    _ => shared * width,
                },
                correction_bias: r.value("topk_method").and_then(Json::as_str) == Some("noaux_tc"),
                mxfp4: false,
                sparse_layers: (0..layers)
                    .map(|i| i >= first_dense && i % freq == 0)
                    .collect(),
            }
        }
    };
    // Each expert is laid out as its own tensors: a count no model has would
    // fill memory before the plan says anything.
    let sparse = moe.sparse_layers.iter().filter(|s| **s).count() as u64;
    if moe.experts.saturating_mul(sparse) > 1 << 20 {
        return Err(ShapeError(format!(
            "{} experts in each of {sparse} layers are more than any model has",
            moe.experts
        )));
    }
    if moe.expert_intermediate > 1 << 20 {
        return Err(ShapeError(format!(
            "an expert width of {} is more than any model has",
            moe.expert_intermediate
        )));
    }
    Ok(Some(moe))
}

fn vision_shape(
    v: &Json,
    config: &Json,
    architecture: &str,
    text: &TextShape,
) -> Result<VisionShape, ShapeError> {
    let need = |key: &str| {
        uint(v, key).ok_or_else(|| ShapeError(format!("`vision_config.{key}` is missing")))
    };
    if architecture.starts_with("Qwen2_5_VL") {
        Ok(VisionShape {
            family: VisionFamily::Qwen25Vl,
            layers: need("depth")?,
            hidden: need("hidden_size")?,
            heads: need("num_heads")?,
            intermediate: need("intermediate_size")?,
            patch_size: need("patch_size")?,
            spatial_merge_size: uint(v, "spatial_merge_size").unwrap_or(2),
            temporal_patch_size: uint(v, "temporal_patch_size").unwrap_or(2),
            in_channels: uint(v, "in_chans")
                .or_else(|| uint(v, "in_channels"))
                .unwrap_or(3),
            out_hidden: uint(v, "out_hidden_size").unwrap_or(text.hidden),
            image_size: None,
            tokens_per_image: None,
        })
    } else if architecture.starts_with("Qwen2VL") {
        let embed = uint(v, "embed_dim")
            .ok_or_else(|| ShapeError("`vision_config.embed_dim` is missing".into()))?;
        Ok(VisionShape {
            family: VisionFamily::Qwen2Vl,
            layers: need("depth")?,
            hidden: embed,
            heads: need("num_heads")?,
            intermediate: embed * uint(v, "mlp_ratio").unwrap_or(4),
            patch_size: need("patch_size")?,
            spatial_merge_size: uint(v, "spatial_merge_size").unwrap_or(2),
            temporal_patch_size: uint(v, "temporal_patch_size").unwrap_or(2),
            in_channels: uint(v, "in_chans")
                .or_else(|| uint(v, "in_channels"))
                .unwrap_or(3),
            out_hidden: uint(v, "hidden_size").unwrap_or(text.hidden),
            image_size: None,
            tokens_per_image: None,
        })
    } else {
        // SigLIP (Gemma 3 and others that name it `siglip_vision_model`).
        Ok(VisionShape {
            family: VisionFamily::Siglip,
            layers: need("num_hidden_layers")?,
            hidden: need("hidden_size")?,
            heads: need("num_attention_heads")?,
            intermediate: need("intermediate_size")?,
            patch_size: need("patch_size")?,
            spatial_merge_size: 1,
            temporal_patch_size: 1,
            in_channels: uint(v, "num_channels").unwrap_or(3),
            out_hidden: text.hidden,
            image_size: Some(need("image_size")?),
            tokens_per_image: uint(config, "mm_tokens_per_image"),
        })
    }
}
