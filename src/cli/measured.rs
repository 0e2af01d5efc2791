//! Planned beside measured memory, once `apply` has loaded the model.

use std::fmt::Write as _;

use crate::inventory::measure::{self, PlannedTerms, Row};
use crate::plan::{Kind, Plan};
use crate::units::ByteSize;

/// Measures what this deployment holds: per GPU through NVML, or on the CPU
/// (a CPU plan, a rehearsal of a GPU plan, or where no driver is found) the
/// resident memory this process gained since `before`, taken just before the
/// load: the plan covers the model, not deployctl's own code and runtime.
pub(super) fn report(plan: &Plan, on_cpu: bool, before: ByteSize) -> Vec<Row> {
    let me = std::process::id();
    if plan.strategy != Kind::Cpu && !on_cpu {
        if let Some(gpus) = measure::gpu_memory(&measure::family(me)) {
            return plan
                .devices
                .iter()
                .map(|d| {
                    let used = gpus
                        .iter()
                        .find(|(i, _)| *i == d.index)
                        .map_or(ByteSize(0), |(_, b)| *b);
                    let terms = PlannedTerms {
                        total: d.total,
                        activations: d.activations,
                        on_demand: ByteSize(0),
                    };
                    measure::compare(format!("GPU {}", d.index), terms, used)
                })
                .collect();
        }
    }
    let host = plan.cpu.as_ref().map_or(0, |c| c.bytes.0);
    // Without paged attention, which the CPU lacks, the KV cache grows with use.
    let on_demand = plan.cpu.as_ref().map_or(0, |c| c.on_demand.0)
        + plan
            .devices
            .iter()
            .map(|d| d.kv_cache.0 + d.activations.0)
            .sum::<u64>();
    // A rehearsal holds on the host what the plan puts on every GPU, less the
    // per-GPU runtime overhead (CUDA context), which the host does not have.
    let planned = ByteSize(
        host + plan
            .devices
            .iter()
            .map(|d| d.total.0 - d.overhead.0)
            .sum::<u64>(),
    );
    let label = if plan.strategy == Kind::Cpu {
        "CPU (memory loaded)".to_owned()
    } else {
        format!("CPU for {} GPU(s)", plan.devices.len())
    };
    match measure::resident(me) {
        Some(rss) => vec![measure::compare(
            label,
            PlannedTerms {
                total: planned,
                activations: ByteSize(0),
                on_demand: ByteSize(on_demand),
            },
            ByteSize(rss.0.saturating_sub(before.0)),
        )],
        None => Vec::new(),
    }
}

pub(super) fn table(rows: &[Row]) -> String {
    let mut out = String::from("planned vs measured after load:\n");
    for r in rows {
        let _ = write!(
            out,
            "  {:<22} planned {:>10}  measured {:>10}  difference {:+} MiB ({:+.1} %)",
            r.device,
            super::plan_table::gib(r.planned),
            super::plan_table::gib(r.measured),
            r.difference_mib,
            r.difference_percent
        );
        if let Some(w) = &r.warning {
            let _ = write!(out, "\n  warning: more than 10 % off; most likely {w}");
        }
        out.push('\n');
    }
    out.trim_end().to_owned()
}
