//! A plan that does not fit: which GPU is over, by how much, and what would fit.

use super::advice;
use super::finding::Finding;
use super::memory::Workload;
use super::placement::{Evaluation, Kind, Placement};
use super::ranges::ranges_text;
use super::scope::Scope;
use crate::diagnostic::Code;
use crate::units::ByteSize;

/// When the chosen placement does not fit, says why and what would.
pub(super) fn explain(
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
            .get_or_init(|| advice::search(scope, workload).clauses())
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
                    ranges_text(&placement.cpu_layers)
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
