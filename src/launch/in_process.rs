//! The launch description run in this process, through the `mistralrs` crate.

use std::str::FromStr;
use std::sync::Arc;

use anyhow::Context as _;
use mistralrs::core::{DeviceLayerMapMetadata, DeviceMapMetadata, MistralRs, MistralRsBuilder};
use mistralrs::{
    AnyModelBuilder, AutoDeviceMapParams, Device, DeviceMapSetting, GgufModelBuilder, IsqType,
    LayerTopology, MemoryGpuConfig, ModelDType, MultimodalLoaderType, MultimodalModelBuilder,
    NormalLoaderType, PagedAttentionMetaBuilder, PagedCacheType, TextModelBuilder, TokenSource,
    Topology,
};

use super::contract::{Built, PagedCache};
use super::description::{Description, Devices, ModelFiles, PagedAttention, TopologyRange};
use crate::model::Modality;
use crate::units::{DType, Quantization};

fn dtype(d: DType) -> ModelDType {
    match d {
        DType::Auto => ModelDType::Auto,
        DType::Bf16 => ModelDType::BF16,
        DType::F16 => ModelDType::F16,
        DType::F32 => ModelDType::F32,
    }
}

fn isq(q: Quantization) -> anyhow::Result<IsqType> {
    mistralrs::parse_isq_value(q.name(), None).map_err(|e| anyhow::anyhow!(e))
}

fn device_map(d: &Description) -> Option<DeviceMapSetting> {
    match &d.devices {
        Devices::Layers { per_device } => Some(DeviceMapSetting::Map(
            DeviceMapMetadata::from_num_device_layers(
                per_device
                    .iter()
                    .map(|(ordinal, layers)| DeviceLayerMapMetadata {
                        ordinal: *ordinal,
                        layers: *layers as usize,
                    })
                    .collect(),
            ),
        )),
        // mistral.rs's automatic mapper, which puts every layer on the CPU, sized
        // for the planned sequences as `--max-seq-len` sizes it on the command line.
        Devices::Cpu => Some(DeviceMapSetting::Auto(match d.modality {
            Modality::Text => AutoDeviceMapParams::Text {
                max_seq_len: d.max_seq_len as usize,
                max_batch_size: d.max_batch_size as usize,
            },
            Modality::Multimodal => {
                let side = d
                    .max_image_length
                    .unwrap_or(AutoDeviceMapParams::DEFAULT_MAX_IMAGE_LENGTH as u64)
                    as usize;
                AutoDeviceMapParams::Multimodal {
                    max_seq_len: d.max_seq_len as usize,
                    max_batch_size: d.max_batch_size as usize,
                    max_image_shape: (side, side),
                    max_num_images: d
                        .max_images
                        .map_or(AutoDeviceMapParams::DEFAULT_MAX_NUM_IMAGES, |n| n as usize),
                }
            }
        })),
        Devices::Topology { .. } | Devices::TensorParallel { .. } => None,
    }
}

fn topology(ranges: &[TopologyRange], on_cpu: bool) -> anyhow::Result<Topology> {
    let mut topology = Topology::empty();
    for r in ranges {
        let device = if on_cpu {
            Device::Cpu
        } else {
            Device::new_cuda(r.ordinal).with_context(|| format!("CUDA device {}", r.ordinal))?
        };
        topology = topology.with_range(
            r.start as usize..r.end as usize,
            LayerTopology {
                isq: r.quantization.map(isq).transpose()?,
                device: Some(device),
            },
        );
    }
    Ok(topology)
}

fn paged(pa: &PagedAttention) -> anyhow::Result<mistralrs::PagedAttentionConfig> {
    let cache = if pa.f8_cache {
        PagedCacheType::F8E4M3
    } else {
        PagedCacheType::Auto
    };
    PagedAttentionMetaBuilder::default()
        .with_gpu_memory(MemoryGpuConfig::ContextSize(pa.context_len as usize))
        .with_paged_cache_type(cache)
        .build()
}

/// The settings every mistral.rs builder takes the same way. The builders share
/// no trait, hence a macro.
macro_rules! common {
    ($builder:expr, $d:expr) => {{
        let d: &Description = $d;
        let mut b = $builder
            .with_token_source(TokenSource::None)
            .with_max_num_seqs(d.max_seqs as usize);
        if d.on_cpu() {
            b = b.with_force_cpu();
        }
        if let Some(t) = &d.chat_template {
            b = b.with_chat_template(t.display());
        }
        if let Some(t) = &d.tokenizer {
            b = b.with_tokenizer_json(t.display());
        }
        if let Some(map) = device_map(d) {
            b = b.with_device_mapping(map);
        }
        if let Devices::Topology { ranges } = &d.devices {
            b = b.with_topology(topology(ranges, d.rehearsal)?);
        }
        if let Some(pa) = d
            .paged_attention
            .as_ref()
            .filter(|_| mistralrs::paged_attn_supported())
        {
            b = b.with_paged_attn(paged(pa)?);
        }
        b
    }};
}

/// Builds the mistral.rs model builder the description asks for. Never touches
/// the network: weights come from local files (or an existing cache) only.
fn builder(d: &Description) -> anyhow::Result<AnyModelBuilder> {
    Ok(match (&d.files, d.modality) {
        (ModelFiles::Gguf { dir, file }, _) => {
            common!(GgufModelBuilder::new(dir, vec![file.clone()]), d).into()
        }
        (ModelFiles::Plain { id }, Modality::Text) => {
            let mut b = common!(TextModelBuilder::new(id).with_dtype(dtype(d.dtype)), d);
            if let Some(arch) = &d.arch {
                b = b.with_loader_type(
                    NormalLoaderType::from_str(arch).map_err(|e| anyhow::anyhow!(e))?,
                );
            }
            if let Some(q) = d.isq {
                b = b.with_isq(isq(q)?);
            }
            b.into()
        }
        (ModelFiles::Plain { id }, Modality::Multimodal) => {
            let mut b = common!(
                MultimodalModelBuilder::new(id).with_dtype(dtype(d.dtype)),
                d
            );
            if let Some(arch) = &d.arch {
                b = b.with_loader_type(
                    MultimodalLoaderType::from_str(arch).map_err(|e| anyhow::anyhow!(e))?,
                );
            }
            if let Some(q) = d.isq {
                b = b.with_isq(isq(q)?);
            }
            b.into()
        }
    })
}

/// Sets the launch environment. Must run before any CUDA call, so `apply`
/// calls it first thing, before its runtime starts threads.
pub fn set_environment(d: &Description) {
    for (key, value) in &d.env {
        // SAFETY: called on the main thread before any other thread exists
        // (the tokio runtime and mistral.rs start later).
        unsafe { std::env::set_var(key, value) };
    }
}

/// What the built pipeline reports of itself (see `contract`).
fn built(pipeline: &dyn mistralrs::core::Pipeline) -> Built {
    let device = pipeline.device();
    let metadata = pipeline.get_metadata();
    Built {
        device: if device.is_cuda() {
            format!("cuda:{}", cuda_ordinal(&device))
        } else if device.is_cpu() {
            "cpu".to_owned()
        } else {
            format!("{:?}", device.location()).to_lowercase()
        },
        activation_dtype: format!("{:?}", metadata.activation_dtype).to_lowercase(),
        paged: metadata.cache_config.as_ref().map(|c| PagedCache {
            block_size: c.block_size as u64,
            blocks: c.num_gpu_blocks as u64,
        }),
        max_seq_len: metadata.max_seq_len as u64,
        layers: metadata.num_hidden_layers as u64,
    }
}

/// The ordinal in a CUDA device's location (`Cuda { gpu_id: N }`).
fn cuda_ordinal(device: &Device) -> String {
    let location = format!("{:?}", device.location());
    location
        .chars()
        .filter(char::is_ascii_digit)
        .collect::<String>()
}

/// Loads the model as described and returns the engine the HTTP routes
/// serve, with what the pipeline reports it built.
pub async fn load(d: Description) -> anyhow::Result<(Arc<MistralRs>, Built)> {
    let d = &d;
    let (pipeline, scheduler, config) = builder(d)?.build_pipeline().await?;
    let built = built(&*pipeline.lock().await);
    let engine = config.engine_config;
    Ok((
        MistralRsBuilder::new(pipeline, scheduler, false, None)
            .with_model_id(d.model_id.clone())
            .with_no_kv_cache(engine.no_kv_cache)
            // On the CPU mistral.rs's prefix cache never evicts: its eviction
            // counts only caches on a GPU (`PrefixCacheManagerV2::evict_caches`),
            // so every distinct prompt kept its KV (measured: 501 to 1064 MiB
            // over 25 short prompts of the demo model). Off there; on GPUs it is
            // bounded.
            .with_no_prefix_cache(engine.no_prefix_cache || d.on_cpu())
            .with_prefix_cache_n(engine.prefix_cache_n)
            .build()
            .await,
        built,
    ))
}
