//! Whether mistral.rs built what the launch asked for. After the build, the
//! pipeline says what it holds (`Pipeline::device`, `get_metadata`:
//! `activation_dtype`, `cache_config`, `max_seq_len`, `num_hidden_layers`);
//! a difference from the description is a plan that no longer holds, such as
//! paged attention silently left off (mistral.rs without its paged-attention
//! kernels for the device), which lets the KV cache grow past its budget.
//!
//! What mistral.rs 0.8.1 does not expose after the build is not checked:
//! the device of each layer (its mapper keeps them inside the model), the
//! ISQ type applied to each tensor, and the tensor-parallel world size.

use serde::Serialize;

use super::description::Description;
use crate::units::DType;

/// What the built pipeline reports, in plain terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Built {
    /// The main device: `cpu`, or `cuda:N`.
    pub device: String,
    /// The dtype activations are computed in: `bf16`, `f16` or `f32`.
    pub activation_dtype: String,
    /// Paged attention's KV cache, when it is on.
    pub paged: Option<PagedCache>,
    pub max_seq_len: u64,
    pub layers: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PagedCache {
    pub block_size: u64,
    pub blocks: u64,
}

/// Each way `built` differs from what `described` asked, in words for the
/// operator; empty when the launch holds.
pub fn deviations(described: &Description, built: &Built) -> Vec<String> {
    let mut out = Vec::new();
    let on_gpu = built.device.starts_with("cuda");
    if !described.on_cpu() && !on_gpu {
        out.push(format!(
            "the model runs on `{}`, not on the planned GPUs",
            built.device
        ));
    }
    match (&described.paged_attention, &built.paged) {
        (Some(_), None) if on_gpu => out.push(
            "paged attention is off, so the KV cache is not preallocated and grows with use: \
             this mistral.rs build has no paged-attention kernels for the device"
                .to_owned(),
        ),
        (Some(planned), Some(cache)) => {
            let holds = cache.blocks.saturating_mul(cache.block_size);
            // mistral.rs rounds the cache down to whole MiB and blocks.
            if holds.saturating_mul(10) < planned.context_len.saturating_mul(9) {
                out.push(format!(
                    "the KV cache holds {holds} tokens ({} blocks of {}), where the plan has {}",
                    cache.blocks, cache.block_size, planned.context_len
                ));
            }
        }
        _ => {}
    }
    let wanted = match described.dtype {
        DType::Auto => None,
        DType::Bf16 => Some("bf16"),
        DType::F16 => Some("f16"),
        DType::F32 => Some("f32"),
    };
    // A CPU computes in f32 whatever was asked (mistral.rs's CPU fallback).
    if let Some(wanted) = wanted.filter(|_| on_gpu) {
        if built.activation_dtype != wanted {
            out.push(format!(
                "activations are in {}, not the planned {wanted}",
                built.activation_dtype
            ));
        }
    }
    if built.max_seq_len < described.max_seq_len {
        out.push(format!(
            "the model takes at most {} tokens, fewer than the planned `max_seq_len` of {}",
            built.max_seq_len, described.max_seq_len
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launch::description::{Devices, ModelFiles, PagedAttention};
    use crate::model::Modality;

    fn described() -> Description {
        Description {
            model_id: "m".into(),
            files: ModelFiles::Plain { id: "m".into() },
            modality: Modality::Text,
            arch: None,
            tokenizer: None,
            chat_template: None,
            dtype: DType::Bf16,
            isq: None,
            devices: Devices::Layers {
                per_device: vec![(0, 32)],
            },
            env: Vec::new(),
            max_seq_len: 4096,
            max_batch_size: 2,
            max_images: None,
            max_image_length: None,
            paged_attention: Some(PagedAttention {
                context_len: 8192,
                f8_cache: false,
            }),
            rehearsal: false,
            max_seqs: 2,
            host: "127.0.0.1".into(),
            port: 8080,
        }
    }

    fn built() -> Built {
        Built {
            device: "cuda:0".into(),
            activation_dtype: "bf16".into(),
            paged: Some(PagedCache {
                block_size: 32,
                blocks: 256,
            }),
            max_seq_len: 32768,
            layers: 32,
        }
    }

    #[test]
    fn a_build_as_planned_has_no_deviations() {
        assert_eq!(deviations(&described(), &built()), Vec::<String>::new());
    }

    #[test]
    fn silent_downgrades_are_named() {
        let no_paged = Built {
            paged: None,
            ..built()
        };
        assert!(deviations(&described(), &no_paged)[0].starts_with("paged attention is off"));
        let on_cpu = Built {
            device: "cpu".into(),
            paged: None,
            ..built()
        };
        assert_eq!(
            deviations(&described(), &on_cpu),
            ["the model runs on `cpu`, not on the planned GPUs"]
        );
        let small = Built {
            paged: Some(PagedCache {
                block_size: 32,
                blocks: 100,
            }),
            activation_dtype: "f16".into(),
            max_seq_len: 2048,
            ..built()
        };
        assert_eq!(deviations(&described(), &small).len(), 3);
    }

    #[test]
    fn a_cpu_launch_asks_nothing_of_gpus() {
        let d = Description {
            devices: Devices::Cpu,
            paged_attention: None,
            ..described()
        };
        let cpu = Built {
            device: "cpu".into(),
            activation_dtype: "f32".into(),
            paged: None,
            ..built()
        };
        assert!(deviations(&d, &cpu).is_empty());
    }
}
