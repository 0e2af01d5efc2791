//! Pipeline parallelism: contiguous layer ranges per GPU, from the manifest's
//! counts or in proportion to each GPU's room.

use super::super::decision::Decision;
use super::super::devices::Device;
use super::super::finding::Finding;
use super::super::placement::{Kind, Placement, Pricing, Stage, split};
use super::super::scope::Scope;
use crate::diagnostic::Code;

/// A pipeline with the manifest's layer counts, which must add up to the
/// model's layers.
pub(super) fn by_counts(
    scope: &Scope<'_>,
    counts: &[u32],
    findings: &mut Vec<Finding>,
    decisions: &mut Vec<Decision>,
) -> Option<Placement> {
    let shape = scope.input.shape;
    let layers = shape.text.layers;
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
    decisions.push(Decision::PipelineCounts);
    let all: Vec<usize> = (0..scope.devices.len()).collect();
    let counts: Vec<usize> = counts.iter().map(|c| *c as usize).collect();
    Some(from_counts(&all, &counts, layers))
}

/// A pipeline over every device, split by each one's room; a device too small
/// for a stage is named.
pub(super) fn by_room(
    scope: &Scope<'_>,
    pricing: &Pricing<'_>,
    findings: &mut Vec<Finding>,
    decisions: &mut Vec<Decision>,
) -> Option<Placement> {
    let devices = scope.devices;
    let all: Vec<usize> = (0..devices.len()).collect();
    decisions.push(Decision::PipelineByRoom);
    let p = match pipeline_split(
        pricing,
        devices,
        &all,
        scope.input.manifest.devices.cpu_offload,
    ) {
        Some(p) => p,
        None => pipeline_split(pricing, devices, &all, true)?,
    };
    for (i, d) in devices.iter().enumerate() {
        if !p.stages.iter().any(|s| s.device == i) {
            findings.push(
                Finding::warning(
                    Code::GpuWithoutLayers,
                    format!(
                        "{} gets no layers: its room is too small to be worth a pipeline stage",
                        d.gpu.label()
                    ),
                )
                .help("remove it from `devices.gpus`, or raise its `max_memory`")
                .at(&format!("devices.gpus.{i}")),
            );
        }
    }
    Some(p)
}

/// A pipeline over `order` (indices into the selected devices) with `counts`
/// layers each; devices given none are dropped.
fn from_counts(order: &[usize], counts: &[usize], total: u64) -> Placement {
    let mut stages = Vec::new();
    let mut next = 0u64;
    for (device, n) in order.iter().zip(counts) {
        if *n == 0 && !stages.is_empty() {
            continue;
        }
        stages.push(Stage {
            device: *device,
            layers: (next..next + *n as u64).collect(),
        });
        next += *n as u64;
    }
    Placement {
        kind: Kind::Pipeline,
        stages,
        cpu_layers: (next..total).collect(),
    }
}

/// A pipeline over `order`, split by each device's room after its fixed parts.
/// With `spill`, layers that do not fit go to the CPU; else `None` if they do not fit.
pub(in crate::plan) fn pipeline_split(
    pricing: &Pricing<'_>,
    devices: &[Device],
    order: &[usize],
    spill: bool,
) -> Option<Placement> {
    let layers = pricing.shape.text.layers as usize;
    let costs = pricing.layer_costs();
    let room: Vec<i128> = order
        .iter()
        .enumerate()
        .map(|(i, d)| i128::from(devices[*d].limit.0) - i128::from(pricing.stage_base(i == 0)))
        .collect();
    if let Some(counts) = split(&costs, &room) {
        return Some(from_counts(order, &counts, layers as u64));
    }
    if !spill {
        return None;
    }
    // Fill the GPUs front to back; the tail spills to the CPU.
    let mut counts = Vec::new();
    let mut next = 0;
    for r in &room {
        let mut taken: i128 = 0;
        let mut n = 0;
        while next < layers && taken + i128::from(costs[next]) <= *r {
            taken += i128::from(costs[next]);
            n += 1;
            next += 1;
        }
        counts.push(n);
    }
    Some(from_counts(order, &counts, layers as u64))
}
