//! The planner: manifest + model shape + inventory in, plan out. Pure: no I/O,
//! no globals, so every behaviour is testable without a GPU.

mod advice;
mod capacity;
pub mod devices;
mod finding;
pub mod machine;
pub mod memory;
pub mod mistralrs_auto;
mod placement;
mod preflight;
pub mod strategy;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;

pub use capacity::{Bound, Capacity, Limit, Term};
pub use devices::{Device, LimitedBy};
pub use finding::Finding;
pub use memory::{Settings, Terms};
pub use placement::Kind;

use self::memory::{WeightTable, Workload};
use self::placement::{Evaluation, Placement, Pricing};
use crate::diagnostic::Code;
use crate::inventory::Inventory;
use crate::manifest::size::ByteSize;
use crate::manifest::values::{DType, KvCacheDtype, ModelKind, Quantization};
use crate::manifest::{Amount, Manifest, Parallelism};
use crate::model::architectures::Layout;
use crate::model::{Modality, ModelShape};

/// What the planner plans from.
pub struct Input<'a> {
    pub manifest: &'a Manifest,
    pub shape: &'a ModelShape,
    pub inventory: &'a Inventory,
    pub settings: &'a Settings,
    /// What `CUDA_VISIBLE_DEVICES` shows this process, when planning for the
    /// live machine.
    pub visible: Option<&'a crate::inventory::visible::Devices>,
    /// `memory::classify(shape)`, when the caller has it from an earlier
    /// plan of the same model (`validate` plans one model many times).
    pub classified: Option<&'a [memory::Classified]>,
}

/// The result: a plan when one could be made (it may still not fit: see
/// `findings`), and every problem found.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub plan: Option<Plan>,
    pub findings: Vec<Finding>,
}

impl Outcome {
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
    pub decisions: Vec<String>,
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

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CandidateReport {
    pub description: String,
    pub fits: bool,
    pub chosen: bool,
    /// Why it lost; empty for the winner.
    pub reason: String,
    /// Its capacity with its layout held, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<Capacity>,
}

/// Makes the plan.
pub fn plan(input: &Input<'_>) -> Outcome {
    let mut findings = Vec::new();
    let m = input.manifest;
    let shape = input.shape;
    let mut decisions = Vec::new();

    check_modality(m, shape, &mut findings);
    check_unread_keys(m, shape, &mut findings);
    let devices = devices::select(m, input.inventory, &mut findings);
    let Some(devices) = devices else {
        return Outcome {
            plan: None,
            findings,
        };
    };
    let dtype = resolve_dtype(m.precision.dtype, &devices, &mut findings, &mut decisions);
    let workload = workload(m, shape, &mut findings, &mut decisions);

    // A manual map is checked once; its per-range quantization prices the layers.
    let manual = match &m.parallelism {
        Parallelism::Manual(map) => match strategy::manual(map, shape, &devices, &mut findings) {
            Some(manual) => Some(manual),
            None => {
                return Outcome {
                    plan: None,
                    findings,
                };
            }
        },
        _ => None,
    };
    let quantization = manual
        .as_ref()
        .map(|mm| mm.quantization.clone())
        .unwrap_or_default();
    let scope = Scope {
        input,
        devices: &devices,
        dtype,
        manual: manual.as_ref().map(|mm| &mm.placement),
        overrides: &quantization,
        tensors: input.classified.map_or_else(
            || std::borrow::Cow::Owned(memory::classify(shape)),
            std::borrow::Cow::Borrowed,
        ),
        tables: Default::default(),
    };
    let workload = solve_auto(&scope, workload, &mut findings, &mut decisions);
    let weights = scope.weights(m.precision.quantization);
    let pricing = scope.pricing(&weights, workload);
    let Some((placement, candidates)) = place(&scope, &pricing, &mut findings, &mut decisions)
    else {
        return Outcome {
            plan: None,
            findings,
        };
    };
    let context = shape.text.max_position_embeddings.max(workload.seq_len);
    let candidates: Vec<CandidateReport> = candidates
        .into_iter()
        .map(|(mut report, p)| {
            if input.settings.capacity {
                report.capacity = Some(capacity::of_placement(&scope, &p, workload, context));
            }
            report
        })
        .collect();
    let capacity = input
        .settings
        .capacity
        .then(|| capacity::of_placement(&scope, &placement, workload, context));
    let evaluation = pricing.evaluate(&placement, &devices);
    if placement.kind == Kind::Cpu || !placement.cpu_layers.is_empty() {
        if let Some(why) = crate::model::rules::cpu_blocker(shape) {
            findings.push(
                Finding::error(
                    Code::CpuUnsupported,
                    format!("the plan runs layers on the CPU, but {why}"),
                )
                .help("plan every layer on GPUs: list more GPUs, or quantize so that it fits")
                .at("model.source"),
            );
        }
    }
    explain_misfit(&scope, &placement, &evaluation, workload, &mut findings);

    let plan = Plan {
        strategy: placement.kind,
        dtype,
        quantization: m.precision.quantization,
        kv_cache: m.precision.kv_cache,
        max_seq_len: workload.seq_len,
        max_batch_size: workload.batch,
        max_images: workload.images,
        image_size: [workload.image_size.0, workload.image_size.1],
        devices: placement
            .stages
            .iter()
            .zip(&evaluation.terms)
            .zip(&evaluation.headroom)
            .enumerate()
            .map(|(i, ((stage, terms), headroom))| {
                let d = &devices[stage.device];
                let overrides = quantization
                    .iter()
                    .filter(|(l, _)| stage.layers.contains(l))
                    .map(|(l, q)| (*l, *q))
                    .collect::<Vec<_>>();
                DevicePlan {
                    index: d.gpu.index,
                    cuda_ordinal: i,
                    name: d.gpu.name.clone(),
                    uuid: d.gpu.uuid.clone(),
                    layers: runs(&stage.layers),
                    layer_count: stage.layers.len() as u64,
                    holds_fixed_parts: i == 0 || matches!(placement.kind, Kind::Tensor { .. }),
                    weights: terms.weights,
                    kv_cache: terms.kv_cache,
                    activations: terms.activations,
                    overhead: terms.overhead,
                    total: terms.total(),
                    limit: d.limit,
                    limited_by: d.limited_by,
                    headroom: (*headroom).clamp(i64::MIN.into(), i64::MAX.into()) as i64,
                    quantization_overrides: group_overrides(&overrides),
                    sources: sources(shape),
                }
            })
            .collect(),
        cpu: (!placement.cpu_layers.is_empty()).then(|| CpuPlan {
            layers: runs(&placement.cpu_layers),
            bytes: evaluation.cpu,
            on_demand: evaluation.cpu_on_demand,
        }),
        comparison: {
            let free: Vec<u64> = placement
                .stages
                .iter()
                .map(|s| devices[s.device].gpu.memory_free().0)
                .collect();
            let auto = mistralrs_auto::layers_per_gpu(
                shape,
                dtype,
                m.precision.quantization,
                workload.batch,
                workload.seq_len,
                &free,
                weights.vision,
            );
            Comparison {
                mistralrs_auto_cpu_layers: shape.text.layers - auto.iter().sum::<u64>(),
                mistralrs_auto_layers: auto,
                accelerate_weights: ByteSize(
                    shape
                        .tensors
                        .iter()
                        .map(|t| t.elements() * memory::dtype_bytes(dtype))
                        .sum(),
                ),
            }
        },
        model_layers: shape.text.layers,
        weights_total: ByteSize(weights.total()),
        decisions,
        candidates,
        capacity,
    };
    findings.extend(preflight::check(
        &preflight::Context {
            manifest: m,
            inventory: input.inventory,
            visible: input.visible,
            flash_attention: input.settings.flash_attention,
        },
        &devices,
        &plan,
    ));
    Outcome {
        plan: Some(plan),
        findings,
    }
}

/// Contiguous runs of sorted layers, as `[start, end]` pairs.
/// `["0-17", "20"]`: layer ranges as people write them.
pub fn range_texts(runs: &[[u64; 2]]) -> Vec<String> {
    runs.iter()
        .map(|[a, b]| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect()
}

fn runs(layers: &[u64]) -> Vec<[u64; 2]> {
    let mut out: Vec<[u64; 2]> = Vec::new();
    for l in layers {
        match out.last_mut() {
            Some(run) if run[1] + 1 == *l => run[1] = *l,
            _ => out.push([*l, *l]),
        }
    }
    out
}

fn group_overrides(overrides: &[(u64, Quantization)]) -> Vec<([u64; 2], Quantization)> {
    let mut out: Vec<([u64; 2], Quantization)> = Vec::new();
    for (l, q) in overrides {
        match out.last_mut() {
            Some((run, rq)) if run[1] + 1 == *l && rq == q => run[1] = *l,
            _ => out.push(([*l, *l], *q)),
        }
    }
    out
}

/// Layout keys of the config that the architecture's reader did not take.
fn check_unread_keys(m: &Manifest, shape: &ModelShape, findings: &mut Vec<Finding>) {
    if shape.exact_tensors {
        return; // the checkpoint's own headers give the weights
    }
    for key in &shape.text.unread_keys {
        findings.push(
            Finding::warning(
                Code::UnmodelledConfigKey,
                format!(
                    "the model's config sets `{key}`, which deployctl does not read for {}: \
                     the planned weights and KV cache may not match what mistral.rs loads",
                    shape.architecture
                ),
            )
            .help("point `model.source` at the checkpoint directory: its safetensors headers give the weights exactly")
            .at(if m.model.config.is_some() {
                "model.config"
            } else {
                "model.source"
            }),
        );
    }
}

/// Where the figures of each term come from.
fn sources(shape: &ModelShape) -> TermSources {
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

fn check_modality(m: &Manifest, shape: &ModelShape, findings: &mut Vec<Finding>) {
    match (m.model.kind, shape.modality) {
        (ModelKind::Text, Modality::Multimodal) => findings.push(
            Finding::error(
                Code::ModalityMismatch,
                format!(
                    "`model.kind` is `text`, but {} is a vision-language model",
                    shape.architecture
                ),
            )
            .help("set `kind = \"multimodal\"` (or `\"auto\"`), or deploy a text-only model")
            .at("model.kind"),
        ),
        (ModelKind::Multimodal, Modality::Text) => findings.push(
            Finding::error(
                Code::ModalityMismatch,
                format!(
                    "`model.kind` is `multimodal`, but {} takes no images",
                    shape.architecture
                ),
            )
            .help("set `kind = \"text\"` (or `\"auto\"`)")
            .at("model.kind"),
        ),
        _ => {}
    }
    if shape.modality == Modality::Text {
        for key in ["max_images", "max_image_size"] {
            let set = match key {
                "max_images" => m.workload.max_images.is_some(),
                _ => m.workload.max_image_size.is_some(),
            };
            if set && m.model.kind != ModelKind::Text {
                findings.push(
                    Finding::error(
                        Code::ModalityMismatch,
                        format!("`{key}` is set, but {} takes no images", shape.architecture),
                    )
                    .help(format!("remove `workload.{key}`"))
                    .at(&format!("workload.{key}")),
                );
            }
        }
    }
}

/// mistral.rs's `auto`: bf16 where every GPU supports it (compute capability
/// 8.0+), else f16. On the CPU, bf16; mistral.rs's GGUF builder takes no dtype
/// and probes for itself (it took f16 on the 2-core CI machine), the same size.
fn resolve_dtype(
    asked: DType,
    devices: &[Device],
    findings: &mut Vec<Finding>,
    decisions: &mut Vec<String>,
) -> DType {
    let old: Vec<&Device> = devices
        .iter()
        .filter(|d| d.gpu.compute_capability.is_some_and(|c| c.major < 8))
        .collect();
    match asked {
        DType::Auto if devices.is_empty() => {
            decisions.push(
                "dtype auto → bf16 on the CPU (for a GGUF model mistral.rs picks bf16 or f16, \
                 also 2 bytes)"
                    .into(),
            );
            DType::Bf16
        }
        DType::Auto if old.is_empty() => {
            decisions.push(
                "dtype auto → bf16: every GPU supports it (compute capability 8.0 or newer)".into(),
            );
            DType::Bf16
        }
        DType::Auto => {
            decisions.push(format!(
                "dtype auto → f16: {} is below compute capability 8.0, which bf16 needs",
                old[0].gpu.label()
            ));
            DType::F16
        }
        DType::Bf16 if !old.is_empty() => {
            let gpu = old[0];
            findings.push(
                Finding::error(
                    Code::Bf16Unsupported,
                    format!(
                        "bf16 needs compute capability 8.0, but {} has {}",
                        gpu.gpu.label(),
                        gpu.gpu
                            .compute_capability
                            .map(|c| c.to_string())
                            .unwrap_or_default()
                    ),
                )
                .help("use `dtype = \"f16\"` (or `\"auto\"`, which picks f16 there)")
                .at("precision.dtype"),
            );
            DType::Bf16
        }
        other => other,
    }
}

/// Solves the workload's `"auto"` figures over the priced devices, as the
/// manifest's strategy would place each value: the context first (for one
/// sequence, when the batch is solved too), then the sequences at that
/// context. Nothing fitting at all solves to 1, which the misfit explains.
fn solve_auto(
    scope: &Scope<'_>,
    mut w: Workload,
    findings: &mut Vec<Finding>,
    decisions: &mut Vec<String>,
) -> Workload {
    let m = scope.input.manifest;
    let context = scope.input.shape.text.max_position_embeddings;
    let said = |b: Option<Bound>, what: &str, at: &str| match b {
        Some(Bound {
            value,
            limit: Limit::Memory { gpu, term },
        }) => format!(
            "{what} auto → {value}, the most that fits at {at} (then GPU {gpu}'s {} runs out)",
            term.name()
        ),
        Some(Bound {
            value,
            limit: Limit::Ceiling { .. },
        }) => format!("{what} auto → {value}, the most solved for: it fits at {at}"),
        None => format!("{what} auto → 1: nothing fits at {at}, not even 1"),
    };
    if let Some(Amount::Auto { max }) = m.workload.max_seq_len {
        let ceiling = max.unwrap_or(context);
        let bound = capacity::solve(scope, None, w, capacity::Vary::SeqLen, ceiling);
        w.seq_len = bound.map_or(1, |b| b.value);
        decisions.push(said(
            bound,
            "max_seq_len",
            &format!("max_batch_size {}", w.batch),
        ));
    }
    if let Amount::Auto { max } = m.workload.max_batch_size {
        let ceiling = max.unwrap_or(capacity::MAX_BATCH);
        let bound = capacity::solve(scope, None, w, capacity::Vary::Batch, ceiling);
        w.batch = bound.map_or(1, |b| b.value);
        decisions.push(said(
            bound,
            "max_batch_size",
            &format!("max_seq_len {}", w.seq_len),
        ));
        if let Some(max_seqs) = m.server.max_seqs.filter(|s| u64::from(*s) > w.batch) {
            findings.push(
                Finding::warning(
                    Code::MaxSeqsAboveBatch,
                    format!(
                        "the server admits {max_seqs} sequences at once, but `max_batch_size = \"auto\"` solves to {}",
                        w.batch
                    ),
                )
                .help(format!(
                    "remove `server.max_seqs` (it then follows the batch size), or set it to {}",
                    w.batch
                ))
                .at("server.max_seqs"),
            );
        }
    }
    w
}

fn workload(
    m: &Manifest,
    shape: &ModelShape,
    findings: &mut Vec<Finding>,
    decisions: &mut Vec<String>,
) -> Workload {
    let context = shape.text.max_position_embeddings;
    let seq_len = match m.workload.max_seq_len {
        // Solved once the devices are priced (`solve_auto`); until then the
        // ceiling, which is what the longest context would need.
        Some(Amount::Auto { max }) => max.unwrap_or(context),
        Some(Amount::Fixed(s)) => {
            if s > context {
                findings.push(
                    Finding::warning(
                        Code::ContextAboveModel,
                        format!(
                            "max_seq_len {s} is beyond the {} tokens {} was trained for",
                            shape.text.max_position_embeddings, shape.architecture
                        ),
                    )
                    .help(format!(
                        "quality degrades past the trained context; consider `max_seq_len = {}`",
                        shape.text.max_position_embeddings
                    ))
                    .at("workload.max_seq_len"),
                );
            }
            s
        }
        None => {
            decisions.push(format!(
                "max_seq_len unset → {}, the model's context length",
                shape.text.max_position_embeddings
            ));
            shape.text.max_position_embeddings
        }
    };
    let multimodal = shape.modality == Modality::Multimodal;
    let images = if multimodal {
        u64::from(m.workload.max_images.unwrap_or(1))
    } else {
        0
    };
    let size = m.workload.max_image_size.unwrap_or([1024, 1024]);
    Workload {
        batch: match m.workload.max_batch_size {
            Amount::Fixed(n) => n,
            Amount::Auto { .. } => 1,
        },
        seq_len,
        images,
        image_size: (u64::from(size[0]), u64::from(size[1])),
    }
}

/// What every pricing of one plan shares: the inputs, the selected devices,
/// the resolved dtype, and a manual map with its quantization overrides.
struct Scope<'a> {
    input: &'a Input<'a>,
    devices: &'a [Device],
    dtype: DType,
    manual: Option<&'a Placement>,
    overrides: &'a BTreeMap<u64, Quantization>,
    /// Every tensor, classified once.
    tensors: std::borrow::Cow<'a, [memory::Classified]>,
    /// Weight tables already built, by quantization: explaining a misfit
    /// tries each quantization many times.
    tables: std::cell::RefCell<Vec<(Quantization, WeightTable)>>,
}

impl<'a> Scope<'a> {
    fn weights(&self, q: Quantization) -> WeightTable {
        if let Some((_, t)) = self.tables.borrow().iter().find(|(k, _)| *k == q) {
            return t.clone();
        }
        let table =
            WeightTable::from_classified(self.input.shape, &self.tensors, self.dtype, q, &|l| {
                self.overrides.get(&l).copied()
            });
        self.tables.borrow_mut().push((q, table.clone()));
        table
    }

    fn pricing<'w>(&'w self, weights: &'w WeightTable, workload: Workload) -> Pricing<'w> {
        Pricing {
            shape: self.input.shape,
            weights,
            isq: self.input.manifest.precision.quantization != Quantization::None,
            dtype: self.dtype,
            kv: self.input.manifest.precision.kv_cache,
            workload,
            settings: self.input.settings,
        }
    }
}

fn place(
    scope: &Scope<'_>,
    pricing: &Pricing<'_>,
    findings: &mut Vec<Finding>,
    decisions: &mut Vec<String>,
) -> Option<(Placement, Vec<(CandidateReport, Placement)>)> {
    let input = scope.input;
    let devices = scope.devices;
    let m = input.manifest;
    let shape = input.shape;
    let layers = shape.text.layers;
    if devices.is_empty() {
        decisions.push("`devices.gpus = []`: every layer runs on the CPU".into());
        let p = Placement {
            kind: Kind::Cpu,
            stages: Vec::new(),
            cpu_layers: (0..layers).collect(),
        };
        return Some((p, Vec::new()));
    }
    let all: Vec<usize> = (0..devices.len()).collect();
    let placement = match &m.parallelism {
        Parallelism::Manual(_) => {
            decisions.push("manual layer map from the manifest".into());
            scope.manual?.clone()
        }
        Parallelism::Pipeline {
            layers: Some(counts),
        } => {
            let sum: u64 = counts.iter().map(|c| u64::from(*c)).sum();
            if sum != layers {
                findings.push(
                    Finding::error(
                        Code::LayersSumMismatch,
                        format!("`layers` adds up to {sum}, but {} has {layers} decoder layers", shape.architecture),
                    )
                    .help(format!("make the entries add up to {layers}, or remove `layers` to split by each GPU's budget"))
                    .at("parallelism.layers"),
                );
                return None;
            }
            decisions.push("pipeline with the layer counts from the manifest".into());
            let counts: Vec<usize> = counts.iter().map(|c| *c as usize).collect();
            strategy::pipeline_from_counts(&all, &counts, layers)
        }
        Parallelism::Pipeline { layers: None } => {
            decisions.push(
                "pipeline split in proportion to each GPU's room after its fixed parts".into(),
            );
            let p = match strategy::pipeline_split(pricing, devices, &all, m.devices.cpu_offload) {
                Some(p) => p,
                None => strategy::pipeline_split(pricing, devices, &all, true)?,
            };
            for (i, d) in devices.iter().enumerate() {
                if !p.stages.iter().any(|s| s.device == i) {
                    findings.push(
                        Finding::warning(
                            Code::GpuWithoutLayers,
                            format!("{} gets no layers: its room is too small to be worth a pipeline stage", d.gpu.label()),
                        )
                        .help("remove it from `devices.gpus`, or raise its `max_memory`")
                        .at(&format!("devices.gpus.{i}")),
                    );
                }
            }
            p
        }
        Parallelism::Tensor { size } => tensor_group(input, devices, *size, findings, decisions)?,
        Parallelism::Auto => {
            let candidates = strategy::auto_candidates(pricing, devices, m.devices.cpu_offload);
            let (winner, reasons) = strategy::choose(&candidates)?;
            let report = candidates
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let report = CandidateReport {
                        description: c.description.clone(),
                        fits: c.evaluation.fits() && c.placement.cpu_layers.is_empty(),
                        chosen: i == winner,
                        reason: if i == winner {
                            String::new()
                        } else {
                            let j = if i < winner { i } else { i - 1 };
                            reasons[j].1.clone()
                        },
                        capacity: None,
                    };
                    (report, c.placement.clone())
                })
                .collect();
            let chosen = &candidates[winner];
            decisions.push(if chosen.evaluation.fits() {
                format!(
                    "auto chose {}: it fits and leaves the most headroom on its tightest GPU",
                    chosen.description
                )
            } else {
                format!(
                    "no candidate fits; auto shows {}, the closest to fitting",
                    chosen.description
                )
            });
            return Some((candidates[winner].placement.clone(), report));
        }
    };
    Some((placement, Vec::new()))
}

fn tensor_group(
    input: &Input<'_>,
    devices: &[Device],
    size: Option<u32>,
    findings: &mut Vec<Finding>,
    decisions: &mut Vec<String>,
) -> Option<Placement> {
    let shape = input.shape;
    let isq = input.manifest.precision.quantization != Quantization::None;
    let valid = strategy::valid_tensor_sizes(shape, devices.len(), isq);
    let why = strategy::sharded_dims_text(shape, isq);
    let size = match size {
        Some(s) if !valid.contains(&u64::from(s)) => {
            findings.push(
                Finding::error(
                    Code::TensorSizeIncompatible,
                    format!("{} cannot be split {s} ways ({why})", shape.architecture),
                )
                .help(format!(
                    "valid sizes for {} GPUs: {}",
                    devices.len(),
                    valid
                        .iter()
                        .map(u64::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
                .at("parallelism.tensor_size"),
            );
            return None;
        }
        Some(s) => u64::from(s),
        None => {
            let largest = *valid.last()?;
            decisions.push(format!(
                "tensor_size unset → {largest}, the largest valid size for {} GPUs ({why})",
                devices.len()
            ));
            largest
        }
    };
    // Prefer the GPUs with the most room; keep their listed order.
    let mut by_room: Vec<usize> = (0..devices.len()).collect();
    by_room.sort_by(|a, b| devices[*b].limit.cmp(&devices[*a].limit).then(a.cmp(b)));
    let mut group: Vec<usize> = by_room[..size as usize].to_vec();
    group.sort_unstable();
    if group.len() < devices.len() {
        let left: Vec<String> = (0..devices.len())
            .filter(|i| !group.contains(i))
            .map(|i| devices[i].gpu.label())
            .collect();
        findings.push(
            Finding::warning(
                Code::GpusLeftOut,
                format!(
                    "tensor parallelism uses {size} of the {} GPUs {}; left out: {}",
                    devices.len(),
                    if input.manifest.devices.gpus.is_some() { "listed" } else { "available" },
                    left.join(", ")
                ),
            )
            .help(format!(
                "{} GPUs cannot form one group ({why}); list {size} GPUs, or use `strategy = \"pipeline\"` to use them all",
                devices.len()
            ))
            .at(if input.manifest.devices.gpus.is_some() { "devices.gpus" } else { "parallelism.strategy" }),
        );
    }
    let limits: Vec<ByteSize> = group.iter().map(|i| devices[*i].limit).collect();
    let (lo, hi) = (limits.iter().min().copied()?, limits.iter().max().copied()?);
    if hi.0 > lo.0 + lo.0 / 50 {
        let smallest = group
            .iter()
            .find(|i| devices[**i].limit == lo)
            .map(|i| devices[*i].gpu.label())
            .unwrap_or_default();
        findings.push(
            Finding::warning(
                Code::UnevenRanks,
                format!("tensor-parallel ranks have different limits ({lo} to {hi}); every rank holds the same shard, so {smallest} bounds them all"),
            )
            .help("free or choose GPUs with equal room, or use a pipeline to use the larger ones fully")
            .at(if input.manifest.devices.gpus.is_some() { "devices.gpus" } else { "parallelism.strategy" }),
        );
    }
    Some(strategy::tensor(&group, shape.text.layers))
}

/// When the chosen placement does not fit, says why and what would.
fn explain_misfit(
    scope: &Scope<'_>,
    placement: &Placement,
    evaluation: &Evaluation,
    workload: Workload,
    findings: &mut Vec<Finding>,
) {
    let input = scope.input;
    let devices = scope.devices;
    let m = input.manifest;
    // What would fit is the same for every device that does not: each answer
    // replans the whole model many times, so it is worked out once.
    let found = std::cell::OnceCell::new();
    let alternatives = || -> Vec<String> {
        found
            .get_or_init(|| advice::what_would_fit(scope, workload))
            .clone()
    };
    if !placement.cpu_layers.is_empty() && !m.devices.cpu_offload && placement.kind != Kind::Cpu {
        let mut help = alternatives();
        help.push("or set `devices.cpu_offload = true` to run them on the CPU (slow)".into());
        findings.push(
            Finding::error(
                Code::CpuSpillDisabled,
                format!(
                    "{} do not fit on the GPUs and would spill to host memory, but `cpu_offload = false`",
                    strategy::ranges_text(&placement.cpu_layers)
                ),
            )
            .help(help.join("; "))
            .at("devices.cpu_offload"),
        );
    }
    if evaluation.fits() {
        return;
    }
    let terms = &evaluation.terms;
    for (i, (stage, headroom)) in placement
        .stages
        .iter()
        .zip(&evaluation.headroom)
        .enumerate()
    {
        if *headroom >= 0 {
            continue;
        }
        let d = &devices[stage.device];
        let t = terms[i];
        let over = ByteSize((-*headroom) as u64);
        let fixed_only = t.overhead.0.saturating_add(t.activations.0).saturating_add(
            if stage.layers.is_empty() {
                t.weights.0
            } else {
                0
            },
        );
        let key = match &m.devices.max_memory {
            Some(crate::manifest::MemoryLimit::PerGpu(_)) => {
                format!("devices.max_memory.{}", d.position)
            }
            Some(_) => "devices.max_memory".to_owned(),
            None => "model.source".to_owned(),
        };
        let detail = format!(
            "weights {} + KV cache {} + activations {} + overhead {} = {} against a limit of {}",
            t.weights,
            t.kv_cache,
            t.activations,
            t.overhead,
            t.total(),
            d.limit
        );
        let (code, message) = if i == 0 && u128::from(fixed_only) > u128::from(d.limit.0) {
            (
                Code::FirstGpuOverloaded,
                format!(
                    "{} cannot hold even its fixed parts and activations: {detail}",
                    d.gpu.label()
                ),
            )
        } else if u128::from(t.weights.0 + t.overhead.0 + t.activations.0) <= u128::from(d.limit.0)
        {
            (
                Code::KvCacheTooLarge,
                format!("the KV cache does not fit on {}: {detail}", d.gpu.label()),
            )
        } else {
            (
                Code::DoesNotFit,
                format!("{} is {over} over its limit: {detail}", d.gpu.label()),
            )
        };
        let mut help = alternatives();
        if help.is_empty() && code == Code::FirstGpuOverloaded && workload.images > 0 {
            help.push(
                "lower `max_images`, `max_image_size` or `max_batch_size`: the vision tower's attention grows \
                 with (images × patches)²; or give the first GPU more room"
                    .into(),
            );
        }
        if help.is_empty() {
            help.push("add GPUs, raise `max_memory`, or lower `max_batch_size`".into());
        }
        // Point at what the user would change.
        let key = match code {
            Code::KvCacheTooLarge => "workload.max_seq_len".to_owned(),
            Code::FirstGpuOverloaded if workload.images > 0 => "workload".to_owned(),
            _ => key,
        };
        findings.push(Finding::error(code, message).help(help.join("; ")).at(&key));
        return; // one finding for the first device over; the table shows the rest
    }
}
