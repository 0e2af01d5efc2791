//! The planner: manifest + model shape + inventory in, plan out. Pure: no I/O,
//! no globals, so every behaviour is testable without a GPU.
//!
//! `plan` reads top to bottom: checks that no placement changes (`checks`),
//! the devices (`devices`), the dtype (`dtype`), the workload (`workload`),
//! the strategy's placement (`strategy`), its price (`placement`, `memory`),
//! why it does not fit (`misfit`, `advice`), and the box it runs on
//! (`preflight`).

mod advice;
mod candidate;
mod capacity;
mod checks;
mod decision;
pub mod devices;
mod dtype;
mod finding;
pub mod machine;
pub mod memory;
mod misfit;
pub mod mistralrs_auto;
mod placement;
mod preflight;
mod ranges;
mod record;
mod scope;
mod solve;
pub mod strategy;
mod text;
mod workload;

pub use advice::{Advice, advise};
pub use candidate::{Arrangement, CandidateReport, Lost};
pub use capacity::{Bound, Capacity, Figure, Limit, Term};
pub use decision::{Decision, DtypeReason};
pub use devices::{Device, LimitedBy};
pub use finding::Finding;
pub use memory::{Settings, Terms};
pub use placement::Kind;
pub use ranges::range_texts;
pub use record::{Comparison, CpuPlan, DevicePlan, Plan, PlanOutcome, Source, TermSources};

use self::scope::Scope;
use crate::diagnostic::Code;
use crate::inventory::Inventory;
use crate::manifest::{Manifest, Parallelism};
use crate::model::ModelShape;
use crate::units::{ByteSize, DType};

/// What the planner plans from.
pub struct Input<'a> {
    pub manifest: &'a Manifest,
    pub shape: &'a ModelShape,
    pub inventory: &'a Inventory,
    pub settings: &'a Settings,
    /// What `CUDA_VISIBLE_DEVICES` shows this process, when planning for the
    /// live machine.
    pub visible: Option<&'a crate::inventory::visible::VisibleDevices>,
    /// The model's tensors classified and its weight tables, when the caller
    /// keeps them between plans of the same model (`validate` plans one model
    /// many times); else they are built for this plan.
    pub weights: Option<&'a memory::WeightCache>,
}

/// What a plan is priced with, before any placement: the selected devices,
/// the resolved dtype, a manual map checked once, and the workload asked for.
struct Prepared {
    devices: Vec<Device>,
    dtype: DType,
    manual: Option<strategy::Manual>,
    workload: memory::Workload,
}

/// `None` when no plan can be laid out (no devices, a broken map): the
/// findings say why.
fn prepare(
    input: &Input<'_>,
    findings: &mut Vec<Finding>,
    decisions: &mut Vec<Decision>,
) -> Option<Prepared> {
    let m = input.manifest;
    let shape = input.shape;
    checks::modality(m, shape, findings);
    checks::unread_keys(m, shape, findings);
    let devices = devices::select(m, input.inventory, findings)?;
    let dtype = dtype::resolve(m.precision.dtype, &devices, findings, decisions);
    let workload = workload::asked(m, shape, findings, decisions);
    // A manual map is checked once; its per-range quantization prices the layers.
    let manual = match &m.parallelism {
        Parallelism::Manual(map) => Some(strategy::manual(map, shape, &devices, findings)?),
        _ => None,
    };
    Some(Prepared {
        devices,
        dtype,
        manual,
        workload,
    })
}

/// Makes the plan.
pub fn plan(input: &Input<'_>) -> PlanOutcome {
    let mut findings = Vec::new();
    let mut decisions = Vec::new();
    let m = input.manifest;
    let shape = input.shape;
    let Some(prepared) = prepare(input, &mut findings, &mut decisions) else {
        return PlanOutcome {
            plan: None,
            findings,
        };
    };
    let devices = &prepared.devices;
    let dtype = prepared.dtype;
    let scope = Scope::new(input, &prepared);
    let workload = workload::solve_auto(&scope, prepared.workload, &mut findings, &mut decisions);
    let weights = scope.weights(m.precision.quantization);
    let pricing = scope.pricing(&weights, workload);
    let Some((placement, candidates)) =
        strategy::place(&scope, &pricing, &mut findings, &mut decisions)
    else {
        return PlanOutcome {
            plan: None,
            findings,
        };
    };
    let context = shape.text.max_position_embeddings.max(workload.seq_len);
    let candidates: Vec<CandidateReport> = candidates
        .into_iter()
        .map(|(mut report, p)| {
            if input.settings.capacity {
                report.capacity = Some(solve::of_placement(&scope, &p, workload, context));
            }
            report
        })
        .collect();
    let capacity = input
        .settings
        .capacity
        .then(|| solve::of_placement(&scope, &placement, workload, context));
    let evaluation = pricing.evaluate(&placement, devices);
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
    misfit::explain(&scope, &placement, &evaluation, workload, &mut findings);

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
                let overrides = scope
                    .overrides
                    .iter()
                    .filter(|(l, _)| stage.layers.contains(l))
                    .map(|(l, q)| (*l, *q))
                    .collect::<Vec<_>>();
                DevicePlan {
                    index: d.gpu.index,
                    cuda_ordinal: i,
                    name: d.gpu.name.clone(),
                    uuid: d.gpu.uuid.clone(),
                    layers: ranges::runs(&stage.layers),
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
                    quantization_overrides: ranges::group_overrides(&overrides),
                    sources: TermSources::of(shape),
                }
            })
            .collect(),
        cpu: (!placement.cpu_layers.is_empty()).then(|| CpuPlan {
            layers: ranges::runs(&placement.cpu_layers),
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
        devices,
        &plan,
    ));
    PlanOutcome {
        plan: Some(plan),
        findings,
    }
}
