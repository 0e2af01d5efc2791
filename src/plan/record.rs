//! What the planner returns: the plan, with every layer and byte placed, and
//! the findings about it.

use schemars::JsonSchema;
use serde::Serialize;

use super::candidate::CandidateReport;
use super::capacity::Capacity;
use super::decision::Decision;
use super::devices::LimitedBy;
use super::finding::Finding;
use super::placement::Kind;
use crate::model::ModelShape;
use crate::model::architectures::Layout;
use crate::units::{ByteSize, DType, KvCacheDtype, Quantization};

/// The result: a plan when one could be made (it may still not fit: see
/// `findings`), and every problem found.
#[derive(Debug, Clone)]
pub struct PlanOutcome {
    pub plan: Option<Plan>,
    pub findings: Vec<Finding>,
}

impl PlanOutcome {
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(Finding::is_error)
    }
}

/// Where every layer and every byte goes.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Plan {
    pub strategy: Kind,
    /// The resolved data type (never `auto`).
    pub dtype: DType,
    pub quantization: Quantization,
    pub kv_cache: KvCacheDtype,
    pub max_seq_len: u64,
    pub max_batch_size: u64,
    pub max_images: u64,
    pub image_size: [u64; 2],
    pub devices: Vec<DevicePlan>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuPlan>,
    /// Layers per decoder, and total weight bytes at run time.
    pub model_layers: u64,
    pub weights_total: ByteSize,
    /// Why the plan is what it is, in order.
    #[serde(serialize_with = "super::text::displays")]
    #[schemars(with = "Vec<String>")]
    pub decisions: Vec<Decision>,
    /// `auto` only: every candidate and why it lost.
    pub candidates: Vec<CandidateReport>,
    /// The longest context and the most sequences that fit, when asked for
    /// (`Settings::capacity`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<Capacity>,
    /// What other tools would say about the same model and GPUs.
    pub comparison: Comparison,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Comparison {
    /// Layers per GPU that mistral.rs's own automatic mapper would place on the
    /// same GPUs, by its formulas: it ignores `max_memory` and fills in order.
    pub mistralrs_auto_layers: Vec<u64>,
    /// Layers it would leave to the CPU.
    pub mistralrs_auto_cpu_layers: u64,
    /// accelerate's weights-only estimate (`accelerate estimate-memory`): the
    /// parameters at the model dtype, with no KV cache, activations or overhead.
    pub accelerate_weights: ByteSize,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct DevicePlan {
    /// The GPU's index in the inventory (NVML index on a live machine).
    pub index: u32,
    /// Its CUDA ordinal in the launch, after `CUDA_VISIBLE_DEVICES`.
    pub cuda_ordinal: usize,
    pub name: String,
    pub uuid: Option<String>,
    /// Decoder layers, both ends included; empty for none.
    pub layers: Vec<[u64; 2]>,
    pub layer_count: u64,
    /// Holds embeddings, `lm_head` and the vision tower.
    pub holds_fixed_parts: bool,
    pub weights: ByteSize,
    pub kv_cache: ByteSize,
    pub activations: ByteSize,
    pub overhead: ByteSize,
    pub total: ByteSize,
    pub limit: ByteSize,
    pub limited_by: LimitedBy,
    /// `limit − total`; negative when over.
    pub headroom: i64,
    /// Per-range quantization overrides on this device, by layer range.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub quantization_overrides: Vec<([u64; 2], Quantization)>,
    /// Where each term's figure comes from.
    pub sources: TermSources,
}

/// Where the figure of each memory term comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
pub struct TermSources {
    pub weights: Source,
    pub kv_cache: Source,
    pub activations: Source,
    pub overhead: Source,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Read from the checkpoint's own headers.
    Exact,
    /// Laid out from `config.json` as mistral.rs builds the architecture, for a
    /// layout a test holds to a published size.
    Modelled,
    /// A formula or constant that no measurement or published figure checks.
    Estimated,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Exact => "exact",
            Source::Modelled => "modelled",
            Source::Estimated => "estimated",
        }
    }
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CpuPlan {
    pub layers: Vec<[u64; 2]>,
    /// f32 weights (mistral.rs keeps CPU layers in f32) and their KV cache.
    pub bytes: ByteSize,
    /// Of `bytes`, what mistral.rs allocates only as requests need it: the KV
    /// cache (the CPU has no paged attention) and the activations.
    pub on_demand: ByteSize,
}

impl TermSources {
    /// Where the figures of each term come from, for `shape`.
    pub(super) fn of(shape: &ModelShape) -> TermSources {
        let layout = crate::model::architectures::find(&shape.architecture).map(|a| a.layout);
        let modelled = |fallback| match layout {
            Some(Layout::Modelled) => Source::Modelled,
            Some(Layout::HeadersOnly) | None => Source::Estimated,
            Some(Layout::Estimated) => fallback,
        };
        TermSources {
            weights: if shape.exact_tensors {
                Source::Exact
            } else {
                modelled(Source::Estimated)
            },
            // The cache follows mistral.rs's allocation for every family laid out
            // from its config; hybrids and per-layer heads are priced as full
            // attention in every layer.
            kv_cache: modelled(Source::Modelled),
            activations: Source::Estimated,
            overhead: Source::Estimated,
        }
    }
}
