//! The architectures mistral.rs 0.8.1 loads, exactly: the Hugging Face classes
//! of `NormalLoaderType::from_causal_lm_name` (`pipeline/loaders/normal_loaders.rs`)
//! and `MultimodalLoaderType::from_causal_lm_name` (`multimodal_loaders.rs`),
//! with the `--arch` name each `FromStr` takes, and the GGUF architectures its
//! GGUF loader builds a model for (`pipeline/gguf.rs`). The test
//! `tests/it/mistralrs_source.rs` reads those tables from the crate source and fails
//! when this list drifts from them.
//!
//! Each entry also says how far deployctl can lay the model out from its
//! `config.json` alone.

use super::shape::Modality;

/// How deployctl gets an architecture's tensors without its weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Laid out from `config.json`, and a catalog test holds the layout to a
    /// published parameter count or checkpoint size.
    Modelled,
    /// Laid out from `config.json` as the loader builds it, but no published
    /// figure checks it yet.
    Estimated,
    /// Not laid out from a config: planned only from the checkpoint's own
    /// headers (a local directory of safetensors, or a GGUF file).
    HeadersOnly,
}

pub struct Architecture {
    /// The Hugging Face class in `config.json`'s `architectures`.
    pub class: &'static str,
    /// mistral.rs's name for it (`mistralrs serve … -a NAME`).
    pub mistralrs: &'static str,
    pub modality: Modality,
    pub layout: Layout,
}

const fn text(class: &'static str, mistralrs: &'static str, layout: Layout) -> Architecture {
    Architecture {
        class,
        mistralrs,
        modality: Modality::Text,
        layout,
    }
}

const fn vision(class: &'static str, mistralrs: &'static str, layout: Layout) -> Architecture {
    Architecture {
        class,
        mistralrs,
        modality: Modality::Multimodal,
        layout,
    }
}

use Layout::{Estimated, HeadersOnly, Modelled};

pub const SUPPORTED: &[Architecture] = &[
    // NormalLoaderType::from_causal_lm_name, in its order.
    text("MistralForCausalLM", "mistral", Estimated),
    text("MixtralForCausalLM", "mixtral", Modelled),
    text("GemmaForCausalLM", "gemma", Estimated),
    text("Gemma2ForCausalLM", "gemma2", Estimated),
    text("PhiForCausalLM", "phi2", Estimated),
    text("Phi3ForCausalLM", "phi3", Estimated),
    text("LlamaForCausalLM", "llama", Estimated),
    text("Qwen2ForCausalLM", "qwen2", Modelled),
    text("Starcoder2ForCausalLM", "starcoder2", Estimated),
    text("PhiMoEForCausalLM", "phi3.5moe", Estimated),
    text("DeepseekV2ForCausalLM", "deepseekv2", Modelled),
    text("DeepseekV3ForCausalLM", "deepseekv3", Estimated),
    text("Qwen3ForCausalLM", "qwen3", Estimated),
    text("Glm4ForCausalLM", "glm4", Estimated),
    text("Glm4MoeLiteForCausalLM", "glm4moelite", HeadersOnly),
    text("Glm4MoeForCausalLM", "glm4moe", Estimated),
    text("Qwen3MoeForCausalLM", "qwen3moe", Modelled),
    text("SmolLM3ForCausalLM", "smollm3", Estimated),
    text(
        "GraniteMoeHybridForCausalLM",
        "granitemoehybrid",
        HeadersOnly,
    ),
    text("GptOssForCausalLM", "gpt_oss", Estimated),
    text("Qwen3NextForCausalLM", "qwen3next", HeadersOnly),
    // MultimodalLoaderType::from_causal_lm_name, in its order.
    vision("Phi3VForCausalLM", "phi3v", HeadersOnly),
    vision("Idefics2ForConditionalGeneration", "idefics2", HeadersOnly),
    vision(
        "LlavaNextForConditionalGeneration",
        "llava_next",
        HeadersOnly,
    ),
    vision("LlavaForConditionalGeneration", "llava", HeadersOnly),
    vision("MllamaForConditionalGeneration", "vllama", HeadersOnly),
    vision("Qwen2VLForConditionalGeneration", "qwen2vl", Estimated),
    vision("Idefics3ForConditionalGeneration", "idefics3", HeadersOnly),
    vision("MiniCPMO", "minicpmo", HeadersOnly),
    vision("Phi4MMForCausalLM", "phi4mm", HeadersOnly),
    vision("Qwen2_5_VLForConditionalGeneration", "qwen2_5vl", Modelled),
    vision("Gemma3ForConditionalGeneration", "gemma3", Estimated),
    vision("Gemma3ForCausalLM", "gemma3", Estimated),
    vision("Mistral3ForConditionalGeneration", "mistral3", HeadersOnly),
    vision("Llama4ForConditionalGeneration", "llama4", HeadersOnly),
    vision("Gemma3nForConditionalGeneration", "gemma3n", HeadersOnly),
    vision("Gemma4ForConditionalGeneration", "gemma4", HeadersOnly),
    vision("Qwen3VLForConditionalGeneration", "qwen3vl", HeadersOnly),
    vision(
        "Qwen3VLMoeForConditionalGeneration",
        "qwen3vlmoe",
        HeadersOnly,
    ),
    vision("Qwen3_5ForConditionalGeneration", "qwen3_5", HeadersOnly),
    vision(
        "Qwen3_5MoeForConditionalGeneration",
        "qwen3_5moe",
        HeadersOnly,
    ),
    vision("VoxtralForConditionalGeneration", "voxtral", HeadersOnly),
    vision(
        "VoxtralRealtimeForConditionalGeneration",
        "voxtral",
        HeadersOnly,
    ),
];

/// `general.architecture` values mistral.rs 0.8.1's GGUF loader builds a model
/// for, and the Hugging Face class deployctl plans them as. Its
/// `GGUFArchitecture` enum names more (mpt, falcon, mamba, …), which it rejects
/// with "Unsupported architecture".
pub const GGUF: &[(&str, &str)] = &[
    ("llama", "LlamaForCausalLM"),
    ("mistral3", "LlamaForCausalLM"),
    ("phi2", "PhiForCausalLM"),
    ("phi3", "Phi3ForCausalLM"),
    ("starcoder2", "Starcoder2ForCausalLM"),
    ("qwen2", "Qwen2ForCausalLM"),
    ("qwen3", "Qwen3ForCausalLM"),
    ("qwen3moe", "Qwen3MoeForCausalLM"),
];

pub fn find(class: &str) -> Option<&'static Architecture> {
    SUPPORTED.iter().find(|a| a.class == class)
}

/// The Hugging Face class a GGUF `general.architecture` is planned as.
pub fn gguf_class(arch: &str) -> Option<&'static str> {
    GGUF.iter()
        .find(|(a, _)| *a == arch)
        .map(|(_, class)| *class)
}

/// Up to three supported classes closest to `class`, for a "did you mean".
pub fn closest<'a>(class: &'a str) -> Vec<&'static str> {
    // Compare the model names alone: every class shares a `For…` suffix.
    let stem = |c: &'a str| c.split("For").next().unwrap_or(c).to_ascii_lowercase();
    let wanted = stem(class);
    let mut scored: Vec<(f64, &'static str)> = SUPPORTED
        .iter()
        .map(|a| (strsim::jaro_winkler(&wanted, &stem(a.class)), a.class))
        .filter(|(score, _)| *score > 0.85)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().take(3).map(|(_, c)| c).collect()
}

/// Help for a class mistral.rs 0.8.1 does not load.
pub fn unsupported_help(class: &str) -> String {
    let near = closest(class);
    if near.is_empty() {
        format!(
            "{} loads the {} architectures listed in docs/architectures.md; \
             deploy a model of one of them",
            crate::RUNTIME,
            SUPPORTED.len()
        )
    } else {
        format!(
            "did you mean {}? docs/architectures.md lists every architecture {} loads",
            near.join(" or "),
            crate::RUNTIME
        )
    }
}

/// Help for a class deployctl plans only from its checkpoint's headers.
pub fn needs_headers_help(class: &str) -> String {
    format!(
        "deployctl plans {class} from its checkpoint: point `model.source` at the directory \
         with its config.json and *.safetensors files (only their headers are read), or at a .gguf file"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_are_unique_and_gguf_classes_are_supported() {
        let mut seen = std::collections::BTreeSet::new();
        for a in SUPPORTED {
            assert!(seen.insert(a.class), "{} listed twice", a.class);
        }
        for (arch, class) in GGUF {
            assert!(find(class).is_some(), "gguf {arch} → {class}");
        }
    }

    #[test]
    fn near_misses_are_suggested() {
        assert_eq!(closest("MixtralForCausalLm")[0], "MixtralForCausalLM");
        assert!(closest("CogVLMForCausalLM").is_empty());
        assert_eq!(closest("Qwen3MoEForCausalLM")[0], "Qwen3MoeForCausalLM");
    }
}
