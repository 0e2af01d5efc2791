//! The validated manifest: every value parsed, every cross-field rule checked,
//! every default applied. The planner and `apply` accept only this type.

use std::ops::RangeInclusive;
use std::path::PathBuf;

use serde::Serialize;

use super::values::{LogFormat, ModelKind};
use crate::units::{ByteSize, ComputeCapability, DType, KvCacheDtype, Percent, Quantization};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Manifest {
    pub name: String,
    pub model: Model,
    pub precision: Precision,
    pub workload: Workload,
    pub devices: Devices,
    pub parallelism: Parallelism,
    pub server: Server,
    /// `[kubernetes]`, when the manifest has one.
    pub kubernetes: Option<Kubernetes>,
}

/// What `render --target kubernetes` needs besides the plan; defaults applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Kubernetes {
    pub namespace: Option<String>,
    pub image: Option<String>,
    pub replicas: u32,
    pub service_type: super::wire::ServiceType,
    pub labels: std::collections::BTreeMap<String, String>,
    pub node_selector: std::collections::BTreeMap<String, String>,
    pub tolerations: Vec<Toleration>,
    pub gpu_affinity: super::wire::GpuAffinity,
    pub gpu_resource: String,
    pub startup_seconds: u32,
    pub disruption_budget: bool,
    pub api_key_secret: Option<String>,
    pub models: Option<ModelStorage>,
    pub cpu: Option<String>,
    pub memory: Option<ByteSize>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Toleration {
    pub key: Option<String>,
    pub operator: String,
    pub value: Option<String>,
    pub effect: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ModelStorage {
    pub volume: ModelVolume,
    pub mount_path: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelVolume {
    Claim(String),
    HostPath(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Model {
    pub source: ModelSource,
    /// A config.json to plan from when the weights are not at hand.
    pub config: Option<PathBuf>,
    pub kind: ModelKind,
    pub revision: Option<String>,
    pub tokenizer: Option<PathBuf>,
    pub chat_template: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ModelSource {
    /// A local Hugging Face directory (it need not exist where `validate` runs).
    LocalDirectory { path: PathBuf },
    /// A local `.gguf` file.
    Gguf { path: PathBuf },
    /// A model on the Hugging Face hub, `owner/name`.
    Hub { id: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Precision {
    pub dtype: DType,
    pub quantization: Quantization,
    pub kv_cache: KvCacheDtype,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Workload {
    /// `None`: the model's own context length.
    pub max_seq_len: Option<Amount>,
    pub max_batch_size: Amount,
    pub max_images: Option<u32>,
    /// `[height, width]` in pixels.
    pub max_image_size: Option<[u32; 2]>,
}

/// A workload figure: given, or solved by the planner as the largest that fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Amount {
    Fixed(u64),
    /// The largest that fits, up to `max` (else the planner's ceiling).
    Auto {
        max: Option<u64>,
    },
}

impl Amount {
    /// The figure, when it is given.
    pub fn fixed(self) -> Option<u64> {
        match self {
            Amount::Fixed(n) => Some(n),
            Amount::Auto { .. } => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum Gpu {
    Ordinal(u32),
    /// A GPU or MIG UUID, or a unique prefix of one.
    Uuid(String),
}

impl Gpu {
    /// "GPU 3", or the UUID itself (which already reads "GPU-…" or "MIG-…").
    pub fn describe(&self) -> String {
        match self {
            Gpu::Ordinal(n) => format!("GPU {n}"),
            Gpu::Uuid(id) => id.clone(),
        }
    }
}

impl std::fmt::Display for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Gpu::Ordinal(n) => write!(f, "{n}"),
            Gpu::Uuid(id) => f.write_str(id),
        }
    }
}

/// A memory limit for one GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Limit {
    Bytes(ByteSize),
    Share(#[serde(serialize_with = "serialize_display")] Percent),
}

fn serialize_display<S: serde::Serializer, T: std::fmt::Display>(
    v: &T,
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MemoryLimit {
    /// The same limit on every GPU.
    Each(Limit),
    /// One limit per entry of `gpus`, in order.
    PerGpu(Vec<Limit>),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Devices {
    /// `None`: every visible GPU.
    pub gpus: Option<Vec<Gpu>>,
    pub max_memory: Option<MemoryLimit>,
    pub reserve: ByteSize,
    pub cpu_offload: bool,
    pub expect: Option<ExpectedHardware>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExpectedHardware {
    /// The machine, whose inventory is `hosts/HOST.toml`.
    pub host: Option<String>,
    pub count: Option<u32>,
    pub memory: Option<ByteSize>,
    pub min_compute_capability: Option<ComputeCapability>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "strategy", rename_all = "snake_case")]
pub enum Parallelism {
    Auto,
    Tensor {
        /// `None`: the largest valid size among the GPUs.
        size: Option<u32>,
    },
    Pipeline {
        /// Decoder layers per GPU; `None`: split by each GPU's budget.
        layers: Option<Vec<u32>>,
    },
    Manual(LayerMap),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerMap {
    Ranges(Vec<MapRange>),
    /// An accelerate-style device map: module name → GPU.
    File {
        path: PathBuf,
        entries: Vec<(String, Gpu)>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapRange {
    /// Decoder layers, both ends included.
    pub layers: RangeInclusive<u32>,
    pub gpu: Gpu,
    pub quantization: Option<Quantization>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Server {
    pub host: String,
    pub port: u16,
    /// `None`: as many as the plan's `max_batch_size` (solved, when that is `"auto"`).
    pub max_seqs: Option<u32>,
    pub api_key: Option<SecretSource>,
    /// Origins allowed to call from a web page; empty: none.
    pub cors_origins: Vec<String>,
    pub drain_seconds: u32,
    pub grace_seconds: u32,
    pub request_timeout_seconds: u32,
    pub log_format: LogFormat,
}

/// Where a secret is read at start-up. The secret itself is never in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SecretSource {
    Env(String),
    File(PathBuf),
}
