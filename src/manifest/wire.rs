//! The manifest as written: a strict serde model of the TOML.
//!
//! Every key is optional here so that layers (`extends` files, environment,
//! `--set`) can be merged; `validate` turns the merged result into a
//! [`Manifest`](super::Manifest). Unknown keys are rejected everywhere
//! (`deny_unknown_fields`), and nothing is `flatten`ed, which would silently
//! disable that. The doc comments here are the JSON Schema's descriptions.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::values::{LogFormat, ModelKind, Strategy};
use crate::units::{DType, KvCacheDtype, Quantization};

/// A deployctl deployment manifest: one model, its GPUs, and how it is served.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "deployctl manifest")]
pub struct RawManifest {
    /// Manifest format version. Required; the only accepted value is 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// Name of the deployment, served as the model id. Defaults to the file stem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Files merged underneath this one, lowest first; paths are relative to this file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extends: Option<Vec<String>>,
    /// The model to deploy. Required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<RawModel>,
    /// Data types and quantization.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub precision: Option<RawPrecision>,
    /// The load the deployment must hold at once; it sizes the KV cache and activations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload: Option<RawWorkload>,
    /// Which GPUs to use and how much of each.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub devices: Option<RawDevices>,
    /// How the model is split across the GPUs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<RawParallelism>,
    /// The OpenAI-compatible HTTP server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<RawServer>,
    /// Settings that only `render --target kubernetes` reads: where the pods run and
    /// what they mount. The plan is per pod.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<RawKubernetes>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawKubernetes {
    /// The namespace of every object. Default: none (the namespace `kubectl` or Argo CD
    /// applies to).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The container image with deployctl as its entrypoint, built with `--features
    /// cuda` for GPUs. Required to render. Pin it by digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Identical pods behind the Service; each holds the whole plan. Default 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub replicas: Option<u32>,
    /// `ClusterIP` (default), `NodePort` or `LoadBalancer`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_type: Option<ServiceType>,
    /// Labels added to every object and pod.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<std::collections::BTreeMap<String, String>>,
    /// The pod's `nodeSelector`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<std::collections::BTreeMap<String, String>>,
    /// The pod's tolerations, e.g. `[{ key = "nvidia.com/gpu", operator = "Exists",
    /// effect = "NoSchedule" }]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tolerations: Option<Vec<RawToleration>>,
    /// Node affinity on GPU Feature Discovery labels from `[devices.expect]`:
    /// `preferred` (default), `required`, or `none` where the cluster runs no GFD.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu_affinity: Option<GpuAffinity>,
    /// The extended resource the GPUs are requested as. Default `nvidia.com/gpu`; a MIG
    /// slice is e.g. `nvidia.com/mig-3g.40gb` (one per pod).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpu_resource: Option<String>,
    /// Seconds the startup probe allows for the model to load. Default 1800.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 10, max = 86_400))]
    pub startup_seconds: Option<u32>,
    /// Render a PodDisruptionBudget of at most one pod unavailable. Default false.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disruption_budget: Option<bool>,
    /// The Secret that holds the API key (`server.api_key`), under the key `api-key`.
    /// Default: `NAME-api-key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_secret: Option<String>,
    /// Where the weights come from in the pod. Default: the image (or the hub).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub models: Option<RawModelStorage>,
    /// The container's CPU request, e.g. `"8"` or `"500m"`. Default: 2 cores, plus one per
    /// extra tensor-parallel rank.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// The container's memory request, e.g. `"64GiB"`. Default: the plan's host memory
    /// plus 4 GiB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<ByteSizeValue>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ServiceType {
    ClusterIP,
    NodePort,
    LoadBalancer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GpuAffinity {
    Preferred,
    Required,
    None,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawToleration {
    /// The taint's key; empty with `operator = "Exists"` matches every taint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `Equal` (default) or `Exists`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// The taint's value, with `Equal`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`; absent matches all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effect: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawModelStorage {
    /// A PersistentVolumeClaim that holds the weights.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
    /// A directory on the node that holds the weights.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_path: Option<String>,
    /// Where it is mounted, read-only; `model.source` must be under it. Required with a
    /// claim or a host path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mount_path: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    /// A local Hugging Face directory, a local `.gguf` file, or a hub id such as
    /// `Qwen/Qwen2-VL-7B-Instruct`. Required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// A `config.json` kept beside the manifest, so CI can plan without the weights.
    /// Relative to the file that sets it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    /// `auto` (read from the model), `text` or `multimodal`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<ModelKind>,
    /// Branch, tag or commit of a hub model. Hub ids only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// Path to a Hugging Face `tokenizer.json` (a JSON object with a `model`
    /// table) to use instead of the model's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<String>,
    /// Path to a chat template (`.jinja` or `.json`) to use instead of the model's own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chat_template: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPrecision {
    /// Data type of weights and activations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dtype: Option<DType>,
    /// In-situ quantization applied while loading (`none` keeps `dtype`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantization: Option<Quantization>,
    /// Data type of the KV cache.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kv_cache: Option<KvCacheDtype>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawWorkload {
    /// Tokens per sequence (prompt and answer) the deployment must hold. Defaults to the
    /// model's context length. `"auto"`: the longest that fits, up to the model's context;
    /// `{ auto = true, max = 32768 }`: the longest that fits, up to `max`.
    #[serde(skip_serializing_if = "Option::is_none")]
    // 2^24 tokens: past any model's context, and small enough that the
    // planner's sums stay exact. (`minimum`/`maximum` bind numbers only.)
    pub max_seq_len: Option<SeqLen>,
    /// Sequences held in memory at once. `"auto"`: the most that fit, up to 1024;
    /// `{ auto = true, max = 16 }`: the most that fit, up to `max`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_batch_size: Option<BatchSize>,
    /// Images per request. Multimodal models only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_images: Option<u32>,
    /// Largest image in pixels, `[height, width]`. Multimodal models only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(inner(range(min = 1)))]
    pub max_image_size: Option<[u32; 2]>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDevices {
    /// GPUs to use, as CUDA ordinals (`0`) or UUIDs (`"GPU-8f2c…"`, `"MIG-…"`).
    /// Default: every visible GPU.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gpus: Option<Vec<GpuRef>>,
    /// Memory deployctl may plan on each GPU: one size for every GPU (`"15GiB"`), a list
    /// with one entry per GPU (`["15GB", "15GB", "20GB", "20GB"]`), or a share of each
    /// GPU (`"90%"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_memory: Option<MemoryLimit>,
    /// Headroom kept free on each GPU for the runtime. Default: `"512MiB"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reserve: Option<ByteSizeValue>,
    /// May layers spill to host memory when the GPUs are full.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_offload: Option<bool>,
    /// The hardware this manifest is written for: CI plans against it, and `apply` checks
    /// that the real machine matches.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expect: Option<RawExpect>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawExpect {
    /// Number of GPUs.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub count: Option<u32>,
    /// Memory of each GPU.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<ByteSizeValue>,
    /// Lowest CUDA compute capability, `"MAJOR.MINOR"` (e.g. `"8.0"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_compute_capability: Option<String>,
    /// The machine it runs on: its GPUs are `hosts/HOST.toml` (as `deployctl gpus
    /// --record` writes it) in this directory or one above, and every deployment that
    /// names the host is planned against it together.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawParallelism {
    /// `auto`, `tensor`, `pipeline` or `manual`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<Strategy>,
    /// Tensor-parallel size (a power of two). `tensor` only. Default: the largest valid
    /// size among the GPUs.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub tensor_size: Option<u32>,
    /// Decoder layers per GPU, in GPU order. `pipeline` only. Default: split by each
    /// GPU's budget.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layers: Option<Vec<u32>>,
    /// Contiguous layer ranges and their GPU. `manual` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub map: Option<Vec<MapEntry>>,
    /// An accelerate-style `{"model.layers.0": 0, ...}` JSON file, instead of `map`.
    /// `manual` only. Relative to the file that sets it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub map_file: Option<String>,
}

/// One range of a manual layer map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MapEntry {
    /// Decoder layers, end inclusive: `"0-13"`, or one layer: `14`.
    pub layers: LayerSpan,
    /// The GPU that holds them.
    pub gpu: GpuRef,
    /// Quantization of these layers, overriding `precision.quantization`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantization: Option<Quantization>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum LayerSpan {
    /// One layer.
    One(#[schemars(range(min = 0))] i64),
    /// An inclusive range, `"START-END"`.
    Range(String),
}

/// A workload figure: a number, or the largest that fits, solved by the
/// planner. One type per key, so each schema carries its key's bounds.
macro_rules! solvable {
    ($name:ident, $max:literal) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
        #[serde(untagged)]
        pub enum $name {
            /// Exactly this many.
            Value(#[schemars(range(min = 1, max = $max))] u64),
            /// `"auto"`: the largest that fits.
            Auto(AutoWord),
            /// `{ auto = true, max = N }`: the largest that fits, at most `max`.
            Capped(AutoCapped),
        }

        impl From<$name> for Solvable {
            fn from(value: $name) -> Solvable {
                match value {
                    $name::Value(n) => Solvable::Value(n),
                    $name::Auto(_) => Solvable::Auto,
                    $name::Capped(c) => Solvable::Capped(c),
                }
            }
        }
    };
}

// 2^24 tokens: past any model's context, and small enough that the planner's
// sums stay exact.
solvable!(SeqLen, 16_777_216);
solvable!(BatchSize, 65_536);

/// Either key's figure, as validation reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Solvable {
    Value(u64),
    Auto,
    Capped(AutoCapped),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum AutoWord {
    #[serde(rename = "auto")]
    Auto,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AutoCapped {
    /// Must be `true`: solve for the largest value that fits.
    pub auto: bool,
    /// The most to solve for.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 16_777_216))]
    pub max: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum GpuRef {
    /// CUDA ordinal.
    Ordinal(#[schemars(range(min = 0))] i64),
    /// GPU or MIG UUID, or a unique prefix of one.
    Uuid(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum MemoryLimit {
    /// One limit for every GPU: a size or a share (`"90%"`).
    All(ByteSizeValue),
    /// One limit per GPU in `gpus`, in the same order.
    PerGpu(Vec<ByteSizeValue>),
}

/// A byte size: an integer number of bytes, or a string with an SI or IEC unit
/// (`"15GB"`, `"15 GiB"`, `"512MiB"`, `"1.5TB"`); `max_memory` also takes `"90%"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ByteSizeValue {
    /// Bytes.
    Bytes(i64),
    /// A number with a unit.
    Text(String),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    /// Address to bind. Default `127.0.0.1`; a non-loopback address needs `api_key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// TCP port.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<u32>,
    /// Sequences the server runs at once. Default: `workload.max_batch_size`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_seqs: Option<u32>,
    /// Where the API key is read from at start-up: `{ env = "VAR" }` or
    /// `{ file = "/run/secrets/key" }`. An inline key is rejected: secrets do not belong
    /// in a Git repository.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<ApiKey>,
    /// Web origins that may call the server from a page (CORS), such as
    /// `"https://chat.example.com"`. Default: none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cors_origins: Option<Vec<String>>,
    /// Seconds `/health` answers 503 after SIGINT/SIGTERM before the listener
    /// closes. Default 5.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 3600))]
    pub drain_seconds: Option<u32>,
    /// Seconds requests in flight may then run before they are cut. Default 10.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 3600))]
    pub grace_seconds: Option<u32>,
    /// Seconds one generation may take. Default 600.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 86400))]
    pub request_timeout_seconds: Option<u32>,
    /// `"plain"` (default) or `"json"`: one JSON object per log line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ApiKey {
    /// Where to read the key.
    Reference(ApiKeySource),
    /// Rejected: a key written into the manifest.
    Inline(String),
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeySource {
    /// Environment variable holding the key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub env: Option<String>,
    /// File holding the key (surrounding whitespace is trimmed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}
