//! One description of how mistral.rs must run a plan. Both back ends read it:
//! the `mistralrs serve` command line (`cli.rs`) and the in-process builder
//! (`in_process.rs`).

use std::path::PathBuf;

use serde::Serialize;

use crate::manifest::{Manifest, ModelSource};
use crate::model::{Modality, ModelShape, architectures};
use crate::plan::{Kind, Plan};
use crate::units::{DType, KvCacheDtype, Quantization};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "format", rename_all = "snake_case")]
pub enum ModelFiles {
    /// A Hugging Face directory or hub id.
    Plain { id: String },
    /// A GGUF file, as the folder and file name mistral.rs takes.
    Gguf { dir: String, file: String },
}

/// The topology file the stock binary's launch names, beside it.
pub const TOPOLOGY_FILE: &str = "topology.yml";

/// Where the layers go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Devices {
    /// Everything on the CPU.
    Cpu,
    /// Layers per CUDA ordinal, in order (`DeviceMapSetting::Map`, `-n 0:16;1:16`).
    /// One GPU gets a map too (`-n 0:32`): without one, `mistralrs serve` would
    /// leave its automatic mapper free to put layers on the CPU.
    Layers { per_device: Vec<(usize, u64)> },
    /// Per-range device and quantization (`Topology`, `--topology`), end exclusive.
    Topology { ranges: Vec<TopologyRange> },
    /// NCCL tensor parallelism over every visible GPU.
    TensorParallel { size: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct TopologyRange {
    pub start: u64,
    /// Exclusive, as mistral.rs topologies count.
    pub end: u64,
    pub ordinal: usize,
    pub quantization: Option<Quantization>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct PagedAttention {
    /// Total tokens the KV cache holds: `max_seq_len × max_batch_size`.
    pub context_len: u64,
    pub f8_cache: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Description {
    /// The id the server answers to (`model` in requests): the deployment name.
    pub model_id: String,
    pub files: ModelFiles,
    pub modality: Modality,
    /// mistral.rs's architecture name (`-a`); `None` for GGUF, whose header says.
    pub arch: Option<String>,
    pub tokenizer: Option<PathBuf>,
    pub chat_template: Option<PathBuf>,
    pub dtype: DType,
    pub isq: Option<Quantization>,
    pub devices: Devices,
    /// Environment to set before any CUDA call.
    pub env: Vec<(String, String)>,
    pub max_seq_len: u64,
    pub max_batch_size: u64,
    /// Multimodal only.
    pub max_images: Option<u64>,
    pub max_image_length: Option<u64>,
    /// `None` on the CPU, where mistral.rs has no paged attention.
    pub paged_attention: Option<PagedAttention>,
    /// A rehearsal on the CPU (`apply --on-cpu`): the main device is the host,
    /// so mistral.rs lays the same layer map and topology out on it.
    pub rehearsal: bool,
    pub max_seqs: u32,
    pub host: String,
    pub port: u16,
}

impl Description {
    /// Whether mistral.rs's main device is the CPU: a CPU plan, or a rehearsal.
    pub fn on_cpu(&self) -> bool {
        self.rehearsal || self.devices == Devices::Cpu
    }

    /// `text` or `multimodal`: the `mistralrs serve` subcommand, and the model
    /// kind in its config file.
    pub fn stock_kind(&self) -> &'static str {
        match self.modality {
            Modality::Text => "text",
            Modality::Multimodal => "multimodal",
        }
    }

    /// The architecture to name to the stock binary: text ones only, since it
    /// takes only those and detects vision ones from config.json.
    pub fn stock_arch(&self) -> Option<&str> {
        self.arch
            .as_deref()
            .filter(|_| self.modality == Modality::Text)
    }

    /// The layer map as the stock binary takes it, one `ORDINAL:LAYERS` each
    /// (`-n` joins them with `;`).
    pub fn layer_specs(&self) -> Option<Vec<String>> {
        match &self.devices {
            Devices::Layers { per_device } => {
                Some(per_device.iter().map(|(o, n)| format!("{o}:{n}")).collect())
            }
            _ => None,
        }
    }

    /// What the binary must be built with to run this.
    pub fn requires(&self) -> Option<&'static str> {
        match self.devices {
            _ if self.on_cpu() => None,
            Devices::TensorParallel { .. } => Some("nccl"),
            _ => Some("cuda"),
        }
    }
}

/// Why a launch cannot be rehearsed on the CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RehearsalError {
    #[error(
        "a tensor-parallel plan cannot be rehearsed on the CPU: mistral.rs splits its \
         tensors over NCCL, which needs the GPUs"
    )]
    TensorParallel,
}

impl Description {
    /// The same launch with the host as every device: mistral.rs, given the CPU
    /// as its main device, still builds the plan's layer map (each entry lands
    /// on the CPU) and its topology, with the per-range quantization. So a
    /// machine without GPUs (CI) proves that mistral.rs accepts the launch.
    pub(crate) fn rehearse_on_cpu(mut self) -> Result<Description, RehearsalError> {
        match self.devices {
            Devices::TensorParallel { .. } => return Err(RehearsalError::TensorParallel),
            Devices::Cpu => {}
            Devices::Layers { .. } | Devices::Topology { .. } => self.rehearsal = true,
        }
        // No CUDA variables and no paged attention: mistral.rs has neither on the CPU.
        self.env.clear();
        self.paged_attention = None;
        Ok(self)
    }
}

/// Compiles `plan` for `manifest` into a launch description.
pub fn compile(manifest: &Manifest, shape: &ModelShape, plan: &Plan) -> Description {
    let files = match &manifest.model.source {
        ModelSource::Hub { id } => ModelFiles::Plain { id: id.clone() },
        ModelSource::LocalDirectory { path } => ModelFiles::Plain {
            id: path.display().to_string(),
        },
        ModelSource::Gguf { path } => ModelFiles::Gguf {
            dir: path
                .parent()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| ".".into()),
            file: path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
        },
    };
    let (arch, dtype) = match files {
        // mistral.rs's GGUF builder takes no dtype: it picks the activation
        // type itself (bf16 or f16, 2 bytes a value as planned). The command
        // line says `auto` so that both back ends run the same.
        ModelFiles::Gguf { .. } => (None, DType::Auto),
        ModelFiles::Plain { .. } => (
            architectures::find(&shape.architecture).map(|a| a.mistralrs.to_owned()),
            plan.dtype,
        ),
    };
    let mut env = Vec::new();
    if plan.strategy != Kind::Cpu {
        // Indices count in PCI order, as NVML and `deployctl gpus` number them.
        env.push(("CUDA_DEVICE_ORDER".into(), "PCI_BUS_ID".into()));
        let visible: Vec<String> = plan
            .devices
            .iter()
            .map(|d| d.uuid.clone().unwrap_or_else(|| d.index.to_string()))
            .collect();
        env.push(("CUDA_VISIBLE_DEVICES".into(), visible.join(",")));
        if !matches!(plan.strategy, Kind::Tensor { .. }) {
            // An NCCL build would otherwise ignore the map and split tensors.
            env.push(("MISTRALRS_NO_NCCL".into(), "1".into()));
        }
    }
    let overrides = plan
        .devices
        .iter()
        .any(|d| !d.quantization_overrides.is_empty());
    let devices = match plan.strategy {
        Kind::Cpu => Devices::Cpu,
        Kind::Tensor { size } => Devices::TensorParallel { size },
        Kind::Manual if overrides => Devices::Topology {
            ranges: topology(plan),
        },
        _ => Devices::Layers {
            per_device: plan
                .devices
                .iter()
                .map(|d| (d.cuda_ordinal, d.layer_count))
                .collect(),
        },
    };
    let multimodal = shape.modality == Modality::Multimodal;
    Description {
        model_id: manifest.name.clone(),
        files,
        modality: shape.modality,
        arch,
        tokenizer: manifest.model.tokenizer.clone(),
        chat_template: manifest.model.chat_template.clone(),
        dtype,
        isq: (plan.quantization != Quantization::None).then_some(plan.quantization),
        devices,
        env,
        max_seq_len: plan.max_seq_len,
        max_batch_size: plan.max_batch_size,
        max_images: multimodal.then_some(plan.max_images),
        max_image_length: multimodal.then(|| plan.image_size[0].max(plan.image_size[1])),
        // The KV cache is sized for exactly the planned tokens.
        paged_attention: (plan.strategy != Kind::Cpu).then(|| PagedAttention {
            context_len: plan.max_seq_len * plan.max_batch_size,
            f8_cache: plan.kv_cache == KvCacheDtype::F8e4m3,
        }),
        rehearsal: false,
        max_seqs: manifest
            .server
            .max_seqs
            .unwrap_or(u32::try_from(plan.max_batch_size).unwrap_or(u32::MAX)),
        host: manifest.server.host.clone(),
        port: manifest.server.port,
    }
}

/// Runs of layers with the same device and quantization, covering every layer.
fn topology(plan: &Plan) -> Vec<TopologyRange> {
    let global = (plan.quantization != Quantization::None).then_some(plan.quantization);
    let mut ranges: Vec<TopologyRange> = Vec::new();
    for d in &plan.devices {
        for run in &d.layers {
            for layer in run[0]..=run[1] {
                let q = d
                    .quantization_overrides
                    .iter()
                    .find(|(r, _)| r[0] <= layer && layer <= r[1])
                    .map(|(_, q)| *q)
                    .or(global);
                match ranges.last_mut() {
                    Some(r)
                        if r.end == layer && r.ordinal == d.cuda_ordinal && r.quantization == q =>
                    {
                        r.end += 1
                    }
                    _ => ranges.push(TopologyRange {
                        start: layer,
                        end: layer + 1,
                        ordinal: d.cuda_ordinal,
                        quantization: q,
                    }),
                }
            }
        }
    }
    ranges.sort_by_key(|r| r.start);
    ranges
}
